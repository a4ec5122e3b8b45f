"""What the resource feature groups read, all built from the training split only: a case lexicon
(words, never labels) and a gazetteer of the training entities, jackknifed for training features."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from baselines.crf.features import RESOURCE_GROUPS, check_groups, is_all_caps_sentence
from bench.data.schemes import tags_to_spans
from bench.data.types import Sentence
from bench.errors import ConfigError


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
