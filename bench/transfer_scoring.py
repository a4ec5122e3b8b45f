"""Scoring across corpora: one split scored in the *train-side* types of a declared type mapping.

A model trained on one task (say CoNLL-2003: PER, ORG, LOC, MISC) is scored on another task's test split
(WNUT-17: person, location, corporation, group, product, creative-work) through a mapping of eval-side
types to train-side types (``person = "PER"``, ``corporation = "ORG"``, ``group = "ORG"``):

- gold: every entity of a mapped eval type is renamed to its train type (several eval types may map to one
  train type); entities of eval types outside the mapping are left out (turned into ``O``) and counted;
- predictions: entities of train types that no eval type maps to (MISC) are left out (their tags turned
  into ``O``) and counted; the others are kept as predicted, so conlleval and strict read them as before;
- then the split is scored by :func:`bench.scoring.score_split`, the scorer of every other result, with
  seen/unseen against the *training* corpus (the train task's train split, in train-side types).

The same rule scores the in-domain test split on the shared types only (gold and predicted entities of
train types outside the mapping's values left out), so the two numbers compare like with like.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from bench.data.schemes import tags_to_spans
from bench.data.types import Sentence
from bench.scoring import score_split
from bench.spec import TaskSpec

TRANSFER_VERSION = 1
"""The rule above; part of every out-of-domain result's cell key (bump when it changes what is scored)."""


def mapping_text(types: Mapping[str, str]) -> str:
    """The mapping as one canonical string (the cell key's ``type_mapping``).

    >>> mapping_text({"person": "PER", "group": "ORG", "corporation": "ORG"})
    'corporation>ORG,group>ORG,person>PER'
    """
    return ",".join(f"{k}>{v}" for k, v in sorted(types.items()))


def shared_types(types: Mapping[str, str]) -> list[str]:
    """The train-side types the mapping reaches: what both sides are scored on.

    >>> shared_types({"person": "PER", "group": "ORG", "corporation": "ORG"})
    ['ORG', 'PER']
    """
    return sorted(set(types.values()))


def _render(n: int, chunks: Sequence[tuple[str, int, int]]) -> tuple[str, ...]:
    tags = ["O"] * n
    for etype, start, end in chunks:
        tags[start] = f"B-{etype}"
        for i in range(start + 1, end):
            tags[i] = f"I-{etype}"
    return tuple(tags)


def map_gold(sentences: Sequence[Sentence], types: Mapping[str, str]) -> tuple[list[Sentence], Counter[str]]:
    """Gold sentences in the train-side types: each entity (conlleval chunk) of a mapped type renamed, the
    others left out; returns the sentences and the left-out entities per (source-side) type. Character spans
    (BRAT tasks) are dropped: the mapped split is scored on its word tags.

    >>> s = Sentence(("Apple", "fans", "in", "Paris"), ("B-corporation", "B-group", "O", "B-location"))
    >>> mapped, left = map_gold([s], {"corporation": "ORG", "group": "ORG"})
    >>> mapped[0].tags, dict(left)
    (('B-ORG', 'B-ORG', 'O', 'O'), {'location': 1})
    """
    out: list[Sentence] = []
    left: Counter[str] = Counter()
    for s in sentences:
        kept = []
        for etype, start, end in tags_to_spans(s.tags):
            if etype in types:
                kept.append((types[etype], start, end))
            else:
                left[etype] += 1
        out.append(dataclasses.replace(s, tags=_render(len(s.tokens), kept), entities=None))
    return out, left


def keep_predicted(pred: Sequence[Sequence[str]], keep: Sequence[str]) -> tuple[list[list[str]], Counter[str]]:
    """Predicted tags with every tag of a type outside ``keep`` turned into ``O``; returns them and the
    left-out predicted entities (conlleval chunks) per type. The kept tags are untouched, so an invalid ``I-``
    stays invalid for the strict score.

    >>> keep_predicted([["B-PER", "B-MISC", "I-MISC", "I-LOC"]], ["PER", "LOC"])
    ([['B-PER', 'O', 'O', 'I-LOC']], Counter({'MISC': 1}))
    """
    wanted = set(keep)
    out: list[list[str]] = []
    left: Counter[str] = Counter()
    for tags in pred:
        left.update(etype for etype, _, _ in tags_to_spans(tags) if etype not in wanted)
        out.append([t if t == "O" or t[2:] in wanted else "O" for t in tags])
    return out, left


def score_in_types(
    task: TaskSpec, gold: Sequence[Sentence], pred: Sequence[Sequence[str]], *, gold_types: Mapping[str, str],
    keep: Sequence[str], train: Sequence[Sentence] | None, n_resamples: int,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Score ``pred`` against ``gold`` in the train-side types ``keep``: gold mapped with ``gold_types``
    (the identity on ``keep`` for the in-domain split), predictions outside ``keep`` left out. Returns
    ``(metrics, unit_counts, left_out)``; ``left_out`` holds the left-out ``gold`` and ``predicted``
    entities per type. ``train``: the training corpus, for seen/unseen."""
    mapped, gold_left = map_gold(gold, gold_types)
    kept, pred_left = keep_predicted(pred, keep)
    spec = dataclasses.replace(task, entity_types=tuple(keep), span_scoring=None)
    metrics, unit_counts = score_split(spec, mapped, kept, n_resamples=n_resamples, train=train)
    left_out = {"gold": dict(sorted(gold_left.items())), "predicted": dict(sorted(pred_left.items()))}
    return metrics, unit_counts, left_out


def identity(types: Sequence[str]) -> dict[str, str]:
    """The mapping that keeps ``types`` as they are (the in-domain split's gold).

    >>> identity(["ORG", "PER"])
    {'ORG': 'ORG', 'PER': 'PER'}
    """
    return {t: t for t in types}
