"""The CRF baseline every transformer is compared against: in-corpus features + sklearn-crfsuite.

Three layers, each usable alone:

* **Features** — pure, module-level functions in the shape of sklearn-crfsuite's CoNLL2002 tutorial
  (:func:`word2features`, :func:`sent2features`), organised in named *groups* that can each be
  switched off, and bundled into a versioned :class:`FeatureSet` (``"rich-v1"``) whose id goes into
  every result. Everything is computed from the sentence itself plus :class:`FeatureResources` built
  from the **training text only** (a case lexicon and a jackknifed gazetteer), so the baseline uses no
  external data and no dev/test text.
* **Training** — :func:`train_crf` (L-BFGS through sklearn-crfsuite) returns a :class:`CrfModel`
  with :class:`TrainStats` (seconds, peak RSS, feature count, iterations); :func:`search_crf` picks
  hyper-parameters on **dev only**.
* **Persistence** — :meth:`CrfModel.save` writes a directory with the crfsuite model file and a
  ``nerbench_model.json`` saying ``"kind": "crf"``, so ``nerbench predict --model DIR`` can tell what
  it holds; :meth:`CrfModel.load` reads it back.

Training drives python-crfsuite's ``Trainer`` with exactly the parameters ``sklearn_crfsuite.CRF.fit``
passes it (the model file is byte-identical, tested), so a CRF cell does not import scikit-learn
(about 1.5 s per cell process). :func:`make_crf` still builds the scikit-learn estimator for users
who want ``GridSearchCV``: sklearn-crfsuite's ``'CRF' object has no attribute 'keep_tempfiles'``
(upstream issue 60) is fixed there — 0.5.0 stores the attribute, older releases do not. Model files are written into a private temporary
directory that is always removed; the trained model lives in memory (``Tagger.open_inmemory``), so
no ``model*.crfsuite`` file is ever left in the system temp folder.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import resource
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import pycrfsuite

from bench.data.schemes import tags_to_spans
from bench.data.types import Sentence
from bench.errors import ConfigError, NerbenchError
from bench.metrics import strict_f1

log = logging.getLogger(__name__)

Features = dict[str, float | str | bool]
"""One token's features as python-crfsuite takes them: ``str`` values become ``key=value``
attributes with weight 1, numbers and booleans are weights of the attribute ``key``."""

MODEL_JSON = "nerbench_model.json"
MODEL_FILE = "model.crfsuite"
RESOURCES_FILE = "feature_resources.json"
MODEL_FORMAT_VERSION = 1


class CrfError(NerbenchError):
    """A CRF model that cannot be used as asked (missing POS, unreadable model directory)."""


# =========================================================================== features

FEATURE_GROUPS: dict[str, str] = {
    "word": "the word and its lower-case form: the strongest single cue for words seen in training",
    "shape": "word shape ('Xxxx', 'dd-dd') and short shape ('Xx', 'd-d'): generalises to unseen words",
    "affix": "lower-cased prefixes and suffixes of length 1-4: morphology such as -ese, -berg, -ville",
    "flags": "case, digit and punctuation flags (title, all caps, mixed case, initial, acronym...)",
    "context": "+-2 window: neighbours' lower-case words and short shapes, word bigrams with +-1, and the "
    "+-1 neighbours' POS / lexicon / gazetteer values when those groups are on",
    "bos_eos": "sentence start / end markers (a capital at the start of a sentence means little)",
    "pos": "POS tag (and its first two letters) of the word and +-1 neighbours, when a POS column exists",
    "sentence": "sentence-level: the sentence is all capitals (CoNLL headlines), where case cues fail",
    "lexicon": "how the lower-cased word is written elsewhere in the training *text* (no labels): "
    "never lower-case means name-like; also for the +-1 neighbours",
    "gazetteer": "longest match against entity names seen in training; jackknifed over training folds so "
    "training features never see their own sentence's labels",
}
"""Every feature group, with why it is there. :func:`word2features` takes any subset."""

RESOURCE_GROUPS = frozenset({"lexicon", "gazetteer"})
"""Groups that need :class:`FeatureResources` built from the training data."""


def check_groups(groups: Collection[str]) -> frozenset[str]:
    """Validated group names; an unknown one is an error that lists the known ones.

    >>> sorted(check_groups(["word", "shape"]))
    ['shape', 'word']
    """
    unknown = sorted(set(groups) - set(FEATURE_GROUPS))
    if unknown:
        raise ValueError(f"unknown feature group(s) {', '.join(unknown)}; known: {', '.join(FEATURE_GROUPS)}")
    return frozenset(groups)


@dataclass(frozen=True)
class FeatureSet:
    """A named, versioned choice of feature groups; its :attr:`id` is recorded with every result.

    Change the groups or what a group computes -> bump the version, so old and new numbers are never
    mixed under one name.
    """

    name: str
    version: int
    groups: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        check_groups(self.groups)

    @property
    def id(self) -> str:
        """``"rich-v1"``: the name results and model directories refer to."""
        return f"{self.name}-v{self.version}"


FEATURE_SETS: dict[str, FeatureSet] = {
    fs.id: fs
    for fs in (
        FeatureSet(
            "rich", 1, tuple(FEATURE_GROUPS),
            "all groups: word, shapes, affixes 1-4, flags, +-2 context and bigrams, BOS/EOS, POS, "
            "all-caps sentence, training-text case lexicon, jackknifed training gazetteer",
        ),
        FeatureSet(
            "local", 1, tuple(g for g in FEATURE_GROUPS if g not in RESOURCE_GROUPS),
            "rich-v1 without the groups built from the training data (lexicon, gazetteer)",
        ),
    )
}
"""Registered feature sets by id."""


def get_feature_set(name: str) -> FeatureSet:
    """The registered feature set ``name`` (``"rich-v1"``); unknown -> :class:`ConfigError` listing all."""
    try:
        return FEATURE_SETS[name]
    except KeyError:
        raise ConfigError(f"unknown CRF feature set {name!r}; known: {', '.join(FEATURE_SETS)}") from None


@lru_cache(maxsize=1 << 17)
def word_shape(word: str) -> str:
    """Letters to ``X``/``x``, digits to ``d``, everything else kept; cached (words repeat a lot).

    >>> word_shape("Blackburn"), word_shape("1996-08-22"), word_shape("U.S.")
    ('Xxxxxxxxx', 'dddd-dd-dd', 'X.X.')
    """
    return "".join("X" if c.isupper() else "x" if c.islower() else "d" if c.isdigit() else c for c in word)


@lru_cache(maxsize=1 << 17)
def short_shape(word: str) -> str:
    """:func:`word_shape` with runs of the same character collapsed: coarser, so it generalises.

    >>> short_shape("Blackburn"), short_shape("1996-08-22"), short_shape("McDonald's")
    ('Xx', 'd-d-d', "XxXx'x")
    """
    return "".join(k for k, _ in itertools.groupby(word_shape(word)))


def is_all_caps_sentence(tokens: Sequence[str]) -> bool:
    """True when the sentence has at least two words with letters and none has a lower-case letter.

    CoNLL-2003 headlines (``SOCCER - JAPAN GET LUCKY WIN``) look like this; there, title case says
    nothing, so the CRF needs to know.

    >>> is_all_caps_sentence(["SOCCER", "-", "JAPAN", "WIN"]), is_all_caps_sentence(["EU", "rejects"])
    (True, False)
    """
    letters = [t for t in tokens if any(c.isalpha() for c in t)]
    return len(letters) >= 2 and not any(c.islower() for t in letters for c in t)


# --------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class Gazetteer:
    """Entity names seen in training, matched longest-first over a sentence.

    ``names`` maps a lower-cased token tuple to its most frequent entity type. Matching is on
    lower-cased tokens (so ``JAPAN`` in a headline matches ``Japan``) but a match must start with a
    token that has an upper-case letter, so ``may`` never matches the month ``May``.
    ``words`` maps each lower-cased word seen inside an entity to the types it was seen in
    (``"LOC|PER"``): weaker than a full-name match, but it covers new names built from known parts.
    """

    names: Mapping[tuple[str, ...], str]
    words: Mapping[str, str] = field(default_factory=dict)
    max_len: int = 6

    @classmethod
    def from_sentences(cls, sentences: Iterable[Sentence], *, max_len: int = 6) -> Gazetteer:
        """Collect every gold entity of at most ``max_len`` words (ties: alphabetical type)."""
        counts: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
        word_types: dict[str, set[str]] = defaultdict(set)
        for s in sentences:
            for etype, start, end in tags_to_spans(s.tags):
                name = tuple(t.lower() for t in s.tokens[start:end])
                for w in name:
                    word_types[w].add(etype)
                if end - start <= max_len:
                    counts[name][etype] += 1
        names = {k: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for k, c in counts.items()}
        words = {w: "|".join(sorted(ts)) for w, ts in word_types.items()}
        return cls(names=names, words=words, max_len=max_len)

    def match(self, tokens: Sequence[str]) -> list[str]:
        """Per-token ``B-TYPE``/``I-TYPE`` for the longest match starting left-most, else ``""``.

        >>> g = Gazetteer({("new", "york"): "LOC", ("york",): "PER"})
        >>> g.match(["in", "New", "York", "and", "YORK", "new", "york"])
        ['', 'B-LOC', 'I-LOC', '', 'B-PER', '', '']
        """
        lower = [t.lower() for t in tokens]
        out = [""] * len(tokens)
        i = 0
        while i < len(tokens):
            if tokens[i] != lower[i]:  # has an upper-case letter
                for n in range(min(self.max_len, len(tokens) - i), 0, -1):
                    etype = self.names.get(tuple(lower[i : i + n]))
                    if etype is not None:
                        out[i] = f"B-{etype}"
                        out[i + 1 : i + n] = [f"I-{etype}"] * (n - 1)
                        i += n - 1
                        break
            i += 1
        return out


def case_lexicon(sentences: Iterable[Sentence] | Iterable[Sequence[str]]) -> dict[str, str]:
    """How each lower-cased word is written in running text: ``"lower"``, ``"title"`` or ``"upper"``.

    Only tokens after the first of a sentence that is not all capitals count (a sentence's first word
    and headline words say nothing about case). Reads words only, never labels, so training features
    computed with it do not leak labels. ``"lower"`` wins if the word was ever seen lower-case.

    >>> case_lexicon([["The", "cat", "saw", "Paris", "and", "NATO"], ["A", "Cat", "."]])
    {'cat': 'lower', 'saw': 'lower', 'paris': 'title', 'and': 'lower', 'nato': 'upper'}
    """
    seen: dict[str, set[str]] = defaultdict(set)
    for s in sentences:
        tokens = s.tokens if isinstance(s, Sentence) else s
        if is_all_caps_sentence(tokens):
            continue
        for t in tokens[1:]:
            if not any(c.isalpha() for c in t):
                continue
            if t.islower():
                seen[t.lower()].add("lower")
            elif t.isupper() and len(t) > 1:
                seen[t.lower()].add("upper")
            else:
                seen[t.lower()].add("title")
    out: dict[str, str] = {}
    for w, kinds in seen.items():
        out[w] = "lower" if "lower" in kinds else "upper" if kinds == {"upper"} else "title"
    return out


@dataclass(frozen=True)
class FeatureResources:
    """What the resource groups read, all built from the training split only."""

    lexicon: Mapping[str, str] | None = None
    gazetteer: Gazetteer | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "lexicon": dict(sorted(self.lexicon.items())) if self.lexicon is not None else None,
            "gazetteer": None
            if self.gazetteer is None
            else {
                "max_len": self.gazetteer.max_len,
                "names": [[list(k), v] for k, v in sorted(self.gazetteer.names.items())],
                "words": dict(sorted(self.gazetteer.words.items())),
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureResources:
        gaz = data.get("gazetteer")
        return cls(
            lexicon=data.get("lexicon"),
            gazetteer=None
            if gaz is None
            else Gazetteer(
                {tuple(k): v for k, v in gaz["names"]},
                words=gaz["words"],
                max_len=int(gaz["max_len"]),
            ),
        )


def build_resources(train: Sequence[Sentence], *, groups: Collection[str]) -> FeatureResources:
    """The resources the ``groups`` need, from the training sentences (words; gazetteer: gold entities)."""
    g = check_groups(groups)
    return FeatureResources(
        lexicon=case_lexicon(train) if "lexicon" in g else None,
        gazetteer=Gazetteer.from_sentences(train) if "gazetteer" in g else None,
    )


def jackknife_resources(
    train: Sequence[Sentence], *, groups: Collection[str], folds: int
) -> list[FeatureResources]:
    """Per-sentence resources for *training* features, each built from the *other* folds.

    Why: a resource built from all of train always contains the sentence being featurised, so in
    training every word is "seen" and every entity "in the gazetteer"; the CRF then trusts those
    features blindly and fails on new words at test time. Jackknifing makes training look like test.
    Folds are contiguous blocks of sentences, not a shuffle: CoNLL files keep a document's
    sentences together and names repeat within a document, so a shuffle would still leak.
    """
    g = check_groups(groups) & RESOURCE_GROUPS
    if not g:
        return [FeatureResources()] * len(train)
    if folds < 2:
        raise ConfigError(f"resource_folds must be >= 2 (got {folds})")
    n = len(train)
    bounds = [n * k // folds for k in range(folds + 1)]
    out: list[FeatureResources] = []
    for k in range(folds):
        others = [*train[: bounds[k]], *train[bounds[k + 1] :]]
        res = build_resources(others, groups=g)
        out.extend([res] * (bounds[k + 1] - bounds[k]))
    return out


# --------------------------------------------------------------------------- token features


@lru_cache(maxsize=1 << 17)
def _token_info(word: str) -> tuple[str, str, str, tuple[str, ...]]:
    """``(lower, shape, short shape, flags)`` of one word; the per-token work shared by neighbours."""
    lower = word.lower()
    flags: list[str] = []
    has_alpha = any(c.isalpha() for c in word)
    if has_alpha and word.isupper():
        flags.append("upper")
    elif word.istitle():
        flags.append("title")
    elif has_alpha and word.islower():
        flags.append("lower")
    elif has_alpha and any(c.isupper() for c in word[1:]):
        flags.append("mixed")
    if word.isdigit():
        flags.append("digit")
    elif any(c.isdigit() for c in word):
        flags.append("has_digit")
    if "-" in word and len(word) > 1:
        flags.append("hyphen")
    if not any(c.isalnum() for c in word):
        flags.append("punct")
    if len(word) == 2 and word[0].isupper() and word[1] == ".":
        flags.append("initial")
    if len(word) > 2 and "." in word and has_alpha and word.replace(".", "").isupper():
        flags.append("acronym")
    return lower, word_shape(word), short_shape(word), tuple(flags)


class _SentenceView:
    """Everything about a sentence that :func:`word2features` reads, computed once per sentence."""

    __slots__ = ("tokens", "info", "pos", "all_caps", "gaz", "gaz_words", "case")

    def __init__(
        self,
        tokens: Sequence[str],
        pos: Sequence[str] | None,
        groups: frozenset[str],
        resources: FeatureResources | None,
    ) -> None:
        if pos is not None and len(pos) != len(tokens):
            raise ValueError(f"{len(tokens)} tokens but {len(pos)} POS tags")
        self.tokens = tokens
        self.info = [_token_info(t) for t in tokens]
        self.pos = pos if "pos" in groups else None
        self.all_caps = "sentence" in groups and is_all_caps_sentence(tokens)
        gaz = resources.gazetteer if resources is not None and "gazetteer" in groups else None
        self.gaz = gaz.match(tokens) if gaz is not None else None
        self.gaz_words = [gaz.words.get(inf[0], "") for inf in self.info] if gaz is not None else None
        lex = resources.lexicon if resources is not None and "lexicon" in groups else None
        self.case = [lex.get(inf[0], "unseen") for inf in self.info] if lex is not None else None


def _features_at(view: _SentenceView, i: int, groups: frozenset[str]) -> Features:
    """Features of token ``i`` of a prepared sentence (the body of :func:`word2features`)."""
    word = view.tokens[i]
    lower, shape, sshape, flags = view.info[i]
    n = len(view.tokens)
    f: Features = {"bias": 1.0}
    if "word" in groups:
        f["w"] = word
        f["w.lower"] = lower
    if "shape" in groups:
        f["shape"] = shape
        f["sshape"] = sshape
    if "affix" in groups:
        for k in range(1, min(4, len(lower)) + 1):
            f[f"pre{k}"] = lower[:k]
            f[f"suf{k}"] = lower[-k:]
    if "flags" in groups:
        for flag in flags:
            f[flag] = True
    if "bos_eos" in groups:
        if i == 0:
            f["BOS"] = True
        if i == n - 1:
            f["EOS"] = True
    if view.all_caps:
        f["sent.upper"] = True
    if view.pos is not None:
        p = view.pos[i]
        f["pos"] = p
        f["pos2"] = p[:2]
    if view.case is not None:
        f["case"] = view.case[i]
    if view.gaz is not None and view.gaz[i]:
        f["gaz"] = view.gaz[i]
    if view.gaz_words is not None and view.gaz_words[i]:
        f["gaz.word"] = view.gaz_words[i]
    if "context" in groups:
        for off in (-2, -1, 1, 2):
            j = i + off
            if 0 <= j < n:
                o_lower, _, o_sshape, _ = view.info[j]
                f[f"{off:+d}:w.lower"] = o_lower
                f[f"{off:+d}:sshape"] = o_sshape
                if abs(off) == 1:
                    if view.pos is not None:
                        f[f"{off:+d}:pos"] = view.pos[j]
                    if view.case is not None:
                        f[f"{off:+d}:case"] = view.case[j]
                    if view.gaz is not None and view.gaz[j]:
                        f[f"{off:+d}:gaz"] = view.gaz[j]
        if i > 0:
            f["-1|0:w.lower"] = f"{view.info[i - 1][0]}|{lower}"
        if i < n - 1:
            f["0|+1:w.lower"] = f"{lower}|{view.info[i + 1][0]}"
    return f


def word2features(
    sent_tokens: Sequence[str],
    i: int,
    *,
    pos: Sequence[str] | None = None,
    groups: Collection[str] = tuple(FEATURE_GROUPS),
    resources: FeatureResources | None = None,
) -> Features:
    """Features of token ``i`` of a sentence, as one dict (sklearn-crfsuite tutorial shape).

    Groups that need an input produce nothing without it: ``pos`` without ``pos``, ``lexicon`` and
    ``gazetteer`` without ``resources``. :class:`CrfModel` checks that what it was trained with is there.
    Flags are only present when true (an absent attribute costs nothing in training).

    >>> word2features(["Peter", "Blackburn"], 1, groups=["word", "shape", "flags", "bos_eos"])
    ... # doctest: +NORMALIZE_WHITESPACE
    {'bias': 1.0, 'w': 'Blackburn', 'w.lower': 'blackburn', 'shape': 'Xxxxxxxxx', 'sshape': 'Xx',
     'title': True, 'EOS': True}
    """
    g = check_groups(groups)
    if not 0 <= i < len(sent_tokens):
        raise IndexError(f"token index {i} out of range for a sentence of {len(sent_tokens)} tokens")
    return _features_at(_SentenceView(sent_tokens, pos, g, resources), i, g)


def sent2features(
    sent_tokens: Sequence[str],
    *,
    pos: Sequence[str] | None = None,
    groups: Collection[str] = tuple(FEATURE_GROUPS),
    resources: FeatureResources | None = None,
) -> list[Features]:
    """:func:`word2features` for every token, sharing the per-sentence work (same output, faster)."""
    g = check_groups(groups)
    view = _SentenceView(sent_tokens, pos, g, resources)
    return [_features_at(view, i, g) for i in range(len(sent_tokens))]


# =========================================================================== training


@dataclass(frozen=True)
class CrfConfig:
    """Everything that determines a trained CRF; recorded in results and in the model directory.

    Defaults were chosen on CoNLL-2003 *dev* (``baselines/tune_crf.py``): c1/c2 by grid search;
    ``max_iterations`` 80 because dev F1 was flat from 60 to 130 iterations (within 0.002) while
    time grows linearly, and training must fit in 60 s on a busy 2-core machine.
    ``use_pos=None`` means: use the POS column when every training sentence has one.
    ``resource_folds`` is the number of jackknife folds for the training-data resources.
    Training is deterministic (L-BFGS has no randomness, folds are contiguous blocks); ``seed`` is
    recorded so CRF cells line up with the seeded transformer cells.
    """

    feature_set: str = "rich-v1"
    c1: float = 0.1
    c2: float = 0.01
    max_iterations: int = 80
    all_possible_transitions: bool = True
    min_freq: int = 1
    use_pos: bool | None = None
    resource_folds: int = 5
    seed: int = 13

    def __post_init__(self) -> None:
        get_feature_set(self.feature_set)
        if self.c1 < 0 or self.c2 < 0:
            raise ConfigError(f"c1 and c2 must be >= 0 (got c1={self.c1}, c2={self.c2})")
        if self.max_iterations < 1:
            raise ConfigError(f"max_iterations must be >= 1 (got {self.max_iterations})")
        if self.min_freq < 0:
            raise ConfigError(f"min_freq must be >= 0 (got {self.min_freq})")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def config_from_params(params: Mapping[str, Any], *, seed: int | None = None) -> CrfConfig:
    """A :class:`CrfConfig` from a suite's ``params`` table; an unknown key is an error, not ignored.

    >>> config_from_params({"c1": 0.1}, seed=3).c1, config_from_params({}, seed=3).seed
    (0.1, 3)
    """
    return config_of(CrfConfig, params, seed=seed, what="CRF")


def config_of(cls: Any, params: Mapping[str, Any], *, seed: int | None, what: str) -> Any:
    """Config dataclass ``cls`` from ``params`` plus the cell's seed; an unknown key is a ConfigError
    listing the known ones (shared by the CRF and the spaCy baseline)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(f"unknown {what} parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    merged = dict(params)
    if seed is not None:
        merged["seed"] = seed
    return cls(**merged)


@dataclass(frozen=True)
class PredictStats:
    """Cost of one prediction call."""

    seconds: float
    sentences: int
    tokens: int

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tokens_per_second": self.tokens_per_second}


@dataclass(frozen=True)
class TrainStats:
    """What training cost and produced.

    ``peak_rss_bytes`` is the process's lifetime peak (``getrusage`` ``ru_maxrss``), so it is the
    training peak only when training is the process's biggest job (``tune_crf.py`` runs it alone).
    ``attributes`` counts the feature strings kept in the model, ``active_features`` the non-zero
    (attribute, label) weights after L1. ``dev_f1`` is seqeval strict IOB2 micro F1 on dev.
    ``train_cpu_seconds`` is this process's CPU time for the same work: on a busy machine it shows
    how much of the wall time was waiting for a core.
    """

    train_seconds: float
    train_cpu_seconds: float
    feature_seconds: float
    fit_seconds: float
    iterations: int
    attributes: int
    active_features: int
    features_per_token: float
    train_sentences: int
    train_tokens: int
    peak_rss_bytes: int
    dev_f1: float | None = None
    dev_predict: PredictStats | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["dev_predict"] = self.dev_predict.to_dict() if self.dev_predict is not None else None
        return d


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def make_crf(**params: Any) -> Any:
    """A ``sklearn_crfsuite.CRF`` that survives ``repr``/``get_params``/``clone`` on any release.

    sklearn-crfsuite < 0.5 takes ``keep_tempfiles`` in ``__init__`` but never stores it, and
    scikit-learn's ``get_params`` then raises ``AttributeError`` (upstream issue 60).
    """
    import sklearn_crfsuite  # scikit-learn costs about 1.5 s to import; training never needs it

    crf = sklearn_crfsuite.CRF(**params)
    for name in ("keep_tempfiles", "model_filename", "trainer_cls"):
        if not hasattr(crf, name):
            setattr(crf, name, params.get(name, False if name == "keep_tempfiles" else None))
    return crf


class _LoggingTrainer(pycrfsuite.Trainer):
    """Parses crfsuite's progress as usual and logs each iteration at debug level, never to stdout.

    (pycrfsuite only calls ``on_iteration`` when ``verbose``, and verbose sklearn-crfsuite prints.)
    """

    def message(self, message: str) -> None:
        event = self.logparser.feed(message)
        if event == "iteration" and log.isEnabledFor(logging.DEBUG):
            it = self.logparser.last_iteration
            log.debug(
                "crf iteration %s: loss %.2f, %s active features, %.2fs",
                it.get("num"), it.get("loss", 0.0), it.get("active_features"), it.get("time", 0.0),
            )


def _uses_pos(config: CrfConfig, train: Sequence[Sentence]) -> bool:
    fs = get_feature_set(config.feature_set)
    if config.use_pos and "pos" not in fs.groups:
        raise ConfigError(f"use_pos=True but feature set {fs.id} has no 'pos' group")
    if "pos" not in fs.groups or config.use_pos is False:
        return False
    missing = next((s for s in train if s.pos is None), None)
    if config.use_pos and missing is not None:
        raise CrfError(f"use_pos=True but {missing.source or 'a training sentence'} has no POS column")
    return missing is None


def _featurize(
    sentences: Sequence[Sentence],
    *,
    groups: frozenset[str],
    uses_pos: bool,
    resources: Sequence[FeatureResources],
) -> list[list[Features]]:
    return [
        sent2features(s.tokens, pos=s.pos if uses_pos else None, groups=groups, resources=res)
        for s, res in zip(sentences, resources, strict=True)
    ]


@dataclass(frozen=True)
class _Prepared:
    """Training features, computed once and reused by every grid point that shares them."""

    X: list[list[Features]]
    y: list[list[str]]
    uses_pos: bool
    resources: FeatureResources
    seconds: float
    cpu_seconds: float


def _prepare(train: Sequence[Sentence], config: CrfConfig) -> _Prepared:
    t0, c0 = time.perf_counter(), time.process_time()
    if not train:
        raise CrfError("no training sentences")
    fs = get_feature_set(config.feature_set)
    groups = frozenset(fs.groups)
    uses_pos = _uses_pos(config, train)
    final = build_resources(train, groups=groups)
    per_sentence = jackknife_resources(train, groups=groups, folds=config.resource_folds)
    X = _featurize(train, groups=groups, uses_pos=uses_pos, resources=per_sentence)
    y = [list(s.tags) for s in train]
    return _Prepared(X, y, uses_pos, final, time.perf_counter() - t0, time.process_time() - c0)


def _fit(prep: _Prepared, config: CrfConfig) -> tuple[bytes, int, int]:
    """Train; returns ``(model bytes, iterations, active features)``. Leaves no file behind."""
    with tempfile.TemporaryDirectory(prefix="nerbench-crf-") as tmp:
        path = Path(tmp) / MODEL_FILE
        # The parameters sklearn_crfsuite.CRF(...).fit(X, y) gives the trainer (its None-valued
        # options are left out there too): the same model file, without importing scikit-learn.
        trainer = _LoggingTrainer(
            algorithm="lbfgs",
            params={
                "feature.minfreq": config.min_freq,
                "feature.possible_transitions": config.all_possible_transitions,
                "c1": config.c1,
                "c2": config.c2,
                "max_iterations": config.max_iterations,
            },
            verbose=False,
        )
        for xseq, yseq in zip(prep.X, prep.y, strict=True):
            trainer.append(xseq, yseq)
        trainer.train(str(path), holdout=-1)
        iterations = trainer.logparser.iterations
        active = int(iterations[-1].get("active_features", 0)) if iterations else 0
        data = path.read_bytes()
        del trainer
    return data, len(iterations), active


def train_crf(
    train: Sequence[Sentence], *, config: CrfConfig = CrfConfig(), dev: Sequence[Sentence] | None = None
) -> CrfModel:
    """Train a CRF on ``train``; with ``dev``, also score it there (strict IOB2 F1, recorded in stats).

    Dev is never used for fitting or stopping, so the same call is safe inside :func:`search_crf`.
    """
    return _train_prepared(_prepare(train, config), config, dev=dev)


def _train_prepared(prep: _Prepared, config: CrfConfig, *, dev: Sequence[Sentence] | None) -> CrfModel:
    t0, c0 = time.perf_counter(), time.process_time()
    data, iterations, active = _fit(prep, config)
    fit_seconds = time.perf_counter() - t0
    fit_cpu = time.process_time() - c0
    ntok = sum(len(x) for x in prep.X)
    model = CrfModel(
        data,
        config=config,
        uses_pos=prep.uses_pos,
        resources=prep.resources,
        stats=None,
    )
    stats = TrainStats(
        train_seconds=prep.seconds + fit_seconds,
        train_cpu_seconds=prep.cpu_seconds + fit_cpu,
        feature_seconds=prep.seconds,
        fit_seconds=fit_seconds,
        iterations=iterations,
        attributes=model.num_attributes,
        active_features=active,
        features_per_token=sum(len(f) for x in prep.X for f in x) / max(ntok, 1),
        train_sentences=len(prep.X),
        train_tokens=ntok,
        peak_rss_bytes=peak_rss_bytes(),
    )
    if dev:
        pred, pstats = model.predict_timed(dev)
        stats = replace(stats, dev_f1=strict_f1([list(s.tags) for s in dev], pred), dev_predict=pstats)
    model.stats = stats
    log.info(
        "crf %s c1=%g c2=%g: %d iterations, %.1fs (features %.1fs), %d attributes%s",
        config.feature_set, config.c1, config.c2, iterations, stats.train_seconds, prep.seconds,
        stats.attributes, f", dev strict F1 {stats.dev_f1:.4f}" if stats.dev_f1 is not None else "",
    )
    return model


def search_crf(
    train: Sequence[Sentence],
    dev: Sequence[Sentence],
    *,
    grid: Mapping[str, Sequence[Any]],
    base: CrfConfig = CrfConfig(),
) -> tuple[CrfConfig, list[dict[str, Any]]]:
    """Grid search on **dev** strict F1 (never test); returns ``(best config, one record per point)``.

    Points are tried in the grid's order; ties keep the earlier point. Training features are computed
    once per distinct feature-related setting and reused.
    """
    if not dev:
        raise CrfError("search_crf needs dev sentences (hyper-parameters are chosen on dev only)")
    keys = list(grid)
    known = {f.name for f in fields(CrfConfig)}
    bad = sorted(set(keys) - known)
    if bad:
        raise ConfigError(f"unknown CRF parameter(s) in grid: {', '.join(bad)}")
    feature_keys = ("feature_set", "use_pos", "resource_folds")
    cache: dict[tuple[Any, ...], _Prepared] = {}
    records: list[dict[str, Any]] = []
    best: tuple[float, CrfConfig] | None = None
    for values in itertools.product(*(grid[k] for k in keys)):
        config = replace(base, **dict(zip(keys, values, strict=True)))
        fkey = tuple(getattr(config, k) for k in feature_keys)
        if fkey not in cache:
            cache.clear()  # keep one feature matrix in memory at a time
            cache[fkey] = _prepare(train, config)
        model = _train_prepared(cache[fkey], config, dev=dev)
        assert model.stats is not None and model.stats.dev_f1 is not None
        stats = model.stats
        records.append({"config": config.to_dict(), "dev_f1": stats.dev_f1, "stats": stats.to_dict()})
        if best is None or model.stats.dev_f1 > best[0]:
            best = (model.stats.dev_f1, config)
    assert best is not None
    log.info("crf search: best dev strict F1 %.4f with %s", best[0], best[1])
    return best[1], records


# =========================================================================== the model


class CrfModel:
    """A trained CRF: predicts word-level IOB2 tags from tokens (and POS, if trained with POS).

    Output tags are always labels seen in training, but CRFsuite does not forbid an ``O -> I-X``
    transition (it is just strongly penalised), so an invalid ``I-`` is possible in principle; it is
    *not* repaired here: the scorer's strict mode counts it as the error it is.
    """

    def __init__(
        self,
        model_bytes: bytes,
        *,
        config: CrfConfig,
        uses_pos: bool,
        resources: FeatureResources,
        stats: TrainStats | None = None,
    ) -> None:
        self.model_bytes = model_bytes
        self.config = config
        self.feature_set = get_feature_set(config.feature_set)
        self.uses_pos = uses_pos
        self.resources = resources
        self.stats = stats
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open_inmemory(model_bytes)  # reads from model_bytes, kept alive on self
        info = self._tagger.info()
        self.num_attributes = int(info.header["num_attrs"])
        self.labels: list[str] = sorted(self._tagger.labels())

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(self.feature_set.groups)

    def _check_pos(self, pos: Sequence[Sequence[str] | None], where: Sequence[str]) -> None:
        if not self.uses_pos:
            return
        for p, src in zip(pos, where, strict=True):
            if p is None:
                raise CrfError(
                    f"this CRF was trained with POS features (feature set {self.feature_set.id}), but "
                    f"{src} has no POS tags: read the data with its POS column (pos_column), or retrain "
                    "with use_pos=False"
                )

    def predict_tokens(
        self, tokens: Sequence[Sequence[str]], *, pos: Sequence[Sequence[str] | None] | None = None
    ) -> list[list[str]]:
        """Tags for raw token lists (POS lists beside them when the model uses POS)."""
        pos_list: Sequence[Sequence[str] | None] = pos if pos is not None else [None] * len(tokens)
        if len(pos_list) != len(tokens):
            raise ValueError(f"{len(tokens)} sentences but {len(pos_list)} POS sequences")
        self._check_pos(pos_list, [f"sentence {k}" for k in range(len(tokens))])
        out: list[list[str]] = []
        for toks, p in zip(tokens, pos_list, strict=True):
            if not toks:
                out.append([])
                continue
            feats = sent2features(
                toks, pos=p if self.uses_pos else None, groups=self.groups, resources=self.resources
            )
            out.append(list(self._tagger.tag(feats)))
        return out

    def predict_with_scores(
        self, tokens: Sequence[Sequence[str]], *, pos: Sequence[Sequence[str] | None] | None = None
    ) -> list[tuple[list[str], list[float]]]:
        """Tags plus each tag's marginal probability (for ``nerbench predict`` entity scores)."""
        pos_list: Sequence[Sequence[str] | None] = pos if pos is not None else [None] * len(tokens)
        self._check_pos(pos_list, [f"sentence {k}" for k in range(len(tokens))])
        out: list[tuple[list[str], list[float]]] = []
        for toks, p in zip(tokens, pos_list, strict=True):
            if not toks:
                out.append(([], []))
                continue
            feats = sent2features(
                toks, pos=p if self.uses_pos else None, groups=self.groups, resources=self.resources
            )
            tags = list(self._tagger.tag(feats))
            out.append((tags, [float(self._tagger.marginal(t, i)) for i, t in enumerate(tags)]))
        return out

    def predict(self, sentences: Sequence[Sentence]) -> list[list[str]]:
        """Word-level IOB2 tags, one list per sentence; reads only tokens (and POS when used)."""
        return self.predict_timed(sentences)[0]

    def predict_timed(self, sentences: Sequence[Sentence]) -> tuple[list[list[str]], PredictStats]:
        """:meth:`predict` plus its wall time and throughput."""
        where = [s.source or f"sentence {k}" for k, s in enumerate(sentences)]
        self._check_pos([s.pos for s in sentences], where)
        t0 = time.perf_counter()
        tags = self.predict_tokens([s.tokens for s in sentences], pos=[s.pos for s in sentences])
        seconds = time.perf_counter() - t0
        return tags, PredictStats(seconds, len(sentences), sum(len(s.tokens) for s in sentences))

    # ------------------------------------------------------------------ persistence

    def describe(self) -> dict[str, Any]:
        """The ``nerbench_model.json`` content: what this directory holds and how it was made."""
        return {
            "kind": "crf",
            "format_version": MODEL_FORMAT_VERSION,
            "feature_set": self.feature_set.id,
            "feature_groups": list(self.feature_set.groups),
            "config": self.config.to_dict(),
            "labels": self.labels,
            "uses_pos": self.uses_pos,
            "model_file": MODEL_FILE,
            "model_sha256": hashlib.sha256(self.model_bytes).hexdigest(),
            "resources_file": RESOURCES_FILE,
            "stats": self.stats.to_dict() if self.stats is not None else None,
            "versions": {p: _version(p) for p in ("sklearn-crfsuite", "python-crfsuite")},
        }

    def save(self, directory: str | Path) -> Path:
        """Write the model file, resources and ``nerbench_model.json`` (written last) into ``directory``.

        Atomically (:func:`bench.finetune.atomic_model_dir`): the files go into a temporary sibling
        folder that then replaces ``directory``, so a kill while saving leaves the previous model
        (or nothing), never a folder that looks complete.
        """
        from bench.finetune import atomic_model_dir

        d = Path(directory)
        with atomic_model_dir(d, marker=MODEL_JSON) as tmp:
            (tmp / MODEL_FILE).write_bytes(self.model_bytes)
            resources = json.dumps(self.resources.to_json(), ensure_ascii=False)
            (tmp / RESOURCES_FILE).write_text(resources, encoding="utf-8")
            meta = json.dumps(self.describe(), indent=2, sort_keys=True) + "\n"
            (tmp / MODEL_JSON).write_text(meta, encoding="utf-8")
        return d

    @classmethod
    def load(cls, directory: str | Path) -> CrfModel:
        """Read a directory written by :meth:`save`; anything else is a clear :class:`CrfError`."""
        from bench.finetune import refuse_unfinished

        d = Path(directory)
        refuse_unfinished(d)
        meta_path = d / MODEL_JSON
        if not meta_path.is_file():
            unfinished = (d / MODEL_FILE).is_file() or (d / RESOURCES_FILE).is_file()
            hint = f" ({MODEL_FILE} without it: a save that did not finish; train again)" if unfinished else ""
            raise CrfError(f"{d}: no {MODEL_JSON}, so this is not a nerbench model directory{hint}")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CrfError(f"{meta_path}: not valid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise CrfError(f"{meta_path}: must be a JSON object, got {type(meta).__name__}")
        if meta.get("kind") != "crf":
            raise CrfError(f"{meta_path}: kind is {meta.get('kind')!r}, not 'crf'")
        if meta.get("format_version") != MODEL_FORMAT_VERSION:
            raise CrfError(
                f"{meta_path}: format_version {meta.get('format_version')!r}, expected {MODEL_FORMAT_VERSION}"
            )
        try:
            return cls._load_files(d, meta)
        except CrfError:
            raise
        except KeyError as exc:
            raise CrfError(f"{meta_path}: missing key {exc}") from None
        except OSError as exc:
            where = exc.filename or d
            raise CrfError(f"{where}: cannot read: {exc.strerror}; the model folder is incomplete") from None
        except (ValueError, TypeError, AttributeError, NerbenchError) as exc:
            raise CrfError(f"{d}: cannot load the CRF model: {exc}") from None

    @classmethod
    def _load_files(cls, d: Path, meta: dict[str, Any]) -> CrfModel:
        data = (d / meta["model_file"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != meta["model_sha256"]:
            raise CrfError(f"{d / meta['model_file']}: checksum differs from {MODEL_JSON} (file changed)")
        resources_text = (d / meta["resources_file"]).read_text(encoding="utf-8")
        resources = FeatureResources.from_json(json.loads(resources_text))
        config = config_from_params(meta["config"])
        if config.feature_set != meta["feature_set"]:
            raise CrfError(f"{d / MODEL_JSON}: feature_set {meta['feature_set']!r} disagrees with config")
        return cls(data, config=config, uses_pos=bool(meta["uses_pos"]), resources=resources)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


__all__ = [
    "FEATURE_GROUPS",
    "FEATURE_SETS",
    "CrfConfig",
    "CrfError",
    "CrfModel",
    "FeatureResources",
    "FeatureSet",
    "Features",
    "Gazetteer",
    "PredictStats",
    "TrainStats",
    "build_resources",
    "case_lexicon",
    "config_from_params",
    "get_feature_set",
    "jackknife_resources",
    "make_crf",
    "peak_rss_bytes",
    "search_crf",
    "sent2features",
    "short_shape",
    "strict_f1",
    "train_crf",
    "word2features",
    "word_shape",
]
