"""Long runs people can watch: progress lines where the console is no terminal, live step bars on one,
ETAs from one estimate replaced by the measured pace, and a Ray cell's progress streamed while it runs."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import main
from bench.cell_estimate import TrainingClock
from bench.estimate import format_duration
from bench.plan import Cell
from bench.progress import SuiteProgress
from bench.results import iter_results
from bench.spec import SystemSpec

from .conftest import TINY_TASK
from .test_executors import CRF_SUITE, SLOW_TASK, synthetic_conll
from .test_finetune import tiny_model_dir  # noqa: F401 - a fixture: a tiny random BERT built offline

THREE_CRFS = CRF_SUITE.replace('systems = ["crf", "crf-strong"]', 'systems = ["crf", "crf-strong", "crf-weak"]') + """
[system.crf-weak]
kind = "crf"
params = { max_iterations = ITER, c2 = 1.0 }
"""


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def plan(tracker: SuiteProgress, *cells: tuple[str, str, str, float | None]) -> None:
    tracker.update("plan", {"total": len(cells), "skipped": 0, "failed": 0, "cells": [
        {"cell": label, "system": system, "kind": kind, "estimate": estimate} for label, system, kind, estimate in cells]})


def step(tracker: SuiteProgress, label: str, n: int, total: int, elapsed: float, **more: Any) -> None:
    tracker.update("step", {"cell": label, "epoch": 1, "step": n, "total": total, "loss": 0.5, "elapsed": elapsed,
                            **more})


# --------------------------------------------------------------------------- the ETAs


def test_a_cells_eta_is_its_estimate_until_a_minute_of_training_then_the_measured_pace() -> None:
    clock = Clock()
    t = SuiteProgress(clock=clock)
    plan(t, ("a", "bert", "transformer", 600.0), ("b", "bert", "transformer", 600.0), ("c", "crf", "crf", None))
    t.update("cell", {"cell": "a", "index": 1, "total": 3})
    a = t.cells["a"]
    clock.t = 5.0
    step(t, "a", 1, 200, elapsed=4.0, processed=1000, unit="tokens")
    clock.t = 30.0
    step(t, "a", 20, 200, elapsed=29.0, processed=20_000, unit="tokens")
    assert t.cell_eta(a) == (600.0 - 29.0, "estimate")  # the guess, until training has run a minute
    assert t.suite_eta() == (600.0 - 29.0 + 600.0, 1)  # cell c: no estimate, nothing of its kind finished yet
    assert "suite ETA ~ 20 min + 1 cell(s) not estimated (3 cell(s) left)" in t.line(a)
    clock.t = 70.0
    step(t, "a", 60, 200, elapsed=69.0, processed=60_000, unit="tokens")
    eta, why = t.cell_eta(a)
    assert why == "measured pace" and eta == pytest.approx((200 - 60) * (69.0 - 4.0) / (60 - 1))
    clock.t = 72.0  # between two steps the ETA counts down
    assert t.cell_eta(a)[0] == pytest.approx(eta - 2.0)
    line = t.line(a)
    assert "progress a: epoch 1, step 60/200, loss 0.5, 908 tokens/s; running 72 s;" in line  # from the first step
    assert "cell ETA ~ 3 min (measured pace)" in line
    clock.t = 200.0
    t.update("cell_done", {"cell": "a", "done": 1, "total": 3, "failed": False})
    t.update("cell", {"cell": "c", "index": 2, "total": 3})
    assert t.cell_eta(t.cells["c"]) == (None, "")
    assert t.suite_eta() == (600.0, 1)


def test_a_cell_without_an_estimate_takes_the_mean_of_finished_cells_of_its_system_or_kind() -> None:
    clock = Clock()
    t = SuiteProgress(clock=clock)
    plan(t, ("c1", "crf", "crf", None), ("c2", "crf-strong", "crf", None), ("c3", "crf", "crf", None))
    t.update("cell", {"cell": "c1"})
    clock.t = 40.0
    t.update("cell_done", {"cell": "c1", "done": 1, "failed": False})
    t.update("cell", {"cell": "c2"})
    clock.t = 50.0
    assert t.cell_eta(t.cells["c2"]) == (30.0, "mean of 1 finished crf cell(s)")  # same kind
    assert t.cell_eta(t.cells["c3"]) == (40.0, "mean of 1 finished crf cell(s)")  # same system, waiting
    assert t.suite_eta() == (70.0, 0)
    # with steps and no estimate the pace counts at once, from the first step seen (not the set-up before it)
    step(t, "c2", 5, 100, elapsed=8.0)
    clock.t = 52.0
    step(t, "c2", 25, 100, elapsed=10.0)
    assert t.cell_eta(t.cells["c2"]) == (pytest.approx(75 * 0.1), "measured pace")
    # a failed cell says nothing about how long its kind takes
    t.update("cell_done", {"cell": "c2", "done": 2, "failed": True})
    assert t.cells["c2"].state == "failed" and t.mean_duration(t.cells["c3"])[0] == 40.0


def test_a_learning_curves_waiting_point_takes_the_mean_of_its_own_size_first() -> None:
    clock = Clock()
    t = SuiteProgress(clock=clock)
    t.update("plan", {"total": 4, "cells": [
        {"cell": label, "system": "crf", "kind": "crf", "estimate": None, "train_size": size}
        for label, size in (("n100 s1", 100), ("n1000 s1", 1000), ("n100 s2", 100), ("n1000 s2", 1000))]})
    for label, took in (("n100 s1", 10.0), ("n1000 s1", 90.0)):
        t.update("cell", {"cell": label})
        clock.t += took
        t.update("cell_done", {"cell": label, "done": 1, "failed": False})
    assert t.cell_eta(t.cells["n100 s2"]) == (10.0, "mean of 1 finished crf cell(s)")
    assert t.cell_eta(t.cells["n1000 s2"]) == (90.0, "mean of 1 finished crf cell(s)")
    t.cells["n1000 s2"].train_size = 2000  # no finished point of its size: the system's mean
    assert t.cell_eta(t.cells["n1000 s2"]) == (50.0, "mean of 2 finished crf cell(s)")


def test_several_running_cells_share_the_suites_remaining_work() -> None:
    clock = Clock()
    t = SuiteProgress(clock=clock)
    plan(t, ("a", "m", "transformer", 100.0), ("b", "m", "transformer", 100.0), ("c", "m", "transformer", 100.0))
    t.update("cell_start", {"cell": "a", "node": "n1"})
    t.update("cell_start", {"cell": "b", "node": "n2"})
    clock.t = 10.0
    assert t.suite_eta() == ((90.0 + 90.0 + 100.0) / 2, 0)
    assert [c.label for c in t.running()] == ["a", "b"] and t.cells["c"].state == "queued"


def test_the_cells_log_says_the_measured_pace_once_after_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    seen: list[tuple[str, dict[str, Any]]] = []
    cell = Cell("t", "m", 1, SystemSpec("transformer", "m"), {})
    tc = TrainingClock(cell, lambda e, i: seen.append((e, i)), {"seconds": 600.0, "text": "estimated ~ 10 min on 2"},
                       clock=clock)
    with caplog.at_level(logging.INFO, logger="bench"):
        for n, at in ((1, 1.0), (50, 59.0), (60, 61.0), (70, 70.0)):
            clock.t = at
            tc("step", {"step": n, "total": 300})
        tc("predict", {"split": "test"})
    assert [i.get("elapsed") for _, i in seen] == [1.0, 59.0, 61.0, 70.0, None]
    said = [r.getMessage() for r in caplog.records if "measured pace" in r.getMessage()]
    assert said == ["t × m × seed 1: measured pace after 61 s (step 60 of 300): training ~ 5 min in all; "
                    "the estimate said ~ 10 min on 2"]


def test_every_trained_kind_reports_steps_with_what_it_has_processed() -> None:
    """The transformer's steps (with the sub-word tokens so far), spaCy's batches as steps over the whole
    training (at most max_epochs), and the CRF's L-BFGS iterations (each a pass over every word)."""
    from baselines.crf import CrfConfig, train_crf
    from bench.data.types import Sentence
    from bench.systems.base import on_epoch_batch, on_step

    seen: list[dict[str, Any]] = []
    on_step(lambda e, i: seen.append(i))(1, 5, 10, 0.5, 640)
    on_epoch_batch(lambda e, i: seen.append(i), max_epochs=4, words=100)(2, 3, 10, 1.5)
    assert seen == [{"epoch": 1, "step": 5, "total": 10, "loss": 0.5, "processed": 640, "unit": "tokens"},
                    {"epoch": 2, "epochs": 4, "step": 13, "total": 40, "loss": 1.5, "bound": True, "processed": 130,
                     "unit": "words"}]
    words = ["Peter", "went", "to", "Paris", "."]
    sents = [Sentence(tokens=words, tags=["B-PER", "O", "O", "B-LOC", "O"]) for _ in range(20)]
    iterations: list[tuple[int, int, float]] = []
    train_crf(sents, config=CrfConfig(max_iterations=5), on_iteration=lambda *a: iterations.append(a))
    assert iterations and all(most == 5 for _, most, _ in iterations)
    assert [i for i, _, _ in iterations] == list(range(1, len(iterations) + 1))


# --------------------------------------------------------------------------- one estimate


TINY_BERT_SUITE = """\
name = "one"
tasks = ["tiny"]
systems = ["tinybert"]
seeds = [1]

[system.tinybert]
kind = "transformer"
model = "MODEL"
params = { epochs = 1, batch_size = 4, learning_rate = 5e-3, device = "cpu" THREADS}
"""


@pytest.fixture
def tiny_bert_run(tmp_path: Path, conll_dir: Path, tiny_model_dir: Path) -> Any:  # noqa: F811
    (tmp_path / "tiny.toml").write_text(TINY_TASK)

    def argv(*extra: str, threads: str = ", torch_threads = 1 ") -> list[str]:
        (tmp_path / "one.toml").write_text(TINY_BERT_SUITE.replace("MODEL", str(tiny_model_dir))
                                           .replace("THREADS", threads))
        return ["run", "--suite", str(tmp_path / "one.toml"), "--task-file", str(tmp_path / "tiny.toml"),
                "--data-dir", str(conll_dir.parent), "--results-dir", str(tmp_path / "raw"),
                "--models-dir", str(tmp_path / "models"), "--log-file", str(tmp_path / "run.log"),
                "--bootstrap", "20", *extra]

    return argv


@pytest.mark.parametrize("size", [None, "2"])
def test_the_dry_run_and_the_run_say_one_estimate_for_the_same_machine_state(
        tiny_bert_run: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        size: str | None) -> None:
    """The machine's speed probe gives the same figure twice (the same machine state): the dry run's estimate,
    the one the cell says as it starts, its log's and the result's ``training.estimate`` are one number; for a
    learning curve's point too (``--train-size``: the estimate is of the subset it trains on)."""
    import bench.estimate

    probes: list[int] = []

    def probe(shape: Any, threads: int) -> float:
        probes.append(threads)
        return 2e-5  # GFLOP/s: slow enough for an estimate of minutes
    monkeypatch.setattr(bench.estimate, "_probe", probe)
    sized = ("--train-size", size) if size else ()
    assert main(tiny_bert_run("--dry-run", *sized)) == 0
    out, _ = capsys.readouterr()
    row = next(line for line in out.splitlines() if "tinybert" in line)
    assert not size or f"│ {size} " in row  # the curve's size column
    said = re.search(r"~ \d+ (?:min|h)", row)
    assert said, row
    assert main(tiny_bert_run("--progress-every", "0", *sized)) == 0
    err = capsys.readouterr().err
    label = f"tiny × tinybert{f' × n{size}' if size else ''} × seed 1"
    assert f"{label}: estimated {said[0]} on 1 CPU thread(s)" in " ".join(err.split())
    (result, *_) = [r for _, r in iter_results(tmp_path / "raw")]
    if size:  # the subset (whole documents, so at least 2 sentences) is what was estimated and trained on
        assert result["train_subset"]["size"] == 2
        assert result["data"]["train_sentences"] == result["train_subset"]["sentences"]
    estimate = result["training"]["estimate"]
    assert estimate["threads"] == 1 and probes == [1, 1]  # the dry run's probe, then the run's (one per process)
    flops = estimate["train_flops"] + estimate["eval_flops"]
    assert estimate["seconds"] == round(flops / (2e-5 * 1e9 * estimate["efficiency"]), 1)  # with that probe
    assert format_duration(estimate["seconds"]) == said[0]
    assert f"estimated {said[0]} on 1 CPU thread(s)" in next((tmp_path / "run").glob("*.log")).read_text()
    assert result["cost"]["train_wall_seconds"] > 0  # the actual, beside the estimate


def test_a_ray_cells_estimate_counts_the_threads_its_task_gets(
        tiny_bert_run: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray sets OMP_NUM_THREADS of a task to its CPU slots (one by default): a transformer without
    torch_threads is estimated, in the dry run as in the run, with the threads it will train with."""
    import torch

    import bench.estimate
    from bench.executors.ray_cluster import RayExecutor

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    ray = RayExecutor()
    assert ray.estimate_threads(Cell("t", "m", 1, SystemSpec("transformer", "m"), {})) == 1
    assert ray.estimate_threads(Cell("t", "m", 1, SystemSpec("transformer", "m"), {"torch_threads": 3})) == 3
    pytest.importorskip("ray")
    probes: list[int] = []
    monkeypatch.setattr(bench.estimate, "_probe", lambda shape, threads: probes.append(threads) or 100.0)
    assert main(tiny_bert_run("--dry-run", "--executor", "ray", threads="")) == 0
    assert main(tiny_bert_run("--dry-run", threads="")) == 0
    assert probes == [1, torch.get_num_threads()]
    capsys.readouterr()


# --------------------------------------------------------------------------- the displays


def test_the_terminal_display_shows_each_running_cells_steps_and_eta() -> None:
    from rich.console import Console

    from bench.cli_console import LiveDisplay, make_display

    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    display = make_display(console, "suite s", total=2)
    assert isinstance(display, LiveDisplay)
    with display:
        display.progress("plan", {"total": 2, "skipped": 0, "failed": 0, "cells": [
            {"cell": "t × crf × seed 1", "system": "crf", "kind": "crf", "estimate": None},
            {"cell": "t × bert × seed 1", "system": "bert", "kind": "transformer", "estimate": 900.0}]})
        display.progress("cell_start", {"cell": "t × crf × seed 1"})
        display.progress("cell_start", {"cell": "t × bert × seed 1"})
        display.progress("step", {"cell": "t × crf × seed 1", "name": "iteration", "epoch": None, "step": 7,
                                  "total": 80, "loss": 12.5, "processed": 7000, "unit": "words", "elapsed": 1.0})
        display.progress("step", {"cell": "t × bert × seed 1", "epoch": 2, "step": 30, "total": 400, "loss": 0.25,
                                  "processed": 9000, "unit": "tokens", "elapsed": 3.0})
        display.bar.refresh()
        shown = out.getvalue()
        assert "t × crf × seed 1: iteration 7/80, loss 12.5, 7,000 words/s" in shown
        assert "t × bert × seed 1: epoch 2, step 30/400, loss 0.25, 3,000 tokens/s" in shown
        assert "ETA ~ 15 min (estimate)" in shown and "suite ETA" in shown
        display.progress("cell_done", {"cell": "t × crf × seed 1", "done": 1, "total": 2, "failed": False})
        assert list(display.rows) == ["t × bert × seed 1"]


def _setup(tmp_path: Path, *, iterations: int = 60, dev_split: bool = True) -> list[str]:
    data = tmp_path / "data"
    (data / "slow").mkdir(parents=True)
    (data / "slow" / "train.txt").write_text(synthetic_conll(600, seed=1))
    for split in ("dev", "test"):
        (data / "slow" / f"{split}.txt").write_text(synthetic_conll(100, seed=2))
    task = SLOW_TASK if dev_split else SLOW_TASK.replace(' dev = "dev.txt",', "")
    assert dev_split or "dev.txt" not in task
    (tmp_path / "slow.toml").write_text(task)
    (tmp_path / "cells.toml").write_text(THREE_CRFS.replace("TASK", "slow").replace("ITER", str(iterations)))
    out = tmp_path / "out"
    return ["run", "--suite", str(tmp_path / "cells.toml"), "--task-file", str(tmp_path / "slow.toml"),
            "--data-dir", str(data), "--results-dir", str(out / "raw"), "--models-dir", str(out / "models"),
            "--log-file", str(out / "run.log"), "--bootstrap", "20"]


PROGRESS = re.compile(r"^\d\d:\d\d:\d\d progress (?P<cell>slow × [\w-]+ × seed 1): (?:.*, )?iteration (?P<it>\d+)/"
                      r"(?P<total>\d+), loss [\d.e+-]+, [\d,]+ words/s(?:, .*)?; running .*; cell ETA (?P<eta>~ [\d.]+ "
                      r"(?:s|min)) \((?P<why>[^)]*)\); suite ETA (?P<suite>.*)$")


def progress_lines(err: str) -> list[re.Match[str]]:
    return [m for line in err.splitlines() if (m := PROGRESS.match(line))]


def assert_watchable(err: str, cells: list[str]) -> None:
    """Each cell has periodic progress lines with its iterations, its ETA and the suite's, printed while it ran
    (between its started and finished lines)."""
    lines = err.splitlines()
    for cell in cells:
        start = next(i for i, line in enumerate(lines) if re.search(rf" started {re.escape(cell)}\b", line))
        end = next(i for i, line in enumerate(lines) if re.search(rf" finished {re.escape(cell)} after ", line))
        mine = [m for m in progress_lines("\n".join(lines[start:end])) if m["cell"] == cell]
        assert len(mine) >= 2, (cell, lines[start:end + 1])
        assert any(int(m["it"]) < int(m["total"]) for m in mine), mine  # seen mid-training, not at the end
        # the measured pace, once a second iteration has come (after one, the mean of finished cells like it)
        assert mine[-1]["why"] == "measured pace" and all(
            m["why"] == "measured pace" or m["why"].startswith("mean of") for m in mine), mine
        iterations = [int(m["it"]) for m in mine]
        assert iterations == sorted(iterations)


def test_a_run_whose_console_is_no_terminal_prints_progress_lines_at_a_steady_pace(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """nohup, CI and Slurm logs: started/finished lines and, every --progress-every seconds, a line per running
    cell with its iteration, loss, rate, its ETA and the suite's; the suite ETA of a waiting CRF cell is the
    mean of the finished ones."""
    argv = _setup(tmp_path)
    assert main([*argv, "--progress-every", "0.2"]) == 0
    err = capsys.readouterr().err
    cells = [f"slow × {s} × seed 1" for s in ("crf", "crf-strong", "crf-weak")]
    assert_watchable(err, cells)
    first = [m for m in progress_lines(err) if m["cell"] == cells[0]]
    assert all(m["suite"].endswith("+ 2 cell(s) not estimated (3 cell(s) left)") for m in first)
    second = [m for m in progress_lines(err) if m["cell"] == cells[1]]
    assert all(re.fullmatch(r"~ [\d.]+ (s|min) \(2 cell\(s\) left\)", m["suite"]) for m in second), second
    assert re.search(r"started slow × crf-weak × seed 1 \(3 of 3\); ETA ~ \d+ s \(mean of 2 finished crf cell", err)
    assert "done 3, already finished 0, failed 0" in err

    # 0: no periodic lines, only the cells' start and end
    assert main([*argv, "--force", "--progress-every", "0"]) == 0
    err = capsys.readouterr().err
    assert not progress_lines(err) and "finished slow × crf-weak × seed 1" in err
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--progress-every", "-1"])
    assert exited.value.code == 2 and "expected seconds (0 or more)" in capsys.readouterr().err


# --------------------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    """A local Ray instance with 2 CPUs, started here (the driver is this process)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False, logging_level=logging.WARNING)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_cells_stream_their_progress_and_warnings_to_the_driver(
        ray_local: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--executor ray: the same progress lines as locally, from events the workers stream while the cells
    run, and nerbench's own warnings from inside a cell reach the driver's console."""
    # each cell warns that the task has no dev split; 150 iterations (about 3 s) so that a reused, warm worker's
    # cell still runs through several of the driver's event drains
    argv = _setup(tmp_path, iterations=150, dev_split=False)
    assert main([*argv, "--executor", "ray", "--progress-every", "0.2"]) == 0
    err = capsys.readouterr().err
    cells = [f"slow × {s} × seed 1" for s in ("crf", "crf-strong", "crf-weak")]
    assert_watchable(err, cells)
    assert re.search(r"started slow × crf × seed 1 on \S+ \(\d of 3\)", err)
    for cell in cells:
        assert f"WARNING bench.runner: {cell}: {cell}: task has no dev split; skipped" in err
    assert "done 3, already finished 0, failed 0" in err


def test_one_step_gives_no_pace_a_cell_without_an_estimate_waits_for_the_second() -> None:
    # on a GPU the first step of a 60 s cell took 16 s (warm-up): 1317 steps at that pace said "~ 83 min"
    clock = Clock()
    t = SuiteProgress(clock=clock)
    plan(t, ("g1", "minilm", "transformer", None), ("g2", "minilm", "transformer", None))
    t.update("cell", {"cell": "g1"})
    clock.t = 17.0
    step(t, "g1", 1, 1317, elapsed=16.0)
    assert t.cell_eta(t.cells["g1"]) == (None, "")  # nothing finished to go by: unknown, not 83 min
    clock.t = 47.0
    step(t, "g1", 453, 1317, elapsed=46.0)
    assert t.cell_eta(t.cells["g1"]) == (pytest.approx(864 * 30.0 / 452), "measured pace")
    clock.t = 80.0
    t.update("cell_done", {"cell": "g1", "done": 1, "failed": False})
    t.update("cell", {"cell": "g2"})
    clock.t = 97.0
    step(t, "g2", 1, 1317, elapsed=16.0)
    assert t.cell_eta(t.cells["g2"]) == (63.0, "mean of 1 finished transformer cell(s)")


def test_the_out_of_domain_phase_counts_its_own_cells() -> None:
    # the transfer cells run after the in-domain ones with a plan of their own: "1 of 3", not "4 of 3"
    t = SuiteProgress(clock=Clock())
    plan(t, *[(f"in{k}", "minilm", "transformer", 60.0) for k in range(3)])
    for k in range(3):
        t.update("cell", {"cell": f"in{k}"})
        t.update("cell_done", {"cell": f"in{k}", "done": k + 1, "failed": False})
    assert (t.started, t.done, t.total) == (3, 3, 3)
    plan(t, *[(f"tr{k}", "minilm", "transformer", None) for k in range(3)])
    t.update("cell", {"cell": "tr0"})
    assert (t.started, t.done, t.total) == (1, 0, 3)
    t.update("cell_done", {"cell": "tr0", "done": 1, "failed": False})
    assert t.done == 1
    # a re-plan of the same cells (Ray drops an infeasible one) keeps the counts
    plan(t, ("tr1", "minilm", "transformer", None), ("tr2", "minilm", "transformer", None))
    assert (t.started, t.done, t.total) == (1, 1, 2)
