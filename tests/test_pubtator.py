"""Documents from PubTator files for CoNLL files without document markers (BC5CDR's case), on invented text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.data.conll import read_conll_split
from bench.data.load import load_task_data, sha256_file
from bench.data.pubtator import Document, align_documents, read_pubtator
from bench.errors import ConfigError, DataFormatError
from bench.spec import load_task_file

PUBTATOR = """\
200|t|Aspirin rash.
200|a|The rash faded.
200\t0\t7\tAspirin\tChemical\tD001241
200\t8\t12\trash\tDisease\tD005076

100|t|Lithium tremor.
100|a|
100\t0\t7\tLithium\tChemical\tD008094
"""

# token, POS, tag; document 100 first (the order of the PubTator file is not the order of the tokens)
CONLL = """\
Lithium\tNN\tB-Chemical
tremor\tNN\tB-Disease
.\t.\tO

Aspirin\tNN\tB-Chemical
rash\tNN\tB-Disease
.\t.\tO

The\tDT\tO
rash\tNN\tB-Disease
faded\tVBD\tO
.\t.\tO
"""

TASK = """\
name = "docs"
version = "1"
language = "en"
domain = "test"
entity_types = ["Chemical", "Disease"]
scheme = "IOB2"
licence = "written by the tests"

[local]
folder = "docs"
format = "conll"
splits = { train = "train.tsv", test = "test.tsv" }

[local.options]
separator = "tab"
pos_column = 1
doc_files = { train = "pubtator/train.txt", test = "pubtator/test.txt" }
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def docs_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data" / "docs"
    for split in ("train", "test"):
        write(d / f"{split}.tsv", CONLL)
        write(d / "pubtator" / f"{split}.txt", PUBTATOR)
    return d


def test_reads_documents_in_file_order(tmp_path: Path) -> None:
    docs = read_pubtator(write(tmp_path / "p.txt", PUBTATOR))
    assert [(d.id, d.text, d.line) for d in docs] == [
        ("200", "Aspirin rash. The rash faded.", 1),
        ("100", "Lithium tremor. ", 6),
    ]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("1|t|T\n\n", 1, "document 1 has a title line but no abstract line"),
        ("1|t|T\n2|a|A\n", 2, "abstract line of 2 without its title line"),
        ("1|t|T\n1|a|A\n2\t0\t1\tT\tX\tY\n", 3, "an annotation line of the document above"),
        ("\n\n", None, "file is empty"),
    ],
)
def test_bad_pubtator_lines_are_named(tmp_path: Path, text: str, line: int | None, problem: str) -> None:
    p = write(tmp_path / "p.txt", text)
    with pytest.raises(DataFormatError) as err:
        read_pubtator(p)
    assert err.value.line == line and problem in str(err.value) and str(p) in str(err.value)


def test_every_sentence_gets_its_pmid_in_any_document_order(docs_dir: Path) -> None:
    sd = read_conll_split(
        docs_dir / "train.tsv", separator="tab", pos_column=1, doc_file=docs_dir / "pubtator" / "train.txt",
        display="train.tsv",
    )
    assert [s.doc_id for s in sd.sentences] == ["100", "200", "200"]
    assert sd.files == [str(docs_dir / "train.tsv"), str(docs_dir / "pubtator" / "train.txt")]
    assert sd.notes == [
        "train.tsv: 2 documents from train.txt, every token aligned to its document's text "
        "(in another order than that file's)"
    ]


def align(sentences: list[list[str]], docs: list[Document]) -> list[str]:
    lines, k = [], 1
    for s in sentences:
        lines.append(k)
        k += len(s) + 1
    return align_documents(sentences, docs, path="f.tsv", first_lines=lines)


DOCS = [Document("1", "Aspirin rash. The rash faded.", "p.txt", 1), Document("2", "Lithium tremor.", "p.txt", 5)]


def test_a_token_that_leaves_the_document_text_is_named() -> None:
    with pytest.raises(DataFormatError) as err:
        align([["Aspirin", "rash", "."], ["The", "itch", "faded", "."]], DOCS)
    assert str(err.value) == (
        "f.tsv:6: token 'itch' does not match document 1 (p.txt:1) at character 18, whose text there is 'rash faded.'"
    )


def test_text_that_starts_no_document_is_named() -> None:
    with pytest.raises(DataFormatError, match=r"f.tsv:1: no unused document of p.txt starts with the text from token 'Rash'"):
        align([["Rash", "."]], DOCS)


def test_a_document_used_twice_or_never_is_an_error() -> None:
    both = [["Lithium", "tremor", "."], ["Aspirin", "rash", "."], ["The", "rash", "faded", "."]]
    assert align(both, DOCS) == ["2", "1", "1"]
    with pytest.raises(DataFormatError, match=r"f.tsv:14: no unused document .* token 'Lithium'"):
        align([*both, ["Lithium", "tremor", "."]], DOCS)
    with pytest.raises(DataFormatError) as err:
        align(both[1:], DOCS)
    assert str(err.value) == "p.txt:5: document 2 has no tokens in f.tsv (1 of 2 documents unmatched)"


def test_a_sentence_across_two_documents_is_an_error() -> None:
    with pytest.raises(DataFormatError) as err:
        align([["Lithium", "tremor", ".", "Aspirin", "rash", "."], ["The", "rash", "faded", "."]], DOCS)
    assert str(err.value).startswith("f.tsv:4: the sentence starting at line 1 runs from document 2 into document 1")


def test_a_token_across_whitespace_is_an_error() -> None:
    with pytest.raises(DataFormatError, match=r"f.tsv:2: token 'rash.The' spans whitespace in document 1: 'rash. The'"):
        align([["Aspirin", "rash.The", "rash", "faded", "."], ["Lithium", "tremor", "."]], DOCS)


def test_task_with_doc_files_records_them_in_provenance(docs_dir: Path, tmp_path: Path) -> None:
    task = load_task_file(write(tmp_path / "docs.toml", TASK))
    root = docs_dir.parent
    data = load_task_data(task, data_dir=root, allow_hub=False)
    assert {s.doc_id for s in data.sentences("test")} == {"100", "200"}
    assert data.source == "local:docs"
    assert data.provenance["files"] == {
        rel: sha256_file(root / rel)
        for rel in ("docs/pubtator/test.txt", "docs/pubtator/train.txt", "docs/test.tsv", "docs/train.tsv")
    }
    assert data.provenance["reader_options"]["doc_files"] == {"train": "pubtator/train.txt", "test": "pubtator/test.txt"}
    assert str(root) not in json.dumps([data.source, data.provenance, data.warnings])
    # the PubTator files are part of the fingerprint
    before = data.fingerprint
    write(docs_dir / "pubtator" / "test.txt", PUBTATOR + "\n")
    assert load_task_data(task, data_dir=root, allow_hub=False).fingerprint != before


def test_doc_files_must_cover_every_split_and_not_meet_docstart(docs_dir: Path, tmp_path: Path) -> None:
    task = load_task_file(write(tmp_path / "a.toml", TASK.replace(', test = "pubtator/test.txt"', "")))
    with pytest.raises(ConfigError, match=r"'doc_files' must name one file per split \(train, test\); got train"):
        load_task_data(task, data_dir=docs_dir.parent, allow_hub=False)
    task = load_task_file(write(tmp_path / "b.toml", TASK.replace("pos_column = 1", 'pos_column = 1\ndoc_format = "bioc"')))
    with pytest.raises(ConfigError, match="'doc_format' must be one of pubtator"):
        load_task_data(task, data_dir=docs_dir.parent, allow_hub=False)
    write(docs_dir / "test.tsv", "-DOCSTART-\tX\tO\n\n" + CONLL)
    task = load_task_file(write(tmp_path / "c.toml", TASK))
    with pytest.raises(DataFormatError, match=r"test.tsv: has -DOCSTART- lines and doc_files names test.txt"):
        load_task_data(task, data_dir=docs_dir.parent, allow_hub=False)
