"""Uncertainty: percentile bootstrap CIs, the paired bootstrap test, Holm's correction and the seed summary.

They work from per-unit ``(tp, fp, fn)`` counts (:mod:`bench.metrics_counts`); see :mod:`bench.metrics`
for how units and seeds are resampled. Import these through :mod:`bench.metrics`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from bench.metrics_counts import Counts, Mode, Tags, f1_from_counts, sentence_counts

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
