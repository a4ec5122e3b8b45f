"""bench.analysis: error types, seen/unseen, length and confusion worked out by hand, the error types checked
against nervaluate's own counts, and the analysis carried by bench.scoring.score_split."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.analysis import ERROR_KINDS, EXAMPLES_KEPT, analyse, match_entities, mean_over_seeds, train_forms
from bench.data.schemes import tags_to_spans
from bench.data.types import Sentence
from bench.metrics import score_tags
from bench.scoring import score_split
from bench.spec import LocalSource, TaskSpec

TASK = TaskSpec(name="toy", version="1", language="en", domain="tests", entity_types=("PER", "LOC", "ORG"),
                scheme="IOB2", licence="x", local=LocalSource(folder="toy", format="conll", splits={"train": "a", "test": "b"}))


def test_match_entities_is_one_to_one_in_prediction_order() -> None:
    gold = [("PER", 0, 2), ("LOC", 3, 5)]
    # PER(1, 4) overlaps both gold entities and takes the first (PER: right type, wrong boundaries);
    # LOC(4, 5) then finds LOC(3, 5) free: right type, wrong boundaries again
    assert match_entities(gold, [("PER", 1, 4), ("LOC", 4, 5)]) == [
        ("wrong_boundaries", ("PER", 0, 2), ("PER", 1, 4)), ("wrong_boundaries", ("LOC", 3, 5), ("LOC", 4, 5))]
    # a second prediction inside an already matched gold entity is spurious, not a second match
    assert match_entities([("ORG", 0, 3)], [("ORG", 0, 1), ("ORG", 2, 3)]) == [
        ("wrong_boundaries", ("ORG", 0, 3), ("ORG", 0, 1)), ("spurious", None, ("ORG", 2, 3))]
    # an exact match wins over an earlier overlap
    assert match_entities([("LOC", 0, 1), ("PER", 1, 2)], [("PER", 1, 2)]) == [
        ("correct", ("PER", 1, 2), ("PER", 1, 2)), ("missed", ("LOC", 0, 1), None)]
    assert match_entities([], []) == []


# Sentence 1: "Anna Smith visited new york ." -- PER(0,2) LOC(3,5)
# Sentence 2: "Acme hired Bo ." -- ORG(0,1) PER(2,3)
WORDS = [["Anna", "Smith", "visited", "new", "york", "."], ["Acme", "hired", "Bo", "."]]
GOLD = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"], ["B-ORG", "O", "B-PER", "O"]]
PRED = [["B-PER", "I-PER", "O", "O", "I-ORG", "O"],  # PER right; a stray I-ORG opens ORG(4,5) inside LOC(3,5)
        ["B-PER", "O", "B-LOC", "I-LOC"]]  # ORG(0,1) typed PER; LOC(2,4) for PER(2,3)
# Train: "anna smith" as PER (seen, case-folded), "New York" as LOC (seen), "Acme" only as LOC (so ORG Acme is unseen)
TRAIN = [Sentence(("ANNA", "SMITH"), ("B-PER", "I-PER")), Sentence(("New", "York", "and", "Acme"),
                                                                     ("B-LOC", "I-LOC", "O", "B-LOC"))]


def test_analysis_by_hand() -> None:
    forms = train_forms(TRAIN)
    assert forms == {("PER", "anna smith"), ("LOC", "new york"), ("LOC", "acme")}
    a = analyse(WORDS, GOLD, PRED, forms=forms)
    # pairs: PER(0,2) correct; ORG(4,5) vs LOC(3,5) wrong both; PER(0,1) vs ORG(0,1) wrong type;
    # LOC(2,4) vs PER(2,3) wrong both; nothing missed or spurious
    assert a["error_types"]["overall"] == {"correct": 1, "wrong_type": 1, "wrong_boundaries": 0, "wrong_both": 2,
                                           "missed": 0, "spurious": 0}
    # under the gold type: PER gets the correct one and LOC(2,4)'s wrong both, LOC the ORG(4,5), ORG the wrong type
    assert a["error_types"]["per_type"] == {
        "LOC": {"correct": 0, "wrong_type": 0, "wrong_boundaries": 0, "wrong_both": 1, "missed": 0, "spurious": 0},
        "ORG": {"correct": 0, "wrong_type": 1, "wrong_boundaries": 0, "wrong_both": 0, "missed": 0, "spurious": 0},
        "PER": {"correct": 1, "wrong_type": 0, "wrong_boundaries": 0, "wrong_both": 1, "missed": 0, "spurious": 0},
    }
    # exact matches only: tp 1 (Anna Smith); gold Anna Smith (seen), new york (seen), Acme/ORG (unseen), Bo (unseen)
    # predicted: Anna Smith (seen, tp), york/ORG (unseen), Acme/PER (unseen), "Bo ."/LOC (unseen)
    su = a["seen_unseen"]
    assert (su["seen"]["tp"], su["seen"]["fp"], su["seen"]["fn"]) == (1, 0, 1)
    assert (su["unseen"]["tp"], su["unseen"]["fp"], su["unseen"]["fn"]) == (0, 3, 2)
    assert su["seen"]["f1"] == 2 / 3 and su["seen"]["precision"] == 1.0 and su["seen"]["recall"] == 0.5
    assert su["unseen"]["f1"] == 0.0 and su["train_forms"] == 3
    # lengths: gold 2, 2, 1, 1 words; predicted 2 (tp), 1, 1, 2 words
    length = a["length"]
    assert (length["1"]["tp"], length["1"]["fp"], length["1"]["fn"]) == (0, 2, 2)
    assert (length["2"]["tp"], length["2"]["fp"], length["2"]["fn"]) == (1, 1, 1)
    assert length["2"]["f1"] == 0.5 and length["3"]["gold"] == length["4+"]["pred"] == 0
    # same boundaries: PER(0,2)=PER(0,2) and ORG(0,1) predicted as PER
    assert a["confusion"] == {"ORG": {"PER": 1}, "PER": {"PER": 1}}


def test_seen_unseen_is_left_out_without_train_forms() -> None:
    assert "seen_unseen" not in analyse(WORDS, GOLD, PRED)
    assert analyse(WORDS, GOLD, PRED, forms=frozenset())["seen_unseen"]["seen"]["gold"] == 0


TAG_POOL = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
tag_seqs = st.lists(st.lists(st.sampled_from(TAG_POOL), min_size=1, max_size=12), min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), gold=tag_seqs)
def test_error_types_split_nervaluates_strict_counts_and_add_up(data: st.DataObject, gold: list[list[str]]) -> None:
    pred = [data.draw(st.lists(st.sampled_from(TAG_POOL), min_size=len(g), max_size=len(g))) for g in gold]
    words = [[f"w{i % 3}" for i in range(len(g))] for g in gold]
    train = [Sentence(tuple(w), tuple(g)) for w, g in zip(words, gold, strict=True)]
    a = analyse(words, gold, pred, forms=train_forms(train))
    e = a["error_types"]["overall"]
    scores = score_tags(gold, pred)
    nv, micro = scores["nervaluate"]["overall"]["strict"], scores["conlleval"]["micro"]
    wrong = e["wrong_type"] + e["wrong_boundaries"] + e["wrong_both"]
    assert (e["correct"], wrong, e["missed"], e["spurious"]) == (nv["correct"], nv["incorrect"], nv["missed"],
                                                                  nv["spurious"])
    n_gold = sum(len(tags_to_spans(g)) for g in gold)
    n_pred = sum(len(tags_to_spans(p)) for p in pred)
    assert e["correct"] + wrong + e["missed"] == n_gold and e["correct"] + wrong + e["spurious"] == n_pred
    for t, counts in a["error_types"]["per_type"].items():  # per type adds up to overall
        assert set(counts) == set(ERROR_KINDS) and t in ("PER", "LOC", "ORG")
    assert {k: sum(c[k] for c in a["error_types"]["per_type"].values()) for k in ERROR_KINDS} == e
    # the parts (length buckets; seen + unseen) add up to the main score's counts
    for parts in (a["length"].values(), a["seen_unseen"].values()):
        blocks = [b for b in parts if isinstance(b, dict)]
        assert [sum(b[k] for b in blocks) for k in ("tp", "fp", "fn")] == [micro["tp"], micro["fp"], micro["fn"]]
    # every gold entity is in train here (train = gold): all seen, so seen recall is the main recall
    assert a["seen_unseen"]["unseen"]["gold"] == 0
    # the confusion diagonal is `correct`, off the diagonal `wrong_type`
    diag = sum(n for g, row in a["confusion"].items() for p, n in row.items() if g == p)
    off = sum(n for g, row in a["confusion"].items() for p, n in row.items() if g != p)
    assert (diag, off) == (e["correct"], e["wrong_type"])
    # the examples count the spurious and missed entities (all of them while fewer than EXAMPLES_KEPT differ)
    for kind in ("spurious", "missed"):
        listed = a["examples"][kind]
        if len(listed) < EXAMPLES_KEPT:
            assert sum(n for _, _, n in listed) == e[kind]


def test_score_split_carries_the_analysis() -> None:
    sentences = [Sentence(tuple(w), tuple(g)) for w, g in zip(WORDS, GOLD, strict=True)]
    metrics, _ = score_split(TASK, sentences, PRED, n_resamples=10, train=TRAIN)
    assert metrics["analysis"] == analyse(WORDS, GOLD, PRED, forms=train_forms(TRAIN))
    assert metrics["analysis"]["entities"] == "conlleval chunks (same as main)"
    metrics, _ = score_split(TASK, sentences, PRED, n_resamples=10)
    assert "seen_unseen" not in metrics["analysis"] and "error_types" in metrics["analysis"]


def test_mean_over_seeds() -> None:
    a = analyse(WORDS, GOLD, PRED, forms=train_forms(TRAIN))
    b = analyse(WORDS, GOLD, GOLD, forms=train_forms(TRAIN))  # a perfect seed
    m = mean_over_seeds([a, b])
    assert m["seeds"] == 2
    assert m["error_types"]["overall"]["correct"] == (1 + 4) / 2 and m["error_types"]["overall"]["wrong_both"] == 1
    assert m["seen_unseen"]["seen"]["f1"] == (2 / 3 + 1) / 2 and m["seen_unseen"]["unseen"]["f1"] == 0.5
    assert m["seen_unseen"]["unseen_gold_share"] == 0.5  # 2 of the 4 gold entities
    assert m["confusion"] == {"LOC": {"LOC": 0.5}, "ORG": {"ORG": 0.5, "PER": 0.5}, "PER": {"PER": 1.5}}
    assert m["length"]["3"]["f1"] is None  # no entity of 3 words in any seed: nothing measured


def test_examples_are_the_most_frequent_spurious_and_missed_mentions_as_written() -> None:
    # x3: gold PER "Anna", PER "Bo", LOC "Oslo"; predicted PER "Anna" and LOC "in" (overlaps no gold entity)
    # x1: gold ORG "UN"; predicted MISC "the" (spurious) and PER "un said" (overlaps UN: wrong both, no example)
    words = [["Anna", "met", "Bo", "in", "Oslo"]] * 3 + [["the", "UN", "said"]]
    gold = [["B-PER", "O", "B-PER", "O", "B-LOC"]] * 3 + [["O", "B-ORG", "O"]]
    pred = [["B-PER", "O", "O", "B-LOC", "O"]] * 3 + [["B-MISC", "B-PER", "I-PER"]]
    a = analyse(words, gold, pred)
    assert a["examples"] == {"spurious": [["in", "LOC", 3], ["the", "MISC", 1]],
                             "missed": [["Bo", "PER", 3], ["Oslo", "LOC", 3]], "kept": EXAMPLES_KEPT}
    assert a["error_types"]["overall"]["wrong_both"] == 1  # "UN" is not missed: "UN said" overlaps it
    # case is kept ("UN" and "un" are two mentions); only the EXAMPLES_KEPT most frequent are stored
    many = [[f"w{i}"] for i in range(EXAMPLES_KEPT + 5)] + [["UN"], ["un"], ["UN"]]
    b = analyse(many, [["B-ORG"]] * len(many), [["O"]] * len(many))
    assert len(b["examples"]["missed"]) == EXAMPLES_KEPT and b["examples"]["spurious"] == []
    assert b["examples"]["missed"][:3] == [["UN", "ORG", 2], ["un", "ORG", 1], ["w0", "ORG", 1]]
    # over seeds the counts are summed, not averaged
    m = mean_over_seeds([a, a, analyse(words, gold, gold)])
    assert m["examples"]["spurious"] == [["in", "LOC", 6], ["the", "MISC", 2]] and m["examples"]["seeds"] == 3
    assert m["examples"]["missed"] == [["Bo", "PER", 6], ["Oslo", "LOC", 6]]
    # an analysis stored before examples were: none to show
    old = {k: v for k, v in a.items() if k != "examples"}
    assert mean_over_seeds([old])["examples"] is None
    assert mean_over_seeds([old, a])["examples"]["seeds"] == 1
