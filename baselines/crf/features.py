"""CRF features: named, switchable feature groups, versioned feature sets, and the token features.

Pure, module-level functions in the shape of sklearn-crfsuite's CoNLL2002 tutorial (:func:`word2features`,
:func:`sent2features`). Everything is computed from the sentence itself plus the
:class:`~baselines.crf.resources.FeatureResources` built from the training text only.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from bench.errors import ConfigError

if TYPE_CHECKING:
    from baselines.crf.resources import FeatureResources

Features = dict[str, float | str | bool]
"""One token's features as python-crfsuite takes them: ``str`` values become ``key=value``
attributes with weight 1, numbers and booleans are weights of the attribute ``key``."""


# --------------------------------------------------------------------------- groups, sets, shapes

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
