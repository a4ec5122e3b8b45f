"""Inputs from a hostile review that used to pass unchecked or end in a traceback: each is now one clear
error naming the file (and line) at the first moment it can be seen, or, for ``rescore``, the work done.

6: ``-DOCSTART-`` placement, one rule for the task reader and ``nerbench predict``; 7: empty splits;
8: parameter ranges; 10: truncated weights in the transformer preflight; 11: a full disk while saving a
CRF; 12: ``--bootstrap 0`` and ``rescore`` of a result without metrics; 18: benchmark commands.
"""

from __future__ import annotations

import errno
import json
import math
import re
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.errors import ConfigError, DataFormatError, NerbenchError
from bench.spec import load_task_file
from bench.systems.suites import load_suite

from .conftest import REPO, TINY_TASK
from .test_bad_inputs import crf_dir, pos_sentences  # noqa: F401  (fixture)

# --------------------------------------------------------------------------- 6. -DOCSTART- in predict input


@pytest.mark.parametrize(
    ("lines", "line", "problem"),
    [
        (["Anna NNP O", "-DOCSTART- -X- O", "Bo NNP O"], 2,
         "-DOCSTART- inside a sentence: line 1 is a token line with no blank line between them"),
        (["Anna NNP O", "", "Bo NNP O", "Cy NNP O", "-DOCSTART- -X- O"], 5,
         "-DOCSTART- inside a sentence: line 4 is a token line with no blank line between them"),
    ],
)
def test_predict_reads_docstart_lines_by_the_task_readers_rule(
    tmp_path: Path, lines: list[str], line: int, problem: str
) -> None:
    from bench.data.conll import read_conll_split
    from bench.predict import read_input

    src = tmp_path / "in.conll"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as task_err:
        read_conll_split(src)
    with pytest.raises(DataFormatError) as predict_err:
        read_input(src.read_bytes().splitlines(), "conll", source=str(src))
    assert str(predict_err.value) == str(task_err.value)  # one rule, one message
    assert predict_err.value.line == line and str(predict_err.value).startswith(f"{src}:{line}: {problem}")


def test_predict_keeps_docstart_lines_between_blank_lines() -> None:
    from bench.predict import read_input

    rep = read_input([b"-DOCSTART- -X- O", b"", b"Anna NNP", b"", b"-DOCSTART- -X- O", b"", b"Bo NNP"], "conll")
    assert [d.words for d in rep.docs] == [["Anna"], ["Bo"]] and rep.skipped == []
    # directly before a sentence, or right after another marker (an empty document): a boundary, never a word
    rep = read_input([b"-DOCSTART- -X- O", b"-DOCSTART- -X- O", b"Anna NNP", b"", b"-DOCSTART- -X- O", b"Bo NNP"],
                     "conll")
    assert [d.words for d in rep.docs] == [["Anna"], ["Bo"]] and rep.skipped == []


def test_predict_cli_on_a_mid_sentence_docstart_is_one_error_line(
    crf_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    src = tmp_path / "in.conll"
    src.write_text("Anna NNP\nwent VBD\n-DOCSTART- -X- O\nto TO\nParis NNP\n", encoding="utf-8")
    out = tmp_path / "out.conll"
    rc = main(["predict", "--model", str(crf_dir), "--input", str(src), "--format", "conll", "--pos-column", "1",
               "--output", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == f"error: {src}:3: -DOCSTART- inside a sentence: line 2 is a token line with " \
        "no blank line between them (a document marker stands between sentences)", err
    assert not out.exists()


# --------------------------------------------------------------------------- 7. empty splits

ADE_TASK = """\
name = "adetiny"
version = "1"
language = "en"
domain = "test"
entity_types = ["DRUG", "EFFECT"]
scheme = "spans"
licence = "written by the tests"

[local]
folder = "ade"
format = "ade"
splits = { train = "train", dev = "dev", test = "test" }
options = { seed = 13 }
"""


def ade_rows(n: int) -> str:
    return "".join(f"{k}|Aspirin-induced rash number {k}.|rash|16|20|Aspirin|0|7\n" for k in range(1, n + 1))


def test_an_ade_split_left_empty_by_the_seeded_split_is_an_error_at_load_time(tmp_path: Path) -> None:
    from bench.data.load import load_task_data

    (tmp_path / "ade").mkdir()
    rel = tmp_path / "ade" / "DRUG-AE.rel"
    rel.write_text(ade_rows(3), encoding="utf-8")  # 3 PMIDs cut 0.8/0.1/0.1: 2, 1 and 0
    task = tmp_path / "adetiny.toml"
    task.write_text(ADE_TASK, encoding="utf-8")
    with pytest.raises(DataFormatError) as err:
        load_task_data(load_task_file(task), data_dir=tmp_path)
    message = str(err.value)
    assert message.startswith(f"{rel}: split 'test' has no sentences (the seeded split by PMID gave it none")
    assert "option 'fractions'" in message and "\n" not in message
    rel.write_text(ade_rows(20), encoding="utf-8")  # enough PMIDs: loads
    data = load_task_data(load_task_file(task), data_dir=tmp_path)
    assert all(sd.sentences for sd in data.splits.values())


def test_any_reader_handing_over_an_empty_split_is_refused(tmp_path: Path) -> None:
    from bench.data.formats import get_format, register_format
    from bench.data.types import Sentence, SplitData

    name = "trial-empty-split"

    @register_format(name)
    def read(folder: Path, splits: dict[str, str], options: dict[str, object], **_: object) -> dict[str, SplitData]:
        one = [Sentence(("a",), ("O",), source="x:1")]
        return {s: SplitData(s, one if s == "train" else [], files=[str(folder / f)]) for s, f in splits.items()}

    with pytest.raises(DataFormatError, match=re.escape(f"{tmp_path / 'dev.txt'}: split 'dev' has no sentences")):
        get_format(name).read(tmp_path, {"train": "train.txt", "dev": "dev.txt"}, {})
    assert read(tmp_path, {"dev": "dev.txt"}, {})["dev"].sentences == []  # the reader itself is unchanged


# --------------------------------------------------------------------------- 8. parameter ranges

SUITE = """\
name = "trial"
tasks = ["tiny"]
systems = ["m", "crf"]
seeds = [1]

[system.m]
kind = "transformer"
model = "minilm-l6"
params = { MPARAMS }

[system.crf]
kind = "crf"
params = { CPARAMS }
"""


def suite_file(tmp_path: Path, m: str = "epochs = 1", c: str = "max_iterations = 5", extra: str = "") -> Path:
    p = tmp_path / "trial.toml"
    p.write_text(SUITE.replace("MPARAMS", m).replace("CPARAMS", c) + extra, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("m", "c", "message"),
    [
        ("learning_rate = nan", "", "system 'm': learning_rate must be a finite number, got NaN"),
        ("learning_rate = inf", "", "system 'm': learning_rate must be a finite number, got Infinity"),
        ("learning_rate = 1e30", "",
         "system 'm': finetune config: learning_rate must be a finite number in (0, 1], got 1e+30"),
        ("learning_rate = 0.0", "", "system 'm': finetune config: learning_rate must be a finite number in (0, 1], got 0.0"),
        ("torch_threads = -2", "",
         "system 'm': finetune config: torch_threads must be from 0 to 1024 (0 or unset: torch's default), got -2"),
        ("epochs = 100000", "", "system 'm': finetune config: epochs must be from 1 to 1000, got 100000"),
        ("batch_size = 100000", "", "system 'm': finetune config: batch_size must be from 1 to 65536, got 100000"),
        ("weight_decay = -0.1", "", "system 'm': finetune config: weight_decay must be a finite number in [0, 1], got -0.1"),
        ("", "c1 = nan", "system 'crf': c1 must be a finite number, got NaN"),
        ("", "c2 = 1e9", "system 'crf': c2 must be a finite number in [0, 1000], got 1000000000.0"),
        ("", "max_iterations = 10000000", "system 'crf': max_iterations must be from 1 to 100000, got 10000000"),
    ],
)
def test_suite_params_out_of_range_name_file_system_and_bounds(tmp_path: Path, m: str, c: str, message: str) -> None:
    p = suite_file(tmp_path, m or "epochs = 1", c or "max_iterations = 5")
    with pytest.raises(ConfigError) as err:
        load_suite(p)
    assert str(err.value) == f"{p}: {message}"


def test_an_override_out_of_range_names_the_task_it_reaches(tmp_path: Path) -> None:
    p = suite_file(tmp_path, extra='\n[[override]]\ntask = "tiny"\nsystem = "m"\nparams = { epochs = 5000 }\n')
    with pytest.raises(ConfigError, match=re.escape(f"{p}: system 'm' (task 'tiny'): finetune config: epochs must be "
                                                    "from 1 to 1000, got 5000")):
        load_suite(p)
    # values in range load, 0 threads is torch's default, and an override may bring a value back in range
    ok = suite_file(tmp_path, "learning_rate = 1.0, torch_threads = 0, epochs = 1000", "c1 = 2000.0",
                    '\n[[override]]\nsystem = "crf"\nparams = { c1 = 0.1 }\n')
    assert load_suite(ok).system["m"].params["torch_threads"] == 0


def test_config_dataclasses_refuse_nan_infinity_and_out_of_range() -> None:
    from baselines.crf import CrfConfig
    from baselines.spacy_ner import SpacyConfig
    from bench.finetune import FinetuneConfig

    nan, inf = math.nan, math.inf
    for bad in ({"learning_rate": nan}, {"learning_rate": 1e30}, {"epochs": 10**20}, {"torch_threads": -2},
                {"warmup_ratio": nan}, {"max_grad_norm": inf}, {"adam_epsilon": 0.0}, {"max_length": 10**9}):
        with pytest.raises(ConfigError, match="finetune config: " + next(iter(bad))):
            FinetuneConfig(**bad)
    assert FinetuneConfig(torch_threads=0).torch_threads == 0 and FinetuneConfig(torch_threads=None)
    for bad in ({"c1": nan}, {"c2": inf}, {"max_iterations": 10**9}, {"resource_folds": 10**6}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            CrfConfig(**bad)
    for bad in ({"learn_rate": inf}, {"l2": nan}, {"grad_clip": inf}, {"max_epochs": 10**6}, {"batch_stop": 1e12}):
        with pytest.raises(ConfigError, match="spacy: " + next(iter(bad))):
            SpacyConfig(**bad)


def test_run_dry_run_with_a_bad_param_exits_2_with_one_line(
    tmp_path: Path, conll_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = tmp_path / "tiny.toml"
    task.write_text(TINY_TASK, encoding="utf-8")
    p = suite_file(tmp_path, "learning_rate = nan")
    rc = main(["run", "--suite", str(p), "--task-file", str(task), "--data-dir", str(conll_dir.parent),
               "--results-dir", str(tmp_path / "raw"), "--dry-run"])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == f"error: {p}: system 'm': learning_rate must be a finite number, got NaN", err


# --------------------------------------------------------------------------- 10. truncated weights in preflight


def truncated_model_dir(tmp_path: Path) -> Path:
    import numpy as np
    from safetensors.numpy import save_file

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}), encoding="utf-8")
    weights = folder / "model.safetensors"
    save_file({"w": np.zeros((16, 16), dtype=np.float32)}, str(weights))
    weights.write_bytes(weights.read_bytes()[:-100])  # cut off, as by a full disk or a killed download
    return folder


def test_transformer_preflight_refuses_a_truncated_safetensors_file(tmp_path: Path) -> None:
    from bench.systems import get_kind

    folder = truncated_model_dir(tmp_path)
    with pytest.raises(ConfigError, match=re.escape(f"{folder / 'model.safetensors'}: truncated or damaged")):
        get_kind("transformer").preflight(str(folder))


def test_run_with_truncated_weights_fails_before_any_cell(
    tmp_path: Path, conll_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = truncated_model_dir(tmp_path)
    task = tmp_path / "tiny.toml"
    task.write_text(TINY_TASK, encoding="utf-8")
    p = suite_file(tmp_path)
    p.write_text(p.read_text().replace('model = "minilm-l6"', f'model = "{folder}"'), encoding="utf-8")
    rc = main(["run", "--suite", str(p), "--task-file", str(task), "--data-dir", str(conll_dir.parent),
               "--results-dir", str(tmp_path / "raw"), "--models-dir", str(tmp_path / "models"),
               "--log-file", str(tmp_path / "run.log"), "--system", "m"])
    err = capsys.readouterr().err
    assert rc == 2 and "nothing was run" in err and "model.safetensors: truncated or damaged safetensors" in err, err
    assert not (tmp_path / "raw").exists()


# --------------------------------------------------------------------------- 11. a full disk while saving a CRF


@pytest.mark.parametrize("method", ["write_bytes", "write_text"])
def test_crf_save_on_a_full_disk_is_one_clear_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    from baselines.crf import CrfConfig, CrfError, train_crf

    model = train_crf(pos_sentences(8), config=CrfConfig(max_iterations=5, feature_set="local-v1"))
    target = tmp_path / "models" / "crf"
    model.save(target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def full(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, method, full)
    with pytest.raises(CrfError) as err:
        model.save(target)
    first = {"write_bytes": "model.crfsuite", "write_text": "feature_resources.json"}[method]
    assert str(err.value) == (f"{target / first}: cannot save the CRF model: No space left on device; nothing was "
                              f"saved ({target} is left as it was)")
    assert isinstance(err.value, NerbenchError)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before  # the previous model, untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["crf"]  # no temporary folder left
    fresh = tmp_path / "models" / "new"
    monkeypatch.setattr(Path, method, full)
    with pytest.raises(CrfError):
        model.save(fresh)
    monkeypatch.undo()
    assert sorted(p.name for p in fresh.parent.iterdir()) == ["crf"]  # nothing partial where none was


# --------------------------------------------------------------------------- 12. --bootstrap and rescore


@pytest.mark.parametrize("value", ["0", "-5", "many"])
@pytest.mark.parametrize("command", ["score", "run"])
def test_bootstrap_below_one_is_refused_when_parsing(command: str, value: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    argv = {"score": ["score", "--task", "tiny", "--predictions", "p.conll", "--system", "s"],
            "run": ["run", "--dry-run"]}[command]
    with pytest.raises(SystemExit) as exc:
        main([*argv, f"--bootstrap={value}"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"nerbench {command}: error: argument --bootstrap: must be " in err, err
    assert "Traceback" not in err


def test_bootstrap_parser_accepts_a_positive_count() -> None:
    from bench.cli_score import resamples

    assert resamples("1") == 1 and resamples("1000") == 1000


@pytest.fixture
def crf_run(tmp_path: Path, conll_dir: Path) -> dict[str, Path]:
    task = tmp_path / "tiny.toml"
    task.write_text(TINY_TASK, encoding="utf-8")
    suite = tmp_path / "unit.toml"
    suite.write_text('name = "unit"\ntasks = ["tiny"]\nsystems = ["crf"]\nseeds = [1]\n\n[system.crf]\nkind = "crf"\n'
                     "params = { max_iterations = 10 }\n", encoding="utf-8")
    raw = tmp_path / "out" / "raw"
    assert main(["run", "--suite", str(suite), "--task-file", str(task), "--data-dir", str(conll_dir.parent),
                 "--results-dir", str(raw), "--models-dir", str(tmp_path / "out" / "models"),
                 "--log-file", str(tmp_path / "out" / "run.log"), "--executor", "inline"]) == 0  # 1000 resamples
    return {"task": task, "data": conll_dir.parent, "raw": raw}


def test_rescore_rebuilds_a_result_whose_metrics_are_missing(crf_run: dict[str, Path],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = crf_run["raw"] / "tiny" / "crf" / "seed1-test.json"
    fresh = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in fresh.items() if k != "metrics"}))
    rescore = ["rescore", "--results-dir", str(crf_run["raw"]), "--task-file", str(crf_run["task"]),
               "--data-dir", str(crf_run["data"])]
    assert main(rescore) == 0, capsys.readouterr()
    again = json.loads(path.read_text())
    # the same metrics (with the block gone its resample count is not known: the default, as this run used)
    assert again["metrics"] == fresh["metrics"] and again["unit_counts"] == fresh["unit_counts"]
    assert again["cell_key"] == fresh["cell_key"]
    # a missing metrics block is rebuilt; any other problem is still the reader's error
    path.write_text(json.dumps({k: v for k, v in fresh.items() if k not in ("metrics", "cell_key")}))
    capsys.readouterr()
    assert main(rescore) == 1
    assert f"{path}: missing key(s) cell_key" in capsys.readouterr().out


# --------------------------------------------------------------------------- 18. benchmark commands


def test_benchmark_command_records_the_real_arguments_without_machine_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.env import benchmark_command

    data = tmp_path / "data"
    (data / "conll2003").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    argv = ["--model", "/elsewhere/models/seed14", "--data-dir", str(data), "--output", "out/x.json",
            f"--cache={tmp_path / 'cache' / 'c.bin'}", "--note", "two words"]
    cmd = benchmark_command(REPO / "benchmarks" / "predict_vs_pipeline.py", argv, data_dir=str(data),
                            environ={"HF_HUB_OFFLINE": "1"})
    assert cmd == ("HF_HUB_OFFLINE=1 python benchmarks/predict_vs_pipeline.py --model '<seed14>' --data-dir "
                   "$NERBENCH_DATA_DIR --output out/x.json --cache=cache/c.bin --note 'two words'")
    # a relative data dir and a path inside it; the data dir from the environment when not given
    cmd = benchmark_command("b.py", ["--data-dir=data", "--file", "data/conll2003/eng.train"],
                            environ={"NERBENCH_DATA_DIR": str(data)})
    assert cmd == "python benchmarks/b.py --data-dir=$NERBENCH_DATA_DIR --file $NERBENCH_DATA_DIR/conll2003/eng.train"
    assert str(tmp_path) not in cmd


BENCHMARKS_WITH_A_COMMAND = (
    "compiled_passes", "decode_viterbi_vs_argmax", "document_context", "estimate_accuracy", "executor_overhead",
    "long_sentence_memory", "minilm_lr_sweep", "predict_vs_pipeline", "trainer_vs_nerbench",
)


@pytest.mark.parametrize("name", BENCHMARKS_WITH_A_COMMAND)
def test_every_benchmark_records_its_command_with_the_helper(name: str) -> None:
    text = (REPO / "benchmarks" / f"{name}.py").read_text(encoding="utf-8")
    assert re.search(r'"command"\]? *[:=] *benchmark_command\(__file__', text), name
    assert not re.search(r'"command"\]? *[:=] *\(?\s*"', text), f"{name}: a fixed command string"
    assert "shlex.join([\"python\"" not in text


def test_no_benchmark_writes_a_fixed_command_string() -> None:
    for path in sorted((REPO / "benchmarks").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if '"command"' in text:
            assert path.stem in BENCHMARKS_WITH_A_COMMAND, f"{path.name} records a command: use benchmark_command"
