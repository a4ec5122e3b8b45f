"""BRAT reader: fixture corpus, the BIO view policies, every bad input, and the real eHealth-KD data."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.data.brat import (
    bio_fragments,
    bio_to_entities,
    entities_to_bio,
    join_whitespace_gaps,
    read_brat,
    read_brat_folder,
    split_tokens_at,
    tokenize,
)
from bench.data.formats import get_format
from bench.data.schemes import invalid_iob2
from bench.data.types import Entity
from bench.errors import ConfigError, DataFormatError

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "brat" / "tiny"


def make(tmp_path: Path, txt: str | bytes, ann: str | bytes) -> Path:
    """A split folder holding ``scenario.txt`` and ``scenario.ann``."""
    d = tmp_path / "split"
    d.mkdir(exist_ok=True)
    for name, content in (("scenario.txt", txt), ("scenario.ann", ann)):
        p = d / name
        p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return d


def error_of(folder: Path, **kw: object) -> str:
    with pytest.raises(DataFormatError) as exc:
        read_brat_folder(folder, name="train", **kw)  # type: ignore[arg-type]
    return str(exc.value)


# --------------------------------------------------------------------------------------------
# The fixture corpus
# --------------------------------------------------------------------------------------------


def test_fixture_sentences_entities_and_tags() -> None:
    out = read_brat(FIXTURE, {"train": "train", "test": "test"}, {})
    train = out["train"]
    assert len(train.sentences) == 2  # line 2 is blank
    s1, s2 = train.sentences
    assert s1.text == "El cáncer de pulmón y de mama es grave."
    assert s1.source == f"{FIXTURE / 'train' / 'scenario.txt'}:1"
    assert s2.source.endswith("scenario.txt:3")
    assert s1.doc_id is None
    # entities keep their original fragments, offsets relative to the line
    t1, t2, t3 = s1.entities
    assert (t1.id, t1.fragments, t1.text) == ("T1", ((3, 9), (10, 12), (13, 19)), "cáncer de pulmón")
    assert (t2.id, t2.fragments) == ("T2", ((3, 9), (22, 29)))
    assert all(s1.text[s:e] in e_.text for e_ in s1.entities for s, e in e_.fragments)
    # T1 is contiguous once whitespace gaps are joined; T2 (shorter, shares 'cáncer') is left out
    assert s1.tokens == ("El", "cáncer", "de", "pulmón", "y", "de", "mama", "es", "grave", ".")
    assert s1.tags == ("O", "B-Concept", "I-Concept", "I-Concept", "O", "O", "O", "O", "B-Predicate", "O")
    # the word 'antiinflamatorios' is split at the entity boundary
    assert s2.tokens[:3] == ("Los", "anti", "inflamatorios")
    assert s2.tags[:4] == ("O", "O", "B-Concept", "B-Action")
    assert [s2.text[a:b] for a, b in s2.offsets][:3] == ["Los", "anti", "inflamatorios"]

    stats = train.stats
    assert stats["sentences"] == 2 and stats["entities"] == 6
    assert stats["entities[Concept]"] == 4 and stats["entities[Action]"] == 1
    assert stats["multi_fragment_entities"] == 2 and stats["discontinuous_entities"] == 1
    assert stats["bio_overlaps_dropped"] == 1
    assert stats["tokens_split"] == 1
    assert stats["blank_lines"] == 1
    assert stats["relations_ignored"] == 1 and stats["equivalences_ignored"] == 1
    assert stats["comments_ignored"] == 1 and stats["attributes_ignored"] == 1
    notes = "\n".join(train.notes)
    assert "scenario.txt:2: blank line skipped" in notes
    assert "scenario.ann:2 (T2 Concept 'cáncer de mama') overlaps T1" in notes
    assert "discontinuous=fragments" in notes and "overlap=longest" in notes
    assert train.files == [str(FIXTURE / "train" / "scenario.txt"), str(FIXTURE / "train" / "scenario.ann")]

    test = out["test"]
    assert len(test.sentences) == 1 and test.stats["blank_lines"] == 0
    assert test.sentences[0].tags == (
        "O",
        "B-Concept",
        "B-Concept",
        "B-Action",
        "B-Concept",
        "I-Concept",
        "O",
    )


def test_registered_with_its_options() -> None:
    fmt = get_format("brat")
    assert fmt.read.__wrapped__ is read_brat  # Format.read checks that no split is empty
    assert {"text_file", "ann_file", "discontinuous", "overlap", "types"} <= fmt.options


@pytest.mark.parametrize(
    ("policy", "tags"),
    [
        # T1 'cáncer de pulmón' (longer) wins; T2's second fragment 'de mama' does not clash, but
        # the overlap policy leaves the whole entity out of the tags
        ("fragments", ("O", "B-Concept", "I-Concept", "I-Concept", "O", "O", "O", "O", "B-Predicate", "O")),
        # T2 as one span 'cáncer de pulmón y de mama' is now the longest
        (
            "span",
            (
                "O",
                "B-Concept",
                "I-Concept",
                "I-Concept",
                "I-Concept",
                "I-Concept",
                "I-Concept",
                "O",
                "B-Predicate",
                "O",
            ),
        ),
        ("first", ("O", "B-Concept", "I-Concept", "I-Concept", "O", "O", "O", "O", "B-Predicate", "O")),
    ],
)
def test_discontinuous_policies(policy: str, tags: tuple[str, ...]) -> None:
    sd = read_brat_folder(FIXTURE / "train", name="train", discontinuous=policy)
    assert sd.sentences[0].tags == tags
    assert len(sd.sentences[0].entities or ()) == 3  # the gold entities never change


def test_fragments_policy_without_joining_gaps_tags_each_fragment() -> None:
    sd = read_brat_folder(FIXTURE / "train", name="train", join_gaps=False)
    assert sd.sentences[0].tags[1:4] == ("B-Concept", "B-Concept", "B-Concept")


def test_overlap_first_policy_keeps_earlier_start() -> None:
    text = "dolor de cabeza fuerte"
    ents = [Entity("Concept", ((9, 22),), id="T1"), Entity("Concept", ((0, 15),), id="T2")]
    view = entities_to_bio(text, tokenize(text), ents, overlap="first")
    assert view.tags == ("B-Concept", "I-Concept", "I-Concept", "O")
    assert [(a.id, b.id) for a, b in view.dropped] == [("T1", "T2")]


def test_overlap_error_policy_names_file_line_and_entity() -> None:
    msg = error_of(FIXTURE / "train", overlap="error")
    assert "scenario.ann:2 (T2)" in msg and "share words" in msg and "T1" in msg


def test_unknown_policies_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="discontinuous policy 'spam'"):
        read_brat_folder(FIXTURE / "train", name="train", discontinuous="spam")
    with pytest.raises(ConfigError, match="overlap policy 'shortest'"):
        read_brat_folder(FIXTURE / "train", name="train", overlap="shortest")


def test_types_option_checks_and_renames() -> None:
    sd = read_brat(FIXTURE, {"test": "test"}, {"types": {"Concept": "CON", "Action": "ACT"}})["test"]
    assert sd.sentences[0].tags[1] == "B-CON" and sd.sentences[0].entities[2].type == "ACT"  # type: ignore[index]
    with pytest.raises(DataFormatError) as exc:
        read_brat(FIXTURE, {"train": "train"}, {"types": ["Concept", "Action"]})
    assert "scenario.ann:3 (T3)" in str(exc.value) and "unknown entity type 'Predicate'" in str(exc.value)
    with pytest.raises(ConfigError):
        read_brat(FIXTURE, {"test": "test"}, {"types": "Concept"})


def test_options_pick_other_file_names(tmp_path: Path) -> None:
    d = tmp_path / "doc"
    d.mkdir()
    (d / "a.txt").write_text("Hola mundo\n", encoding="utf-8")
    (d / "a.ann").write_text("T1\tConcept 5 10\tmundo\n", encoding="utf-8")
    sd = read_brat(tmp_path, {"train": "doc"}, {"text_file": "a.txt", "ann_file": "a.ann"})["train"]
    assert sd.sentences[0].tags == ("O", "B-Concept")


def test_crlf_lines_and_bom(tmp_path: Path) -> None:
    txt = "\ufeffHola mundo\r\nAdiós mundo\r\n"
    d = make(tmp_path, txt, "T1\tConcept 6 11\tmundo\nT2\tConcept 19 24\tmundo\n")
    s1, s2 = read_brat_folder(d, name="train").sentences
    assert s1.text == "Hola mundo" and s1.entities[0].fragments == ((5, 10),)  # type: ignore[index]
    assert s2.text == "Adiós mundo" and s2.tags == ("O", "B-Concept")


# --------------------------------------------------------------------------------------------
# Bad input: every message names the file, the line / entity id and the problem
# --------------------------------------------------------------------------------------------

TXT = "El virus de las paperas.\nOtra frase aquí.\n"


@pytest.mark.parametrize(
    ("ann", "where", "problem"),
    [
        (
            "T1\tConcept 3 8\tvirus\nT2\tConcept 16 23\tpaperaz\n",
            "scenario.ann:2 (T2)",
            "entity text 'paperaz' does not match scenario.txt[16:23] = 'paperas'",
        ),
        ("T1\tConcept 3 8;16 23\tvirus paperaz\n", "scenario.ann:1 (T1)", "(fragment 2 of 2)"),
        ("T1\tConcept 3 8;16 23\tvirus paperas extra\n", "scenario.ann:1 (T1)", "longer than its fragments"),
        ("T1\tConcept 30 50\tx\n", "scenario.ann:1 (T1)", "out of range: scenario.txt has 42 characters"),
        ("T1\tConcept 8 3\tx\n", "scenario.ann:1 (T1)", "empty or reversed fragment 8-3"),
        ("T1\tConcept 16 30\tpaperas.\nOtra\n", "scenario.ann:1 (T1)", "crosses a sentence boundary"),
        ("T1\tConcept 3 8;25 29\tvirus Otra\n", "scenario.ann:1 (T1)", "fragments lie on lines 1, 2"),
        (
            "T1\tConcept 3 8\tvirus\nT2\tConcept three 8\tvirus\n",
            "scenario.ann:2 (T2)",
            "malformed entity line",
        ),
        ("T1 Concept 3 8 virus\n", "scenario.ann:1", "malformed entity line"),
        (
            "T1\tConcept 3 8\tvirus\nT1\tConcept 16 23\tpaperas\n",
            "scenario.ann:2 (T1)",
            "already used on line 1",
        ),
        ("T1\tConcept 3 8\tvirus\nX1\tsomething\n", "scenario.ann:2", "unrecognised annotation line"),
    ],
)
def test_bad_annotations(tmp_path: Path, ann: str, where: str, problem: str) -> None:
    msg = error_of(make(tmp_path, TXT, ann))
    assert where in msg and problem in msg, msg
    assert str(tmp_path) in msg


def test_entity_on_a_blank_line(tmp_path: Path) -> None:
    msg = error_of(make(tmp_path, "Hola.\n   \nAdiós.\n", "T1\tConcept 6 7\t \n"))
    assert "scenario.ann:1 (T1)" in msg and "entity lies on blank line 2 of scenario.txt" in msg, msg


def test_unknown_type_with_types_list(tmp_path: Path) -> None:
    d = make(tmp_path, TXT, "T1\tConcept 3 8\tvirus\nT2\tDisease 16 23\tpaperas\n")
    msg = error_of(d, types={"Concept": "Concept"})
    assert "scenario.ann:2 (T2)" in msg and "unknown entity type 'Disease' (allowed: Concept)" in msg


@pytest.mark.parametrize("which", ["scenario.txt", "scenario.ann"])
def test_non_utf8_names_line_and_byte(tmp_path: Path, which: str) -> None:
    txt, ann = TXT.encode(), b"T1\tConcept 3 8\tvirus\n"
    bad = b"Primera.\nSegunda \xe1 mal.\n"
    d = make(tmp_path, bad if which == "scenario.txt" else txt, bad if which == "scenario.ann" else ann)
    msg = error_of(d)
    assert f"{which}:2" in msg and "not valid UTF-8: byte 0xe1 at byte offset 17" in msg, msg


@pytest.mark.parametrize("which", ["scenario.txt", "scenario.ann"])
def test_missing_file(tmp_path: Path, which: str) -> None:
    d = make(tmp_path, TXT, "T1\tConcept 3 8\tvirus\n")
    (d / which).unlink()
    msg = error_of(d)
    assert which in msg and "file not found" in msg


@pytest.mark.parametrize(
    ("txt", "ann", "which"),
    [
        ("", "T1\tConcept 0 1\tx\n", "scenario.txt"),
        ("\n\n", "T1\tConcept 0 1\tx\n", "scenario.txt"),
        (TXT, "", "scenario.ann"),
        (TXT, "\n \n", "scenario.ann"),
    ],
)
def test_empty_files(tmp_path: Path, txt: str, ann: str, which: str) -> None:
    msg = error_of(make(tmp_path, txt, ann))
    assert which in msg and "empty" in msg


@pytest.mark.parametrize(
    "line",
    [
        "El asma es una enfermedad crónica.",  # a text line wrapped into the .ann: not an "ignored event"
        "Rinitis alérgica y asma.",
        "Alergia\tal polen",
        "Muchas personas",
        "Nunca",
        "# a free comment",
        "* una nota",
        "R1\tin-context Arg1:T1",  # one argument
        "R1\tin-context T1 T2",
        "E1\tTreatment",
        "A1\tNegated",
        "N1\tReference T1",
        "#1 AnnotatorNotes T1 nota",
    ],
)
def test_malformed_non_entity_lines_are_errors_with_file_and_line(tmp_path: Path, line: str) -> None:
    msg = error_of(make(tmp_path, TXT, f"T1\tConcept 3 8\tvirus\n{line}\nT2\tConcept 16 23\tpaperas\n"))
    assert "scenario.ann:2: malformed annotation line" in msg and str(tmp_path) in msg, msg
    assert f"starting with {line[0]!r} must read" in msg


def test_every_well_formed_annotation_kind_is_counted(tmp_path: Path) -> None:
    ann = (
        "T1\tConcept 3 8\tvirus\nT2\tConcept 16 23\tpaperas\n"
        "R1\tcauses Arg1:T1 Arg2:T2\nR2\tcauses Arg1:T1 Arg2:T2\t\n"
        "E1\tInfection:T1 Theme:T2 Theme2:T2\nE2\tInfection:T1\n"
        "A1\tNegated T1\nA2\tConfidence E1 High\nM1\tNegated T2\n"
        "N1\tReference T1 Wikipedia:534366\tvirus\n"
        "#1\tAnnotatorNotes T1\tuna nota\n"
        "*\tsame-as T1 T2\n"
    )
    stats = read_brat_folder(make(tmp_path, TXT, ann), name="x").stats
    assert stats["entities"] == 2
    assert (stats["relations_ignored"], stats["events_ignored"], stats["attributes_ignored"]) == (2, 2, 3)
    assert (stats["normalizations_ignored"], stats["comments_ignored"], stats["equivalences_ignored"]) == (1, 1, 1)


def test_ann_with_only_relations_is_not_empty(tmp_path: Path) -> None:
    sd = read_brat_folder(make(tmp_path, TXT, "#1\tAnnotatorNotes T1\tnothing here\n"), name="x")
    assert sd.stats["entities"] == 0 and sd.stats["comments_ignored"] == 1
    assert all(set(s.tags) == {"O"} for s in sd.sentences)


# --------------------------------------------------------------------------------------------
# Pure functions: tokens, fragments, BIO round trip
# --------------------------------------------------------------------------------------------


def test_tokenize_spanish() -> None:
    text = "Niños y niñas (0-5 años): ¿vacuna?"
    assert [text[s:e] for s, e in tokenize(text)] == [
        "Niños",
        "y",
        "niñas",
        "(",
        "0",
        "-",
        "5",
        "años",
        ")",
        ":",
        "¿",
        "vacuna",
        "?",
    ]


def test_split_tokens_counts_only_inner_cuts() -> None:
    assert split_tokens_at([(0, 4), (5, 9)], [0, 2, 4, 5, 9]) == ([(0, 2), (2, 4), (5, 9)], 1)
    assert split_tokens_at([(0, 6)], [2, 4]) == ([(0, 2), (2, 4), (4, 6)], 2)


def test_join_whitespace_gaps_and_unordered_fragments() -> None:
    # eHealth-KD writes some fragments out of text order ('reumatoide artritis')
    assert join_whitespace_gaps([(9, 19), (0, 8)], "artritis reumatoide") == ((0, 19),)
    assert bio_fragments(Entity("C", ((9, 19), (0, 8))), "artritis reumatoide", discontinuous="first") == (
        (0, 19),
    )


def test_entity_covering_no_word_is_reported() -> None:
    text = "a  b"
    view = entities_to_bio(text, tokenize(text), [Entity("C", ((1, 3),), id="T1")])
    assert view.tags == ("O", "O") and [e.id for e in view.untokenised] == ["T1"]


WORDS = st.sampled_from(["el", "cáncer", "de", "pulmón", "ñu", "3", "-", ",", "antiinflamatorio", "(", "B12"])


@st.composite
def sentence_with_spans(draw: st.DrawFn) -> tuple[str, list[Entity]]:
    words = draw(st.lists(WORDS, min_size=1, max_size=12))
    text = " ".join(words)
    spans = draw(st.lists(st.tuples(st.integers(0, len(text) - 1), st.integers(1, len(text))), max_size=6))
    ents = []
    for k, (a, b) in enumerate(spans):
        s, e = min(a, b), max(a, b)
        if s == e:
            continue
        piece = text[s:e]
        if not piece.strip() or piece != piece.strip():  # spans start and end on a character
            continue
        ents.append(Entity(draw(st.sampled_from(["A", "B"])), ((s, e),), text=piece, id=f"T{k}"))
    return text, ents


@settings(max_examples=300, deadline=None)
@given(sentence_with_spans(), st.sampled_from(["longest", "first"]))
def test_spans_to_bio_to_spans_round_trip(case: tuple[str, list[Entity]], overlap: str) -> None:
    text, ents = case
    offsets, _ = split_tokens_at(tokenize(text), (b for e in ents for b in e.fragments[0]))
    view = entities_to_bio(text, offsets, ents, overlap=overlap)
    assert invalid_iob2(view.tags) is None
    dropped = {id(e) for e, _ in view.dropped}
    kept = {(e.type, e.fragments, e.text) for e in ents if id(e) not in dropped}
    back = {(e.type, e.fragments, e.text) for e in bio_to_entities(offsets, view.tags, text)}
    assert back == kept
    assert not view.untokenised and not view.inexact


# --------------------------------------------------------------------------------------------
# Real data (eHealth-KD 2020)
# --------------------------------------------------------------------------------------------

EXPECTED = {
    # split: (folder, sentences, entities, Concept, Action, Predicate, Reference, multi-fragment)
    "train": ("training", 800, 5012, 3112, 1319, 412, 169, 551),
    "dev": ("development-main", 199, 1305, 797, 340, 124, 44, 144),
    "test": ("testing-scenario2-taskA", 100, 556, 377, 121, 49, 9, 63),
}


@pytest.mark.realdata
def test_real_ehealthkd_counts_and_round_trip(data_dir: Path) -> None:
    folder = data_dir / "ehealthkd2020"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    t0 = time.perf_counter()
    out = read_brat(
        folder, {k: v[0] for k, v in EXPECTED.items()}, {"discontinuous": "fragments", "overlap": "longest"}
    )
    assert time.perf_counter() - t0 < 10
    for split, (_, n_sent, n_ent, concept, action, predicate, reference, multi) in EXPECTED.items():
        sd = out[split]
        assert len(sd.sentences) == n_sent
        assert sum(len(s.entities or ()) for s in sd.sentences) == n_ent
        assert sd.stats["entities"] == n_ent
        assert [sd.stats[f"entities[{t}]"] for t in ("Concept", "Action", "Predicate", "Reference")] == [
            concept,
            action,
            predicate,
            reference,
        ]
        assert sd.stats["multi_fragment_entities"] == multi
        assert sd.stats["entities_without_words"] == 0
        assert sd.stats["entities_inexact_in_bio"] == 0
        # every contiguous gold entity not left out by the overlap policy comes back from the tags
        for s in sd.sentences:
            assert s.text is not None and s.offsets is not None and s.entities is not None
            assert invalid_iob2(s.tags) is None
            view = entities_to_bio(s.text, s.offsets, s.entities)
            assert view.tags == s.tags
            dropped = {e.id for e, _ in view.dropped}
            back = {(e.type, e.fragments) for e in bio_to_entities(s.offsets, s.tags, s.text)}
            for e in s.entities:
                joined = join_whitespace_gaps(e.fragments, s.text)
                if len(joined) == 1 and e.id not in dropped:
                    assert (e.type, joined) in back, (s.source, e)
    # measured on the data at the time of writing (reported to the lead)
    assert [out[k].stats["bio_overlaps_dropped"] for k in EXPECTED] == [23, 7, 0]
    assert [out[k].stats["discontinuous_entities"] for k in EXPECTED] == [30, 8, 0]
