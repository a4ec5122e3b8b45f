"""``score_tags``: every word-level score of one split (seqeval in both modes, nervaluate, token accuracy).

Part of :mod:`bench.metrics` (import it from there); the counting it rests on is :mod:`bench.metrics_counts`.
"""

from __future__ import annotations

import importlib.metadata
import logging
import warnings
from typing import Any

import numpy as np

from bench.metrics_counts import (
    Mode,
    Tags,
    _prf,
    check_tags,
    conlleval_entities,
    f1_from_counts,
    invalid_tags,
    sentence_counts,
)

log = logging.getLogger("bench.metrics")

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
