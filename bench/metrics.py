"""Entity-level scoring shared by every system, with each mode named in the output.

Every system (CRF, transformers) is scored by these functions, so their numbers can be compared.

* **Main score**: seqeval *strict* (``mode="strict", scheme=IOB2``) micro F1 over word-level IOB2
  tags. In strict mode an entity is ``B-X I-X*`` and nothing else: an ``I-X`` that does not continue
  an ``X`` (after ``O``, at sentence start, after another type) is **no entity at all**, so a system
  gets no credit for ill-formed output. Such tags are counted (``counts.invalid_pred_tags``), not
  repaired. seqeval raises no warning for them in strict mode. The warnings it does raise (ill-defined
  macro averages when no type exists) are caught and logged at DEBUG. Zero divisions score 0.
* Next to it: seqeval's default mode (*lenient*, conlleval-compatible: a stray ``I-X`` opens an
  entity), macro and per-type P/R/F1, token accuracy (not an NER score), and nervaluate's four
  schemes (strict, exact, partial, ent_type). nervaluate is given the **strict** entities, so its
  ``strict`` counts equal the main score's TP/FP/FN.
* Span tasks (BRAT): the original character spans, discontinuous entities included, scored with
  eHealth-KD 2020's official Task A rule (partial = 0.5) and with exact-span P/R/F1.
* Uncertainty: a bootstrap CI of the main score over sentences, and a paired bootstrap between two
  systems. Both work from per-sentence strict ``(tp, fp, fn)`` counts. That makes them fast, and the
  report can rerun them from stored counts without the predictions.

Every public function returns plain dicts, lists, ints and floats, with floats rounded to 6
decimals (ready for JSON).
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import statistics
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.data.schemes import TagError, split_tag
from bench.data.types import Entity

log = logging.getLogger(__name__)

Tags = Sequence[Sequence[str]]
"""Word-level IOB2 tags, one sequence per sentence."""
Counts = Sequence[Sequence[int]]
"""Per-sentence strict ``(tp, fp, fn)`` triples, as returned by :func:`sentence_counts`."""
Span = tuple[int, int]

DIGITS = 6
"""Decimals every float output is rounded to."""

MAIN = {"name": "strict_f1", "metric": "f1", "scorer": "seqeval", "mode": "strict", "scheme": "IOB2",
        "average": "micro"}
"""How the main score is computed; stored beside its value."""

NERVALUATE_SCHEMES = ("strict", "exact", "partial", "ent_type")


def _version(pkg: str) -> str | None:
    """``seqeval.__version__`` does not exist, so ask the installed distribution."""
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def _round(obj: Any) -> Any:
    """Round every float (NaN becomes 0.0) and turn numpy scalars into Python ones, recursively."""
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_round(v) for v in obj)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return 0.0 if math.isnan(x) else round(x, DIGITS)
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
    differently by the strict and lenient readers.

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


def strict_entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """Return the entities of one sentence as seqeval's strict IOB2 reader sees them: ``B-X I-X*`` only.

    Each entity is ``(type, start, end)`` with ``end`` exclusive. A stray ``I-`` is skipped, not
    turned into an entity.

    >>> sorted(strict_entities(["B-PER", "I-PER", "O", "I-LOC", "B-ORG", "I-LOC"]))
    [('ORG', 4, 5), ('PER', 0, 2)]
    """
    out: set[tuple[str, int, int]] = set()
    cur_type: str | None = None
    cur_start = 0
    for i, tag in enumerate(tags):
        if tag == "O":
            prefix, etype = "O", ""
        else:
            prefix, etype = split_tag(tag, i)
        if prefix == "I" and cur_type == etype:
            continue
        if cur_type is not None:
            out.add((cur_type, cur_start, i))
            cur_type = None
        if prefix == "B":
            cur_type, cur_start = etype, i
    if cur_type is not None:
        out.add((cur_type, cur_start, len(tags)))
    return out


def invalid_tags(tags: Sequence[str]) -> int:
    """Count the ``I-`` tags that continue no entity (strict mode ignores them; lenient opens one).

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


def sentence_counts(gold: Tags, pred: Tags) -> list[tuple[int, int, int]]:
    """Return strict ``(tp, fp, fn)`` for each sentence. Summed, they equal seqeval's strict micro counts.

    The sentence bootstrap resamples these counts. The result file stores them so the report can
    run paired tests between systems later.

    >>> sentence_counts([["B-PER", "I-PER", "O"], ["B-LOC"]], [["B-PER", "O", "O"], ["B-LOC"]])
    [(0, 1, 1), (1, 0, 0)]
    """
    check_tags(gold, pred)
    out = []
    for g, p in zip(gold, pred, strict=True):
        ge, pe = strict_entities(g), strict_entities(p)
        tp = len(ge & pe)
        out.append((tp, len(pe) - tp, len(ge) - tp))
    return out


def f1_from_counts(tp: float, fp: float, fn: float) -> float:
    """Compute micro F1 from summed counts, with 0.0 when there is nothing to score.

    >>> f1_from_counts(2, 2, 3)
    0.4444444444444444
    """
    denom = 2 * tp + fp + fn
    return 2 * tp / denom if denom else 0.0


def strict_f1(gold: Tags, pred: Tags) -> float:
    """The main score alone (strict IOB2 entity micro F1), cheap enough for per-epoch model selection.

    >>> strict_f1([["B-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])
    1.0
    """
    counts = sentence_counts(gold, pred)
    return f1_from_counts(*(sum(c[k] for c in counts) for k in range(3)))


# --------------------------------------------------------------------------- score_tags


def _seqeval_block(gold: list[list[str]], pred: list[list[str]], *, strict: bool) -> dict[str, Any]:
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    kwargs: dict[str, Any] = {"mode": "strict", "scheme": IOB2} if strict else {}
    with warnings.catch_warnings(record=True) as caught:
        # Expected and harmless: numpy's "mean of empty slice" for the macro average when no type
        # exists at all. Inputs are validated first, so seqeval's "seems not to be NE tag" cannot occur.
        warnings.simplefilter("always")
        rep = classification_report(gold, pred, output_dict=True, zero_division=0, **kwargs)
    for w in caught:
        log.debug("seqeval (%s): %s", "strict" if strict else "lenient", w.message)

    def block(key: str) -> dict[str, float | int]:
        r = rep[key]
        return {"precision": r["precision"], "recall": r["recall"], "f1": r["f1-score"],
                "support": int(r["support"])}

    types = sorted(k for k in rep if k not in ("micro avg", "macro avg", "weighted avg"))
    return {"micro": block("micro avg"), "macro": block("macro avg"), "weighted": block("weighted avg"),
            "per_type": {t: block(t) for t in types}}


def _by_start(entity: tuple[str, int, int]) -> int:
    return entity[1]


def _nervaluate_block(gold: list[list[str]], pred: list[list[str]]) -> dict[str, Any]:
    """Run nervaluate 1.x on the strict entities (dict loader, ``end`` inclusive as nervaluate expects)."""
    from nervaluate import Evaluator

    def docs(seqs: list[list[str]]) -> list[list[dict[str, Any]]]:
        return [
            [{"label": t, "start": s, "end": e - 1}
             for t, s, e in sorted(strict_entities(seq), key=_by_start)]
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
    """Compute every word-level score of one split; ``main.value`` (= ``strict.micro.f1``) is the headline.

    Layout (all floats rounded to 6 decimals)::

        main        {name: "strict_f1", value, metric, scorer, mode, scheme, average}
        strict      {micro: {precision, recall, f1, support, tp, fp, fn},
                     macro|weighted: {precision, recall, f1, support},
                     per_type: {TYPE: {precision, recall, f1, support}}}   # seqeval strict IOB2
        lenient     {micro, macro, weighted, per_type}                     # seqeval default (conlleval)
        token_accuracy
        nervaluate  {overall: {strict|exact|partial|ent_type: {correct, incorrect, partial, missed,
                     spurious, possible, actual, precision, recall, f1}}, per_type: {TYPE: {...}}}
        counts      {sentences, tokens, gold_entities, pred_entities, invalid_pred_tags}
        scorers     {seqeval: {version, strict, lenient}, nervaluate: {version, entities}}

    Inputs must hold at least one sentence (an empty split is a bug upstream, not a score of 0).
    """
    check_tags(gold, pred)
    if not gold:
        raise ValueError("nothing to score: 0 sentences")
    g = [list(s) for s in gold]
    p = [list(s) for s in pred]
    counts = sentence_counts(g, p)
    tp, fp, fn = (sum(c[k] for c in counts) for k in range(3))
    strict = _seqeval_block(g, p, strict=True)
    # Our chunking feeds the bootstrap. If it ever disagreed with seqeval's, every CI would be wrong.
    ours = _prf(tp, tp + fp, tp + fn)
    if any(abs(ours[k] - strict["micro"][k]) > 1e-9 for k in ("precision", "recall", "f1")):
        raise RuntimeError(f"strict chunking disagrees with seqeval: ours {ours}, seqeval {strict['micro']}")
    strict["micro"].update(tp=tp, fp=fp, fn=fn)
    n_tok = sum(len(s) for s in g)
    correct_tokens = sum(a == b for gs, ps in zip(g, p, strict=True) for a, b in zip(gs, ps, strict=True))
    invalid = sum(invalid_tags(s) for s in p)
    if invalid:
        log.info("%d predicted I- tags continue no entity: no entity in strict mode, one in lenient mode",
                 invalid)
    out = {
        "main": {**MAIN, "value": strict["micro"]["f1"]},
        "strict": strict,
        "lenient": _seqeval_block(g, p, strict=False),
        "token_accuracy": correct_tokens / n_tok if n_tok else 0.0,
        "nervaluate": _nervaluate_block(g, p),
        "counts": {"sentences": len(g), "tokens": n_tok, "gold_entities": tp + fn, "pred_entities": tp + fp,
                   "invalid_pred_tags": invalid},
        "scorers": {
            "seqeval": {
                "version": _version("seqeval"),
                "strict": {"mode": "strict", "scheme": "IOB2"},
                "lenient": {"mode": "default", "note": "conlleval-compatible: a stray I- opens an entity"},
            },
            "nervaluate": {"version": _version("nervaluate"), "entities": "strict IOB2 (same as main)"},
        },
    }
    return _round(out)


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
    return _round(out)


# --------------------------------------------------------------------------- uncertainty


def _counts_array(counts: Counts) -> np.ndarray:
    arr = np.asarray(counts, dtype=np.int64)
    if arr.size == 0:
        return arr.reshape(0, 3)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"expected per-sentence (tp, fp, fn) triples, got shape {arr.shape}")
    return arr


def _resampled_f1(arrays: Sequence[np.ndarray], *, n_resamples: int, seed: int) -> list[np.ndarray]:
    """Compute micro F1 for each array on the same ``n_resamples`` sentence resamples (with replacement).

    The resample indices are drawn in blocks, so memory stays small on large test sets. The block
    size depends only on the number of sentences, so a given seed always gives the same draws.
    """
    n = len(arrays[0])
    rng = np.random.default_rng(seed)
    block = max(1, 2_000_000 // max(n, 1))
    sums: list[list[np.ndarray]] = [[] for _ in arrays]
    for lo in range(0, n_resamples, block):
        idx = rng.integers(0, n, size=(min(block, n_resamples - lo), n))
        for k, arr in enumerate(arrays):
            sums[k].append(arr[idx].sum(axis=1))
    out = []
    for parts in sums:
        s = np.concatenate(parts).astype(np.float64)
        tp, fp, fn = s[:, 0], s[:, 1], s[:, 2]
        denom = 2 * tp + fp + fn
        out.append(np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0))
    return out


def bootstrap_ci_counts(
    counts: Counts, *, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Compute a percentile bootstrap CI of micro F1 from per-sentence ``(tp, fp, fn)``, resampling sentences.

    Sentences are the unit that was sampled, so resampling them keeps the within-sentence
    dependence between entities.

    >>> bootstrap_ci_counts([(1, 0, 0)] * 10, n_resamples=50)
    (1.0, 1.0)
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    arr = _counts_array(counts)
    if len(arr) == 0:
        raise ValueError("nothing to resample: 0 sentences")
    (f1,) = _resampled_f1([arr], n_resamples=n_resamples, seed=seed)
    alpha = (1 - confidence) / 2
    return _round((float(np.quantile(f1, alpha)), float(np.quantile(f1, 1 - alpha))))


def bootstrap_ci(
    gold: Tags, pred: Tags, *, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Compute a bootstrap CI of the strict micro F1 over sentences; see :func:`bootstrap_ci_counts`."""
    return bootstrap_ci_counts(sentence_counts(gold, pred), n_resamples=n_resamples, seed=seed,
                               confidence=confidence)


def paired_bootstrap_counts(
    counts_a: Counts, counts_b: Counts, *, n_resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Run a paired bootstrap test of ``delta = F1(b) - F1(a)`` on the same sentences (Berg-Kirkpatrick 2012).

    Both systems are scored on the *same* resampled sentence sets, which gives ``delta_i``. The test
    is **one-sided, in the direction of the observed difference**. H0 says the observed winner is
    not really better. Because the bootstrap distribution is centred on ``delta`` rather than on 0,
    the p-value is the share of resamples with ``delta_i`` at least ``2 * delta`` on the winner's side
    (``delta_i >= 2 delta`` when ``delta > 0``). Ties count against significance (``>=``, not the
    paper's ``>``), so identical systems get p = 1.0. A p-value of 0.0 means below ``1 / n_resamples``.
    ``winner`` is ``"b"``, ``"a"`` or ``"tie"``. Also returned: the percentile 95% interval of
    ``delta_i``.

    >>> r = paired_bootstrap_counts([(1, 1, 0)] * 5, [(1, 1, 0)] * 5, n_resamples=20)
    >>> r["delta"], r["p_value"], r["winner"]
    (0.0, 1.0, 'tie')
    """
    a, b = _counts_array(counts_a), _counts_array(counts_b)
    if len(a) != len(b):
        raise ValueError(f"paired test needs the same sentences: {len(a)} vs {len(b)}")
    if len(a) == 0:
        raise ValueError("nothing to resample: 0 sentences")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    f1_a, f1_b = f1_from_counts(*a.sum(0)), f1_from_counts(*b.sum(0))
    delta = f1_b - f1_a
    ra, rb = _resampled_f1([a, b], n_resamples=n_resamples, seed=seed)
    d = rb - ra
    eps = 1e-12  # float noise must not turn a tie into a win
    if delta > eps:
        winner, p = "b", float(np.mean(d >= 2 * delta - eps))
    elif delta < -eps:
        winner, p = "a", float(np.mean(d <= 2 * delta + eps))
    else:
        winner, p = "tie", 1.0
    return _round({
        "delta": delta,
        "f1_a": f1_a,
        "f1_b": f1_b,
        "p_value": p,
        "winner": winner,
        "test": "paired bootstrap over sentences, one-sided toward the observed winner "
                "(Berg-Kirkpatrick et al. 2012)",
        "delta_ci_low": float(np.quantile(d, 0.025)),
        "delta_ci_high": float(np.quantile(d, 0.975)),
        "n_resamples": n_resamples,
        "seed": seed,
        "sentences": len(a),
    })


def paired_bootstrap(
    gold: Tags, pred_a: Tags, pred_b: Tags, *, n_resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Run a paired bootstrap of strict micro F1 for two systems; see :func:`paired_bootstrap_counts`."""
    return paired_bootstrap_counts(sentence_counts(gold, pred_a), sentence_counts(gold, pred_b),
                                   n_resamples=n_resamples, seed=seed)


def summarize_seeds(values: Sequence[float]) -> dict[str, Any]:
    """Summarise one score over training seeds: mean, sample standard deviation (ddof=1), min, max and n.

    With a single seed the spread is unknown, so ``std`` is ``None`` rather than a misleading 0.0.

    >>> summarize_seeds([0.90, 0.92, 0.94])
    {'mean': 0.92, 'std': 0.02, 'min': 0.9, 'max': 0.94, 'n': 3}
    >>> summarize_seeds([0.9])["std"] is None
    True
    """
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("no values to summarise")
    if any(math.isnan(v) for v in vals):
        raise ValueError(f"NaN among the values: {vals}")
    return _round({
        "mean": statistics.fmean(vals),
        "std": statistics.stdev(vals) if len(vals) > 1 else None,
        "min": min(vals),
        "max": max(vals),
        "n": len(vals),
    })
