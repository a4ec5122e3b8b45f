"""Span tasks (BRAT): the original character spans scored with eHealth-KD 2020's official Task A rule
(partial = 0.5) and with exact-span P/R/F1.

Part of :mod:`bench.metrics` (import it from there).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bench.data.types import Entity
from bench.metrics_counts import _prf

log = logging.getLogger("bench.metrics")

Span = tuple[int, int]


def official_spans(entity: Entity, text: str | None = None) -> tuple[Span, ...]:
    """Return the spans as the official eHealth-KD 2020 scorer compares them.

    A single-fragment entity is cut at every space into one span per word, and a multi-fragment
    entity keeps its fragments, sorted. (``Keyphrase.split`` in the official ``scripts/utils.py``
    does the same.) Because of this, gold written one fragment per word (``0 4;5 18``) matches a
    contiguous prediction ``0 18``. ``text`` is the sentence. Without it the entity's own ``text``
    is used when it is exactly the fragment.

    >>> official_spans(Entity("Concept", ((4, 22),)), "Las vías respiratorias")
    ((4, 8), (9, 22))
    >>> official_spans(Entity("Concept", ((0, 18),), text="vías respiratorias"))
    ((0, 4), (5, 18))
    >>> official_spans(Entity("Concept", ((9, 22), (0, 3))))
    ((0, 3), (9, 22))
    """
    if len(entity.fragments) != 1:
        return tuple(sorted(entity.fragments))
    start, end = entity.fragments[0]
    if text is not None:
        surface = text[start:end]
    elif len(entity.text) == end - start:
        surface = entity.text
    else:
        return ((start, end),)
    cuts = [start]
    for i, c in enumerate(surface):
        if c == " ":
            cuts += [start + i, start + i + 1]
    cuts.append(end)
    return tuple((cuts[i], cuts[i + 1]) for i in range(0, len(cuts), 2))


def _partial_match(a: Sequence[Span], b: Sequence[Span]) -> bool:
    """Check the official overlap test: some span start of one side lies inside a span of the other."""
    return any(s <= x < e for s, e in a for x, _ in b) or any(s <= x < e for s, e in b for x, _ in a)


def _sort_key(spans: Sequence[Span]) -> tuple[int, ...]:
    return tuple(s for s, _ in spans) + tuple(e for _, e in spans)


def match_spans(gold: Sequence[Entity], pred: Sequence[Entity], *, text: str | None = None) -> dict[str, int]:
    """Count one sentence's correct/incorrect/partial/missing/spurious entities (eHealth-KD 2020 Task A).

    This follows ``match_keyphrases`` in the official ``scripts/score.py``. Both sides are sorted by
    their spans. Then three passes run over the predictions, each removing what it pairs:

    * correct: the first gold with the same spans, and that gold has the same type;
    * incorrect: the first gold with the same spans;
    * partial: the first gold of the same type whose spans overlap.

    Predictions left over are spurious, and gold entities left over are missing.

    >>> E = lambda t, *f: Entity(t, tuple(f))
    >>> match_spans([E("Concept", (0, 4)), E("Action", (5, 9))], [E("Action", (0, 4)), E("Action", (7, 12))])
    {'correct': 0, 'incorrect': 1, 'partial': 1, 'missing': 0, 'spurious': 0}
    """
    g = sorted(((e.type, official_spans(e, text)) for e in gold), key=lambda x: _sort_key(x[1]))
    p = sorted(((e.type, official_spans(e, text)) for e in pred), key=lambda x: _sort_key(x[1]))
    counts = {"correct": 0, "incorrect": 0, "partial": 0}

    def run(kind: str) -> None:
        for item in p[:]:
            label, spans = item
            if kind == "partial":
                match = next((x for x in g if x[0] == label and _partial_match(spans, x[1])), None)
            else:
                match = next((x for x in g if x[1] == spans), None)
                if match is not None and kind == "correct" and match[0] != label:
                    match = None
            if match is not None:
                counts[kind] += 1
                g.remove(match)
                p.remove(item)

    for kind in ("correct", "incorrect", "partial"):
        run(kind)
    return {**counts, "missing": len(g), "spurious": len(p)}


def official_ehealthkd(
    correct: int, incorrect: int, partial: int, spurious: int, missing: int
) -> dict[str, float]:
    """Compute eHealth-KD 2020 Task A precision, recall and F1, where a partial match counts half.

    recall = (C + P/2) / (C + I + P + M), precision = (C + P/2) / (C + I + P + S).
    SINAI's winning run (scenario 2) is the reference:

    >>> r = official_ehealthkd(432, 24, 33, 42, 67)
    >>> round(r["precision"], 4), round(r["recall"], 4), round(r["f1"], 4)
    (0.8446, 0.8067, 0.8252)
    """
    hit = correct + 0.5 * partial
    rec_den = correct + incorrect + partial + missing
    prec_den = correct + incorrect + partial + spurious
    recall = hit / rec_den if rec_den else 0.0
    precision = hit / prec_den if prec_den else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def score_spans(
    gold: Sequence[Sequence[Entity]],
    pred: Sequence[Sequence[Entity]],
    *,
    texts: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Score predictions on the original character spans, with one list of entities per sentence.

    ``official`` applies eHealth-KD 2020's Task A rule (:func:`match_spans`, :func:`official_ehealthkd`).
    As in the official script, sentences with no gold entity are skipped, so a prediction there
    costs nothing. ``skipped_sentences`` and ``spurious_in_skipped`` make that visible. ``exact`` is
    P/R/F1 where a hit needs the same type and the same spans (compared as :func:`official_spans`
    normalises them), counted over all sentences. ``texts`` (the sentence texts) let the
    normalisation cut contiguous spans into words even for entities whose ``text`` is not filled in.

    Layout: ``{official: {precision, recall, f1, correct, incorrect, partial, missing, spurious,
    skipped_sentences, spurious_in_skipped}, exact: {micro: {precision, recall, f1, support, tp, fp,
    fn}, per_type: {TYPE: {...}}}, counts: {sentences, gold_entities, pred_entities,
    discontinuous_gold, discontinuous_pred, entities_without_text}}``. The last one counts contiguous
    entities that could not be cut into words (no ``texts`` and no usable ``Entity.text``). It should be 0.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted sentences")
    if texts is not None and len(texts) != len(gold):
        raise ValueError(f"{len(gold)} sentences but {len(texts)} texts")
    official = {"correct": 0, "incorrect": 0, "partial": 0, "missing": 0, "spurious": 0}
    skipped = spurious_skipped = unsplit = 0
    per_type: dict[str, list[int]] = {}  # type -> [tp, n_pred, n_gold]
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        text = texts[i] if texts is not None else None
        if text is None:
            unsplit += sum(len(e.fragments) == 1 and len(e.text) != e.end - e.start for e in (*g, *p))
        if g:
            for k, v in match_spans(g, p, text=text).items():
                official[k] += v
        else:
            skipped += 1
            spurious_skipped += len(p)
        gk = Counter((e.type, official_spans(e, text)) for e in g)
        pk = Counter((e.type, official_spans(e, text)) for e in p)
        for (etype, _), n in gk.items():
            per_type.setdefault(etype, [0, 0, 0])[2] += n
        for (etype, _), n in pk.items():
            per_type.setdefault(etype, [0, 0, 0])[1] += n
        for (etype, _), n in (gk & pk).items():
            per_type[etype][0] += n
    tp, n_pred, n_gold = (sum(v[k] for v in per_type.values()) for k in range(3))
    if unsplit:
        log.warning("%d contiguous entities have no text to cut into words (pass texts=); a multiword one "
                    "will not match gold written one fragment per word", unsplit)

    def exact(tp_: int, np_: int, ng_: int) -> dict[str, float | int]:
        return {**_prf(tp_, np_, ng_), "support": ng_, "tp": tp_, "fp": np_ - tp_, "fn": ng_ - tp_}

    out = {
        "official": {
            **official_ehealthkd(official["correct"], official["incorrect"], official["partial"],
                                 official["spurious"], official["missing"]),
            **official,
            "skipped_sentences": skipped,
            "spurious_in_skipped": spurious_skipped,
        },
        "exact": {
            "micro": exact(tp, n_pred, n_gold),
            "per_type": {t: exact(*per_type[t]) for t in sorted(per_type)},
        },
        "counts": {
            "sentences": len(gold),
            "gold_entities": n_gold,
            "pred_entities": n_pred,
            "discontinuous_gold": sum(e.is_discontinuous for s in gold for e in s),
            "discontinuous_pred": sum(e.is_discontinuous for s in pred for e in s),
            "entities_without_text": unsplit,
        },
    }
    return out
