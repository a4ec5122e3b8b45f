from __future__ import annotations

import random

import pytest
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2

from bench.data.types import Entity
from bench.metrics import (
    bootstrap_ci,
    match_spans,
    official_ehealthkd,
    paired_bootstrap,
    score_spans,
    score_tags,
    sentence_counts,
    summarize_seeds,
)

GOLD = [
    ["B-PER", "I-PER", "O", "B-LOC"],
    ["O", "B-ORG", "I-ORG", "O"],
    ["B-LOC", "O", "B-PER", "O"],
]
PRED = [
    ["B-PER", "I-PER", "O", "B-ORG"],  # PER right, LOC typed as ORG
    ["O", "B-ORG", "O", "O"],  # ORG boundary wrong
    ["B-LOC", "O", "I-PER", "O"],  # LOC right; stray I-PER: no entity (strict), PER (lenient)
]


def test_hand_worked_example() -> None:
    s = score_tags(GOLD, PRED)
    # strict: gold 5 entities; predicted PER, ORG(3,4), ORG(1,2), LOC = 4; correct PER, LOC = 2
    # P = 2/4, R = 2/5, F1 = 2*0.5*0.4/0.9 = 0.4444
    assert s["strict"]["micro"]["precision"] == pytest.approx(0.5)
    assert s["strict"]["micro"]["recall"] == pytest.approx(0.4)
    assert s["strict"]["micro"]["f1"] == pytest.approx(4 / 9)
    # lenient: the stray I-PER opens PER(2,3), which matches gold -> 3 correct of 5 predicted, 5 gold
    assert s["lenient"]["micro"]["precision"] == pytest.approx(0.6)
    assert s["lenient"]["micro"]["recall"] == pytest.approx(0.6)
    assert s["strict"]["per_type"]["PER"]["f1"] == pytest.approx(2 / 3)  # 1 of 1 predicted, 1 of 2 gold
    assert s["token_accuracy"] == pytest.approx(9 / 12)
    assert s["scorers"]["seqeval"]["strict"] == {"mode": "strict", "scheme": "IOB2"}


def test_conlleval_semantics_of_stray_i() -> None:
    gold, pred = [["O", "B-PER"]], [["O", "I-PER"]]
    s = score_tags(gold, pred)
    assert s["lenient"]["micro"]["f1"] == 1.0
    assert s["strict"]["micro"]["f1"] == 0.0


def test_nervaluate_counts_by_hand() -> None:
    s = score_tags(GOLD, PRED)["nervaluate"]["overall"]
    # gold PER(0,2) LOC(3,4) ORG(1,3) LOC(0,1) PER(2,3); nervaluate's list loader reads the stray
    # I-PER as an entity, so pred = PER(0,2) ORG(3,4) ORG(1,2) LOC(0,1) PER(2,3)
    assert s["strict"]["correct"] == 3 and s["strict"]["incorrect"] == 2
    assert s["ent_type"]["correct"] == 4 and s["ent_type"]["incorrect"] == 1  # ORG(1,2) overlaps ORG(1,3)
    assert s["partial"]["correct"] == 4 and s["partial"]["partial"] == 1
    assert s["exact"]["correct"] == 4 and s["exact"]["incorrect"] == 1
    assert s["strict"]["possible"] == 5 and s["strict"]["actual"] == 5


def test_sinai_official_rule() -> None:
    r = official_ehealthkd(432, 24, 33, 42, 67)
    assert (round(r["precision"], 4), round(r["recall"], 4), round(r["f1"], 4)) == (0.8446, 0.8067, 0.8252)


def E(t: str, *frags: tuple[int, int]) -> Entity:
    return Entity(t, tuple(frags))


def test_span_matching_with_discontinuous_wrong_type_and_partial() -> None:
    gold = [[E("Concept", (0, 5), (10, 15)), E("Action", (20, 25)), E("Concept", (30, 40)), E("Predicate", (50, 55))]]
    pred = [[E("Concept", (10, 15), (0, 5)), E("Concept", (20, 25)), E("Concept", (32, 45)), E("Action", (60, 65))]]
    assert match_spans(gold[0], pred[0]) == {"correct": 1, "incorrect": 1, "partial": 1, "missing": 1, "spurious": 1}
    s = score_spans(gold, pred)
    # official: (1 + 0.5) / 4 for both precision and recall
    assert s["official"]["precision"] == pytest.approx(1.5 / 4)
    assert s["official"]["recall"] == pytest.approx(1.5 / 4)
    assert s["exact"]["micro"]["f1"] == pytest.approx(0.25)
    assert s["discontinuous_gold"] == 1


def random_tags(rng: random.Random, n: int) -> list[list[str]]:
    pool = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    return [[rng.choice(pool) for _ in range(rng.randint(1, 12))] for _ in range(n)]


def test_sentence_counts_sum_to_seqeval_strict() -> None:
    rng = random.Random(0)
    for _ in range(20):
        gold_raw = random_tags(rng, 30)
        # gold must be valid IOB2: repair stray I-
        gold = [[("B" + t[1:]) if t.startswith("I-") and (i == 0 or s[i - 1][2:] != t[2:]) else t
                 for i, t in enumerate(s)] for s in gold_raw]
        pred = [[rng.choice(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]) for _ in s] for s in gold]
        tp, fp, fn = (sum(c[k] for c in sentence_counts(gold, pred)) for k in range(3))
        ours = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
        assert ours == pytest.approx(f1_score(gold, pred, mode="strict", scheme=IOB2, zero_division=0))


def test_bootstrap_is_deterministic_and_contains_estimate() -> None:
    rng = random.Random(1)
    gold = [["B-PER", "I-PER", "O", "B-LOC"] for _ in range(200)]
    pred = [[t if rng.random() > 0.15 else "O" for t in s] for s in gold]
    lo, hi = bootstrap_ci(gold, pred, n_resamples=500, seed=3)
    assert (lo, hi) == bootstrap_ci(gold, pred, n_resamples=500, seed=3)
    point = score_tags(gold, pred)["strict"]["micro"]["f1"]
    assert lo < point < hi
    assert bootstrap_ci(gold, gold, n_resamples=100) == (1.0, 1.0)


def test_paired_bootstrap() -> None:
    rng = random.Random(2)
    gold = [["B-PER", "I-PER", "O", "B-LOC"] for _ in range(300)]
    weak = [[t if rng.random() > 0.4 else "O" for t in s] for s in gold]
    same = paired_bootstrap(gold, weak, weak, n_resamples=200)
    assert same["delta"] == 0.0 and same["p_value"] == 1.0
    better = paired_bootstrap(gold, weak, gold, n_resamples=200)
    assert better["delta"] > 0.2 and better["p_value"] < 0.01


def test_validation_and_seeds() -> None:
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        score_tags([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 1 predicted"):
        score_tags([["O"], ["O", "O"]], [["O"], ["O"]])
    assert summarize_seeds([0.9, 0.92, 0.94]) == {"mean": pytest.approx(0.92), "std": pytest.approx(0.02), "n": 3}
    assert summarize_seeds([0.9])["std"] is None
