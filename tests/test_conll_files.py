"""CoNLL files as standard distributions lay them out, read alike by the task reader and ``nerbench predict``,
and ``predict --format conll`` output that lines up with its input, scored by conlleval's rules.

10: ``-DOCSTART-`` directly before the first sentence of its document (no blank line after it) is a
document boundary that is also a sentence boundary, counted as a document by both readers.
11: ``predict --format conll`` keeps every input line and column and appends the prediction; a CRF trained
with POS reads the POS column its model folder records; the summary counts sentences and documents.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.data.conll import read_conll_split
from bench.errors import DataFormatError
from bench.metrics_counts import conlleval_f1
from bench.predict import read_input
from bench.results import iter_results

# -DOCSTART- directly before each document's first sentence (CoNLL-2002's layout): 2 documents, 3 sentences
DIRECT = """\
-DOCSTART- -X- O O
EU NNP B-NP B-ORG
rejects VBZ B-VP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- O O
BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O
"""
SPACED = DIRECT.replace("-DOCSTART- -X- O O\n", "-DOCSTART- -X- O O\n\n")
"""The same sentences and documents with the marker between blank lines."""


def test_docstart_directly_before_a_sentence_counts_as_a_document_in_the_reader_and_predict(
    tmp_path: Path,
) -> None:
    direct, spaced = tmp_path / "direct.txt", tmp_path / "spaced.txt"
    direct.write_text(DIRECT, encoding="utf-8")
    spaced.write_text(SPACED, encoding="utf-8")
    split = read_conll_split(direct, pos_column=1)
    assert [s.tokens for s in split.sentences] == [("EU", "rejects", "."), ("Peter", "Blackburn"),
                                                   ("BRUSSELS", "1996-08-22")]
    assert [s.doc_id for s in split.sentences] == ["doc0", "doc0", "doc1"]
    assert "direct.txt: 2 documents from -DOCSTART- markers" in split.notes
    assert [(s.tokens, s.tags, s.doc_id) for s in read_conll_split(spaced, pos_column=1).sentences] == [
        (s.tokens, s.tags, s.doc_id) for s in split.sentences]
    lines = direct.read_bytes().splitlines()
    report = read_input(lines, "conll", pos_column=1, source=str(direct))
    assert [d.words for d in report.docs] == [list(s.tokens) for s in split.sentences] and report.skipped == []
    assert report.conll is not None and (report.conll.sentences, report.conll.documents) == (3, 2)
    assert report.conll.kinds[:5] == ["marker", "token", "token", "token", "blank"]


def test_a_docstart_inside_a_sentence_is_still_an_error_in_both(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("EU B-ORG\n-DOCSTART- -X- O\nrejects O\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as task_err:
        read_conll_split(src)
    with pytest.raises(DataFormatError) as predict_err:
        read_input(src.read_bytes().splitlines(), "conll", source=str(src))
    assert str(task_err.value) == str(predict_err.value)
    assert str(task_err.value).startswith(f"{src}:2: -DOCSTART- inside a sentence")


# --------------------------------------------------------------------------- 11. predict --format conll

TASK = """\
name = "people"
version = "1"
language = "en"
domain = "test"
entity_types = ["PER", "LOC"]
scheme = "IOB2"
licence = "written by the tests"

[local]
folder = "people"
format = "conll"
splits = { train = "train.txt", test = "test.txt" }
options = { pos_column = 1 }
"""

SUITE = """\
name = "one"
tasks = ["people"]
systems = ["crf"]
seeds = [1]
eval_splits = ["test"]

[system.crf]
kind = "crf"
params = { max_iterations = 40, feature_set = "local-v1" }
"""

PEOPLE, PLACES = ["Anna", "Peter", "Maria", "John"], ["Paris", "Berlin", "Rome", "Lisbon"]


def _sentence(who: str, where: str, k: int) -> str:
    rows = [(who, "NNP", "B-PER"), ("went", "VBD", "O"), ("to", "TO", "O"), (where, "NNP", "B-LOC"),
            ("on", "IN", "O"), ("day", "NN", "O"), (str(k), "CD", "O"), (".", ".", "O")]
    return "".join(f"{w} {p} {t}\n" for w, p, t in rows)


def _corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "data" / "people"
    folder.mkdir(parents=True)
    train = [_sentence(PEOPLE[k % 4], PLACES[(k // 2) % 4], k) for k in range(24)]
    (folder / "train.txt").write_text("-DOCSTART- -X- O\n" + "\n".join(train), encoding="utf-8")
    # the test file in the layout of item 10, with words the model never saw and a tab-separated document
    test = ("-DOCSTART- -X- O\n" + _sentence("Anna", "Rome", 1) + "\n" + _sentence("Zelda", "Oslo", 2) + "\n"
            "-DOCSTART- -X- O\n" + _sentence("Oslo", "Berlin", 3).replace(" ", "\t") + "\n"
            + _sentence("Maria", "Quito", 4) + "\n"
            + "In IN O\nLisbon NNP B-LOC\nAnna NNP B-PER\nmet VBD O\nJohn NNP B-PER\n. . O\n")  # not the usual order
    (folder / "test.txt").write_text(test, encoding="utf-8")
    return folder


def _conlleval(lines: list[str]) -> float:
    """conlleval's reading of its input: every non-blank line has the same number of columns, the gold tag
    is the one before last and the guess the last; a blank line or a ``-DOCSTART-`` line ends a sentence.
    The entity F1 comes from the repo's conlleval-compatible scorer."""
    widths = {len(line.split()) for line in lines if line.strip()}
    assert len(widths) == 1, f"conlleval: unexpected number of features {sorted(widths)}"
    gold: list[list[str]] = [[]]
    pred: list[list[str]] = [[]]
    for line in lines:
        cols = line.split()
        if not cols or cols[0] == "-DOCSTART-":
            gold.append([])
            pred.append([])
            continue
        gold[-1].append(cols[-2])
        pred[-1].append(cols[-1])
    keep = [k for k, g in enumerate(gold) if g]
    return conlleval_f1([gold[k] for k in keep], [pred[k] for k in keep])


def test_predict_conll_output_lines_up_with_its_input_and_scores_as_the_run_did(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _corpus(tmp_path)
    (tmp_path / "people.toml").write_text(TASK)
    (tmp_path / "one.toml").write_text(SUITE)
    out = tmp_path / "out"
    assert main(["run", "--suite", str(tmp_path / "one.toml"), "--task-file", str(tmp_path / "people.toml"),
                 "--data-dir", str(tmp_path / "data"), "--results-dir", str(out / "raw"), "--models-dir",
                 str(out / "models"), "--log-file", str(out / "run.log"), "--bootstrap", "20",
                 "--executor", "inline"]) == 0, capsys.readouterr().err
    (result,) = [r for _, r in iter_results(out / "raw")]
    expected = result["metrics"]["main"]["value"]  # the run's conlleval F1 on the same test file
    assert result["metrics"]["main"]["name"] == "conlleval_f1" and 0 < expected < 1
    model = out / "models" / "people" / "crf" / "seed1"
    assert json.loads((model / "nerbench_model.json").read_text())["pos_column"] == 1  # the task's, recorded
    capsys.readouterr()

    src = folder / "test.txt"
    predicted = tmp_path / "pred.conll"
    # no --pos-column: the CRF was trained with POS features and reads the column its folder records
    assert main(["predict", "--model", str(model), "--input", str(src), "--format", "conll",
                 "--output", str(predicted)]) == 0
    err = capsys.readouterr().err
    assert "5 sentence(s) in 2 document(s)" in err and "sentences/s (crf)" in err, err
    given = src.read_text(encoding="utf-8").splitlines()
    lines = predicted.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(given)
    for a, b in zip(given, lines, strict=True):  # every line in its place, every column kept, the guess last
        assert (b == "") if not a.strip() else (b.rsplit(maxsplit=1)[0] == a and b[len(a)] in " \t")
    assert lines[0] == "-DOCSTART- -X- O O" and "\t" in lines[20]
    assert _conlleval(lines) == pytest.approx(expected, abs=1e-12)

    # `nerbench score` (token first, guess last) agrees: the output goes on to any conlleval-style scorer
    assert main(["score", "--task", str(tmp_path / "people.toml"), "--data-dir", str(tmp_path / "data"),
                 "--predictions", str(predicted), "--system", "piped", "--results-dir", str(tmp_path / "scored"),
                 "--bootstrap", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["conlleval_f1"] == pytest.approx(expected, abs=1e-12)

    # --output-columns word,pred: the old two columns, no -DOCSTART- lines
    assert main(["predict", "--model", str(model), "--input", str(src), "--format", "conll",
                 "--output-columns", "word,pred"]) == 0
    two = capsys.readouterr().out.splitlines()
    assert all(len(x.split("\t")) == 2 for x in two if x) and not any(x.startswith("-DOCSTART-") for x in two)
    assert [x.split("\t")[1] for x in two if x] == [x.split()[-1] for x in lines if x and x[0] != "-"]


def test_a_sentence_left_out_keeps_its_lines_tagged_o(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from baselines.crf import CrfConfig, train_crf
    from bench.data.types import Sentence

    train = [Sentence(("Anna", "went", "to", "Paris"), ("B-PER", "O", "O", "B-LOC"), pos=("NNP", "VBD", "TO", "NNP"))]
    model = train_crf(train * 4, config=CrfConfig(max_iterations=10, feature_set="local-v1")).save(tmp_path / "crf")
    src = tmp_path / "in.conll"
    src.write_text("Anna NNP B-PER\nwent VBD O\n\nJohn\nsaw VBD O\n", encoding="utf-8")  # line 4: no POS column
    assert main(["predict", "--model", str(model), "--input", str(src), "--format", "conll",
                 "--pos-column", "1"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[3:] == ["John O", "saw VBD O O"] and out.splitlines()[2] == ""
    assert "1 sentence(s) left out: their lines are tagged O in the output" in err
    assert "1 sentence(s) in 1 document(s)" in err


def test_output_columns_input_needs_conll_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.txt"
    src.write_text("Anna went to Paris\n", encoding="utf-8")
    model = tmp_path / "none"
    assert main(["predict", "--model", str(model), "--input", str(src), "--output-format", "conll",
                 "--output-columns", "input,pred"]) == 2
    assert "--output-columns input,pred needs CoNLL input" in capsys.readouterr().err
