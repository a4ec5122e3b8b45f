"""Inputs that used to be changed silently or to end in a traceback: each is now kept exactly, or is
one clear error (exit status 2 from the CLI) naming the file and what to do.

Transformer model folders are covered in ``test_finetune.py`` / ``test_predict.py`` (they need torch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.data.types import Sentence
from bench.errors import NerbenchError
from bench.predict import NothingReadError, read_input

from .conftest import REPO, TINY_TASK

PEOPLE = ["Anna", "Peter", "Maria", "John"]
PLACES = ["Paris", "Berlin", "Rome", "Lisbon"]


def pos_sentences(n: int) -> list[Sentence]:
    out = []
    for k in range(n):
        toks = (PEOPLE[k % 4], "went", "to", PLACES[(k // 2) % 4], "on", "day", str(k), ".")
        tags = ("B-PER", "O", "O", "B-LOC", "O", "O", "O", "O")
        pos = ("NNP", "VBD", "TO", "NNP", "IN", "NN", "CD", ".")
        out.append(Sentence(toks, tags, source=f"mem:{k}", pos=pos))
    return out


@pytest.fixture(scope="module")
def crf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CRF trained with POS features (so CoNLL input needs ``--pos-column``)."""
    from baselines.crf import CrfConfig, train_crf

    model = train_crf(pos_sentences(24), config=CrfConfig(max_iterations=30, feature_set="local-v1"))
    assert model.uses_pos and "CD" not in model.labels
    return model.save(tmp_path_factory.mktemp("crf") / "model")


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


# --------------------------------------------------------------------------- 5. predict --format conll


@pytest.mark.parametrize("sep", [" ", "\t"])
def test_conll_tokens_of_odd_characters_keep_their_word_and_get_one_tag(
    crf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], sep: str
) -> None:
    """A no-break space, a zero-width space or a BOM is a word: 5 words in, 5 words and tags out."""
    words = ["Anna", "\u00a0", "\u200b", "\ufeff", "Paris"]
    pos = ["NNP", "CD", "CD", "CD", "NNP"]
    lines = [f"{w}{sep}{p}{sep}O" for w, p in zip(words, pos, strict=True)]  # word, POS, (gold) tag
    src = tmp_path / "in.conll"
    src.write_bytes(("\ufeff" + "\n".join(lines) + "\n\nRome NNP\n").encode("utf-8"))  # a file BOM on line 1
    rc, out, err = run_cli(["predict", "--model", str(crf_dir), "--input", str(src), "--format", "conll",
                            "--pos-column", "1"], capsys)
    assert rc == 0, err
    first, second = out.split("\n\n")  # the input's lines: no blank line after the last sentence
    rows = [line.split(sep) for line in first.split("\n")]
    assert [r[0] for r in rows] == words  # every word kept, the file's BOM not part of "Anna"
    # every input column kept, the predicted tag appended
    assert all(len(r) == 4 and r[-1] in ("O", "B-PER", "I-PER", "B-LOC", "I-LOC") for r in rows), rows
    assert second.split(" ")[:2] == ["Rome", "NNP"] and second.endswith("\n") and second.count("\n") == 1
    assert "2 sentence(s) in 1 document(s)" in err and "0 line(s) skipped" in err


def test_only_ascii_blanks_end_a_conll_sentence() -> None:
    lines = ["Anna NNP", "\u00a0", "\u3000 CD", " \t ", "Rome NNP", "\u200b", "", "-DOCSTART- -X- O", "", "Bo NNP"]
    rep = read_input([x.encode() for x in lines], "conll")
    assert [d.words for d in rep.docs] == [["Anna", "\u00a0", "\u3000"], ["Rome", "\u200b"], ["Bo"]]
    assert [d.line for d in rep.docs] == [1, 5, 10] and rep.skipped == []


def test_an_unreadable_token_line_leaves_its_whole_sentence_out(crf_dir: Path) -> None:
    """A sentence never loses a word silently: one that cannot be read whole is reported and left out."""
    lines = [b"Anna NNP", b"went VBD", b"", b"Caf\xe9 NNP", b"Rome NNP", b"", b"Bo NNP", b"Lisbon", b"", b"Rome NNP"]
    rep = read_input(lines, "conll", pos_column=1)
    assert [d.words for d in rep.docs] == [["Anna", "went"], ["Rome"]]
    assert [d.line for d in rep.docs] == [1, 10]
    assert rep.skipped == [
        (4, "not valid UTF-8 (byte 0xe9 at column 4); its sentence (lines 4-5) is left out"),
        (8, "no POS column 1 (found 1 columns); its sentence (lines 7-8) is left out"),
    ]


# --------------------------------------------------------------------------- 5. nothing could be read


@pytest.mark.parametrize(
    ("content", "fmt", "why"),
    [
        (bytes(range(128, 256)) * 8, "text", "line(s) skipped (line 1: not valid UTF-8 (byte 0x80 at column 1)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "text",
         "line 2: control character U+001A at column 1 (binary input?)"),
        ("Anna fuhr nach M\u00fcnchen\nZ\u00fcrich\n".encode("latin-1"), "text", "2 line(s) skipped"),
        ("Anna fuhr nach M\u00fcnchen\n".encode("utf-16"), "jsonl", "not valid UTF-8 (byte 0xff at column 1)"),
        (b"", "text", "the input is empty"),
        (b"\n\n", "conll", "its 2 line(s) hold no words"),
        (b"{oops\n[1]\n", "jsonl", "line 1: not valid JSON"),
        ("M\u00fcnchen NNP\n".encode("latin-1"), "conll", "its sentence (line 1) is left out"),
    ],
)
def test_predict_exits_nonzero_when_nothing_could_be_read(
    crf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, fmt: str, why: str
) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(content)
    out = tmp_path / "out.jsonl"
    argv = ["predict", "--model", str(crf_dir), "--input", str(src), "--format", fmt, "--output", str(out)]
    rc, _, err = run_cli(argv + (["--pos-column", "1"] if fmt == "conll" else []), capsys)
    assert rc == 2 and "nothing to predict: 0 documents read" in err and why in err, err
    assert not out.exists()
    with pytest.raises(NothingReadError) as exc:
        read_input(content.splitlines(), fmt, pos_column=1, source=str(src))
    assert str(exc.value).startswith(f"{src}: nothing to predict") and isinstance(exc.value, NerbenchError)


def test_predict_with_some_readable_lines_still_succeeds(crf_dir: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(b"\xff\xfe\x00\nAnna went to Paris .\n")
    rc, out, err = run_cli(["predict", "--model", str(crf_dir), "--input", str(src), "--format", "text"], capsys)
    # this CRF needs POS, which text input has not: the model's own clear error, not "0 documents"
    assert rc == 2 and "trained with POS features" in err and "nothing to predict" not in err


# --------------------------------------------------------------------------- 5. BRAT lines of the wrong shape

BRAT_TASK = """\
name = "tinybrat"
version = "1"
language = "es"
domain = "test"
entity_types = ["Concept"]
scheme = "spans"
licence = "written by the tests"

[local]
folder = "tinybrat"
format = "brat"
splits = { train = "train", test = "test" }
"""


def test_a_wrapped_text_line_in_a_brat_ann_is_an_error_not_an_ignored_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for split in ("train", "test"):
        d = tmp_path / "data" / "tinybrat" / split
        d.mkdir(parents=True)
        (d / "scenario.txt").write_text("El asma es una enfermedad crónica.\n", encoding="utf-8")
        (d / "scenario.ann").write_text("T1\tConcept 3 7\tasma\nEl asma\nR1\tis-a Arg1:T1 Arg2:T1\n", encoding="utf-8")
    task = tmp_path / "tinybrat.toml"
    task.write_text(BRAT_TASK, encoding="utf-8")
    rc, out, _ = run_cli(["tasks", "--task-file", str(task), "--task", "tinybrat", "--data-dir",
                          str(tmp_path / "data"), "--no-hub", "--json"], capsys)
    (row,) = json.loads(out)
    assert rc == 1 and "train/scenario.ann:2: malformed annotation line 'El asma'" in row["error"], row
    assert "events_ignored" not in out


# --------------------------------------------------------------------------- 5. a task file named twice


def test_a_shipped_task_file_passed_with_task_file_is_one_definition(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = REPO / "tasks" / "conll2003.toml"
    rc, out, err = run_cli(["tasks", "--task-file", str(own), "--task", "conll2003", "--data-dir",
                            str(tmp_path / "nodata"), "--no-hub", "--json"], capsys)
    assert "defined twice" not in err and rc == 1, err  # it got past the catalogue: only the data is missing
    assert json.loads(out)[0]["error"].startswith("task 'conll2003': no data found")


def test_the_same_task_file_twice_is_one_definition(
    tmp_path: Path, conll_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = tmp_path / "tiny.toml"
    task.write_text(TINY_TASK, encoding="utf-8")
    rc, out, err = run_cli(["tasks", "--task-file", str(task), "--task-file", str(tmp_path / "." / "tiny.toml"),
                            "--task-file", str(tmp_path), "--task", "tiny", "--data-dir", str(conll_dir.parent),
                            "--json"], capsys)
    assert rc == 0, err
    assert json.loads(out)[0]["task"] == "tiny"


# --------------------------------------------------------------------------- 6. TOML that is not UTF-8


def test_task_and_suite_files_that_are_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = tmp_path / "tiny.toml"
    task.write_bytes(TINY_TASK.replace('domain = "test"', 'domain = "cl\u00ednica"').encode("latin-1"))
    rc, _, err = run_cli(["tasks", "--task-file", str(task)], capsys)
    assert rc == 2 and f"error: {task}:4: not UTF-8 text (byte 0xed" in err and "Traceback" not in err, err

    suite = tmp_path / "s.toml"
    suite.write_bytes(b'name = "s"\ndescription = "\xe9t\xe9"\n')
    rc, _, err = run_cli(["run", "--suite", str(suite), "--dry-run"], capsys)
    assert rc == 2 and f"error: {suite}:2: not UTF-8 text (byte 0xe9" in err, err


# --------------------------------------------------------------------------- 6. suite parameters of the wrong type

SUITE = """\
name = "s"
tasks = ["conll2003"]
systems = ["crf", "minilm-l6"]
seeds = [13]

[system.crf]
kind = "crf"
params = { max_iterations = 10 }

[system."minilm-l6"]
kind = "transformer"
model = "minilm-l6"
params = { epochs = 1 }
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("epochs = 1", 'epochs = "two"', """system 'minilm-l6': epochs must be an integer, got "two\""""),
        ("max_iterations = 10", 'max_iterations = "ten"',
         """system 'crf': max_iterations must be an integer, got "ten\""""),
        ("max_iterations = 10", 'max_train_sentences = "many"',
         """system 'crf': max_train_sentences must be an integer, got "many\""""),
    ],
)
def test_suite_parameters_of_the_wrong_type_fail_at_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, message: str
) -> None:
    suite = tmp_path / "x.toml"
    suite.write_text(SUITE.replace(old, new), encoding="utf-8")
    rc, _, err = run_cli(["run", "--suite", str(suite), "--dry-run", "--results-dir", str(tmp_path / "r")], capsys)
    assert rc == 2 and err.strip() == f"error: {suite}: {message}", err


# --------------------------------------------------------------------------- 6. model folders


def test_broken_crf_model_folders_are_clear_errors(
    crf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    src = tmp_path / "in.conll"
    src.write_text("Anna NNP\n", encoding="utf-8")

    def predict(model: Path) -> str:
        rc, _, err = run_cli(["predict", "--model", str(model), "--input", str(src), "--format", "conll",
                              "--pos-column", "1"], capsys)
        assert rc == 2 and "Traceback" not in err, err
        return err

    def broken(name: str) -> Path:
        d = tmp_path / name
        shutil.copytree(crf_dir, d)
        return d

    d = broken("no-weights")
    (d / "model.crfsuite").unlink()
    assert "model.crfsuite: cannot read" in predict(d)
    d = broken("no-resources")
    (d / "feature_resources.json").write_text("{not json")
    assert "cannot load the CRF model" in predict(d)
    d = broken("bad-meta")
    (d / "nerbench_model.json").write_bytes(b"\xff\xfe")
    assert "nerbench_model.json: not UTF-8 text" in predict(d)
    d = broken("meta-not-object")
    (d / "nerbench_model.json").write_text("[1, 2]")
    assert "must be a JSON object, got list" in predict(d)
    d = broken("unfinished")
    (d / "nerbench_model.json").unlink()
    assert "a save that did not finish" in predict(d)


KILLED_SAVE = """
import os, sys
from pathlib import Path
from bench.modeldir import atomic_model_dir
with atomic_model_dir(Path(sys.argv[1]), marker="nerbench_model.json") as tmp:
    (tmp / "model.crfsuite").write_bytes(b"half a model")
    (tmp / "nerbench_model.json").write_text("{}")
    os._exit(9)  # killed: after the marker, before the rename
"""


def test_a_save_killed_midway_leaves_the_previous_model_and_no_complete_looking_folder(
    crf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from baselines.crf import CrfModel

    target = tmp_path / "models" / "seed13"
    shutil.copytree(crf_dir, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    proc = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(target)], cwd=REPO, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 9
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before  # untouched
    (partial,) = [p for p in target.parent.iterdir() if p.name != "seed13"]
    assert partial.name.startswith(".seed13.") and partial.name.endswith(".partial")
    with pytest.raises(NerbenchError, match="temporary folder of an interrupted model save"):
        CrfModel.load(partial)
    rc, _, err = run_cli(["predict", "--model", str(partial), "--input", "-"], capsys)
    assert rc == 2 and "interrupted model save" in err

    model = CrfModel.load(target)
    model.save(target)  # the next save replaces the model and clears the dead process's leftovers
    assert sorted(p.name for p in target.parent.iterdir()) == ["seed13"]
    assert CrfModel.load(target).model_bytes == model.model_bytes
