"""Micro-benchmarks of scoring; each one asserts what it computed.

Run: ``pytest tests/bench_metrics.py --benchmark-only`` (or ``--benchmark-disable`` to just check).
The synthetic split is built so its scores are known in advance: every 10th gold entity gets the
wrong type in the prediction, so entity micro F1 (conlleval and strict alike, there is no stray
``I-``) is exactly ``1 - k / G``.
"""

from __future__ import annotations

import random

import pytest

from bench.metrics import (
    bootstrap_ci_counts,
    bootstrap_ci_seeds,
    paired_bootstrap_counts,
    paired_bootstrap_seeds,
    score_tags,
    sentence_counts,
)

pytest.importorskip("pytest_benchmark")

TYPES = ("PER", "LOC", "ORG", "MISC")
N_SENTENCES = 3000


def synthetic_split(n: int = N_SENTENCES, seed: int = 0) -> tuple[list[list[str]], list[list[str]], int, int]:
    """Gold and predicted IOB2 tags plus ``(gold entities, retyped entities)``."""
    rng = random.Random(seed)
    gold, pred = [], []
    n_ent = n_wrong = 0
    for _ in range(n):
        g: list[str] = []
        p: list[str] = []
        while len(g) < rng.randint(8, 30):
            if rng.random() < 0.7:
                g.append("O")
                p.append("O")
                continue
            etype, length = rng.choice(TYPES), rng.randint(1, 3)
            n_ent += 1
            ptype = etype
            if n_ent % 10 == 0:
                n_wrong += 1
                ptype = TYPES[(TYPES.index(etype) + 1) % len(TYPES)]
            g += [f"B-{etype}"] + [f"I-{etype}"] * (length - 1)
            p += [f"B-{ptype}"] + [f"I-{ptype}"] * (length - 1)
            g.append("O")  # keep neighbours apart so each entity stays one entity
            p.append("O")
        gold.append(g)
        pred.append(p)
    return gold, pred, n_ent, n_wrong


@pytest.fixture(scope="module")
def split() -> tuple[list[list[str]], list[list[str]], int, int]:
    return synthetic_split()


def test_bench_score_tags_3000_sentences(benchmark, split) -> None:  # type: ignore[no-untyped-def]
    gold, pred, n_ent, n_wrong = split
    s = benchmark(score_tags, gold, pred)
    expected = 1 - n_wrong / n_ent  # each retyped entity is one FP and one FN
    assert s["main"]["value"] == pytest.approx(expected, abs=1e-6)
    assert 0.89 < s["main"]["value"] < 0.91
    assert s["strict"]["micro"]["f1"] == s["main"]["value"]  # no stray I- in this data
    assert s["invalid_tags"] == {"predicted": 0, "gold": 0}
    assert s["nervaluate"]["overall"]["exact"]["f1"] == 1.0  # every span is right
    assert s["nervaluate"]["overall"]["strict"]["incorrect"] == n_wrong
    assert s["counts"]["sentences"] == N_SENTENCES and s["counts"]["gold_entities"] == n_ent


def test_bench_bootstrap_ci_1000_resamples(benchmark, split) -> None:  # type: ignore[no-untyped-def]
    gold, pred, n_ent, n_wrong = split
    counts = sentence_counts(gold, pred)
    lo, hi = benchmark(bootstrap_ci_counts, counts, n_resamples=1000, seed=0)
    assert lo < 1 - n_wrong / n_ent < hi and hi - lo < 0.02


def test_bench_paired_bootstrap_1000_resamples(benchmark, split) -> None:  # type: ignore[no-untyped-def]
    gold, pred, _, _ = split
    base, perfect = sentence_counts(gold, pred), sentence_counts(gold, gold)
    r = benchmark(paired_bootstrap_counts, base, perfect, n_resamples=1000, seed=0)
    assert r["delta"] > 0.09 and r["p_value"] == 1 / 1001  # no resample comes near: the smallest p, never 0


def test_bench_seed_averaged_ci_and_paired_test_5_seeds(benchmark, split) -> None:  # type: ignore[no-untyped-def]
    gold, pred, n_ent, n_wrong = split
    seeds = [sentence_counts(gold, pred)] * 5
    perfect = [sentence_counts(gold, gold)] * 5

    def run():  # type: ignore[no-untyped-def]
        return bootstrap_ci_seeds(seeds, n_resamples=1000), paired_bootstrap_seeds(seeds, perfect, n_resamples=1000)

    (lo, hi), r = benchmark(run)
    # five identical seeds: the seed-averaged interval is the single-run one
    assert (lo, hi) == pytest.approx(bootstrap_ci_counts(seeds[0], n_resamples=1000), abs=1e-12)
    assert r["delta"] == pytest.approx(n_wrong / n_ent, abs=1e-12) and r["p_value"] == 1 / 1001
    assert (r["seeds_a"], r["seeds_b"], r["units"]) == (5, 5, N_SENTENCES)
