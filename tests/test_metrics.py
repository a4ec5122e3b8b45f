"""bench.metrics and bench.scoring: expectations worked out by hand (see the comments), plus property checks
against seqeval's own chunkers."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2, Entities

from bench.data.schemes import tags_to_spans
from bench.data.types import Entity, Sentence
from bench.metrics import (
    MAIN,
    bootstrap_ci,
    bootstrap_ci_counts,
    bootstrap_ci_seeds,
    check_tags,
    conlleval_entities,
    conlleval_f1,
    holm,
    invalid_tags,
    match_spans,
    official_ehealthkd,
    official_spans,
    paired_bootstrap,
    paired_bootstrap_counts,
    paired_bootstrap_seeds,
    score_spans,
    score_tags,
    sentence_counts,
    strict_entities,
    strict_f1,
    sum_by_unit,
    summarize_seeds,
)
from bench.scoring import evaluation_units, score_split
from bench.spec import LocalSource, TaskSpec

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
#   s2  LOC(0,1) right; the stray I-PER opens PER(2,3) in conlleval mode (right!), is no entity in strict mode
PRED = [
    ["B-PER", "I-PER", "O", "B-ORG"],
    ["O", "B-ORG", "O", "O"],
    ["B-LOC", "O", "I-PER", "O"],
]


def test_hand_worked_conlleval_main_and_strict() -> None:
    s = score_tags(GOLD, PRED)
    # conlleval (main): 5 predicted, 3 correct (PER(0,2), LOC(0,1), PER(2,3)), 5 gold -> P = R = F1 = 3/5
    micro = s["conlleval"]["micro"]
    assert (micro["precision"], micro["recall"], micro["f1"]) == (0.6, 0.6, 0.6)
    assert (micro["tp"], micro["fp"], micro["fn"], micro["support"]) == (3, 2, 2, 5)
    assert s["main"] == {**MAIN, "value": 0.6, "precision": 0.6, "recall": 0.6}
    assert (s["main"]["name"], s["main"]["mode"], s["main"]["scheme"]) == ("conlleval_f1", "default", "IOB2")
    # strict: 4 predicted, 2 correct, 5 gold -> P 1/2, R 2/5, F1 = 2*2 / (2*2 + 2 + 3) = 4/9, stored unrounded
    strict = s["strict"]["micro"]
    assert (strict["precision"], strict["recall"], strict["f1"]) == (0.5, 0.4, 4 / 9)
    assert (strict["tp"], strict["fp"], strict["fn"], strict["support"]) == (2, 2, 3, 5)
    # per type, strict: PER 1 pred/1 tp/2 gold -> P 1, R .5, F1 2/3; LOC the same; ORG 2 pred/0 tp/1 gold -> 0
    per = s["strict"]["per_type"]
    assert per["PER"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3, rel=1e-15), "support": 2}
    assert per["LOC"] == per["PER"]
    assert per["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    # macro, strict = unweighted mean over the 3 types: P 2/3, R 1/3, F1 4/9
    macro = s["strict"]["macro"]
    assert (macro["precision"], macro["recall"], macro["f1"]) == pytest.approx((2 / 3, 1 / 3, 4 / 9), rel=1e-12)
    # per type, conlleval: PER now 2 of 2 -> 1.0; LOC unchanged; ORG still 0
    assert s["conlleval"]["per_type"]["PER"]["f1"] == 1.0
    assert s["conlleval"]["per_type"]["LOC"]["f1"] == pytest.approx(2 / 3, rel=1e-15)
    # one stray I- predicted, none in gold
    assert s["invalid_tags"] == {"predicted": 1, "gold": 0}
    # tokens: one wrong tag per sentence -> 9/12
    assert s["token_accuracy"] == 0.75
    assert s["counts"] == {"sentences": 3, "tokens": 12, "gold_entities": 5, "pred_entities": 5}
    assert sentence_counts(GOLD, PRED) == [(1, 1, 1), (0, 1, 1), (2, 0, 0)]
    assert sentence_counts(GOLD, PRED, mode="strict") == [(1, 1, 1), (0, 1, 1), (1, 0, 1)]
    assert (conlleval_f1(GOLD, PRED), strict_f1(GOLD, PRED)) == (0.6, 4 / 9)


def test_nervaluate_gets_the_conlleval_entities() -> None:
    n = score_tags(GOLD, PRED)["nervaluate"]["overall"]
    # Pairs: s0 PER=PER; ORG(3,4) on LOC(3,4); s1 ORG(1,2) in ORG(1,3); s2 LOC=LOC; PER(2,3) (opened by the
    # stray I-PER) = PER(2,3).
    # strict   (span and type):  correct PER, LOC, PER; incorrect ORG/LOC, ORG-boundary -> = conlleval TP/FP/FN
    assert {k: n["strict"][k] for k in ("correct", "incorrect", "partial", "missed", "spurious")} == {
        "correct": 3, "incorrect": 2, "partial": 0, "missed": 0, "spurious": 0}
    assert (n["strict"]["possible"], n["strict"]["actual"]) == (5, 5)
    assert (n["strict"]["precision"], n["strict"]["recall"]) == (0.6, 0.6)
    # exact    (span only):       ORG(3,4) now counts -> 4 correct, 1 incorrect: P = R = F1 = 4/5
    assert (n["exact"]["correct"], n["exact"]["incorrect"], n["exact"]["missed"]) == (4, 1, 0)
    assert n["exact"]["f1"] == pytest.approx(0.8, rel=1e-15)
    # partial  (overlap, no type): 4 correct + ORG(1,2) partial: (4 + .5) / 5 on both sides
    part = n["partial"]
    assert (part["correct"], part["partial"], part["missed"]) == (4, 1, 0)
    assert (part["precision"], part["recall"], part["f1"]) == pytest.approx((0.9, 0.9, 0.9), rel=1e-15)
    # ent_type (overlap + type):   ORG(1,2) in ORG(1,3) correct; ORG on LOC incorrect
    assert (n["ent_type"]["correct"], n["ent_type"]["incorrect"], n["ent_type"]["missed"]) == (4, 1, 0)
    per = score_tags(GOLD, PRED)["nervaluate"]["per_type"]
    # per type, only that type's entities are compared: ORG(3,4) in s0 has no ORG beside it -> spurious
    assert (per["ORG"]["strict"]["incorrect"], per["ORG"]["strict"]["spurious"]) == (1, 1)


def test_conlleval_and_strict_differ_on_a_stray_i() -> None:
    # O I-PER: conlleval opens PER(1,2), which is right; strict sees nothing and misses the gold entity
    s = score_tags([["O", "B-PER"]], [["O", "I-PER"]])
    assert s["main"]["value"] == s["conlleval"]["micro"]["f1"] == 1.0
    assert s["strict"]["micro"]["f1"] == 0.0
    assert (s["strict"]["micro"]["fp"], s["strict"]["micro"]["fn"]) == (0, 1)
    assert s["invalid_tags"]["predicted"] == 1
    # the same stray tag in the wrong place: conlleval pays precision for it, strict does not
    s = score_tags([["B-PER", "O", "O"]], [["B-PER", "O", "I-LOC"]])
    assert (s["conlleval"]["micro"]["precision"], s["strict"]["micro"]["precision"]) == (0.5, 1.0)
    assert s["main"]["value"] == pytest.approx(2 / 3, rel=1e-15) and s["strict"]["micro"]["f1"] == 1.0
    # I- of another type: conlleval splits B-PER I-LOC into PER(0,1) and LOC(1,2); strict keeps PER(0,1) alone
    s = score_tags([["B-PER", "I-PER"]], [["B-PER", "I-LOC"]])
    assert (s["conlleval"]["micro"]["tp"], s["conlleval"]["micro"]["fp"]) == (0, 2)
    assert (s["strict"]["micro"]["tp"], s["strict"]["micro"]["fp"]) == (0, 1)
    assert strict_entities(["I-PER", "I-PER", "B-PER", "I-PER", "I-LOC"]) == {("PER", 2, 4)}


def test_output_is_plain_json_types_unrounded() -> None:
    s = score_tags(GOLD, PRED)
    assert json.loads(json.dumps(s, allow_nan=False)) == s
    assert s["strict"]["micro"]["f1"] == 4 / 9 != round(4 / 9, 6)  # stored exactly; rounding is for display
    assert type(s["strict"]["per_type"]["PER"]["f1"]) is float and type(s["counts"]["tokens"]) is int
    assert s["scorers"]["seqeval"]["version"] == "1.2.2"
    assert s["scorers"]["seqeval"]["strict"] == {"mode": "strict", "scheme": "IOB2"}
    assert s["scorers"]["seqeval"]["conlleval"]["mode"] == "default"
    assert s["scorers"]["nervaluate"]["version"].startswith("1.")


def test_all_o_scores_zero_and_undefined_macro_is_nan() -> None:
    s = score_tags([["O", "O"]], [["O", "O"]])
    assert s["main"]["value"] == 0.0 and s["token_accuracy"] == 1.0
    # no entity type at all: a macro average does not exist. NaN here; bench.results writes it as null.
    assert math.isnan(s["strict"]["macro"]["f1"]) and math.isnan(s["conlleval"]["macro"]["f1"])
    assert isinstance(s["nervaluate"]["overall"]["partial"]["f1"], float)


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
    with pytest.raises(ValueError, match="same units: 2 vs 1"):
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
    assert (off["precision"], off["recall"], off["f1"]) == (0.5, 0.625, pytest.approx(5 / 9, rel=1e-15))
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


# ----------------------------------------------------------------------------- per-sentence and per-unit counts

TAG_POOL = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
tag_seqs = st.lists(st.lists(st.sampled_from(TAG_POOL), min_size=1, max_size=12), min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), gold=tag_seqs)
def test_sentence_counts_equal_seqeval_in_both_modes(data: st.DataObject, gold: list[list[str]]) -> None:
    pred = [data.draw(st.lists(st.sampled_from(TAG_POOL), min_size=len(g), max_size=len(g))) for g in gold]
    # strict, against seqeval's strict IOB2 chunker
    for (tp, fp, fn), t, p in zip(sentence_counts(gold, pred, mode="strict"), Entities(gold, IOB2).entities,
                                  Entities(pred, IOB2).entities, strict=True):
        ts, ps = {e.to_tuple()[1:] for e in t}, {e.to_tuple()[1:] for e in p}
        assert (tp, fp, fn) == (len(ts & ps), len(ps - ts), len(ts - ps))
    # conlleval, against seqeval's default-mode chunker (end inclusive there)
    for (tp, fp, fn), g, p in zip(sentence_counts(gold, pred), gold, pred, strict=True):
        ts = {(t, s, e + 1) for t, s, e in get_entities(g)}
        ps = {(t, s, e + 1) for t, s, e in get_entities(p)}
        assert (tp, fp, fn) == (len(ts & ps), len(ps - ts), len(ts - ps))
    s = score_tags(gold, pred)  # summed: score_tags cross-checks them against seqeval's micro P/R/F1 too
    nv, micro = s["nervaluate"]["overall"]["strict"], s["conlleval"]["micro"]
    assert (nv["correct"], nv["actual"], nv["possible"]) == (micro["tp"], micro["tp"] + micro["fp"], micro["support"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TAG_POOL), max_size=12))
def test_the_one_chunker_reads_as_seqeval_in_both_modes(tags: list[str]) -> None:
    """``tags_to_spans`` is both of seqeval's chunkers: its default (conlleval) one, and strict IOB2 with
    ``strict=True``; the metrics' entity sets are exactly its spans, and ``invalid_tags`` counts the ``I-``
    tags that the strict reading leaves outside every entity."""
    lenient, strict = tags_to_spans(tags), tags_to_spans(tags, strict=True)
    assert lenient == sorted(((t, s, e + 1) for t, s, e in get_entities(tags)), key=lambda x: x[1])
    assert strict == sorted((e.to_tuple()[1:] for e in Entities([tags], IOB2).entities[0]), key=lambda x: x[1])
    assert conlleval_entities(tags) == set(lenient) and strict_entities(tags) == set(strict)
    covered = {k for _, s, e in strict for k in range(s, e)}
    assert invalid_tags(tags) == sum(t.startswith("I-") and k not in covered for k, t in enumerate(tags))


def test_sum_by_unit_keeps_first_appearance_order() -> None:
    ids, rows = sum_by_unit([(1, 0, 0), (0, 1, 0), (2, 0, 1), (0, 0, 1)], ["b", "a", "b", "c"])
    assert ids == ["b", "a", "c"] and rows == [[3, 0, 1], [0, 1, 0], [0, 0, 1]]
    with pytest.raises(ValueError, match="2 count rows but 1 unit ids"):
        sum_by_unit([(0, 0, 0)] * 2, ["a"])


TASK = TaskSpec(name="toy", version="1", language="en", domain="tests", entity_types=("PER", "LOC", "ORG"),
                scheme="IOB2", licence="x", local=LocalSource(folder="toy", format="conll", splits={"train": "a", "test": "b"}))


def test_score_split_units_are_documents_when_every_sentence_has_one() -> None:
    sents = [Sentence(tuple("abcd"), tuple(g), doc_id=d) for g, d in zip(GOLD, ["d2", "d1", "d2"], strict=True)]
    assert evaluation_units(sents) == ("document", ["d2", "d1", "d2"])
    metrics, counts = score_split(TASK, sents, PRED, n_resamples=50, seed=3)
    # per sentence (conlleval) (1,1,1) (0,1,1) (2,0,0); d2 = s0 + s2, d1 = s1
    assert counts == {"unit": "document", "ids": ["d2", "d1"], "conlleval": [[3, 1, 1], [0, 1, 1]],
                      "strict": [[2, 1, 2], [0, 1, 1]]}
    main = metrics["main"]
    assert main["value"] == 0.6 and main["name"] == "conlleval_f1"
    assert main["ci"] == {"method": "percentile bootstrap", "unit": "document", "units": 2, "confidence": 0.95,
                          "resamples": 50, "seed": 3}
    assert (main["ci_low"], main["ci_high"]) == bootstrap_ci_counts([[3, 1, 1], [0, 1, 1]], n_resamples=50, seed=3)
    # one sentence without a document: every sentence is its own unit, id = its index
    sents[1] = Sentence(tuple("abcd"), tuple(GOLD[1]))
    _, counts = score_split(TASK, sents, PRED, n_resamples=10)
    assert counts["unit"] == "sentence" and counts["ids"] == ["0", "1", "2"]
    assert counts["conlleval"] == [[1, 1, 1], [0, 1, 1], [2, 0, 0]]


SPAN_TASK = TaskSpec(name="spans", version="1", language="es", domain="tests", entity_types=("Concept",),
                     scheme="spans", licence="x", span_scoring="ehealthkd2020",
                     local=LocalSource(folder="s", format="brat", splits={"train": "a", "test": "b"}))


def test_score_split_uses_external_spans_when_given() -> None:
    text = "el virus de las paperas"
    offsets = ((0, 2), (3, 8), (9, 11), (12, 15), (16, 23))
    gold_ent = Entity("Concept", ((3, 8), (16, 23)), text="virus paperas")  # discontinuous
    sent = Sentence(tuple(text.split()), ("O", "B-Concept", "O", "O", "B-Concept"), text=text, offsets=offsets,
                    entities=(gold_ent,))
    tags = [["O", "B-Concept", "O", "O", "B-Concept"]]
    from_tags, _ = score_split(SPAN_TASK, [sent], tags, n_resamples=10)
    # from tags: two contiguous entities, neither equals the discontinuous gold -> exact F1 0
    assert from_tags["spans"]["exact"]["micro"]["tp"] == 0 and from_tags["spans"]["counts"]["pred_entities"] == 2
    assert from_tags["spans"]["rule"] == "ehealthkd2020"
    external, _ = score_split(SPAN_TASK, [sent], tags, n_resamples=10, pred_spans=[[gold_ent]])
    assert external["spans"]["exact"]["micro"]["f1"] == 1.0 and external["spans"]["official"]["f1"] == 1.0
    assert external["spans"]["source"].startswith("predicted spans")
    assert external["conlleval"] == from_tags["conlleval"]  # the tag scores do not change
    with pytest.raises(ValueError, match="not span-scored"):
        score_split(TASK, [Sentence(("a",), ("O",))], [["O"]], pred_spans=[[]])
    with pytest.raises(ValueError, match="1 sentences but 2 predicted span lists"):
        score_split(SPAN_TASK, [sent], tags, pred_spans=[[], []])


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
    # 50_000 units forces several blocks of resamples; the interval stays around the point estimate
    counts = [(1, 0, 0), (0, 1, 1)] * 25_000
    lo, hi = bootstrap_ci_counts(counts, n_resamples=200, seed=0)
    assert lo < 0.5 < hi and hi - lo < 0.02


def test_bootstrap_of_the_seed_averaged_score_by_hand() -> None:
    # Two units, two seeds. A resample of 2 units is {0,0}, {0,1} or {1,1} (probabilities 1/4, 1/2, 1/4).
    #   seed A: unit0 (1,0,0), unit1 (0,1,0)     seed B: unit0 (1,0,0), unit1 (1,0,0)
    #   {0,0}: A 2tp -> 1;            B -> 1;  mean 1
    #   {0,1}: A 1tp 1fp -> 2/3;      B -> 1;  mean 5/6
    #   {1,1}: A 0tp 2fp -> 0;        B -> 1;  mean 1/2
    # With 1000 resamples each outcome appears ~250 times at the ends, so the 2.5% and 97.5% percentiles are
    # exactly the smallest and the largest mean: (1/2, 1).
    a, b = [(1, 0, 0), (0, 1, 0)], [(1, 0, 0), (1, 0, 0)]
    assert bootstrap_ci_seeds([a, b], n_resamples=1000, seed=0) == (0.5, 1.0)
    # Seeds that err on different units cancel out: every resample's mean is exactly 1/2, while each seed
    # alone ranges over (0, 1), so the mean of the per-seed bounds (the report's old "CI") would be (0, 1).
    x, y = [(1, 0, 0), (0, 1, 1)], [(0, 1, 1), (1, 0, 0)]
    assert bootstrap_ci_seeds([x, y], n_resamples=1000) == (0.5, 0.5)
    assert bootstrap_ci_counts(x, n_resamples=1000) == bootstrap_ci_counts(y, n_resamples=1000) == (0.0, 1.0)
    # one seed: the same draws as the single-run bootstrap
    counts = sentence_counts(GOLD_200, noisy(GOLD_200, 0.2, seed=9))
    assert bootstrap_ci_seeds([counts], n_resamples=300, seed=5) == bootstrap_ci_counts(counts, n_resamples=300, seed=5)
    with pytest.raises(ValueError, match="same units"):
        bootstrap_ci_seeds([a, [(1, 0, 0)]])


def test_paired_bootstrap_p_value_by_hand() -> None:
    # Two units. a: (1,0,0), (0,1,1) -> F1 1/2;  b: (1,0,0), (1,0,0) -> F1 1;  delta = 1/2.
    #   {0,0}: a 1,   b 1 -> delta* 0     |delta* - delta| = 1/2 >= 1/2   counts
    #   {1,1}: a 0,   b 1 -> delta* 1     |delta* - delta| = 1/2 >= 1/2   counts
    #   {0,1}: a 1/2, b 1 -> delta* 1/2   |delta* - delta| = 0            does not
    # So p = (1 + number of resamples that drew one unit twice) / (1 + B). Replay the draws to count them
    # (resample b draws units rng.integers(0, 2, size=(B, 2))[b], all in one block at this size).
    a, b = [(1, 0, 0), (0, 1, 1)], [(1, 0, 0), (1, 0, 0)]
    n = 400
    r = paired_bootstrap_seeds([a], [b], n_resamples=n, seed=7)
    draws = np.random.default_rng(7).integers(0, 2, size=(n, 2))
    k = int(np.sum(draws[:, 0] == draws[:, 1]))
    assert (r["f1_a"], r["f1_b"], r["delta"]) == (0.5, 1.0, 0.5)
    assert r["p_value"] == (1 + k) / (1 + n) and 0.4 < r["p_value"] < 0.6
    assert (r["delta_ci_low"], r["delta_ci_high"]) == (0.0, 1.0)


def test_paired_bootstrap_two_sided_symmetric_and_smoothed() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"] for _ in range(300)]
    weak = noisy(gold, 0.4, seed=2)
    same = paired_bootstrap(gold, weak, weak, n_resamples=200)
    assert (same["delta"], same["p_value"]) == (0.0, 1.0)  # identical systems: p exactly 1
    better = paired_bootstrap(gold, weak, gold, n_resamples=200)
    # every |delta* - delta| is far below |delta| > 0.2: k = 0, p = 1 / (1 + 200), never 0
    assert better["delta"] > 0.2 and better["p_value"] == 1 / 201 and better["delta_ci_low"] > 0
    # swapping the systems flips the sign of delta and its interval, and leaves the two-sided p unchanged
    worse = paired_bootstrap(gold, gold, weak, n_resamples=200)
    assert worse["delta"] == -better["delta"] and worse["p_value"] == better["p_value"]
    assert worse["delta_ci_low"] == pytest.approx(-better["delta_ci_high"], abs=1e-12)
    # the same for close systems with several seeds each (p in the middle of its range)
    sa = [sentence_counts(gold, noisy(gold, 0.3, seed=s)) for s in (5, 6)]
    sb = [sentence_counts(gold, noisy(gold, 0.3, seed=s)) for s in (7, 8, 9)]
    ab = paired_bootstrap_seeds(sa, sb, n_resamples=500, seed=1)
    ba = paired_bootstrap_seeds(sb, sa, n_resamples=500, seed=1)
    assert ab["p_value"] == ba["p_value"] and ab["delta"] == -ba["delta"] and ab["p_value"] > 0.05
    assert ab == paired_bootstrap_seeds(sa, sb, n_resamples=500, seed=1)
    assert (ab["seeds_a"], ab["seeds_b"], ab["units"]) == (2, 3, 300)


def test_holm_by_hand() -> None:
    # sorted: .01 * 4 = .04; .03 * 3 = .09; .04 * 2 = .08 -> raised to .09 (monotone); .2 * 1 = .2
    assert holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2], abs=1e-15)
    assert holm([0.3, 0.6]) == pytest.approx([0.6, 0.6], abs=1e-15)  # capped by monotonicity
    assert holm([0.9, 0.8]) == [1.0, 1.0]  # capped at 1
    assert holm([0.02]) == [0.02] and holm([]) == []
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        holm([float("nan")])


def test_summarize_seeds() -> None:
    # mean .75; sample variance (.25^2 + 0 + .25^2) / (3 - 1) = .0625 -> std .25
    assert summarize_seeds([0.5, 0.75, 1.0]) == {"mean": 0.75, "std": 0.25, "min": 0.5, "max": 1.0, "n": 3}
    assert summarize_seeds([0.9]) == {"mean": 0.9, "std": None, "min": 0.9, "max": 0.9, "n": 1}
    with pytest.raises(ValueError, match="no values"):
        summarize_seeds([])
