from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.data.conll import read_conll_file, read_conll_split
from bench.data.load import load_task_data
from bench.data.schemes import (
    detect_scheme,
    invalid_iob2,
    spans_to_tags,
    tags_to_spans,
    to_iob2,
    violations,
)
from bench.errors import ConfigError, DataFormatError
from bench.spec import load_task_file

from .conftest import TINY_TASK


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
    sents, notes = read_conll_file(p, scheme="IOB1")
    assert sents[0].tags == ("B-PER", "I-PER", "O", "B-LOC", "B-LOC")
    assert notes == ["f.txt: tags read as IOB1 (the task's scheme); converted to IOB2 (2 tags changed)"]


# --------------------------------------------------------------------------- the declared scheme


def test_stray_i_in_an_iob2_file_is_an_error_naming_the_line(tmp_path: Path) -> None:
    p = write(tmp_path, "A B-PER\nB I-PER\n\nC O\nD I-LOC\nE O\n")
    with pytest.raises(DataFormatError) as err:
        read_conll_file(p)
    assert err.value.line == 5
    msg = str(err.value)
    assert msg.startswith(f"{p}:5: tag sequence invalid under the task's scheme IOB2: 'I-LOC' after 'O'")
    assert "repair = true" in msg


def test_repair_reads_the_conlleval_way_and_counts(tmp_path: Path) -> None:
    p = write(tmp_path, "A B-PER\nB I-PER\n\nC O\nD I-LOC\nE I-PER\nF I-PER\n")
    sd = read_conll_split(p, scheme="IOB2", repair=True)
    assert sd.sentences[1].tags == ("O", "B-LOC", "B-PER", "I-PER")
    assert sd.stats["tags_repaired"] == 2
    assert sd.warnings == [
        "f.txt: 2 tag(s) invalid under the declared scheme IOB2 repaired the conlleval way (repair = true) at line 5, 6"
    ]


def test_an_iob1_file_declared_iob2_is_not_converted_silently(tmp_path: Path) -> None:
    p = write(tmp_path, "Peter I-PER\nBlackburn I-PER\n")
    with pytest.raises(DataFormatError, match=r"f.txt:1: .*scheme IOB2.*the tags look like IOB1: check the task's scheme"):
        read_conll_file(p, scheme="IOB2")


def test_a_bioes_file_declared_iob2_is_an_error(tmp_path: Path) -> None:
    p = write(tmp_path, "A B-LOC\nB E-LOC\nC S-PER\n")
    with pytest.raises(DataFormatError, match=r"(?s)f.txt:2: .*prefix 'E' of 'E-LOC' is not part of IOB2.*"
                                              r"f.txt:3: .*'S-PER'.*look like BIOES"):  # both lines named
        read_conll_file(p)


def test_iob1_allows_b_only_between_adjacent_entities_of_one_type(tmp_path: Path) -> None:
    p = write(tmp_path, "A I-PER\nB B-PER\nC O\nD B-LOC\n")
    with pytest.raises(DataFormatError, match=r"f.txt:4: .*'B-LOC' after 'O': IOB1 uses B- only between"):
        read_conll_file(p, scheme="IOB1")
    sents, notes = read_conll_file(p, scheme="IOB1", repair=True)
    assert sents[0].tags == ("B-PER", "B-PER", "O", "B-LOC")
    assert "1 tag(s) invalid under the declared scheme IOB1" in notes[-1]


@pytest.mark.parametrize(
    ("scheme", "tags", "iob2"),
    [
        ("BIOES", ["S-PER", "B-LOC", "I-LOC", "E-LOC", "O"], ("B-PER", "B-LOC", "I-LOC", "I-LOC", "O")),
        ("BILOU", ["U-PER", "B-LOC", "L-LOC", "O"], ("B-PER", "B-LOC", "I-LOC", "O")),
    ],
)
def test_bioes_and_bilou_are_converted(tmp_path: Path, scheme: str, tags: list[str], iob2: tuple[str, ...]) -> None:
    p = write(tmp_path, "".join(f"w{i} {t}\n" for i, t in enumerate(tags)))
    (s,), notes = read_conll_file(p, scheme=scheme)
    assert s.tags == iob2 and f"read as {scheme}" in notes[0]


def test_invalid_bioes_names_the_line(tmp_path: Path) -> None:
    p = write(tmp_path, "A S-PER\nB B-LOC\nC O\n")
    with pytest.raises(DataFormatError, match=r"f.txt:2: .*'B-LOC' is not followed by I-LOC or E-LOC"):
        read_conll_file(p, scheme="BIOES")


def tiny_task(tmp_path: Path, conll_dir: Path, **replace: str) -> Path:
    body = TINY_TASK
    for old, new in replace.items():
        body = body.replace(old, new)
    p = tmp_path / "tiny.toml"
    p.write_text(body, encoding="utf-8")
    return p


def test_task_scheme_is_what_the_reader_uses_and_repairs_reach_data_warnings(tmp_path: Path, conll_dir: Path) -> None:
    (conll_dir / "dev.txt").write_text("Peter NNP I-PER\nsaw VBD O\n", encoding="utf-8")
    task = load_task_file(tiny_task(tmp_path, conll_dir))
    with pytest.raises(DataFormatError, match=r"dev.txt:1: tag sequence invalid under the task's scheme IOB2"):
        load_task_data(task, data_dir=conll_dir.parent)
    task = load_task_file(tiny_task(tmp_path, conll_dir, **{'licence = "written': 'repair = true\nlicence = "written'}))
    data = load_task_data(task, data_dir=conll_dir.parent)
    assert data.sentences("dev")[0].tags == ("B-PER", "O")
    assert data.warnings[0] == (
        "dev.txt: 1 tag(s) invalid under the declared scheme IOB2 repaired the conlleval way (repair = true) at line 1"
    )


def test_scheme_is_not_a_reader_option(tmp_path: Path, conll_dir: Path) -> None:
    p = tiny_task(tmp_path, conll_dir, **{"pos_column = 1": 'pos_column = 1, scheme = "IOB1"'})
    with pytest.raises(ConfigError, match=r"unknown option\(s\) scheme for format 'conll'"):
        load_task_data(load_task_file(p), data_dir=conll_dir.parent)


def test_unknown_scheme_and_repair_without_tags_are_config_errors(tmp_path: Path, conll_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"tiny.toml: unknown scheme 'iob2'.*did you mean 'IOB2'"):
        load_task_file(tiny_task(tmp_path, conll_dir, **{'scheme = "IOB2"': 'scheme = "iob2"'}))
    with pytest.raises(ConfigError, match="repair = true needs a tag scheme"):
        load_task_file(tiny_task(tmp_path, conll_dir, **{'scheme = "IOB2"': 'scheme = "spans"\nrepair = true'}))
    with pytest.raises(ConfigError, match=r"tiny.toml: unknown word_tokenizer 'ptb' \(use one of conll, simple"):
        load_task_file(tiny_task(tmp_path, conll_dir, **{'scheme = "IOB2"': 'scheme = "IOB2"\nword_tokenizer = "ptb"'}))
    assert load_task_file(
        tiny_task(tmp_path, conll_dir, **{'scheme = "IOB2"': 'scheme = "IOB2"\nword_tokenizer = "conll"'})
    ).word_tokenizer == "conll"


def test_scheme_must_fit_the_format(tmp_path: Path, conll_dir: Path) -> None:
    p = tiny_task(tmp_path, conll_dir, **{'scheme = "IOB2"': 'scheme = "spans"'})
    with pytest.raises(ConfigError, match="scheme 'spans' does not fit format 'conll'"):
        load_task_data(load_task_file(p), data_dir=conll_dir.parent)
    p = tiny_task(tmp_path, conll_dir, **{'format = "conll"': 'format = "brat"', "pos_column = 1": ""})
    with pytest.raises(ConfigError, match=r"scheme 'IOB2' does not fit format 'brat' \(it reads spans\)"):
        load_task_data(load_task_file(p), data_dir=conll_dir.parent)


def test_shipped_tasks_declare_a_scheme_their_format_reads() -> None:
    from bench.catalog import load_catalog
    from bench.data.formats import get_format
    from bench.data.hub import HUB_FORMATS

    for _, task in load_catalog().items():
        if task.local is not None:
            assert task.scheme in get_format(task.local.format).schemes, task.name
            assert "scheme" not in task.local.options, task.name
        if task.hub is not None:
            assert task.scheme in HUB_FORMATS[task.hub.format], task.name


# --------------------------------------------------------------------------- -DOCSTART- and odd characters


def test_docstart_inside_a_sentence_is_an_error_naming_its_line(tmp_path: Path) -> None:
    p = write(tmp_path, "A O\n\nNew B-LOC\n-DOCSTART- -X- O\nYork I-LOC\n")
    with pytest.raises(DataFormatError) as err:
        read_conll_file(p)
    assert err.value.line == 4 and "-DOCSTART- inside a sentence: line 3 is a token line" in str(err.value)


def test_docstart_directly_before_a_sentence_opens_its_document(tmp_path: Path) -> None:
    """CoNLL-2002's layout (no blank line after the marker); tests/test_conll_files.py has predict's side."""
    p = write(tmp_path, "A O\n\n-DOCSTART- -X- O\nYork B-LOC\n")
    sents, _ = read_conll_file(p)
    assert [(s.tokens, s.doc_id) for s in sents] == [(("A",), "doc0"), (("York",), "doc1")]


@pytest.mark.parametrize("char", ["\u00a0", "\u200b", "\ufeff", "\u2028", "\u0085", "\u3000", "\x0c"])
@pytest.mark.parametrize("separator", ["whitespace", "tab"])
def test_a_token_of_an_odd_character_keeps_its_word(tmp_path: Path, char: str, separator: str) -> None:
    sep = " " if separator == "whitespace" else "\t"
    p = write(tmp_path, f"A{sep}NN{sep}O\n{char}{sep}NN{sep}O\nB{sep}NN{sep}B-PER\n")
    (s,), _ = read_conll_file(p, separator=separator, pos_column=1)
    assert s.tokens == ("A", char, "B") and s.tags == ("O", "O", "B-PER")


def test_only_ascii_blanks_make_a_blank_line_and_a_leading_bom_is_dropped(tmp_path: Path) -> None:
    p = write(tmp_path, "\ufeffA O\n \t\nB O\r\n\t\r\nC O\n")
    sents, _ = read_conll_file(p)
    assert [s.tokens for s in sents] == [("A",), ("B",), ("C",)]
    with pytest.raises(ConfigError, match="option 'separator' must be one of whitespace, tab"):
        read_conll_file(p, separator="space")


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
    assert to_iob2(["S-PER", "O", "B-LOC", "I-LOC", "E-LOC"]) == ["B-PER", "O", "B-LOC", "I-LOC", "I-LOC"]
    assert invalid_iob2(["O", "I-PER"]) == 1 and invalid_iob2(["B-PER", "I-PER"]) is None
    with pytest.raises(ValueError, match="unknown scheme 'IOX'"):
        violations(["O"], "IOX")


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


def encode(n: int, spans: list[tuple[str, int, int]], scheme: str) -> list[str]:
    """``spans`` written in ``scheme``, the way a corpus in that scheme would write them."""
    tags = ["O"] * n
    prev_end, prev_type = -1, ""
    for etype, start, end in sorted(spans, key=lambda s: s[1]):
        for k in range(start, end):
            if scheme == "IOB2":
                p = "B" if k == start else "I"
            elif scheme == "IOB1":
                p = "B" if k == start and prev_end == start and prev_type == etype else "I"
            else:
                single, last = ("S", "E") if scheme == "BIOES" else ("U", "L")
                p = single if end - start == 1 else "B" if k == start else last if k == end - 1 else "I"
            tags[k] = f"{p}-{etype}"
        prev_end, prev_type = end, etype
    return tags


@given(spans_strategy, st.sampled_from(["IOB1", "IOB2", "BIOES", "BILOU"]))
def test_every_scheme_reads_back_its_entities(case: tuple[int, list[tuple[str, int, int]]], scheme: str) -> None:
    n, raw = case
    spans: list[tuple[str, int, int]] = []
    used: set[int] = set()
    for etype, start, length in raw:
        end = min(n, start + length)
        if used.isdisjoint(range(start, end)):
            used.update(range(start, end))
            spans.append((etype, start, end))
    tags = encode(n, spans, scheme)
    assert violations(tags, scheme) == []
    assert to_iob2(tags) == spans_to_tags(n, spans)


@given(st.lists(st.sampled_from(["O", "B-PER", "I-PER", "E-PER", "S-PER", "I-LOC", "L-LOC", "U-LOC"]), max_size=12))
def test_conversion_keeps_the_conlleval_reading_of_any_sequence(tags: list[str]) -> None:
    assert tags_to_spans(to_iob2(tags)) == tags_to_spans(tags)
    assert invalid_iob2(to_iob2(tags)) is None


IOB2_POOL = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@given(st.lists(st.sampled_from(IOB2_POOL), max_size=12))
def test_strict_and_lenient_readings_differ_exactly_on_stray_i_tags(tags: list[str]) -> None:
    """On IOB2 tags the strict reading keeps the lenient entities that start with ``B-`` and drops those a
    stray ``I-`` opens; so the readings agree exactly when the sequence is valid IOB2."""
    lenient, strict = tags_to_spans(tags), tags_to_spans(tags, strict=True)
    strays = {i for i, _ in violations(tags, "IOB2")}  # an I-X that continues no X entity
    assert strict == [s for s in lenient if s[1] not in strays]
    assert [s for s in lenient if s[1] in strays] == [s for s in lenient if tags[s[1]].startswith("I-")]
    assert (strict == lenient) == (invalid_iob2(tags) is None)
    assert tags_to_spans(to_iob2(tags), strict=True) == lenient  # repaired tags read the same either way


def test_strict_reading_by_hand() -> None:
    # a stray I-PER (at the start), and the I-PER continuing it: one lenient entity, no strict one
    assert tags_to_spans(["I-PER", "I-PER", "B-PER", "I-PER", "I-LOC"]) == [("PER", 0, 2), ("PER", 2, 4), ("LOC", 4, 5)]
    assert tags_to_spans(["I-PER", "I-PER", "B-PER", "I-PER", "I-LOC"], strict=True) == [("PER", 2, 4)]
    # valid IOB2: the same entities, in order
    valid = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "I-LOC"]
    assert tags_to_spans(valid, strict=True) == tags_to_spans(valid) == [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 6)]
    # strict reads IOB2 only: another prefix ends the entity and opens none (as bench.metrics' strict mode did)
    assert tags_to_spans(["B-PER", "E-PER", "S-LOC"], strict=True) == [("PER", 0, 1)]
    assert tags_to_spans(["B-PER", "E-PER", "S-LOC"]) == [("PER", 0, 2), ("LOC", 2, 3)]
    with pytest.raises(TypeError):
        tags_to_spans(["O"], True)  # type: ignore[misc]  # the mode is keyword-only
