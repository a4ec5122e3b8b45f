"""Word-level IOB2 tags read into entities and counted: the part of :mod:`bench.metrics` every other part uses.

Tag validation (:func:`check_tags`), the two readings of a tag sequence (``conlleval`` and ``strict``,
both by :func:`bench.data.schemes.tags_to_spans`), per-sentence ``(tp, fp, fn)`` counts, their sums per
unit and the micro F1 computed from them. Import these through :mod:`bench.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from bench.data.schemes import TagError, split_tag, tags_to_spans

Tags = Sequence[Sequence[str]]
"""Word-level IOB2 tags, one sequence per sentence."""
Counts = Sequence[Sequence[int]]
"""Per-unit ``(tp, fp, fn)`` triples, as returned by :func:`sentence_counts` or :func:`sum_by_unit`."""
Mode = Literal["conlleval", "strict"]
"""How tags are read into entities: ``conlleval`` (seqeval default, a stray ``I-`` opens an entity)
or ``strict`` (seqeval strict IOB2, a stray ``I-`` is no entity). Both are read by nerbench's one chunker,
:func:`bench.data.schemes.tags_to_spans` (``strict=True`` for the second)."""

MODES: tuple[Mode, ...] = ("conlleval", "strict")


def _prf(tp: float, n_pred: float, n_gold: float) -> dict[str, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def check_tags(gold: Tags, pred: Tags) -> None:
    """Check that gold and predictions can be scored together, and raise a ValueError that says where if not.

    Both sides need the same number of sentences and the same number of tags in each sentence.
    Every tag must be ``O``, ``B-TYPE`` or ``I-TYPE``, because a BIOES tag would be scored
    differently by the strict and conlleval readers.

    >>> check_tags([["O"], ["B-PER", "O"]], [["O"], ["B-PER"]])
    Traceback (most recent call last):
    ...
    ValueError: sentence 1: 2 gold tags but 1 predicted tags
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted sentences")
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted tags")
        for side, seq in (("gold", g), ("predicted", p)):
            for j, tag in enumerate(seq):
                if tag == "O":
                    continue
                try:
                    prefix, _ = split_tag(tag, j)
                except TagError as e:
                    raise ValueError(f"sentence {i}: {side} {e}") from None
                if prefix not in ("B", "I"):
                    raise ValueError(
                        f"sentence {i}: {side} tag {tag!r} at token {j + 1} is not IOB2 (convert with "
                        "bench.data.schemes.to_iob2 first)"
                    )


def conlleval_entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """Return the entities of one sentence as conlleval (seqeval's default mode) reads them.

    Each entity is ``(type, start, end)`` with ``end`` exclusive. A stray ``I-X`` opens an entity.
    This is :func:`bench.data.schemes.tags_to_spans`, nerbench's one chunker, as a set.

    >>> sorted(conlleval_entities(["B-PER", "I-PER", "O", "I-LOC", "B-ORG", "I-LOC"]))
    [('LOC', 3, 4), ('LOC', 5, 6), ('ORG', 4, 5), ('PER', 0, 2)]
    """
    return set(tags_to_spans(tags))


def strict_entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """Return the entities of one sentence as seqeval's strict IOB2 reader sees them: ``B-X I-X*`` only.

    Each entity is ``(type, start, end)`` with ``end`` exclusive. A stray ``I-`` is skipped, not
    turned into an entity. This is ``tags_to_spans(tags, strict=True)``
    (:func:`bench.data.schemes.tags_to_spans`), as a set.

    >>> sorted(strict_entities(["B-PER", "I-PER", "O", "I-LOC", "B-ORG", "I-LOC"]))
    [('ORG', 4, 5), ('PER', 0, 2)]
    """
    return set(tags_to_spans(tags, strict=True))


def entities(tags: Sequence[str], *, mode: Mode) -> set[tuple[str, int, int]]:
    """The entities of one sentence in ``mode`` (``"conlleval"`` or ``"strict"``), as a set."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} (use one of {', '.join(MODES)})")
    return set(tags_to_spans(tags, strict=mode == "strict"))


def invalid_tags(tags: Sequence[str]) -> int:
    """Count the ``I-`` tags that are part of no ``B-X I-X*`` chunk: what strict mode drops.

    An ``I-X`` after ``O``, at the start, or after another type is invalid, and so is every ``I-X``
    that continues it (conlleval reads the run as one entity; strict reads nothing).

    >>> invalid_tags(["O", "I-PER", "I-PER", "B-PER", "I-PER", "I-LOC"])
    3
    """
    n, prev = 0, "O"
    for tag in tags:
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            n += 1
            prev = "O"  # the next I- of the same type is just as stray
            continue
        prev = tag
    return n


def sentence_counts(gold: Tags, pred: Tags, *, mode: Mode = "conlleval") -> list[tuple[int, int, int]]:
    """Return ``(tp, fp, fn)`` for each sentence in ``mode``. Summed, they equal seqeval's micro counts.

    The bootstrap resamples these counts (summed per unit by :func:`sum_by_unit`). The result file
    stores them so the report can run paired tests between systems later.

    >>> gold, pred = [["B-PER", "I-PER", "O"], ["B-LOC"]], [["B-PER", "O", "I-PER"], ["B-LOC"]]
    >>> sentence_counts(gold, pred)
    [(0, 2, 1), (1, 0, 0)]
    >>> sentence_counts(gold, pred, mode="strict")
    [(0, 1, 1), (1, 0, 0)]
    """
    check_tags(gold, pred)
    out = []
    for g, p in zip(gold, pred, strict=True):
        ge, pe = entities(g, mode=mode), entities(p, mode=mode)
        tp = len(ge & pe)
        out.append((tp, len(pe) - tp, len(ge) - tp))
    return out


def sum_by_unit(counts: Counts, unit_ids: Sequence[str]) -> tuple[list[str], list[list[int]]]:
    """Sum per-sentence ``(tp, fp, fn)`` into one row per unit (e.g. document), units in first-appearance order.

    The sentences of a unit need not be contiguous.

    >>> sum_by_unit([(1, 0, 0), (0, 1, 0), (2, 0, 1)], ["d7", "d2", "d7"])
    (['d7', 'd2'], [[3, 0, 1], [0, 1, 0]])
    """
    if len(counts) != len(unit_ids):
        raise ValueError(f"{len(counts)} count rows but {len(unit_ids)} unit ids")
    rows: dict[str, list[int]] = {}
    for c, uid in zip(counts, unit_ids, strict=True):
        row = rows.setdefault(uid, [0, 0, 0])
        for k in range(3):
            row[k] += int(c[k])
    return list(rows), list(rows.values())


def f1_from_counts(tp: float, fp: float, fn: float) -> float:
    """Compute micro F1 from summed counts, with 0.0 when there is nothing to score.

    >>> f1_from_counts(2, 2, 3)
    0.4444444444444444
    """
    denom = 2 * tp + fp + fn
    return 2 * tp / denom if denom else 0.0


def entity_f1(gold: Tags, pred: Tags, *, mode: Mode) -> float:
    """Entity micro F1 alone, in ``mode``; cheap enough for per-epoch model selection."""
    counts = sentence_counts(gold, pred, mode=mode)
    return f1_from_counts(*(sum(c[k] for c in counts) for k in range(3)))


def conlleval_f1(gold: Tags, pred: Tags) -> float:
    """The main score alone (conlleval-compatible entity micro F1).

    >>> conlleval_f1([["B-PER", "I-PER", "O"]], [["O", "I-PER", "O"]])
    0.0
    """
    return entity_f1(gold, pred, mode="conlleval")


def strict_f1(gold: Tags, pred: Tags) -> float:
    """Strict IOB2 entity micro F1 alone.

    >>> strict_f1([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])
    1.0
    """
    return entity_f1(gold, pred, mode="strict")

