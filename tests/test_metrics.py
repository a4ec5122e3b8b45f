"""bench.metrics: expectations worked out by hand (see the comments), plus property checks against seqeval."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.scheme import IOB2, Entities

from bench.data.types import Entity
from bench.metrics import (
    MAIN,
    bootstrap_ci,
    bootstrap_ci_counts,
    check_tags,
    match_spans,
    official_ehealthkd,
    official_spans,
    paired_bootstrap,
    paired_bootstrap_counts,
    score_spans,
    score_tags,
    sentence_counts,
    strict_entities,
    summarize_seeds,
)

# ----------------------------------------------------------------------------- a hand-worked split
#
# gold entities (type, start, end-exclusive):
#   s0  PER(0,2) LOC(3,4)         s1  ORG(1,3)           s2  LOC(0,1) PER(2,3)        -> 5 gold
GOLD = [
    ["B-PER", "I-PER", "O", "B-LOC"],
    ["O", "B-ORG", "I-ORG", "O"],
    ["B-LOC", "O", "B-PER", "O"],
]
# predictions:
#   s0  PER(0,2) right; ORG(3,4) has LOC's span but the wrong type
#   s1  ORG(1,2) boundary wrong
#   s2  LOC(0,1) right; the stray I-PER is no entity in strict mode, PER(2,3) in lenient mode
PRED = [
    ["B-PER", "I-PER", "O", "B-ORG"],
    ["O", "B-ORG", "O", "O"],
    ["B-LOC", "O", "I-PER", "O"],
]


def test_hand_worked_strict_and_lenient() -> None:
    s = score_tags(GOLD, PRED)
    # strict: 4 predicted, 2 correct (PER(0,2), LOC(0,1)), 5 gold
    #   P = 2/4 = 0.5, R = 2/5 = 0.4, F1 = 2 * 0.5 * 0.4 / 0.9 = 4/9
    micro = s["strict"]["micro"]
    assert (micro["precision"], micro["recall"], micro["f1"]) == (0.5, 0.4, round(4 / 9, 6))
    assert (micro["tp"], micro["fp"], micro["fn"], micro["support"]) == (2, 2, 3, 5)
    assert s["main"] == {**MAIN, "value": round(4 / 9, 6)}
    assert s["main"]["mode"] == "strict" and s["main"]["scheme"] == "IOB2" and s["main"]["average"] == "micro"
    # per type (strict): PER 1 pred/1 tp/2 gold -> P 1, R .5, F1 2/3; LOC the same;
    # ORG 2 pred/0 tp/1 gold -> 0
    per = s["strict"]["per_type"]
    assert per["PER"] == {"precision": 1.0, "recall": 0.5, "f1": round(2 / 3, 6), "support": 2}
    assert per["LOC"] == {"precision": 1.0, "recall": 0.5, "f1": round(2 / 3, 6), "support": 2}
    assert per["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    # macro = unweighted mean over the 3 types: P (1+1+0)/3, R (.5+.5+0)/3, F1 (2/3+2/3+0)/3
    macro = s["strict"]["macro"]
    assert macro["precision"] == round(2 / 3, 6)
    assert (macro["recall"], macro["f1"]) == (round(1 / 3, 6), round(4 / 9, 6))
    # lenient: the stray I-PER opens PER(2,3), which is right -> 3 of 5 predicted, 3 of 5 gold
    lenient = s["lenient"]["micro"]
    assert (lenient["precision"], lenient["recall"], lenient["f1"]) == (0.6, 0.6, 0.6)
    assert s["lenient"]["per_type"]["PER"]["f1"] == 1.0
    # tokens: one wrong tag per sentence -> 9/12
    assert s["token_accuracy"] == 0.75
    assert s["counts"] == {"sentences": 3, "tokens": 12, "gold_entities": 5, "pred_entities": 4,
                           "invalid_pred_tags": 1}
    assert sentence_counts(GOLD, PRED) == [(1, 1, 1), (0, 1, 1), (1, 0, 1)]


def test_nervaluate_counts_by_hand() -> None:
    n = score_tags(GOLD, PRED)["nervaluate"]["overall"]
    # nervaluate sees the strict entities. Pairs: s0 PER=PER; ORG(3,4) on LOC(3,4); s1 ORG(1,2) in ORG(1,3);
    # s2 LOC=LOC, PER(2,3) has no prediction.
    # strict   (span and type):  correct PER, LOC; incorrect ORG/LOC, ORG/ORG-boundary; missed PER(2,3)
    assert {k: n["strict"][k] for k in ("correct", "incorrect", "partial", "missed", "spurious")} == {
        "correct": 2, "incorrect": 2, "partial": 0, "missed": 1, "spurious": 0}
    assert (n["strict"]["possible"], n["strict"]["actual"]) == (5, 4)
    assert (n["strict"]["precision"], n["strict"]["recall"]) == (0.5, 0.4)  # = seqeval strict
    # exact    (span only):       ORG(3,4) now counts as correct -> 3 correct, 1 incorrect, 1 missed
    #   P 3/4, R 3/5, F1 2/3
    assert (n["exact"]["correct"], n["exact"]["incorrect"], n["exact"]["missed"]) == (3, 1, 1)
    assert n["exact"]["f1"] == round(2 / 3, 6)
    # partial  (overlap, no type): 3 correct + ORG(1,2) partial; P (3 + .5)/4, R 3.5/5, F1 7/9
    assert (n["partial"]["correct"], n["partial"]["partial"], n["partial"]["missed"]) == (3, 1, 1)
    part = n["partial"]
    assert (part["precision"], part["recall"], part["f1"]) == (0.875, 0.7, round(7 / 9, 6))
    # ent_type (overlap + type):   ORG(1,2) in ORG(1,3) correct; ORG on LOC incorrect
    assert (n["ent_type"]["correct"], n["ent_type"]["incorrect"], n["ent_type"]["missed"]) == (3, 1, 1)
    per = score_tags(GOLD, PRED)["nervaluate"]["per_type"]
    # per type, only that type's entities are compared: ORG(3,4) in s0 has no ORG beside it -> spurious
    assert (per["ORG"]["strict"]["incorrect"], per["ORG"]["strict"]["spurious"]) == (1, 1)


def test_conlleval_semantics_of_a_stray_i() -> None:
    # I-PER after O: conlleval/lenient opens an entity, strict IOB2 sees nothing
    s = score_tags([["O", "B-PER"]], [["O", "I-PER"]])
    assert s["lenient"]["micro"]["f1"] == 1.0
    assert s["strict"]["micro"]["f1"] == 0.0
    assert (s["strict"]["micro"]["fp"], s["strict"]["micro"]["fn"]) == (0, 1)  # nothing predicted, one missed
    assert s["nervaluate"]["overall"]["strict"]["spurious"] == 0
    assert s["counts"]["invalid_pred_tags"] == 1
    # I- of another type: lenient splits into two entities; strict keeps B-PER alone
    s = score_tags([["B-PER", "I-PER"]], [["B-PER", "I-LOC"]])
    assert s["strict"]["micro"]["tp"] == 0 and s["strict"]["micro"]["fp"] == 1  # PER(0,1) is wrong
    assert s["lenient"]["micro"]["precision"] == 0.0 and s["counts"]["pred_entities"] == 1
    assert strict_entities(["I-PER", "I-PER", "B-PER", "I-PER", "I-LOC"]) == {("PER", 2, 4)}


def test_output_is_plain_json_with_six_decimals() -> None:
    s = score_tags(GOLD, PRED)
    text = json.dumps(s, allow_nan=False)
    assert json.loads(text) == s

    def floats(o):  # type: ignore[no-untyped-def]
        if isinstance(o, dict):
            for v in o.values():
                yield from floats(v)
        elif isinstance(o, float):
            yield o

    assert all(round(x, 6) == x for x in floats(s))
    assert s["scorers"]["seqeval"]["version"] == "1.2.2"
    assert s["scorers"]["seqeval"]["strict"] == {"mode": "strict", "scheme": "IOB2"}
    assert s["scorers"]["nervaluate"]["version"].startswith("1.")


def test_all_o_scores_zero_without_nan() -> None:
    s = score_tags([["O", "O"]], [["O", "O"]])
    assert s["main"]["value"] == 0.0 and s["strict"]["macro"]["f1"] == 0.0 and s["token_accuracy"] == 1.0
    assert isinstance(s["nervaluate"]["overall"]["partial"]["f1"], float)
    json.dumps(s, allow_nan=False)


# ----------------------------------------------------------------------------- input validation


def test_validation_errors_say_where() -> None:
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted sentences"):
        score_tags([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 1 predicted tags"):
        score_tags([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match=r"sentence 0: predicted tag 'S-PER' at token 2 is not IOB2"):
        check_tags([["O", "B-PER"]], [["O", "S-PER"]])
    with pytest.raises(ValueError, match=r"sentence 0: gold tag 'B-' at token 1: entity type is empty"):
        check_tags([["B-"]], [["O"]])
    with pytest.raises(ValueError, match="0 sentences"):
        score_tags([], [])
    with pytest.raises(ValueError, match="sentence 0: 1 gold tags but 2 predicted"):
        bootstrap_ci([["O"]], [["O", "O"]])
    with pytest.raises(ValueError, match="same sentences: 2 vs 1"):
        paired_bootstrap_counts([(0, 0, 0)] * 2, [(0, 0, 0)])
    with pytest.raises(ValueError, match="1 gold sentences but 0 predicted"):
        score_spans([[]], [])


# ----------------------------------------------------------------------------- span scoring


def test_sinai_official_rule() -> None:
    # SINAI, eHealth-KD 2020 scenario 2 (best system): C=432 I=24 P=33 S=42 M=67
    r = official_ehealthkd(432, 24, 33, 42, 67)
    assert (round(r["precision"], 4), round(r["recall"], 4), round(r["f1"], 4)) == (0.8446, 0.8067, 0.8252)


TEXT = "el virus de las paperas causa fiebre alta"
#       0  3     9  12  16      24    30     37


def E(etype: str, *frags: tuple[int, int], text: str = "") -> Entity:
    return Entity(etype, tuple(frags), text=text)


def test_span_scoring_discontinuous_wrong_type_partial() -> None:
    gold = [[
        E("Concept", (3, 8), (16, 23)),  # "virus ... paperas": discontinuous
        E("Action", (24, 29)),  # "causa"
        E("Concept", (30, 36), (37, 41)),  # "fiebre alta", written one fragment per word
        E("Predicate", (0, 2)),  # "el"
    ], []]
    pred = [[
        E("Concept", (16, 23), (3, 8)),  # same fragments, other order -> correct
        E("Concept", (24, 29), text="causa"),  # same span, wrong type -> incorrect
        E("Concept", (30, 41), text="fiebre alta"),  # contiguous, cut into words as officially -> correct
        E("Predicate", (9, 15), text="de las"),  # inside G1's extent but touches no fragment -> spurious
        E("Predicate", (0, 8), text="el virus"),  # overlaps "el", same type -> partial
    ], [E("Concept", (0, 2), text="el")]]  # a sentence without gold: skipped by the official rule
    assert match_spans(gold[0], pred[0]) == {
        "correct": 2, "incorrect": 1, "partial": 1, "missing": 0, "spurious": 1}
    s = score_spans(gold, pred, texts=[TEXT, TEXT])
    # official: (C + P/2) = 2.5; R = 2.5 / (C+I+P+M = 4) = .625; P = 2.5 / (C+I+P+S = 5) = .5; F1 = 5/9
    off = s["official"]
    assert (off["precision"], off["recall"], off["f1"]) == (0.5, 0.625, round(5 / 9, 6))
    assert (off["skipped_sentences"], off["spurious_in_skipped"]) == (1, 1)
    # exact spans over all sentences: 2 hits, 6 predicted, 4 gold -> P 1/3, R 1/2, F1 0.4
    ex = s["exact"]["micro"]
    assert (ex["tp"], ex["fp"], ex["fn"], ex["f1"]) == (2, 4, 2, 0.4)
    assert s["exact"]["per_type"]["Action"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1,
                                                "tp": 0, "fp": 0, "fn": 1}
    assert s["counts"]["discontinuous_gold"] == 2 and s["counts"]["entities_without_text"] == 0
    # the same without texts: the entities' own text cuts the contiguous spans the same way
    assert score_spans(gold, pred)["official"] == off


def test_span_matching_order_and_type_rules() -> None:
    # correct is taken before incorrect, even when the wrong-type prediction comes first
    assert match_spans([E("Concept", (0, 5))], [E("Action", (0, 5)), E("Concept", (0, 5))]) == {
        "correct": 1, "incorrect": 0, "partial": 0, "missing": 0, "spurious": 1}
    # partial needs the same type: an overlapping Action earns nothing
    assert match_spans([E("Concept", (0, 10))], [E("Action", (5, 15))]) == {
        "correct": 0, "incorrect": 0, "partial": 0, "missing": 1, "spurious": 1}
    # each gold is used once: two predictions overlapping one gold -> one partial, one spurious
    assert match_spans([E("Concept", (0, 10))], [E("Concept", (0, 4)), E("Concept", (6, 10))]) == {
        "correct": 0, "incorrect": 0, "partial": 1, "missing": 0, "spurious": 1}
    assert official_spans(E("Concept", (30, 41)), TEXT) == ((30, 36), (37, 41))
    assert official_spans(E("Concept", (30, 41))) == ((30, 41),)  # no text at all: left whole


# ----------------------------------------------------------------------------- per-sentence counts

TAG_POOL = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
tag_seqs = st.lists(st.lists(st.sampled_from(TAG_POOL), min_size=1, max_size=12), min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), gold=tag_seqs)
def test_sentence_counts_equal_seqeval_strict(data: st.DataObject, gold: list[list[str]]) -> None:
    pred = [data.draw(st.lists(st.sampled_from(TAG_POOL), min_size=len(g), max_size=len(g))) for g in gold]
    counts = sentence_counts(gold, pred)
    true = Entities(gold, IOB2).entities
    guess = Entities(pred, IOB2).entities
    # per sentence, against seqeval's own chunker
    for (tp, fp, fn), t, p in zip(counts, true, guess, strict=True):
        ts, ps = {e.to_tuple() for e in t}, {e.to_tuple() for e in p}
        assert (tp, fp, fn) == (len(ts & ps), len(ps - ts), len(ts - ps))
    s = score_tags(gold, pred)  # summed: score_tags cross-checks them against seqeval's micro P/R/F1 too
    assert s["nervaluate"]["overall"]["strict"]["correct"] == s["strict"]["micro"]["tp"]
    nv, micro = s["nervaluate"]["overall"]["strict"], s["strict"]["micro"]
    assert (nv["actual"], nv["possible"]) == (micro["tp"] + micro["fp"], micro["support"])


# ----------------------------------------------------------------------------- uncertainty


def noisy(gold: list[list[str]], rate: float, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [[t if rng.random() > rate else "O" for t in s] for s in gold]


GOLD_200 = [["B-PER", "I-PER", "O", "B-LOC"] for _ in range(200)]


def test_bootstrap_deterministic_and_contains_estimate() -> None:
    pred = noisy(GOLD_200, 0.15, seed=1)
    ci = bootstrap_ci(GOLD_200, pred, n_resamples=500, seed=3)
    assert ci == bootstrap_ci(GOLD_200, pred, n_resamples=500, seed=3)
    assert ci != bootstrap_ci(GOLD_200, pred, n_resamples=500, seed=4)
    point = score_tags(GOLD_200, pred)["main"]["value"]
    assert ci[0] < point < ci[1]
    assert ci == bootstrap_ci_counts(sentence_counts(GOLD_200, pred), n_resamples=500, seed=3)
    lo90, hi90 = bootstrap_ci(GOLD_200, pred, n_resamples=500, seed=3, confidence=0.9)
    assert ci[0] <= lo90 < hi90 <= ci[1]


def test_bootstrap_perfect_predictions() -> None:
    assert bootstrap_ci(GOLD_200, GOLD_200, n_resamples=100) == (1.0, 1.0)


def test_bootstrap_blocks_do_not_change_small_cases() -> None:
    # 50_000 sentences forces several blocks of resamples; the interval stays around the point estimate
    counts = [(1, 0, 0), (0, 1, 1)] * 25_000
    lo, hi = bootstrap_ci_counts(counts, n_resamples=200, seed=0)
    assert lo < 0.5 < hi and hi - lo < 0.02


def test_paired_bootstrap_identical_and_better() -> None:
    weak = noisy([["B-PER", "I-PER", "O", "B-LOC"] for _ in range(300)], 0.4, seed=2)
    gold = [["B-PER", "I-PER", "O", "B-LOC"] for _ in range(300)]
    same = paired_bootstrap(gold, weak, weak, n_resamples=200)
    assert (same["delta"], same["p_value"], same["winner"]) == (0.0, 1.0, "tie")
    better = paired_bootstrap(gold, weak, gold, n_resamples=200)
    assert better["winner"] == "b" and better["delta"] > 0.2 and better["p_value"] < 0.01
    assert better["delta_ci_low"] > 0
    # swapping the systems flips the sign, not the p-value
    worse = paired_bootstrap(gold, gold, weak, n_resamples=200)
    assert worse["winner"] == "a" and worse["delta"] == -better["delta"]
    assert worse["p_value"] == better["p_value"]


def test_paired_bootstrap_close_systems_not_significant() -> None:
    gold = [["B-PER", "O", "B-LOC", "I-LOC"] for _ in range(400)]
    a, b = noisy(gold, 0.3, seed=5), noisy(gold, 0.3, seed=6)
    r = paired_bootstrap(gold, a, b, n_resamples=500, seed=1)
    assert abs(r["delta"]) < 0.05 and r["p_value"] > 0.05
    assert r == paired_bootstrap(gold, a, b, n_resamples=500, seed=1)


def test_summarize_seeds() -> None:
    # mean .92; sample variance ((.02)^2 + 0 + (.02)^2) / (3 - 1) = .0004 -> std .02
    assert summarize_seeds([0.90, 0.92, 0.94]) == {"mean": 0.92, "std": 0.02, "min": 0.9, "max": 0.94, "n": 3}
    assert summarize_seeds([0.9]) == {"mean": 0.9, "std": None, "min": 0.9, "max": 0.9, "n": 1}
    with pytest.raises(ValueError, match="no values"):
        summarize_seeds([])
