"""Entity-level scoring used by every system: one entry point, every mode named.

* Main score: seqeval **strict** (``mode="strict", scheme=IOB2``) micro F1 over word-level IOB2
  tags. In strict mode an ``I-X`` that does not continue an ``X`` is not an entity at all, so a
  system gets no credit for ill-formed output.
* Beside it: seqeval's default (lenient, conlleval-compatible: a stray ``I-X`` opens an entity),
  macro and per-type P/R/F1, token accuracy, and nervaluate's four schemes (strict, exact, partial,
  ent_type) with their correct/incorrect/partial/missed/spurious counts.
* Span tasks (BRAT): original character spans, discontinuous entities included, with eHealth-KD
  2020's official Task A rule (partial = 0.5).
* Uncertainty: a sentence-level bootstrap CI of the main score and a paired bootstrap between two
  systems, both computed from per-sentence ``(tp, fp, fn)`` counts so they are fast and can be
  re-run from stored counts without the predictions.

All outputs are plain dicts of floats and ints (JSON-ready).
"""

from __future__ import annotations

import importlib.metadata
import statistics
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.data.schemes import split_tag
from bench.data.types import Entity

Tags = Sequence[Sequence[str]]


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_lengths(gold: Tags, pred: Tags) -> None:
    """Same number of sentences, and the same number of tags in each, else a ValueError saying where."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted sentences")
    for i, (g, p) in enumerate(zip(gold, pred)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted tags")


def strict_entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """Entities of one sentence as seqeval strict IOB2 reads them: ``B-X I-X*`` only.

    >>> sorted(strict_entities(["B-PER", "I-PER", "O", "I-LOC", "B-ORG", "I-LOC"]))
    [('ORG', 4, 5), ('PER', 0, 2)]
    """
    out: set[tuple[str, int, int]] = set()
    cur: tuple[str, int] | None = None
    for i, tag in enumerate(tags):
        p, t = split_tag(tag, i)
        if p == "I" and cur is not None and cur[0] == t:
            continue
        if cur is not None:
            out.add((cur[0], cur[1], i))
            cur = None
        if p == "B":
            cur = (t, i)
        # an I- that does not continue an entity is no entity in strict mode
    if cur is not None:
        out.add((cur[0], cur[1], len(tags)))
    return out


def sentence_counts(gold: Tags, pred: Tags) -> list[tuple[int, int, int]]:
    """Per-sentence strict ``(tp, fp, fn)``; their sums equal seqeval's strict micro counts."""
    check_lengths(gold, pred)
    out = []
    for g, p in zip(gold, pred):
        ge, pe = strict_entities(g), strict_entities(p)
        tp = len(ge & pe)
        out.append((tp, len(pe) - tp, len(ge) - tp))
    return out


def f1_from_counts(tp: float, fp: float, fn: float) -> float:
    denom = 2 * tp + fp + fn
    return 2 * tp / denom if denom else 0.0


def _prf(report: dict[str, Any], key: str) -> dict[str, float]:
    r = report[key]
    return {"precision": float(r["precision"]), "recall": float(r["recall"]), "f1": float(r["f1-score"]),
            "support": int(r["support"])}


def _seqeval(gold: Tags, pred: Tags, *, strict: bool) -> dict[str, Any]:
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    kwargs: dict[str, Any] = {"mode": "strict", "scheme": IOB2} if strict else {}
    with warnings.catch_warnings():
        # seqeval warns on ill-formed predicted tags and on types with no support; both are expected.
        warnings.simplefilter("ignore")
        rep = classification_report([list(g) for g in gold], [list(p) for p in pred], output_dict=True,
                                    zero_division=0, **kwargs)
    types = sorted(k for k in rep if k not in ("micro avg", "macro avg", "weighted avg"))
    return {
        "micro": _prf(rep, "micro avg") if "micro avg" in rep else {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
        "macro": _prf(rep, "macro avg") if "macro avg" in rep else {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
        "per_type": {t: _prf(rep, t) for t in types},
    }


def _nervaluate(gold: Tags, pred: Tags) -> dict[str, Any]:
    from nervaluate import Evaluator

    types = sorted({t for seq in list(gold) + list(pred) for tag in seq for t in [split_tag(tag)[1]] if t})
    res = Evaluator([list(g) for g in gold], [list(p) for p in pred], tags=types, loader="list").evaluate()

    def block(r: Any) -> dict[str, float | int]:
        return {k: (float(v) if isinstance(v, float) else int(v)) for k, v in vars(r).items()}

    return {
        "overall": {scheme: block(r) for scheme, r in sorted(res["overall"].items())},
        "per_type": {t: {scheme: block(r) for scheme, r in sorted(res["entities"][t].items())}
                     for t in sorted(res["entities"])},
    }


def score_tags(gold: Tags, pred: Tags) -> dict[str, Any]:
    """All word-level scores of one split. ``strict.micro.f1`` is the main score."""
    check_lengths(gold, pred)
    n_tok = sum(len(g) for g in gold)
    correct = sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p))
    return {
        "strict": _seqeval(gold, pred, strict=True),
        "lenient": _seqeval(gold, pred, strict=False),
        "nervaluate": _nervaluate(gold, pred),
        "token_accuracy": correct / n_tok if n_tok else 0.0,
        "scorers": {
            "seqeval": {"version": _version("seqeval"), "strict": {"mode": "strict", "scheme": "IOB2"},
                        "lenient": {"mode": "default (conlleval-compatible)"}},
            "nervaluate": {"version": _version("nervaluate"), "loader": "list"},
        },
        "sentences": len(gold),
        "tokens": n_tok,
    }


# --------------------------------------------------------------------------- span scoring


def _overlap(a: Entity, b: Entity) -> bool:
    return any(s1 < e2 and s2 < e1 for s1, e1 in a.fragments for s2, e2 in b.fragments)


def _same_span(a: Entity, b: Entity) -> bool:
    return sorted(a.fragments) == sorted(b.fragments)


def official_ehealthkd(correct: int, incorrect: int, partial: int, spurious: int, missing: int) -> dict[str, float]:
    """eHealth-KD 2020 Task A: partial matches count half.

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


def match_spans(gold: Sequence[Entity], pred: Sequence[Entity]) -> dict[str, int]:
    """Counts for one sentence: exact span+type (correct), exact span other type (incorrect), then
    overlapping same-type pairs (partial); each entity is used once, in that order."""
    g_left, p_left = list(range(len(gold))), list(range(len(pred)))
    c = i = p = 0
    for kind in ("correct", "incorrect", "partial"):
        for pi in list(p_left):
            for gi in g_left:
                a, b = gold[gi], pred[pi]
                if kind == "correct":
                    ok = _same_span(a, b) and a.type == b.type
                elif kind == "incorrect":
                    ok = _same_span(a, b)
                else:
                    ok = a.type == b.type and _overlap(a, b)
                if ok:
                    g_left.remove(gi)
                    p_left.remove(pi)
                    c, i, p = c + (kind == "correct"), i + (kind == "incorrect"), p + (kind == "partial")
                    break
    return {"correct": c, "incorrect": i, "partial": p, "missing": len(g_left), "spurious": len(p_left)}


def score_spans(gold: Sequence[Sequence[Entity]], pred: Sequence[Sequence[Entity]]) -> dict[str, Any]:
    """Original-span scores: the official eHealth-KD rule and strict exact-span P/R/F1, overall and per type."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted sentences")
    totals = {"correct": 0, "incorrect": 0, "partial": 0, "missing": 0, "spurious": 0}
    types = sorted({e.type for s in list(gold) + list(pred) for e in s})
    per_type_exact = {t: [0, 0, 0] for t in types}  # tp, n_pred, n_gold
    for g, p in zip(gold, pred):
        for k, v in match_spans(g, p).items():
            totals[k] += v
        for t in types:
            gs = [e for e in g if e.type == t]
            ps = [e for e in p if e.type == t]
            used: set[int] = set()
            for e in ps:
                for j, x in enumerate(gs):
                    if j not in used and _same_span(e, x):
                        used.add(j)
                        break
            per_type_exact[t][0] += len(used)
            per_type_exact[t][1] += len(ps)
            per_type_exact[t][2] += len(gs)
    tp = sum(v[0] for v in per_type_exact.values())
    npred = sum(v[1] for v in per_type_exact.values())
    ngold = sum(v[2] for v in per_type_exact.values())

    def prf(tp_: int, np_: int, ng_: int) -> dict[str, float]:
        pr = tp_ / np_ if np_ else 0.0
        rc = tp_ / ng_ if ng_ else 0.0
        return {"precision": pr, "recall": rc, "f1": 2 * pr * rc / (pr + rc) if pr + rc else 0.0,
                "support": ng_}

    return {
        "official": {**official_ehealthkd(totals["correct"], totals["incorrect"], totals["partial"],
                                          totals["spurious"], totals["missing"]), **totals},
        "exact": {"micro": prf(tp, npred, ngold), "per_type": {t: prf(*v) for t, v in per_type_exact.items()}},
        "discontinuous_gold": sum(1 for s in gold for e in s if e.is_discontinuous),
    }


# --------------------------------------------------------------------------- uncertainty


def _counts_array(counts: Sequence[Sequence[int]]) -> np.ndarray:
    return np.asarray(counts, dtype=np.int64).reshape(-1, 3)


def _resampled_f1(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    sums = arr[idx].sum(axis=1)  # (resamples, 3)
    tp, fp, fn = sums[:, 0], sums[:, 1], sums[:, 2]
    denom = 2 * tp + fp + fn
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def bootstrap_ci_counts(
    counts: Sequence[Sequence[int]], *, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile CI of micro F1, resampling sentences with replacement."""
    arr = _counts_array(counts)
    if len(arr) == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(arr), size=(n_resamples, len(arr)))
    f1 = _resampled_f1(arr, idx)
    alpha = (1 - confidence) / 2
    return float(np.quantile(f1, alpha)), float(np.quantile(f1, 1 - alpha))


def bootstrap_ci(
    gold: Tags, pred: Tags, *, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """95% (default) bootstrap CI of the strict micro F1 over sentences."""
    return bootstrap_ci_counts(sentence_counts(gold, pred), n_resamples=n_resamples, seed=seed,
                               confidence=confidence)


def paired_bootstrap_counts(
    counts_a: Sequence[Sequence[int]], counts_b: Sequence[Sequence[int]], *, n_resamples: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Paired bootstrap of ``F1(b) - F1(a)`` on the same sentences (two-sided).

    Both systems are resampled with the *same* sentence indices. The p-value is twice the smaller
    share of resampled differences on either side of zero (capped at 1): small when one system is
    better on almost every resample of the test set.
    """
    a, b = _counts_array(counts_a), _counts_array(counts_b)
    if len(a) != len(b):
        raise ValueError(f"paired test needs the same sentences: {len(a)} vs {len(b)}")
    delta = f1_from_counts(*b.sum(0)) - f1_from_counts(*a.sum(0))
    if len(a) == 0:
        return {"delta": 0.0, "p_value": 1.0, "n_resamples": n_resamples}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n_resamples, len(a)))
    d = _resampled_f1(b, idx) - _resampled_f1(a, idx)
    p = min(1.0, 2 * min(float(np.mean(d <= 0)), float(np.mean(d >= 0))))
    return {"delta": float(delta), "p_value": p, "n_resamples": n_resamples,
            "delta_ci_low": float(np.quantile(d, 0.025)), "delta_ci_high": float(np.quantile(d, 0.975))}


def paired_bootstrap(
    gold: Tags, pred_a: Tags, pred_b: Tags, *, n_resamples: int = 1000, seed: int = 0
) -> dict[str, float]:
    return paired_bootstrap_counts(sentence_counts(gold, pred_a), sentence_counts(gold, pred_b),
                                   n_resamples=n_resamples, seed=seed)


def summarize_seeds(values: Sequence[float]) -> dict[str, float | int | None]:
    """Mean, sample standard deviation (``None`` for a single seed) and n."""
    vals = list(values)
    if not vals:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else None, "n": len(vals)}
