"""``--executor ray``, worker side: trained models brought back to the driver and checked (or left on the
workers, or not moved at all on a shared filesystem), transfer cells getting their in-domain model, every
attempt recorded (a lost worker's too), and what killed runs leave behind cleaned up.

The unit tests need no Ray. The Ray tests start one local Ray instance with 2 CPUs in this process, with
its own staging root (``NERBENCH_STAGING_DIR``), so another nerbench on the machine does not disturb them.
One machine is a shared filesystem for its workers; a test that needs a worker that does not see the
driver's models dir makes the driver's marker unwritable (a worker then assumes it does not see it).
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import main
from bench.executors.attempts import RayAttempts, annotate_files
from bench.executors.leftovers import (
    OWNER_FILE,
    RECORD_PREFIX,
    OwnRayInstance,
    add_owner,
    kill_lingering,
    make_staging,
    process_id,
    sweep_staging,
)
from bench.executors.model_transfer import (
    MARKER_PREFIX,
    ModelTransferError,
    SharedMarker,
    manifest_digest,
    manifest_of,
    pack_model,
    sees_marker,
    unpack_model,
)
from bench.modeldir import MODEL_INFO_FILE
from bench.results import iter_results

from .test_executors import (
    CRF_SUITE,
    SLOW_TASK,
    busy_worker,
    cell_children,
    cli,
    started_for,
    synthetic_conll,
    wait_for,
)

# --------------------------------------------------------------------------- models: pack, check, unpack


def _model(folder: Path, weights: bytes = b"weights " * 1000) -> Path:
    (folder / "sub").mkdir(parents=True)
    (folder / MODEL_INFO_FILE).write_text('{"kind": "crf"}\n')
    (folder / "model.crfsuite").write_bytes(weights)
    (folder / "sub" / "vocab.txt").write_text("a\nb\n")
    return folder


def test_a_model_folder_travels_checked_and_replaces_the_older_one_only_then(tmp_path: Path) -> None:
    src = _model(tmp_path / "worker" / "t" / "crf" / "seed1")
    archive, manifest = pack_model(src)
    assert manifest == manifest_of(src) and sorted(manifest) == sorted([MODEL_INFO_FILE, "model.crfsuite", "sub/vocab.txt"])
    dest = _model(tmp_path / "driver" / "t" / "crf" / "seed1", weights=b"older")
    unpack_model(archive, manifest, manifest_digest(manifest), dest, origin="node-b")
    assert manifest_of(dest) == manifest and (dest / "model.crfsuite").read_bytes() == b"weights " * 1000
    assert sorted(p.name for p in dest.parent.iterdir()) == ["seed1"]  # no temporary folder left


def test_a_damaged_archive_fails_clearly_and_leaves_the_older_model(tmp_path: Path) -> None:
    archive, manifest = pack_model(_model(tmp_path / "worker"))
    dest = _model(tmp_path / "driver" / "seed1", weights=b"older")
    before = manifest_of(dest)
    at = archive.index(b"weights weights")
    damaged = archive[:at] + b"X" + archive[at + 1:]
    with pytest.raises(ModelTransferError, match=r"does not match its manifest: model\.crfsuite has sha256 .* "
                                                 r"nothing was replaced .* --models-stay-on-workers"):
        unpack_model(damaged, manifest, manifest_digest(manifest), dest, origin="node-b for tiny × crf × seed 1")
    with pytest.raises(ModelTransferError, match="its archive cannot be read"):
        unpack_model(archive[:700], manifest, manifest_digest(manifest), dest, origin="node-b")
    with pytest.raises(ModelTransferError, match="its manifest does not match its digest"):
        unpack_model(archive, {**manifest, "x": "0"}, manifest_digest(manifest), dest, origin="node-b")
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        info = tarfile.TarInfo("../escape.txt")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ModelTransferError, match="not a plain file inside the folder"):
        unpack_model(evil.getvalue(), manifest, manifest_digest(manifest), dest, origin="node-b")
    assert manifest_of(dest) == before and sorted(p.name for p in dest.parent.iterdir()) == ["seed1"]
    assert not (tmp_path / "escape.txt").exists()


def test_the_driver_marker_tells_a_worker_it_sees_the_models_dir(tmp_path: Path) -> None:
    models = tmp_path / "models"
    marker = SharedMarker(models)
    assert marker.token and sees_marker(models, marker.token)
    assert not sees_marker(models, "0" * 32) and not sees_marker(tmp_path / "elsewhere", marker.token)
    assert not sees_marker(models, None)
    # a marker left by a killed driver of this host goes when the next driver writes its own
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = models / f"{MARKER_PREFIX}{'1' * 32}"
    stale.write_text(json.dumps({"token": "1" * 32, "host": os.uname().nodename,
                                 "driver": {"pid": int(gone.stdout), "create_time": 1.0}}))
    second = SharedMarker(models)
    assert not stale.exists() and marker.path.exists()  # the first driver still runs (it is this process)
    marker.remove()
    second.remove()
    assert not list(models.glob(f"{MARKER_PREFIX}*"))


# --------------------------------------------------------------------------- attempts


def test_a_start_after_an_unended_start_is_a_lost_worker_and_results_carry_every_attempt() -> None:
    book = RayAttempts()
    assert book.next_attempt("c") == 1
    assert book.started("c", {"attempt": 1, "node": "a", "worker_pid": 10, "started": 0.0}) == []
    (lost,) = book.started("c", {"attempt": 2, "node": "b", "worker_pid": 20, "started": 5.0})
    assert lost["attempt"] == 1 and lost["outcome"] == "worker_lost" and lost["ended"] is None
    attempts = book.ended("c", {"attempt": 2, "executor": "ray", "host": "b", "pid": 21, "worker_pid": 20,
                                "started": "x", "ended": "y", "outcome": "finished", "cause": None})
    assert [(a["attempt"], a["host"], a["outcome"]) for a in attempts] == [(1, "a", "worker_lost"), (2, "b", "finished")]
    files = annotate_files({"t/s/seed1-test.json": b'{"run": {"command": "nerbench run"}}', "t/s/p.gz": b"\x1f"},
                           attempts=attempts, model_location={"node": "b"})
    doc = json.loads(files["t/s/seed1-test.json"])
    assert doc["run"]["command"] == "nerbench run" and len(doc["run"]["attempts"]) == 2
    assert doc.get("system") is None and files["t/s/p.gz"] == b"\x1f"  # no system block: nothing to add to
    assert [a["attempt"] for a in book.unlogged("c")] == [1, 2] and book.unlogged("c") == []


# --------------------------------------------------------------------------- leftovers


def _sleeper(*extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", *extra])


def _gone_process() -> dict[str, Any]:
    """The identity a process had, after it ended."""
    proc = _sleeper()
    ident = process_id(proc.pid)
    proc.kill()
    proc.wait()
    assert ident is not None
    return ident


def test_stale_staging_folders_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    root = tmp_path / "staging"
    root.mkdir()
    mine = make_staging(root)  # this process owns it
    alive, dead = _sleeper(), _sleeper()
    try:
        kept, stale = make_staging(root), make_staging(root)
        for folder, proc in ((kept, alive), (stale, dead)):
            record = json.loads((folder / OWNER_FILE).read_text())
            record["processes"] = []  # as if another (now gone) worker had made it ...
            (folder / OWNER_FILE).write_text(json.dumps(record))
            add_owner(folder, proc.pid)  # ... and its cell process still wrote into it
            (folder / "raw").mkdir()
            (folder / "raw" / ".seed1-test.json.tmp").write_text('{"half')  # a half-written result
        other_host = make_staging(root)
        record = json.loads((other_host / OWNER_FILE).read_text())
        (other_host / OWNER_FILE).write_text(json.dumps({**record, "host": "elsewhere", "processes": []}))
        dead.kill()
        dead.wait()
        removed = sweep_staging(root)
        assert len(removed) == 1 and str(stale) in removed[0] and f"pids {dead.pid} (gone)" in removed[0]
        assert not stale.exists() and kept.exists() and mine.exists() and other_host.exists()
    finally:
        alive.kill()
        alive.wait()
    assert sweep_staging(root) == [f"removed {kept}, a staging folder left by a killed task (pids {alive.pid} (gone))"]


def test_processes_of_a_dead_drivers_ray_instance_are_stopped_and_nothing_else(tmp_path: Path) -> None:
    host = os.uname().nodename
    lingering = _sleeper()  # stands for a raylet the dead driver left
    below = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
                              "time.sleep(120)"])  # with a worker below it
    unrelated, live_driver_child = _sleeper(), _sleeper()
    try:
        wait_for(lambda: first_child(below), timeout=30, what="the grandchild to start")
        grandchild = first_child(below)
        recycled = {**process_id(unrelated.pid), "create_time": 12.0}  # same pid, another start time
        (tmp_path / f"{RECORD_PREFIX}1.json").write_text(json.dumps({
            "host": host, "driver": _gone_process(),
            "processes": [process_id(lingering.pid), process_id(below.pid), recycled]}))
        (tmp_path / f"{RECORD_PREFIX}2.json").write_text(json.dumps({
            "host": host, "driver": process_id(os.getpid()), "processes": [process_id(live_driver_child.pid)]}))
        (line,) = kill_lingering(tmp_path)
        assert line.startswith("stopped 3 process(es) left running by the Ray instance of an earlier nerbench run")
        for proc in (lingering, below):
            assert proc.wait(timeout=30) is not None
        wait_for(lambda: not grandchild.is_running() or grandchild.status() == "zombie", timeout=30,
                 what="the process below the recorded one to stop")
        assert unrelated.poll() is None and live_driver_child.poll() is None  # never anything else
        assert sorted(p.name for p in tmp_path.iterdir()) == [f"{RECORD_PREFIX}2.json"]
    finally:
        for proc in (lingering, below, unrelated, live_driver_child):
            proc.kill()
            proc.wait()


def first_child(proc: subprocess.Popen[bytes]) -> Any:
    import psutil

    kids = psutil.Process(proc.pid).children()
    return kids[0] if kids else None


def test_a_driver_records_the_processes_it_starts_and_forgets_them_after_shutdown(tmp_path: Path) -> None:
    own = OwnRayInstance(tmp_path)
    started = _sleeper()
    try:
        own.started()
        assert own.record is not None
        record = json.loads(own.record.read_text())
        assert record["driver"] == process_id(os.getpid())
        assert process_id(started.pid) in record["processes"]
        own.stopped()
        assert not list(tmp_path.glob(f"{RECORD_PREFIX}*"))
    finally:
        started.kill()
        started.wait()


# --------------------------------------------------------------------------- Ray


@pytest.fixture(scope="module")
def ray_here(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """A local Ray instance with 2 CPUs, started here, whose tasks stage under a folder of this test module."""
    ray = pytest.importorskip("ray")
    staging = tmp_path_factory.mktemp("staging")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NERBENCH_STAGING_DIR", str(staging))  # Ray's processes take this process's environment
        ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False, logging_level=logging.WARNING)
        try:
            yield ray, staging
        finally:
            ray.shutdown()


@pytest.fixture
def tiny(tmp_path: Path) -> dict[str, Path]:
    from .conftest import CONLL_TINY, TINY_TASK

    (tmp_path / "data" / "tiny").mkdir(parents=True)
    for name in ("train.txt", "dev.txt", "test.txt"):
        (tmp_path / "data" / "tiny" / name).write_text(CONLL_TINY, encoding="utf-8")
    (tmp_path / "tiny.toml").write_text(TINY_TASK)
    (tmp_path / "cells.toml").write_text(CRF_SUITE.replace("TASK", "tiny").replace("ITER", "20"))
    return {"task": tmp_path / "tiny.toml", "suite": tmp_path / "cells.toml", "data": tmp_path / "data",
            "out": tmp_path / "out"}


class _NoMarker:
    """A driver whose marker could not be written: its workers do not know they see its models dir."""

    token = None

    def __init__(self, models_dir: Path) -> None:
        pass

    def remove(self) -> None:
        pass


def _location(out: Path) -> dict[str, Any]:
    (loc,) = {json.dumps(r["system"]["model_location"], sort_keys=True) for _, r in iter_results(out / "raw")}
    return json.loads(loc)


def test_a_trained_model_comes_back_checked_and_predict_finds_it(ray_here: Any, tiny: dict[str, Path],
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("bench.executors.ray_models.SharedMarker", _NoMarker)
    assert main(cli(tiny, "--executor", "ray", "--system", "crf")) == 0
    err = capsys.readouterr().err
    assert "trained models: 1 brought back from the Ray workers into" in err
    folder = tiny["out"] / "models" / "tiny" / "crf" / "seed1"
    loc = _location(tiny["out"])
    assert loc["brought_back"] is True and loc["shared_filesystem"] is False and loc["path"] == "tiny/crf/seed1"
    assert loc["sha256"] == manifest_digest(manifest_of(folder)) and loc["node"] == os.uname().nodename
    assert "its model came back from" in (tiny["out"] / "run.log").read_text()
    assert not list(ray_here[1].glob("cell-*"))  # the task removed its staging folder (and the model in it)
    test_file = tiny["data"] / "tiny" / "test.txt"  # the CRF reads POS tags: CoNLL input, the column it recorded
    assert main(["predict", "--model", str(folder), "--input", str(test_file), "--format", "conll",
                 "--output-columns", "word,pred"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split("\t")[0] == "EU"


def test_on_a_shared_filesystem_nothing_travels_and_the_run_says_so(ray_here: Any, tiny: dict[str, Path],
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("no model should be unpacked")

    monkeypatch.setattr("bench.executors.ray_models.unpack_model", refuse)
    assert main(cli(tiny, "--executor", "ray", "--system", "crf")) == 0
    assert "written by the Ray workers straight into" in capsys.readouterr().err
    loc = _location(tiny["out"])
    assert loc["shared_filesystem"] is True and loc["brought_back"] is False
    assert loc["sha256"] == manifest_digest(manifest_of(tiny["out"] / "models" / "tiny" / "crf" / "seed1"))
    assert not list((tiny["out"] / "models").glob(f"{MARKER_PREFIX}*"))  # the driver removed its marker


def test_models_stay_on_workers_copies_nothing_and_records_where(ray_here: Any, tiny: dict[str, Path],
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("no model should come back")

    monkeypatch.setattr("bench.executors.ray_models.SharedMarker", _NoMarker)
    monkeypatch.setattr("bench.executors.ray_models.unpack_model", refuse)
    assert main(cli(tiny, "--executor", "ray", "--system", "crf", "--models-stay-on-workers")) == 0
    assert "1 stay on the Ray workers that trained them (--models-stay-on-workers)" in capsys.readouterr().err
    loc = _location(tiny["out"])
    assert loc["brought_back"] is False and loc["shared_filesystem"] is False and loc["node"] == os.uname().nodename
    assert len(loc["sha256"]) == 64
    assert main(cli(tiny, "--models-stay-on-workers")) == 2
    assert "--models-stay-on-workers needs --executor ray" in capsys.readouterr().err


def test_a_transfer_cell_gets_its_model_from_the_driver(ray_here: Any, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers that do not see the driver's models dir: the in-domain model comes back, and goes out again
    with the transfer cell, which writes and returns none."""
    from bench.results import read_result

    from .test_transfer import MAPPING, NEWS, SOCIAL, SUITE, TASK, TRANSFER

    data = tmp_path / "data"
    for folder, text in (("news", NEWS), ("social", SOCIAL)):
        (data / folder).mkdir(parents=True)
        for split in ("train", "dev", "test"):
            (data / folder / f"{split}.txt").write_text(text, encoding="utf-8")
    (tmp_path / "news.toml").write_text(TASK.format(name="news", types='["PER", "ORG", "LOC", "MISC"]', folder="news",
                                                    options="{ tag_column = -1 }"))
    (tmp_path / "social.toml").write_text(TASK.format(
        name="social", types='["person", "location", "corporation", "group", "product"]', folder="social",
        options='{ separator = "tab", tag_column = -1 }'))
    (tmp_path / "xfer.toml").write_text(SUITE.format(train="news") + TRANSFER.format(train="news", types=MAPPING))
    monkeypatch.setattr("bench.executors.ray_models.SharedMarker", _NoMarker)
    monkeypatch.setattr("bench.executors.ray_cluster._only_this_node", lambda ray: False)
    out = tmp_path / "out"
    assert main(["run", "--suite", str(tmp_path / "xfer.toml"), "--data-dir", str(data), "--task-file",
                 str(tmp_path / "news.toml"), "--task-file", str(tmp_path / "social.toml"), "--system", "crf",
                 "--seeds", "1", "--results-dir", str(out / "raw"), "--models-dir", str(out / "models"),
                 "--log-file", str(out / "run.log"), "--bootstrap", "20", "--executor", "ray"]) == 0
    run_log = (out / "run.log").read_text()
    assert "its model came back from" in run_log and "goes to the workers that do not see" in run_log
    r = read_result(out / "raw" / "social" / "crf" / "from-news" / "seed1-test.json")
    assert r["cost"]["process"]["executor"] == "ray" and "model_location" not in r["system"]
    assert [a["outcome"] for a in r["run"]["attempts"]] == ["finished"]
    assert sorted(p.relative_to(out / "models").as_posix() for p in (out / "models").glob("*/*/*")) == ["news/crf/seed1"]


@pytest.mark.slow
def test_a_lost_workers_retry_is_attempt_2_in_the_log_and_the_result(ray_here: Any, tmp_path: Path) -> None:
    """SIGKILL of the Ray worker running a cell: Ray runs the task again; the cell's log has a header for the
    lost attempt (its worker pid) and one for attempt 2, the cell process says attempt 2, and the result lists
    both attempts; the killed attempt's staging folder is gone from this test's staging root."""
    import psutil

    setup = _slow_setup(tmp_path)
    rc: list[int] = []
    runner = threading.Thread(target=lambda: rc.append(main(cli(setup, "--executor", "ray", "--system", "crf"))))
    runner.start()
    me = psutil.Process()
    worker, orphan = wait_for(lambda: busy_worker([me], not_pid=me.pid), timeout=180,
                              what="a Ray worker running a cell in training")
    killed = worker.pid
    worker.send_signal(signal.SIGKILL)
    runner.join(timeout=600)
    assert rc == [0]
    cell_log = (setup["out"] / "run" / "slow.crf.seed1.log").read_text()
    assert f"attempt 1, Ray task on {os.uname().nodename} (worker pid {killed}): worker lost" in cell_log
    assert "===== slow × crf × seed 1: attempt 2, Ray task on" in cell_log
    assert "attempt 2 (ray executor)" in cell_log and "attempt 1 (ray executor)" not in cell_log.split("attempt 2,")[1]
    run_log = (setup["out"] / "run.log").read_text()
    assert f"attempt 1 on {os.uname().nodename} (worker pid {killed}) was lost with its Ray worker" in run_log
    for _, r in iter_results(setup["out"] / "raw"):
        first, second = r["run"]["attempts"]
        assert (first["attempt"], first["outcome"], first["worker_pid"]) == (1, "worker_lost", killed)
        assert (second["attempt"], second["outcome"]) == (2, "finished") and second["worker_pid"] != killed
        assert second["started"] and second["ended"] and second["pid"]
    wait_for(lambda: not orphan.is_running() or orphan.status() == "zombie", timeout=60, what="the orphan to stop")
    wait_for(lambda: not list(ray_here[1].glob("cell-*")), timeout=30, what="the staging folders to be removed")


@pytest.mark.slow
def test_what_a_killed_driver_leaves_the_next_one_cleans_up(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A driver that started its own Ray instance, SIGKILLed while a cell trains: the Ray processes it recorded
    are stopped by the next driver (matched by pid and start time), which says so, and no staging folder
    is left once a task sweeps the staging root."""
    import psutil

    from bench.executors.leftovers import is_running

    from .conftest import REPO

    setup = _slow_setup(tmp_path)
    root = tmp_path / "staging"
    env = {**os.environ, "PYTHONPATH": str(REPO), "NERBENCH_STAGING_DIR": str(root)}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen([sys.executable, "-m", "bench", *cli(setup, "--executor", "ray", "--system", "crf")],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    record_path = root / f"{RECORD_PREFIX}{proc.pid}.json"
    driver = psutil.Process(proc.pid)
    try:
        cells = wait_for(lambda: record_path.is_file() and [c for c in cell_children(driver) if started_for(c, 1.0)],
                         timeout=180, what="the driver's Ray instance running a cell")
        recorded = json.loads(record_path.read_text())["processes"]
        assert {p.pid for p in cells[0].parents()} & {r["pid"] for r in recorded}  # the cell runs below them
    finally:
        proc.kill()
        proc.wait()
    time.sleep(2.0)  # whatever Ray's processes do by themselves when their driver is gone
    lingering = [r for r in recorded if is_running(r)]
    with caplog.at_level(logging.WARNING, logger="bench.executors.leftovers"):
        OwnRayInstance(root)  # what the next driver does first
    assert not [r for r in recorded if is_running(r)] and not record_path.exists()
    if lingering:
        assert "left running by the Ray instance of an earlier nerbench run" in caplog.text
        assert f"driver (pid {proc.pid}) is gone" in caplog.text
    print(f"{len(lingering)} of {len(recorded)} recorded Ray processes outlived their driver", file=sys.__stderr__)
    wait_for(lambda: not any(c.is_running() and c.status() != "zombie" for c in cells), timeout=60,
             what="the cell process to stop")
    sweep_staging(root)
    assert not list(root.glob("cell-*"))


def _slow_setup(tmp_path: Path) -> dict[str, Path]:
    """One CRF cell that trains for about 5 s (see tests/test_executors.py's slow_setup)."""
    data = tmp_path / "data"
    (data / "slow").mkdir(parents=True)
    (data / "slow" / "train.txt").write_text(synthetic_conll(1500, seed=1))
    for split in ("dev", "test"):
        (data / "slow" / f"{split}.txt").write_text(synthetic_conll(200, seed=2))
    (tmp_path / "slow.toml").write_text(SLOW_TASK)
    (tmp_path / "cells.toml").write_text(CRF_SUITE.replace("TASK", "slow").replace("ITER", "150"))
    return {"task": tmp_path / "slow.toml", "suite": tmp_path / "cells.toml", "data": data, "out": tmp_path / "out"}
