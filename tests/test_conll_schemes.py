from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.data.conll import read_conll_file
from bench.data.schemes import (
    detect_scheme,
    invalid_iob2,
    spans_to_tags,
    tags_to_spans,
    to_iob2,
)
from bench.errors import DataFormatError


def write(tmp_path: Path, text: str | bytes, name: str = "f.txt") -> Path:
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def test_reads_sentences_documents_and_pos(conll_dir: Path) -> None:
    sents, notes = read_conll_file(conll_dir / "train.txt", pos_column=1)
    assert [s.tokens for s in sents] == [
        ("EU", "rejects", "German", "call", "."), ("Peter", "Blackburn"), ("BRUSSELS", "1996-08-22"),
    ]
    assert sents[0].tags == ("B-ORG", "O", "B-MISC", "O", "O")
    assert sents[0].pos == ("NNP", "VBZ", "JJ", "NN", ".")
    assert [s.doc_id for s in sents] == ["doc0", "doc0", "doc1"]
    assert sents[1].source.endswith("train.txt:9")
    assert any("2 documents" in n for n in notes)


def test_documents_before_first_marker_count_as_first_document(tmp_path: Path) -> None:
    p = write(tmp_path, "A x O\n\n-DOCSTART- -X- O\n\nB x O\n")
    sents, _ = read_conll_file(p)
    assert [s.doc_id for s in sents] == ["doc0", "doc1"]


def test_no_docstart_means_no_documents(tmp_path: Path) -> None:
    sents, notes = read_conll_file(write(tmp_path, "A O\nB B-PER\n"))
    assert sents[0].doc_id is None and notes == []


def test_iob1_is_converted_and_said(tmp_path: Path) -> None:
    p = write(tmp_path, "Peter I-PER\nBlackburn I-PER\nsaw O\nParis I-LOC\nLondon B-LOC\n")
    sents, notes = read_conll_file(p)
    assert sents[0].tags == ("B-PER", "I-PER", "O", "B-LOC", "B-LOC")
    assert notes and "IOB1" in notes[0] and "converted to IOB2" in notes[0]


def test_tag_column_and_tab_separator(tmp_path: Path) -> None:
    p = write(tmp_path, "Aspirin\taspirin\tNN\tB-Chemical\nworks\twork\tVBZ\tO\n")
    sents, _ = read_conll_file(p, separator="tab", tag_column=3, pos_column=2)
    assert sents[0].tags == ("B-Chemical", "O") and sents[0].pos == ("NN", "VBZ")


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("A NN O\nB NN B-PER\nC B-PER\n", 3, "found 2 columns, expected 3"),
        ("A B-\n", 1, "entity type is empty"),
        ("A O\n\nB X-PER\n", 3, "unknown prefix 'X'"),
        ("A PER\n", 1, "expected 'O' or PREFIX-TYPE"),
        ("Word\n", 1, "need at least 2"),
    ],
)
def test_bad_lines_name_file_line_and_problem(tmp_path: Path, text: str, line: int, problem: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(DataFormatError) as err:
        read_conll_file(p)
    assert err.value.line == line
    assert str(p) in str(err.value) and problem in str(err.value)


def test_empty_and_missing_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="file is empty"):
        read_conll_file(write(tmp_path, "\n\n"))
    with pytest.raises(DataFormatError, match="file not found"):
        read_conll_file(tmp_path / "nope.txt")
    with pytest.raises(DataFormatError, match=r":2: not valid UTF-8: byte 0xff") as err:
        read_conll_file(write(tmp_path, b"A O\nB\xff O\n", "bad.txt"))
    assert "bad.txt" in str(err.value)
    with pytest.raises(DataFormatError, match="no sentences"):
        read_conll_file(write(tmp_path, "-DOCSTART- -X- O\n\n", "d.txt"))


def test_detect_and_convert() -> None:
    assert detect_scheme([["B-PER", "I-PER"], ["O", "B-LOC"]]) == "IOB2"
    assert detect_scheme([["O", "I-LOC"]]) == "IOB1"
    assert detect_scheme([["U-LOC"]]) == "BIOES"
    conv, scheme = to_iob2([["S-PER", "O", "B-LOC", "I-LOC", "E-LOC"]])
    assert scheme == "BIOES" and conv == [["B-PER", "O", "B-LOC", "I-LOC", "I-LOC"]]
    assert invalid_iob2(["O", "I-PER"]) == 1 and invalid_iob2(["B-PER", "I-PER"]) is None
    with pytest.raises(ValueError, match="unknown tagging scheme"):
        to_iob2([["O"]], scheme="IOX")


spans_strategy = st.integers(min_value=1, max_value=30).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.tuples(st.sampled_from(["PER", "LOC"]), st.integers(0, n - 1), st.integers(1, 4)), max_size=6),
    )
)


@given(spans_strategy)
def test_spans_tags_round_trip(case: tuple[int, list[tuple[str, int, int]]]) -> None:
    n, raw = case
    spans: list[tuple[str, int, int]] = []
    used: set[int] = set()
    for etype, start, length in raw:
        end = min(n, start + length)
        if used.isdisjoint(range(start, end)):
            used.update(range(start, end))
            spans.append((etype, start, end))
    tags = spans_to_tags(n, spans)
    assert invalid_iob2(tags) is None
    assert tags_to_spans(tags) == sorted(spans, key=lambda s: s[1])
