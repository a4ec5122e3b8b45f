"""Entity-level scoring shared by every system, with each mode named in the output.

Every system (CRF, transformers, external predictions) is scored by these functions, so their
numbers can be compared.

* **Main score**: conlleval-compatible entity micro F1 over word-level IOB2 tags: seqeval's *default*
  mode, which reads tags the way ``conlleval.pl`` does. A stray ``I-X`` (after ``O``, at sentence
  start, after another type) **opens** an entity, so ill-formed output is counted as a prediction and
  pays precision when it is wrong. Every published CoNLL, WNUT and BC5CDR number is a conlleval number.
* Beside it: seqeval *strict* IOB2 (``mode="strict", scheme=IOB2``), where an entity is ``B-X I-X*``
  and nothing else and a stray ``I-X`` is no entity at all; the number of such invalid ``I-`` tags
  (predicted and gold); macro and per-type P/R/F1 for both modes; token accuracy (not an NER score);
  and nervaluate's four schemes (strict, exact, partial, ent_type) on the **conlleval** entities, so
  nervaluate's ``strict`` counts equal the main score's TP/FP/FN.
* Span tasks (BRAT): the original character spans, discontinuous entities included, scored with
  eHealth-KD 2020's official Task A rule (partial = 0.5) and with exact-span P/R/F1.
* Uncertainty: percentile bootstrap CIs and a paired bootstrap test that work from per-unit
  ``(tp, fp, fn)`` counts (a unit is a document where the task knows its documents, else a sentence).
  With several training seeds, each resample draws the units once and averages all seeds' F1 on
  them, so the interval is one of the *seed-averaged* score. Counts make this fast, and the report
  reruns it from stored counts without the predictions. :func:`holm` corrects a table of p-values.

Every public function returns plain dicts, lists, ints and floats, **unrounded**: floats are stored
exactly and rounded only for display. A score that is undefined (seqeval's macro average when no
entity type occurs at all) is NaN; ``bench.results`` writes NaN and infinities as ``null``, the one
place that rule lives. Zero divisions in micro scores are 0.0, as in seqeval with ``zero_division=0``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import statistics
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np

from bench.data.schemes import TagError, split_tag, tags_to_spans
from bench.data.types import Entity

log = logging.getLogger(__name__)

Tags = Sequence[Sequence[str]]
"""Word-level IOB2 tags, one sequence per sentence."""
Counts = Sequence[Sequence[int]]
"""Per-unit ``(tp, fp, fn)`` triples, as returned by :func:`sentence_counts` or :func:`sum_by_unit`."""
Mode = Literal["conlleval", "strict"]
"""How tags are read into entities: ``conlleval`` (seqeval default, a stray ``I-`` opens an entity)
or ``strict`` (seqeval strict IOB2, a stray ``I-`` is no entity). Both are read by nerbench's one chunker,
:func:`bench.data.schemes.tags_to_spans` (``strict=True`` for the second)."""
Span = tuple[int, int]

MODES: tuple[Mode, ...] = ("conlleval", "strict")

MAIN = {"name": "conlleval_f1", "metric": "f1", "scorer": "seqeval", "mode": "default", "scheme": "IOB2",
        "average": "micro", "chunking": "conlleval: a stray I-X opens an entity"}
"""How the main score is computed; stored beside its value."""

NERVALUATE_SCHEMES = ("strict", "exact", "partial", "ent_type")


def _version(pkg: str) -> str | None:
    """``seqeval.__version__`` does not exist, so ask the installed distribution."""
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def _plain(obj: Any) -> Any:
    """Turn numpy scalars into Python ones, recursively. Values are not rounded; NaN stays NaN."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj)
    return obj


def _prf(tp: float, n_pred: float, n_gold: float) -> dict[str, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


# --------------------------------------------------------------------------- tags: validation, chunks


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


# --------------------------------------------------------------------------- score_tags


def _seqeval_block(gold: list[list[str]], pred: list[list[str]], *, mode: Mode) -> dict[str, Any]:
    """seqeval's report in ``mode``, micro P/R/F1 recomputed from our own counts (checked against seqeval)."""
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    kwargs: dict[str, Any] = {"mode": "strict", "scheme": IOB2} if mode == "strict" else {}
    with warnings.catch_warnings(record=True) as caught:
        # Expected and harmless: numpy's "mean of empty slice" for the macro average when no type
        # exists at all. Inputs are validated first, so seqeval's "seems not to be NE tag" cannot occur.
        warnings.simplefilter("always")
        rep = classification_report(gold, pred, output_dict=True, zero_division=0, **kwargs)
    for w in caught:
        log.debug("seqeval (%s): %s", mode, w.message)

    def block(key: str) -> dict[str, float | int]:
        r = rep[key]
        return {"precision": float(r["precision"]), "recall": float(r["recall"]), "f1": float(r["f1-score"]),
                "support": int(r["support"])}

    counts = sentence_counts(gold, pred, mode=mode)
    tp, fp, fn = (sum(c[k] for c in counts) for k in range(3))
    micro = {**_prf(tp, tp + fp, tp + fn), "support": tp + fn, "tp": tp, "fp": fp, "fn": fn}
    micro["f1"] = f1_from_counts(tp, fp, fn)  # the formula the bootstrap uses, so both agree to the last bit
    # Our chunking feeds the bootstrap. If it ever disagreed with seqeval's, every CI would be wrong.
    theirs = block("micro avg")
    if any(abs(micro[k] - theirs[k]) > 1e-9 for k in ("precision", "recall", "f1", "support")):
        raise RuntimeError(f"{mode} chunking disagrees with seqeval: ours {micro}, seqeval {theirs}")
    types = sorted(k for k in rep if k not in ("micro avg", "macro avg", "weighted avg"))
    return {"micro": micro, "macro": block("macro avg"), "weighted": block("weighted avg"),
            "per_type": {t: block(t) for t in types}}


def _by_start(entity: tuple[str, int, int]) -> int:
    return entity[1]


def _nervaluate_block(gold: list[list[str]], pred: list[list[str]]) -> dict[str, Any]:
    """Run nervaluate 1.x on the conlleval entities (dict loader, ``end`` inclusive as nervaluate expects)."""
    from nervaluate import Evaluator

    def docs(seqs: list[list[str]]) -> list[list[dict[str, Any]]]:
        return [
            [{"label": t, "start": s, "end": e - 1}
             for t, s, e in sorted(conlleval_entities(seq), key=_by_start)]
            for seq in seqs
        ]

    true_docs, pred_docs = docs(gold), docs(pred)
    types = sorted({e["label"] for d in true_docs + pred_docs for e in d})
    res = Evaluator(true_docs, pred_docs, tags=types, loader="dict").evaluate()

    fields = ("correct", "incorrect", "partial", "missed", "spurious", "possible", "actual",
              "precision", "recall", "f1")

    def block(r: Any) -> dict[str, float | int]:
        # nervaluate gives int 0 for an undefined ratio; keep one type per field in the JSON
        return {f: float(getattr(r, f)) if f in ("precision", "recall", "f1") else int(getattr(r, f))
                for f in fields}

    return {
        "overall": {s: block(res["overall"][s]) for s in NERVALUATE_SCHEMES},
        "per_type": {t: {s: block(res["entities"][t][s]) for s in NERVALUATE_SCHEMES}
                     for t in sorted(res["entities"])},
    }


def score_tags(gold: Tags, pred: Tags) -> dict[str, Any]:
    """Compute every word-level score of one split; ``main.value`` (= ``conlleval.micro.f1``) is the headline.

    Layout (floats unrounded; NaN where a score is undefined)::

        main          {name: "conlleval_f1", value, precision, recall, metric, scorer, mode, scheme,
                       average, chunking}
        conlleval     {micro: {precision, recall, f1, support, tp, fp, fn},
                       macro|weighted: {precision, recall, f1, support},
                       per_type: {TYPE: {precision, recall, f1, support}}}   # seqeval default mode
        strict        the same, seqeval mode="strict", scheme=IOB2
        invalid_tags  {predicted, gold}   # I- tags in no B-X I-X* chunk (see invalid_tags())
        token_accuracy
        nervaluate    {overall: {strict|exact|partial|ent_type: {correct, incorrect, partial, missed,
                       spurious, possible, actual, precision, recall, f1}}, per_type: {TYPE: {...}}}
        counts        {sentences, tokens, gold_entities, pred_entities}      # conlleval entities
        scorers       {seqeval: {version, conlleval, strict}, nervaluate: {version, entities}}

    Inputs must hold at least one sentence (an empty split is a bug upstream, not a score of 0).
    """
    check_tags(gold, pred)
    if not gold:
        raise ValueError("nothing to score: 0 sentences")
    g = [list(s) for s in gold]
    p = [list(s) for s in pred]
    conll = _seqeval_block(g, p, mode="conlleval")
    strict = _seqeval_block(g, p, mode="strict")
    micro = conll["micro"]
    n_tok = sum(len(s) for s in g)
    correct_tokens = sum(a == b for gs, ps in zip(g, p, strict=True) for a, b in zip(gs, ps, strict=True))
    invalid = {"predicted": sum(invalid_tags(s) for s in p), "gold": sum(invalid_tags(s) for s in g)}
    if invalid["predicted"]:
        log.info("%d predicted I- tags continue no entity: an entity in conlleval mode, none in strict mode",
                 invalid["predicted"])
    out = {
        "main": {**MAIN, "value": micro["f1"], "precision": micro["precision"], "recall": micro["recall"]},
        "conlleval": conll,
        "strict": strict,
        "invalid_tags": invalid,
        "token_accuracy": correct_tokens / n_tok if n_tok else 0.0,
        "nervaluate": _nervaluate_block(g, p),
        "counts": {"sentences": len(g), "tokens": n_tok, "gold_entities": micro["tp"] + micro["fn"],
                   "pred_entities": micro["tp"] + micro["fp"]},
        "scorers": {
            "seqeval": {
                "version": _version("seqeval"),
                "conlleval": {"mode": "default", "scheme": "IOB2",
                              "note": "conlleval-compatible: a stray I- opens an entity"},
                "strict": {"mode": "strict", "scheme": "IOB2"},
            },
            "nervaluate": {"version": _version("nervaluate"), "entities": "conlleval chunks (same as main)"},
        },
    }
    return _plain(out)


# --------------------------------------------------------------------------- span scoring


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


# --------------------------------------------------------------------------- uncertainty

BOOTSTRAP_SEED = 0
"""The seed of every bootstrap nerbench computes: a result file's CI and the report's CIs and tests, so one
number has one interval (a one-seed cell's CI in the report is the one stored in its result)."""
N_RESAMPLES = 1000
"""Bootstrap resamples for every CI and test, in result files and the report alike."""

BLOCK_CELLS = 2_000_000
"""Resample weights are drawn in blocks of at most this many (resample, unit) cells, to bound memory."""


def _counts_array(counts: Counts) -> np.ndarray:
    arr = np.asarray(counts, dtype=np.int64)
    if arr.size == 0:
        return arr.reshape(0, 3)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"expected per-unit (tp, fp, fn) triples, got shape {arr.shape}")
    return arr


def _resample_weights(n: int, *, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Yield blocks of resample weights: row ``b``, column ``u`` says how often resample ``b`` drew unit ``u``.

    Each resample draws ``n`` units with replacement. The block size depends only on ``n``, so a
    given seed always gives the same draws, whatever is scored on them.
    """
    rng = np.random.default_rng(seed)
    block = max(1, BLOCK_CELLS // max(n, 1))
    for lo in range(0, n_resamples, block):
        b = min(block, n_resamples - lo)
        idx = rng.integers(0, n, size=(b, n))
        flat = (idx + n * np.arange(b)[:, None]).ravel()
        yield np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def resampled_f1(
    systems: Sequence[Sequence[Counts]], *, n_resamples: int, seed: int
) -> tuple[list[float], list[np.ndarray]]:
    """Score every system on the same unit resamples, each as the mean of its seeds' micro F1.

    ``systems[k]`` holds one ``(tp, fp, fn)`` table per training seed of system ``k``, all over the
    same units in the same order. Each resample draws the units **once**; every seed of every system
    is scored on that draw, and a system's value is the mean over its seeds. Returns the point
    estimates (the same, on the units as they are) and one array of ``n_resamples`` values per system.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    tables = [[_counts_array(c) for c in seeds] for seeds in systems]
    if any(not seeds for seeds in tables):
        raise ValueError("every system needs the counts of at least one seed")
    n = len(tables[0][0])
    if n == 0:
        raise ValueError("nothing to resample: 0 units")
    if any(len(t) != n for seeds in tables for t in seeds):
        sizes = sorted({len(t) for seeds in tables for t in seeds})
        raise ValueError(f"every seed and system needs the same units: got {sizes} units")
    stacked = np.concatenate([t for seeds in tables for t in seeds], axis=1).astype(np.float64)  # (n, 3 * all seeds)
    points = [statistics.fmean(f1_from_counts(*(int(x) for x in t.sum(0))) for t in seeds) for seeds in tables]
    parts: list[np.ndarray] = []
    for w in _resample_weights(n, n_resamples=n_resamples, seed=seed):
        sums = w @ stacked  # integer-valued: exact in float64 far beyond any corpus size
        tp, fp, fn = sums[:, 0::3], sums[:, 1::3], sums[:, 2::3]
        denom = 2 * tp + fp + fn
        parts.append(np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0))
    f1 = np.concatenate(parts)  # (n_resamples, all seeds)
    out, col = [], 0
    for seeds in tables:
        out.append(f1[:, col:col + len(seeds)].mean(axis=1))
        col += len(seeds)
    return points, out


def _check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return (1 - confidence) / 2


def bootstrap_ci_seeds(
    counts_per_seed: Sequence[Counts], *, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Compute a percentile bootstrap CI of the **seed-averaged** micro F1 from per-unit counts of every seed.

    Each resample draws the units once and averages all seeds' F1 on them (:func:`resampled_f1`).
    So the interval covers the variation from the evaluation sample of the score a reader sees (the
    mean over seeds); seed-to-seed spread is reported beside it as the std. Units that were sampled
    together (a document's sentences) are resampled together.

    Here two seeds err on different documents; on any draw their mean is 0.5, so the interval of the
    mean collapses although each seed alone would range from 0 to 1:

    >>> bootstrap_ci_seeds([[(1, 0, 0), (0, 1, 1)], [(0, 1, 1), (1, 0, 0)]], n_resamples=200)
    (0.5, 0.5)
    """
    alpha = _check_confidence(confidence)
    _, (f1,) = resampled_f1([counts_per_seed], n_resamples=n_resamples, seed=seed)
    return float(np.quantile(f1, alpha)), float(np.quantile(f1, 1 - alpha))


def bootstrap_ci_counts(
    counts: Counts, *, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Compute a percentile bootstrap CI of one run's micro F1 from per-unit ``(tp, fp, fn)``.

    The same as :func:`bootstrap_ci_seeds` with one seed.

    >>> bootstrap_ci_counts([(1, 0, 0)] * 10, n_resamples=50)
    (1.0, 1.0)
    """
    return bootstrap_ci_seeds([counts], n_resamples=n_resamples, seed=seed, confidence=confidence)


def bootstrap_ci(
    gold: Tags, pred: Tags, *, mode: Mode = "conlleval", n_resamples: int = 1000, seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Compute a bootstrap CI of the entity micro F1 in ``mode`` over sentences; see :func:`bootstrap_ci_counts`."""
    return bootstrap_ci_counts(sentence_counts(gold, pred, mode=mode), n_resamples=n_resamples, seed=seed,
                               confidence=confidence)


PAIRED_TEST = (
    "paired percentile bootstrap of the seed-averaged F1 over units: each resample draws the units once and "
    "scores every seed of both systems on it; two-sided p = (1 + #{|delta* - delta| >= |delta|}) / (1 + B)"
)
"""How :func:`paired_bootstrap_seeds` tests; stored beside its result."""


def paired_bootstrap_seeds(
    seeds_a: Sequence[Counts],
    seeds_b: Sequence[Counts],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Test ``delta = mean F1(b) - mean F1(a)`` with a paired bootstrap over the same units; two-sided.

    ``seeds_a`` and ``seeds_b`` hold one per-unit ``(tp, fp, fn)`` table per training seed (the two
    systems may have different numbers of seeds). Each of the ``B`` resamples draws the units once;
    both systems' seed-averaged F1 is computed on that draw, giving ``delta*``. The bootstrap
    distribution is centred on ``delta``, so ``delta* - delta`` stands in for the null distribution
    (Efron & Tibshirani 1993, ch. 16): the two-sided p-value is the share of resamples with
    ``|delta* - delta| >= |delta|``, with +1 smoothing, ``p = (1 + k) / (1 + B)``. So p is never
    0 (the smallest is ``1 / (1 + B)``), identical systems get exactly 1, and swapping the systems
    changes only the sign of ``delta``. ``delta_ci_low``/``delta_ci_high`` are the percentile
    interval of ``delta*``.

    >>> r = paired_bootstrap_seeds([[(1, 1, 0)] * 5], [[(1, 1, 0)] * 5], n_resamples=20)
    >>> r["delta"], r["p_value"]
    (0.0, 1.0)
    """
    alpha = _check_confidence(confidence)
    (f1_a, f1_b), (ra, rb) = resampled_f1([seeds_a, seeds_b], n_resamples=n_resamples, seed=seed)
    delta = f1_b - f1_a
    d = rb - ra
    eps = 1e-12  # float noise must not turn a tie into evidence
    k = int(np.count_nonzero(np.abs(d - delta) >= abs(delta) - eps))
    return {
        "delta": delta,
        "f1_a": f1_a,
        "f1_b": f1_b,
        "p_value": (1 + k) / (1 + n_resamples),
        "delta_ci_low": float(np.quantile(d, alpha)),
        "delta_ci_high": float(np.quantile(d, 1 - alpha)),
        "confidence": confidence,
        "test": PAIRED_TEST,
        "n_resamples": n_resamples,
        "seed": seed,
        "units": len(seeds_a[0]),
        "seeds_a": len(seeds_a),
        "seeds_b": len(seeds_b),
    }


def paired_bootstrap_counts(
    counts_a: Counts, counts_b: Counts, *, n_resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Paired bootstrap of two single runs from per-unit counts; see :func:`paired_bootstrap_seeds`."""
    a, b = _counts_array(counts_a), _counts_array(counts_b)
    if len(a) != len(b):
        raise ValueError(f"paired test needs the same units: {len(a)} vs {len(b)}")
    return paired_bootstrap_seeds([a], [b], n_resamples=n_resamples, seed=seed)


def paired_bootstrap(
    gold: Tags, pred_a: Tags, pred_b: Tags, *, mode: Mode = "conlleval", n_resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Paired bootstrap of two systems' entity micro F1 over sentences; see :func:`paired_bootstrap_seeds`."""
    return paired_bootstrap_counts(sentence_counts(gold, pred_a, mode=mode), sentence_counts(gold, pred_b, mode=mode),
                                   n_resamples=n_resamples, seed=seed)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order, for the comparisons of one table.

    Sorted ascending, the ``i``-th smallest of ``m`` p-values (``i`` from 0) is multiplied by
    ``m - i``; the adjusted values are then made non-decreasing in that order and capped at 1.
    Rejecting where the adjusted p is below alpha controls the family-wise error rate at alpha.

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    >>> holm([0.5, 0.01])
    [0.5, 0.02]
    """
    m = len(p_values)
    if any(not 0 <= p <= 1 for p in p_values):  # also catches NaN
        raise ValueError(f"p-values must be in [0, 1]: {list(p_values)}")
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


def summarize_seeds(values: Sequence[float]) -> dict[str, Any]:
    """Summarise one score over training seeds: mean, sample standard deviation (ddof=1), min, max and n.

    With a single seed the spread is unknown, so ``std`` is ``None`` rather than a misleading 0.0.

    >>> summarize_seeds([0.5, 0.75, 1.0])
    {'mean': 0.75, 'std': 0.25, 'min': 0.5, 'max': 1.0, 'n': 3}
    >>> summarize_seeds([0.9])["std"] is None
    True
    """
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("no values to summarise")
    if any(math.isnan(v) for v in vals):
        raise ValueError(f"NaN among the values: {vals}")
    return {
        "mean": statistics.fmean(vals),
        "std": statistics.stdev(vals) if len(vals) > 1 else None,
        "min": min(vals),
        "max": max(vals),
        "n": len(vals),
    }
