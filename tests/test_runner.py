"""The harness path end to end on data the tests write: run, resume, force, shards, report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.results import iter_results
from bench.runner import find_suite, parse_shard, plan, shard_cells
from bench.spec import load_suite_file

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
    assert len(files) == 2 * 2 * 2  # systems x seeds x {dev, test}
    results = [r for _, r in iter_results(setup["out"] / "raw")]
    assert {r["split"] for r in results} == {"dev", "test"}
    r = results[0]
    assert r["metrics"]["main"]["mode"] == "strict" and r["metrics"]["main"]["scheme"] == "IOB2"
    assert r["task"]["fingerprint"] and r["environment"]["packages"]["seqeval"]
    assert len(r["sentence_counts"]) == r["data"]["eval_sentences"]
    assert (setup["out"] / "models" / "tiny" / "crf" / "seed1" / "nerbench_model.json").is_file()
    mtimes = {p: p.stat().st_mtime_ns for p in files}

    assert run(setup) == 0  # resume: nothing to do
    assert "already finished 4" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in files} == mtimes

    assert run(setup, "--system", "crf", "--force") == 0
    changed = [p for p in files if p.stat().st_mtime_ns != mtimes[p]]
    assert len(changed) == 4 and all("/crf/" in str(p) for p in changed)

    out_md = setup["out"] / "README.md"
    assert main(["report", "--results-dir", str(setup["out"] / "raw"), "--output", str(out_md), "--no-plots",
                 "--task-file", str(setup["task"])]) == 0
    text = out_md.read_text()
    assert "## tiny" in text and "| crf |" in text and "| crf-strong |" in text
    capsys.readouterr()
    assert main(["report", "--results-dir", str(setup["out"] / "raw"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["system"], r["split"], r["n"]) for r in rows} == {
        ("crf", "dev", 2), ("crf", "test", 2), ("crf-strong", "dev", 2), ("crf-strong", "test", 2)}
    for key in ("strict_f1_mean", "strict_f1_std", "ci_low", "ci_high", "lenient_f1_mean", "partial_f1_mean",
                "train_seconds_mean", "tokens_per_second_mean", "peak_gpu_mib"):
        assert key in rows[0]


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
        'name = "killme"\ntasks = ["conll2003", "bc5cdr"]\nsystems = ["crf"]\nseeds = [1, 2, 3]\n'
        '[system.crf]\nkind = "crf"\nparams = { max_train_sentences = 600, max_eval_sentences = 300, max_iterations = 40 }\n'
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
    assert all(p.suffix == ".json" for p in jsons), f"leftover temp files: {jsons}"
    results = [r for _, r in iter_results(out / "raw")]  # validates every file
    keys = [(r["task"]["name"], r["system"]["name"], r["seed"], r["split"]) for r in results]
    assert len(keys) == len(set(keys)) == 2 * 3 * 2


def test_missing_model_weights_fail_fast(setup: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    setup["suite"].write_text(SUITE.replace("TASK", "tiny").replace('systems = ["crf", "crf-strong"]',
                              'systems = ["crf", "bert"]') + '\n[system.bert]\nkind = "transformer"\nmodel = "nobody/no-such-model"\n')
    assert run(setup) == 2
    err = capsys.readouterr().err
    assert "nothing was run" in err and "nobody/no-such-model" in err
    assert not (setup["out"] / "raw").exists()
