"""A first hour with no surprises: what a new user sees on the console and in the logs.

- transformers' weight LOAD REPORT is one nerbench line that says what is expected (a new head), and what
  is not (a missing encoder weight) stays a warning;
- a repaired-tag warning is shown once per command, and a file's invalid lines are named in one error;
- tables are printed whole when the console is not a terminal;
- a model pretrained on another language than the task's is said at plan time and noted in its results.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import main
from bench.errors import DataFormatError

from .conftest import TINY_TASK

LABELS = ["O"] + [f"{p}-{t}" for t in ("PER", "ORG", "LOC", "MISC") for p in ("B", "I")]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# --------------------------------------------------------------------------- 4. the weight-loading report


@pytest.fixture(scope="module")
def encoders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny random BERT saved as an encoder checkpoint (pooler included, no head: how sentence-transformers
    and the hub ship encoders), and a copy of it with one encoder weight missing."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file
    from transformers import BertConfig, BertModel, BertTokenizer

    root = tmp_path_factory.mktemp("encoders")
    whole, broken = root / "whole", root / "broken"
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "peter", "went", "to", "paris", "."]
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    for d in (whole, broken):
        BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(d)
        BertModel(config).save_pretrained(d)
    weights = load_file(str(broken / "model.safetensors"))
    del weights["encoder.layer.1.output.dense.weight"]
    save_file(weights, str(broken / "model.safetensors"), metadata={"format": "pt"})
    return {"whole": whole, "broken": broken}


def _load(folder: Path, caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Load ``folder`` for training; every record of transformers' report logger and of the root."""
    from bench.models import load_for_training, resolve_model

    report = _Records()
    logger = logging.getLogger("transformers.modeling_utils")
    logger.addHandler(report)
    try:
        with caplog.at_level(logging.INFO):
            load_for_training(resolve_model(str(folder)), labels=LABELS)
    finally:
        logger.removeHandler(report)
    return report.records + list(caplog.records)


def test_a_fresh_head_is_one_info_line_not_a_load_report(encoders: dict[str, Path], caplog: pytest.LogCaptureFixture,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    records = _load(encoders["whole"], caplog)
    printed = capfd.readouterr()
    texts = [r.getMessage() for r in records] + [printed.out, printed.err]
    assert not [t for t in texts if "LOAD REPORT" in t or "\x1b[" in t or "newly initialized" in t]
    ours = [r for r in records if r.name == "bench.models" and "head" in r.getMessage()]
    assert [r.levelname for r in ours] == ["INFO"]
    assert ours[0].getMessage() == (
        "model whole: classifier head initialised fresh for 9 labels (expected: a new token-classification head); "
        "pooler weights not used (expected: token classification does not use them)")
    assert not [r for r in records if r.levelno >= logging.WARNING]


def test_a_missing_encoder_weight_stays_a_warning(encoders: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    records = _load(encoders["broken"], caplog)
    assert not [r for r in records if "LOAD REPORT" in r.getMessage()]
    warnings = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    assert warnings == ["model broken: 1 encoder weight(s) missing from the checkpoint, initialised at random: "
                        "bert.encoder.layer.1.output.dense.weight (not the pretrained encoder: check the model folder)"]


def test_what_is_expected_and_what_is_not() -> None:
    from bench.models.headinit import describe_loading

    resized = {"mismatched_keys": [("classifier.weight", (2, 16), (9, 16)), ("classifier.bias", (2,), (9,))],
               "unexpected_keys": ["cls.predictions.bias", "bert.pooler.dense.weight", "bert.encoder.layer.12.x"]}
    note, warnings = describe_loading(resized, prefix="bert", encoder_modules=["embeddings", "encoder"], labels=9,
                                      model="m")
    assert note == ("model m: classifier head initialised fresh for 9 labels; the checkpoint's was sized for 2 "
                    "(expected: a new token-classification head for this task's labels); pooler and cls weights not "
                    "used (expected: token classification does not use them)")
    assert warnings == ["model m: 1 checkpoint weight(s) of the encoder not used: bert.encoder.layer.12.x (does the "
                        "config match the checkpoint?)"]
    note, warnings = describe_loading({}, prefix="bert", encoder_modules=["encoder"], labels=3, model="m")
    assert note == "model m: every weight loaded from the checkpoint, its 3-label head included" and not warnings


def test_a_failed_load_keeps_the_report_it_points_at() -> None:
    from bench.models.headinit import REPORT_LOGGER, quiet_load_report

    seen = _Records()
    logger = logging.getLogger(REPORT_LOGGER)
    logger.addHandler(seen)
    try:
        with quiet_load_report():
            logger.warning("BertForTokenClassification LOAD REPORT from: x")
        assert seen.records == []  # held back and dropped: nerbench says it in its own words
        with pytest.raises(RuntimeError), quiet_load_report():
            logger.warning("BertForTokenClassification LOAD REPORT from: y")
            raise RuntimeError("For details look at the above report!")
        assert [r.getMessage() for r in seen.records] == ["BertForTokenClassification LOAD REPORT from: y"]
    finally:
        logger.removeHandler(seen)


# --------------------------------------------------------------------------- 5. data warnings and errors

REPAIRED = """\
EU B-ORG
rejects O
German I-MISC
call O

Peter I-PER
Blackburn I-PER
"""
LONG = "a-system-name-long-enough-to-push-a-table-past-eighty-columns"


@pytest.fixture
def repaired(tmp_path: Path) -> dict[str, Path]:
    """A task whose files need two repairs each (``repair = true``), in Spanish, and a suite of the lookup
    system under a long name."""
    folder = tmp_path / "data" / "tiny"
    folder.mkdir(parents=True)
    for name in ("train.txt", "dev.txt", "test.txt"):
        (folder / name).write_text(REPAIRED, encoding="utf-8")
    task = tmp_path / "tiny.toml"
    task.write_text(TINY_TASK.replace('language = "en"', 'language = "es"')
                    .replace('licence = "written', 'repair = true\nlicence = "written')
                    .replace("options = { pos_column = 1 }", ""))
    suite = tmp_path / "unit.toml"
    suite.write_text(f'name = "unit"\ntasks = ["tiny"]\nsystems = ["{LONG}"]\nseeds = [1]\n\n'
                     f'[system.{LONG}]\nkind = "lookup"\nparams = {{}}\n')
    return {"task": task, "suite": suite, "data": tmp_path / "data", "out": tmp_path / "out"}


def _run(s: dict[str, Path], *extra: str) -> int:
    return main(["run", "--suite", str(s["suite"]), "--task-file", str(s["task"]), "--data-dir", str(s["data"]),
                 "--results-dir", str(s["out"] / "raw"), "--models-dir", str(s["out"] / "models"),
                 "--log-file", str(s["out"] / "run.log"), "--bootstrap", "20", "--executor", "inline", *extra])


WARNING = "train.txt: 2 tag(s) invalid under the declared scheme IOB2 repaired the conlleval way (repair = true) at line 3, 6"


def test_a_repaired_tag_is_said_once_per_command(repaired: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # wide enough that no warning is wrapped (the tables' own test is below)
    tasks = ["tasks", "--task-file", str(repaired["task"]), "--data-dir", str(repaired["data"]), "--task", "tiny"]
    for _ in range(2):  # the second command in the same process too
        assert main(tasks) == 0
        printed = capsys.readouterr()
        assert (printed.out + printed.err).count(WARNING) == 1, printed
        assert f"warning: {WARNING}" in printed.out  # under its task's table
    for _ in range(2):
        assert _run(repaired) == 0
        err = capsys.readouterr().err
        assert err.count(WARNING) == 1, err
    result = json.loads((repaired["out"] / "raw" / "tiny" / LONG / "seed1-test.json").read_text())
    assert WARNING in result["data_warnings"]


def test_every_invalid_line_of_a_file_is_named_in_one_error(tmp_path: Path) -> None:
    from bench.data.conll import read_conll_split

    stray = tmp_path / "stray.txt"
    stray.write_text("".join(f"w{k} O\nx{k} I-LOC\n\n" for k in range(25)), encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        read_conll_split(stray)
    lines = str(err.value).splitlines()
    assert lines[0] == f"{stray}: 25 invalid lines:"
    assert [ln.split(": ", 1)[0] for ln in lines[1:21]] == [f"  {stray}:{3 * k + 2}" for k in range(20)]
    assert lines[21:] == ["  and 5 more", "the tags look like IOB1: check the task's scheme; set repair = true in the "
                          "task to read such tags the conlleval way"]
    assert err.value.line == 2

    bad = tmp_path / "bad.txt"
    bad.write_text("a O\nb B-\nc O x\nd X-PER\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        read_conll_split(bad)
    assert str(err.value).splitlines() == [
        f"{bad}: 3 invalid lines:",
        f"  {bad}:2: bad tag 'B-': entity type is empty",
        f"  {bad}:3: found 3 columns, expected 2 like the first token line",
        f"  {bad}:4: bad tag 'X-PER': unknown prefix 'X' (allowed: B, I, E, S, L, U)",
    ]


def test_every_invalid_brat_line_is_named_in_one_error(tmp_path: Path) -> None:
    from bench.data.brat_ann import parse_ann

    txt = "Peter went to Paris.\n"
    ann = tmp_path / "a.ann"
    ann.write_text("T1\tPER 0 5\tPeter\nT2\tLOC 14 19\tParis\nT1\tLOC 14 19\tParis\nT3\tLOC 14 99\tParis\nEl asma\n",
                   encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        parse_ann(ann, txt, txt_name="a.txt")
    lines = str(err.value).splitlines()
    assert lines[0] == f"{ann}: 3 invalid lines:"
    assert [ln.split(": ", 1)[0] for ln in lines[1:]] == [f"  {ann}:3 (T1)", f"  {ann}:4 (T3)", f"  {ann}:5"]


# --------------------------------------------------------------------------- 6. tables when not on a terminal


def test_tables_are_whole_when_not_on_a_terminal(repaired: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    assert main(["tasks", "--task-file", str(repaired["task"]), "--data-dir", str(repaired["data"]),
                 "--task", "tiny", "--json"]) == 0
    fingerprint = json.loads(capsys.readouterr().out)[0]["splits"]["train"]["fingerprint"][:12]
    assert main(["tasks", "--task-file", str(repaired["task"]), "--data-dir", str(repaired["data"]), "--task", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "sentences" in out and "entities" in out and fingerprint in out and "…" not in out
    assert _run(repaired, "--dry-run") == 0
    out = capsys.readouterr().out
    assert LONG in out and "…" not in out
    assert _run(repaired) == 0
    err = capsys.readouterr().err
    assert f"tiny   {LONG}" in err and "…" not in err  # the run's "produced by this run" table


# --------------------------------------------------------------------------- 13. the model's language


def test_a_model_of_another_language_is_said_at_plan_time(repaired: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.systems.transformer import TransformerKind

    monkeypatch.setattr(TransformerKind, "estimate", lambda self, *a, **k: None)  # no model is loaded
    repaired["suite"].write_text(
        'name = "unit"\ntasks = ["tiny"]\nsystems = ["crf", "mini", "xlmr"]\nseeds = [1, 2]\n\n'
        '[system.crf]\nkind = "crf"\n\n[system.mini]\nkind = "transformer"\nmodel = "minilm-l6"\n\n'
        '[system.xlmr]\nkind = "transformer"\nmodel = "FacebookAI/xlm-roberta-base"\n')
    assert _run(repaired, "--dry-run") == 0
    err = capsys.readouterr().err
    line = ("tiny × mini: language mismatch: model minilm-l6 was pretrained on en text, the task is es; it runs "
            "anyway, and its results say so")
    assert err.count(line) == 1 and err.count("language mismatch") == 1  # once for its two seeds; xlmr fits


def test_a_model_of_another_language_is_noted_in_its_results_and_report(
    repaired: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import bench.runner
    import bench.systems
    from bench.data.load import load_task_data
    from bench.plan import Cell
    from bench.runner import RunConfig, run_cell
    from bench.spec import SystemSpec, load_task_file
    from bench.systems import TrainedSystem

    def train_system(spec: Any, params: Any, *, train: Any, **_: Any) -> TrainedSystem:  # no model trained
        return TrainedSystem(predict=lambda sents: ([["O"] * len(s.tokens) for s in sents], {}, None))

    monkeypatch.setattr(bench.systems, "train_system", train_system)
    monkeypatch.setattr(bench.runner, "estimate_cell", lambda *a, **k: None)
    data = load_task_data(load_task_file(repaired["task"]), data_dir=str(repaired["data"]))
    raw = repaired["out"] / "raw"
    cell = Cell("tiny", "mini", 1, SystemSpec("transformer", model="minilm-l6"))
    for path in run_cell(cell, data, RunConfig(results_dir=raw, models_dir=repaired["out"] / "models",
                                               bootstrap_resamples=20), splits=("test",)):
        result = json.loads(path.read_text())
        assert result["system"]["notes"] == ["language mismatch: model minilm-l6 was pretrained on en text, "
                                             "the task is es"]
    assert main(["report", "--results-dir", str(raw), "--no-plots", "--task-file", str(repaired["task"])]) == 0
    report = (raw.parent / "README.md").read_text()
    assert "mini: language mismatch: model minilm-l6 was pretrained on en text, the task is es." in report
