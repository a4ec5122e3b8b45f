"""What a run keeps besides results: run-log folders no two runs share (Slurm array tasks starting in the
same second included), and the results-dir lock with one message per way it can fail."""

from __future__ import annotations

import errno
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

import bench.cli_runfiles
from bench.__main__ import main
from bench.cli_runfiles import RunLog, results_lock, run_log_name
from bench.errors import ConfigError

from .conftest import TINY_TASK

SUITE = """\
name = "unit"
tasks = ["tiny"]
systems = ["lookup", "crf"]
seeds = [1]

[system.lookup]
kind = "lookup"

[system.crf]
kind = "crf"
params = { max_iterations = 5 }
"""
WHEN = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture
def unit(tmp_path: Path, conll_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The tiny suite, run from ``tmp_path`` (its ``runs/`` lands there) at a fixed start time."""
    (tmp_path / "tiny.toml").write_text(TINY_TASK)
    (tmp_path / "unit.toml").write_text(SUITE)
    monkeypatch.chdir(tmp_path)
    for name in ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_ID"):
        monkeypatch.delenv(name, raising=False)

    class Fixed(datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ANN001, ANN206
            return WHEN

    monkeypatch.setattr(bench.cli_runfiles, "datetime", Fixed)
    return {"dir": tmp_path, "data": conll_dir.parent}


def run(unit: dict[str, Path], *extra: str) -> int:
    return main(["run", "--suite", "unit.toml", "--task-file", "tiny.toml", "--data-dir", str(unit["data"]),
                 "--results-dir", "raw", "--models-dir", "models", "--bootstrap", "20", *extra])


def test_run_log_names_carry_the_shard_and_the_slurm_job() -> None:
    env = {"SLURM_ARRAY_JOB_ID": "4242", "SLURM_ARRAY_TASK_ID": "3", "SLURM_JOB_ID": "4245"}
    assert run_log_name("smoke", shard=(4, 8), now=WHEN, env=env) == "smoke-20250304T050607-shard4-of-8-slurm4242_3"
    assert run_log_name("smoke", now=WHEN, env={"SLURM_JOB_ID": "99"}) == "smoke-20250304T050607-slurm99"
    assert run_log_name("smoke", now=WHEN, env={"SLURM_JOB_ID": "9/../x"}) == "smoke-20250304T050607-slurm9..x"


def test_a_taken_name_gets_a_suffix_and_is_never_reused(tmp_path: Path) -> None:
    logs = [RunLog.reserve("smoke-20250304T050607", runs_dir=tmp_path / "runs") for _ in range(3)]
    assert [r.log_dir.name for r in logs] == ["smoke-20250304T050607", "smoke-20250304T050607-2",
                                              "smoke-20250304T050607-3"]
    assert [r.log_file.name for r in logs] == [f"{r.log_dir.name}.log" for r in logs]
    assert all(r.log_dir.is_dir() and r.reserved for r in logs)
    logs[0].discard()  # still empty: removed
    (logs[1].log_dir / "cell.log").write_text("x")
    logs[1].discard()  # not empty: kept
    assert not logs[0].log_dir.exists() and logs[1].log_dir.is_dir()


def test_two_sharded_array_tasks_in_the_same_second_get_their_own_folders(
        unit: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "77")
    monkeypatch.setenv("SLURM_JOB_ID", "78")
    for task, shard in (("0", "1/2"), ("1", "2/2")):
        monkeypatch.setenv("SLURM_ARRAY_TASK_ID", task)
        assert run(unit, "--shard", shard, "--results-dir", f"raw{task}") == 0
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    assert run(unit, "--shard", "2/2", "--results-dir", "raw1", "--force") == 0  # the same task again, same second
    runs = unit["dir"] / "runs"
    assert sorted(p.name for p in runs.iterdir()) == [
        "unit-20250304T050607-shard1-of-2-slurm77_0", "unit-20250304T050607-shard1-of-2-slurm77_0.log",
        "unit-20250304T050607-shard2-of-2-slurm77_1", "unit-20250304T050607-shard2-of-2-slurm77_1-2",
        "unit-20250304T050607-shard2-of-2-slurm77_1-2.log", "unit-20250304T050607-shard2-of-2-slurm77_1.log",
    ]
    for folder in ("shard1-of-2-slurm77_0", "shard2-of-2-slurm77_1", "shard2-of-2-slurm77_1-2"):
        assert len(list((runs / f"unit-20250304T050607-{folder}").glob("*.log"))) == 1  # one cell's log each
    log = (runs / "unit-20250304T050607-shard2-of-2-slurm77_1.log").read_text()
    assert "shard 2/2 of plan " in log and "1 of 2 cells" in log


def test_a_run_refused_before_its_first_cell_leaves_no_folder(unit: dict[str, Path]) -> None:
    (unit["dir"] / "raw").mkdir()
    held = results_lock(unit["dir"] / "raw")
    try:
        assert run(unit) == 2
    finally:
        held.close()
    assert not [p for p in (unit["dir"] / "runs").iterdir() if p.is_dir()]


def test_the_lock_names_its_holder(tmp_path: Path) -> None:
    held = results_lock(tmp_path)
    try:
        with pytest.raises(ConfigError) as info:
            results_lock(tmp_path)
    finally:
        held.close()
    msg = str(info.value)
    assert f"{tmp_path} is in use by another nerbench run (pid {os.getpid()} on {socket.gethostname()}, started 20" in msg
    assert "another --results-dir" in msg
    results_lock(tmp_path).close()  # released: taken again


@pytest.mark.parametrize(("code", "words"), [
    (errno.EWOULDBLOCK, ["is in use by another nerbench run (its pid was not recorded)"]),
    (errno.EAGAIN, ["is in use by another nerbench run"]),
    (errno.ENOLCK, ["this filesystem does not support file locks", "local disk", "--no-lock"]),
    (errno.EOPNOTSUPP, ["this filesystem does not support file locks", "--no-lock"]),
    (errno.ENOSYS, ["this filesystem does not support file locks"]),
    (errno.EACCES, ["cannot take the run lock", "permission denied", "--results-dir this user can write"]),
    (errno.EROFS, ["cannot take the run lock", "read-only"]),
    (errno.EIO, ["cannot lock", "Input/output error"]),
])
def test_each_lock_error_says_what_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int,
                                         words: list[str]) -> None:
    import fcntl

    def refuse(fd: int, op: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fcntl, "flock", refuse)
    with pytest.raises(ConfigError) as info:
        results_lock(tmp_path)
    msg = str(info.value)
    assert str(tmp_path) in msg
    for word in words:
        assert word in msg
    if code not in (errno.EWOULDBLOCK, errno.EAGAIN):
        assert "in use" not in msg


@pytest.mark.parametrize(("code", "word"), [(errno.EROFS, "read-only"), (errno.EACCES, "permission denied")])
def test_a_lock_file_that_cannot_be_created_names_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            code: int, word: str) -> None:
    real_open = Path.open

    def refuse(self: Path, *a, **k):  # noqa: ANN002, ANN003, ANN202
        if self.name == ".nerbench-run.lock":
            raise OSError(code, os.strerror(code), str(self))
        return real_open(self, *a, **k)

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(ConfigError, match=f"cannot create the run lock {tmp_path / '.nerbench-run.lock'}: .*{word}"):
        results_lock(tmp_path)


def test_no_lock_runs_where_the_filesystem_cannot_lock(unit: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import fcntl

    def unsupported(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", unsupported)
    assert run(unit, "--system", "lookup") == 2
    assert "does not support file locks" in capsys.readouterr().err
    assert run(unit, "--system", "lookup", "--no-lock") == 0
    assert list((unit["dir"] / "raw").rglob("*.json"))
