"""The harness path end to end on data the tests write: run, resume, force, shards, report."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from baselines.crf import CrfModel
from bench.__main__ import main
from bench.data.load import load_task_data
from bench.plan import find_suite, parse_shard, plan, shard_cells
from bench.results import iter_results, read_predictions
from bench.spec import load_suite_file, load_task_file
from bench.versions import SCORER_VERSION, is_stale, system_version

from .conftest import REPO, TINY_TASK

TASK = TINY_TASK

SUITE = """\
name = "unit"
tasks = ["TASK"]
systems = ["crf", "crf-strong"]
seeds = [1, 2]

[system.crf]
kind = "crf"
params = { max_iterations = 20 }

[system.crf-strong]
kind = "crf"
params = { max_iterations = 30, c1 = 0.0 }
"""


@pytest.fixture
def setup(tmp_path: Path, conll_dir: Path) -> dict[str, Path]:
    task = tmp_path / "tiny.toml"
    task.write_text(TASK)
    suite = tmp_path / "unit.toml"
    suite.write_text(SUITE.replace("TASK", "tiny"))
    return {"task": task, "suite": suite, "data": conll_dir.parent, "out": tmp_path / "out"}


def run(setup: dict[str, Path], *extra: str) -> int:
    return main([
        "run", "--suite", str(setup["suite"]), "--task-file", str(setup["task"]), "--data-dir", str(setup["data"]),
        "--results-dir", str(setup["out"] / "raw"), "--models-dir", str(setup["out"] / "models"),
        "--log-file", str(setup["out"] / "run.log"), "--bootstrap", "50", *extra,
    ])


def test_run_resume_force_and_report(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(setup) == 0
    files = sorted((setup["out"] / "raw").rglob("*.json"))
    assert len(files) == 2 * 1 * 2  # systems x seeds x {dev, test}: the CRF is deterministic, seed 1 only
    results = [r for _, r in iter_results(setup["out"] / "raw")]
    assert {r["split"] for r in results} == {"dev", "test"}
    r = results[0]
    assert r["metrics"]["main"]["name"] == "conlleval_f1"
    assert r["task"]["fingerprint"] and r["environment"]["packages"]["seqeval"]
    # the tiny corpus has -DOCSTART- documents: 2 per split
    assert r["unit_counts"]["unit"] == "document" and len(r["unit_counts"]["conlleval"]) == 2
    assert r["cell_key"]["scorer_version"] == SCORER_VERSION
    assert r["cell_key"]["system_version"] == system_version("crf")
    # provenance: how it was run, and no machine path anywhere in the file
    assert r["run"]["command"].startswith("nerbench run --suite ")
    assert r["run"]["suite_sha256"] == hashlib.sha256(setup["suite"].read_bytes()).hexdigest()
    assert r["run"]["shard"] == "1/1" and r["run"]["nerbench_version"]
    text = (setup["out"] / "raw" / "tiny" / "crf" / "seed1-test.json").read_text()
    assert str(setup["out"]) not in text and str(setup["data"]) not in text and str(REPO) not in text
    assert not re.search(r'"(local:)?/', text)
    # saved predictions, one line per evaluated sentence, equal to what the model predicts now
    rows = read_predictions(setup["out"] / "raw" / "tiny" / "crf" / "seed1-test.json", r)
    assert len(rows) == r["data"]["eval_sentences"] == 3
    model = CrfModel.load(setup["out"] / "models" / "tiny" / "crf" / "seed1")
    data = load_task_data(load_task_file(setup["task"]), data_dir=setup["data"])
    assert [row["tags"] for row in rows] == model.predict(data.sentences("test"))
    assert all(len(row["scores"]) == len(row["tags"]) and all(0 < x <= 1 for x in row["scores"]) for row in rows)
    info = json.loads((setup["out"] / "models" / "tiny" / "crf" / "seed1" / "nerbench_model.json").read_text())
    assert info["word_tokenizer"] == "simple" and info["kind"] == "crf"  # the task's (default), for predict
    mtimes = {p: p.stat().st_mtime_ns for p in files}

    assert run(setup) == 0  # resume: nothing to do
    assert "already finished 2" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in files} == mtimes

    assert run(setup, "--system", "crf", "--force") == 0
    changed = [p for p in files if p.stat().st_mtime_ns != mtimes[p]]
    assert len(changed) == 2 and all("/crf/" in str(p) for p in changed)

    out_md = setup["out"] / "README.md"
    assert main(["report", "--results-dir", str(setup["out"] / "raw"), "--output", str(out_md), "--no-plots",
                 "--task-file", str(setup["task"])]) == 0
    text = out_md.read_text()
    assert "## tiny" in text and "| crf |" in text and "| crf-strong |" in text
    capsys.readouterr()
    assert main(["report", "--results-dir", str(setup["out"] / "raw"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["system"], r["split"], r["n_seeds"]) for r in rows} == {
        ("crf", "dev", 1), ("crf", "test", 1), ("crf-strong", "dev", 1), ("crf-strong", "test", 1)}
    assert all(r["deterministic"] for r in rows)
    for key in ("main_metric", "f1_mean", "f1_std", "strict_f1_mean", "ci_low", "ci_high", "ci_unit", "invalid_tags",
                "n_seeds", "stale", "partial_f1_mean", "train_seconds_mean", "tokens_per_second_mean", "peak_gpu_mib"):
        assert key in rows[0]
    assert {r["main_metric"] for r in rows} == {"conlleval_f1"} and {r["ci_unit"] for r in rows} == {"document"}
    assert not any(r["stale"] for r in rows)


def test_changed_data_reruns_the_cell(setup: dict[str, Path]) -> None:
    assert run(setup, "--system", "crf", "--seeds", "1") == 0
    path = setup["out"] / "raw" / "tiny" / "crf" / "seed1-test.json"
    before = json.loads(path.read_text())["cell_key"]
    (setup["data"] / "tiny" / "train.txt").write_text("Rome NNP B-LOC\nis VBZ O\n")
    assert run(setup, "--system", "crf", "--seeds", "1") == 0
    after = json.loads(path.read_text())["cell_key"]
    assert before["data_fingerprint"] != after["data_fingerprint"]


def test_dry_run_and_unknown_names(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(setup, "--dry-run") == 0
    assert "to run" in capsys.readouterr().out
    assert run(setup, "--system", "crff") == 2
    assert "has no system 'crff'" in capsys.readouterr().err


def test_bad_system_parameter_fails_before_training(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    setup["suite"].write_text(SUITE.replace("TASK", "tiny").replace("max_iterations = 20", "max_iteration = 20"))
    assert run(setup) == 1
    assert "unknown CRF parameter(s) max_iteration" in capsys.readouterr().err


def test_shards_partition_the_matrix() -> None:
    cells = plan(find_suite("seeds"))
    parts = [shard_cells(cells, k, 3) for k in (1, 2, 3)]
    labels = [c.label for p in parts for c in p]
    assert sorted(labels) == sorted(c.label for c in cells) and len(set(labels)) == len(labels)
    assert parse_shard("2/3") == (2, 3)
    with pytest.raises(Exception, match="K/N"):
        parse_shard("2")


def test_suite_typo_is_rejected(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text(SUITE.replace("TASK", "tiny").replace("seeds =", "seed ="))
    with pytest.raises(Exception, match="unknown key 'seed'; did you mean 'seeds'"):
        load_suite_file(p)


@pytest.mark.slow
def test_kill_9_mid_suite_then_rerun_completes_exactly_once(data_dir: Path, tmp_path: Path) -> None:
    """SIGKILL while a suite runs, run again: every cell exactly once, every file valid JSON."""
    suite = tmp_path / "killme.toml"
    suite.write_text(
        'name = "killme"\ntasks = ["conll2003", "bc5cdr"]\nsystems = ["crf40", "crf41", "crf42"]\nseeds = [1]\n'
        + "".join(f'[system.crf{n}]\nkind = "crf"\nparams = {{ max_train_sentences = 600, max_eval_sentences = 300, '
                  f'max_iterations = {n} }}\n' for n in (40, 41, 42))
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bench", "run", "--suite", str(suite), "--data-dir", str(data_dir),
           "--results-dir", str(out / "raw"), "--models-dir", str(out / "models"), "--bootstrap", "50",
           "--log-file", str(out / "run.log")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and len(list((out / "raw").rglob("*.json"))) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = list((out / "raw").rglob("*.json"))
    assert 0 < len(partial) < 12, "the kill should land mid-suite"
    subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True, timeout=600)
    files = sorted((out / "raw").rglob("*"))
    jsons = [p for p in files if p.is_file()]
    leftovers = [p for p in jsons if p.name != ".nerbench-run.lock"]  # the run lock stays (an OS lock, released)
    assert all(p.name.endswith((".json", ".predictions.jsonl.gz")) and not p.name.startswith(".") for p in leftovers), \
        f"leftover temp files: {leftovers}"
    results = [r for _, r in iter_results(out / "raw")]  # validates every file
    keys = [(r["task"]["name"], r["system"]["name"], r["seed"], r["split"]) for r in results]
    assert len(keys) == len(set(keys)) == 2 * 3 * 2  # tasks x systems x {dev, test}


def test_missing_model_weights_fail_fast(setup: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    setup["suite"].write_text(SUITE.replace("TASK", "tiny").replace('systems = ["crf", "crf-strong"]',
                              'systems = ["crf", "bert"]') + '\n[system.bert]\nkind = "transformer"\nmodel = "nobody/no-such-model"\n')
    assert run(setup) == 2
    err = capsys.readouterr().err
    assert "nothing was run" in err and "nobody/no-such-model" in err
    assert not (setup["out"] / "raw").exists()


def test_stale_result_is_run_again_and_rescore_refreshes_metrics(setup: dict[str, Path]) -> None:
    assert run(setup, "--system", "crf", "--seeds", "1") == 0
    path = setup["out"] / "raw" / "tiny" / "crf" / "seed1-test.json"
    fresh = json.loads(path.read_text())
    # a result made by an older scorer: stale, and `run` trains the cell again
    old = {**fresh, "cell_key": {**fresh["cell_key"], "scorer_version": SCORER_VERSION - 1},
           "metrics": {**fresh["metrics"], "main": {**fresh["metrics"]["main"], "value": 0.0}}}
    path.write_text(json.dumps(old))
    assert is_stale(old) and not is_stale(fresh)
    mtime = path.stat().st_mtime_ns
    assert run(setup, "--system", "crf", "--seeds", "1") == 0
    assert path.stat().st_mtime_ns != mtime
    assert json.loads(path.read_text())["cell_key"] == fresh["cell_key"]
    # rescore: metrics recomputed from the saved predictions, equal to the original scoring
    path.write_text(json.dumps(old))
    assert main(["rescore", "--results-dir", str(setup["out"] / "raw"), "--task-file", str(setup["task"]),
                 "--data-dir", str(setup["data"])]) == 0
    again = json.loads(path.read_text())
    assert again["metrics"] == fresh["metrics"] and again["unit_counts"] == fresh["unit_counts"]
    assert again["cell_key"] == fresh["cell_key"] and again["rescored"]["from_scorer_version"] == SCORER_VERSION - 1


def test_rescore_refuses_changed_predictions_or_data(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(setup, "--system", "crf", "--seeds", "1") == 0
    raw = setup["out"] / "raw"
    pred = raw / "tiny" / "crf" / "seed1-dev.predictions.jsonl.gz"
    pred.write_bytes(pred.read_bytes()[:-4] + b"\0\0\0\0")
    rescore = ["rescore", "--results-dir", str(raw), "--task-file", str(setup["task"]), "--data-dir", str(setup["data"])]
    assert main(rescore) == 1
    out = capsys.readouterr().out
    assert "seed1-dev.predictions.jsonl.gz: sha256 differs" in out
    assert "rescored 1 result file(s)" in out and "1 failed" in out  # the test result was fine
    (setup["data"] / "tiny" / "test.txt").write_text("Rome NNP B-LOC\nis VBZ O\n")
    assert main(rescore) == 1
    out = capsys.readouterr().out
    assert "seed1-test.json: made on other data" in out and "rescored 0 result file(s)" in out


def test_seeds_must_be_integers(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(setup, "--seeds", "1,x") == 2
    assert "--seeds must be comma-separated integers (e.g. 1,2,3); 'x' is not" in capsys.readouterr().err


def test_unwritable_output_fails_before_training(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    blocker = setup["out"] / "models"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the models folder should be")
    assert run(setup) == 2
    assert f"models dir {blocker} is not writable" in capsys.readouterr().err  # before any training
    assert not list((setup["out"]).rglob("*.json"))


def test_second_run_on_the_same_results_dir_is_refused(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cli_runfiles import results_lock

    (setup["out"] / "raw").mkdir(parents=True)
    held = results_lock(setup["out"] / "raw")
    try:
        assert run(setup) == 2
        err = capsys.readouterr().err
        assert "is in use by another nerbench run (pid" in err
        assert not list((setup["out"] / "raw").rglob("*.json"))
    finally:
        held.close()
    assert run(setup, "--system", "crf", "--seeds", "1") == 0  # released: the next run goes ahead


def test_a_task_file_runs_with_the_suites_systems(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([
        "run", "--task-file", str(setup["task"]), "--data-dir", str(setup["data"]), "--system", "crf",
        "--results-dir", str(setup["out"] / "raw"), "--models-dir", str(setup["out"] / "models"),
        "--log-file", str(setup["out"] / "run.log"), "--bootstrap", "20",
    ]) == 0
    assert "running tiny with suite default's systems" in capsys.readouterr().err
    assert sorted(p.name for p in (setup["out"] / "raw" / "tiny" / "crf").glob("*.json")) == \
        ["seed13-dev.json", "seed13-test.json"]


def test_report_follows_its_results_and_never_clobbers(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    missing = setup["out"] / "typo"
    assert main(["report", "--results-dir", str(missing)]) == 2
    assert "result folder not found; nothing was written" in capsys.readouterr().err
    (setup["out"] / "empty").mkdir(parents=True)
    assert main(["report", "--results-dir", str(setup["out"] / "empty")]) == 2
    assert "no result files under" in capsys.readouterr().err
    assert run(setup, "--system", "crf", "--seeds", "1") == 0
    raw = setup["out"] / "raw"
    (raw / "tiny" / "crf" / "seed9-test.json").write_bytes(b"\x00\xffnot json")
    assert main(["report", "--results-dir", str(raw), "--no-plots", "--task-file", str(setup["task"])]) == 0
    err = capsys.readouterr().err
    assert "seed9-test.json: not UTF-8" in err
    out_md = setup["out"] / "README.md"  # beside the results dir it read
    assert out_md.is_file() and out_md.read_text().startswith("<!-- generated by `nerbench report` from raw;")
    assert main(["report", "--results-dir", str(raw), "--no-plots", "--task-file", str(setup["task"])]) == 0
    hand = setup["out"] / "notes.md"
    hand.write_text("my notes\n")
    assert main(["report", "--results-dir", str(raw), "--output", str(hand), "--no-plots"]) == 2
    assert hand.read_text() == "my notes\n"
    assert "was not generated by `nerbench report`" in capsys.readouterr().err


def test_unwritable_plots_dir_is_a_clear_error(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(setup, "--system", "crf", "--seeds", "1") == 0
    blocker = setup["out"] / "plots"
    blocker.write_text("a file where the plots folder should be")
    assert main(["report", "--results-dir", str(setup["out"] / "raw"), "--task-file", str(setup["task"])]) == 2
    assert f"plots dir {blocker} is not writable" in capsys.readouterr().err
    assert not (setup["out"] / "README.md").exists()


def test_corrupt_result_is_named_and_its_cell_run_again(setup: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(setup, "--system", "crf", "--seeds", "1") == 0
    path = setup["out"] / "raw" / "tiny" / "crf" / "seed1-test.json"
    good = path.read_text()
    path.write_text(good[: len(good) // 2])  # truncated on disk
    capsys.readouterr()
    assert run(setup, "--system", "crf", "--seeds", "1") == 0
    err = capsys.readouterr().err
    assert "seed1-test.json:" in err and "not valid JSON" in err and "the cell will be run again" in err
    assert json.loads(path.read_text())["cell_key"] == json.loads(good)["cell_key"]


def test_full_disk_at_the_write_fails_that_cell_only(setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    real_replace = os.replace

    def no_space(src: str, dst: str) -> None:
        if "crf-strong" in str(dst) and str(dst).endswith(".json") and f"{os.sep}raw{os.sep}" in str(dst):
            raise OSError(28, "No space left on device")  # the result write, not the model folder's
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", no_space)
    # in this process, where the patch applies (tests/test_executors.py fails cells in their own processes)
    assert run(setup, "--seeds", "1", "--executor", "inline") == 1  # the failed cell makes the run exit non-zero
    err = capsys.readouterr().err
    assert "failed tiny × crf-strong × seed 1" in err and "No space left on device" in err
    raw = setup["out"] / "raw" / "tiny"
    assert sorted(p.name for p in (raw / "crf").iterdir()) == [
        "seed1-dev.json", "seed1-dev.predictions.jsonl.gz", "seed1-test.json", "seed1-test.predictions.jsonl.gz"]
    assert not [p for p in (raw / "crf-strong").iterdir() if p.suffix == ".json" or p.name.startswith(".")]


@pytest.mark.slow
def test_ctrl_c_mid_suite_leaves_nothing_partial(data_dir: Path, tmp_path: Path) -> None:
    """SIGINT while a suite runs: exit 130 with the resume hint, no temporary or partial file, and the
    same command then finishes every cell exactly once."""
    suite = tmp_path / "interrupt.toml"
    suite.write_text(
        'name = "interrupt"\ntasks = ["conll2003"]\nsystems = ["crf60", "crf61", "crf62"]\nseeds = [1]\n'
        + "".join(f'[system.crf{n}]\nkind = "crf"\nparams = {{ max_train_sentences = 800, max_eval_sentences = 300, '
                  f'max_iterations = {n} }}\n' for n in (60, 61, 62))
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bench", "run", "--suite", str(suite), "--data-dir", str(data_dir),
           "--results-dir", str(out / "raw"), "--models-dir", str(out / "models"), "--bootstrap", "50",
           "--log-file", str(out / "run.log")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while time.time() < deadline and len(list((out / "raw").rglob("*.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: finished cells are saved" in err
    files = [p for p in out.rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.startswith(".") and p.name != ".nerbench-run.lock"], files
    assert not [p for p in (out / "models").rglob("*") if p.name.endswith(".partial")]
    results = [r for _, r in iter_results(out / "raw")]  # every file that exists is complete
    assert 0 < len(results) < 6
    subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True, timeout=600)
    results = [r for _, r in iter_results(out / "raw")]
    keys = [(r["system"]["name"], r["split"]) for r in results]
    assert len(keys) == len(set(keys)) == 3 * 2
