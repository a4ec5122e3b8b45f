"""What ``nerbench run`` keeps besides results: its run-log folder, named so that no two runs share one,
and the results-dir lock.

Run logs: ``runs/<suite>-<UTC time>[-shard<K>-of-<N>][-slurm<array job>_<array task> | -slurm<job>]``
(a folder of per-cell logs, with the run's own log beside it as ``<folder>.log``); the folder is created
exclusively (``mkdir``, atomic on local disks and NFS alike), and a name already taken gets ``-2``,
``-3``, ... So Slurm array tasks starting in the same second, or two runs on one machine, never write
into one folder.

The lock: :func:`results_lock`.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.errors import ConfigError

RUNS_DIR = Path("runs")
LOCK_NAME = ".nerbench-run.lock"
SLURM_IDS = ("SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_ID")
"""The Slurm variables a run-log name carries (when set)."""


def run_log_name(suite: str, *, shard: tuple[int, int] = (1, 1), now: datetime | None = None,
                 env: Any = None) -> str:
    """The run-log folder's name: suite, UTC start time, the shard when sharded, the Slurm job when set.

    >>> when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    >>> run_log_name("smoke", now=when, env={})
    'smoke-20250102T030405'
    >>> run_log_name("smoke", shard=(2, 4), now=when, env={"SLURM_ARRAY_JOB_ID": "812", "SLURM_ARRAY_TASK_ID": "1",
    ...                                                     "SLURM_JOB_ID": "813"})
    'smoke-20250102T030405-shard2-of-4-slurm812_1'
    >>> run_log_name("smoke", now=when, env={"SLURM_JOB_ID": "813"})
    'smoke-20250102T030405-slurm813'
    """
    env = os.environ if env is None else env
    parts = [suite, f"{(now or datetime.now(UTC)):%Y%m%dT%H%M%S}"]
    k, n = shard
    if n > 1:
        parts.append(f"shard{k}-of-{n}")
    array_job, array_task, job = (_safe(env.get(name, "")) for name in SLURM_IDS)
    if array_job and array_task:
        parts.append(f"slurm{array_job}_{array_task}")
    elif job:
        parts.append(f"slurm{job}")
    return "-".join(parts)


def _safe(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "", value)


@dataclass(frozen=True)
class RunLog:
    """A run's log folder (``log_dir``: the per-cell logs) and its own log file beside it."""

    log_dir: Path
    log_file: Path
    reserved: bool = False
    """Created by :meth:`reserve` for this run (:meth:`discard` removes it again while empty)."""

    @classmethod
    def planned(cls, log_file: Path) -> RunLog:
        """A run log at a given ``--log-file`` (the folder beside it, without the suffix); nothing is created."""
        return cls(log_file.with_suffix(""), log_file)

    @classmethod
    def reserve(cls, name: str, *, runs_dir: Path = RUNS_DIR, attempts: int = 1000) -> RunLog:
        """Create ``runs_dir/name`` exclusively, or ``name-2``, ``name-3``, ... when taken."""
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"run log folder {runs_dir} cannot be created ({exc.strerror or exc}); "
                              "run from a writable folder or give --log-file") from None
        for i in range(1, attempts + 1):
            folder = runs_dir / (name if i == 1 else f"{name}-{i}")
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise ConfigError(f"run log folder {folder} cannot be created ({exc.strerror or exc}); "
                                  "run from a writable folder or give --log-file") from None
            return cls(folder, folder.with_name(folder.name + ".log"), reserved=True)
        raise ConfigError(f"{runs_dir}: {attempts} run log folders named {name}[-N] exist already; clear some")

    def discard(self) -> None:
        """Remove a reserved folder that is still empty (the run stopped before any cell)."""
        if self.reserved:
            try:
                self.log_dir.rmdir()
            except OSError:
                pass


def choose_run_log(args: Any, suite: str, *, shard: tuple[int, int], rank: int) -> RunLog:
    """``--log-file`` as given, else a run-log folder of a name no other run has (reserved now, except for a
    dry run). Under torchrun each rank > 0 gets its own, ``.rank<r>``."""
    if args.log_file:
        log_file = Path(args.log_file)
        if rank:
            log_file = log_file.with_name(f"{log_file.stem}.rank{rank}{log_file.suffix}")
        return RunLog.planned(log_file)
    name = run_log_name(suite, shard=shard) + (f".rank{rank}" if rank else "")
    return RunLog.planned(RUNS_DIR / f"{name}.log") if args.dry_run else RunLog.reserve(name)


def preflight_writable(locations: dict[str, Path]) -> None:
    """Fail before any cell trains when an output folder cannot be written (read-only, not a folder)."""
    for what, folder in locations.items():
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise ConfigError(f"{what} {folder} is not writable ({exc.strerror or exc}); nothing was done") from None


class RunLock:
    """The held lock of one results dir; :meth:`close` releases it."""

    def __init__(self, fh: Any) -> None:
        self.fh = fh

    def close(self) -> None:
        self.fh.close()


UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS}
"""flock errors of a filesystem without lock support (NFS without a lock service: ENOLCK; Lustre mounted
``noflock``: ENOSYS)."""
BUSY = {errno.EWOULDBLOCK, errno.EAGAIN}
DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}


def results_lock(results_dir: Path) -> RunLock:
    """One ``nerbench run`` at a time per results dir: a second one exits with a clear message instead of
    running the same cells twice.

    What it covers: one results dir (``.nerbench-run.lock`` in it), through ``flock``, which the OS drops
    when the process ends (a killed run never leaves it held). Runs on one machine always see it; runs on
    other machines only where the filesystem passes flock locks between clients (NFS with working locks
    does; NFS mounted ``nolock``/``local_lock``, Lustre ``localflock`` and most FUSE mounts do not). The
    holder's pid, host and start time are written into the file so a refused run can name them. A models
    dir or run-log folder is not covered.
    """
    import fcntl

    path = Path(results_dir) / LOCK_NAME
    try:
        fh = path.open("a+", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(lock_error(exc, results_dir, path, holder="", doing="create")) from None
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        fh.seek(0)
        holder = fh.read().strip()
        fh.close()
        raise ConfigError(lock_error(exc, results_dir, path, holder=holder, doing="take")) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()} on {socket.gethostname()}, started {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}\n")
    fh.flush()
    return RunLock(fh)


def lock_error(exc: OSError, results_dir: Path, path: Path, *, holder: str, doing: str = "take") -> str:
    """The message for a results-dir lock that could not be taken, by what the OS said."""
    if exc.errno in BUSY:
        who = holder or "its pid was not recorded"
        return (f"{results_dir} is in use by another nerbench run ({who}); wait for it to finish, or give this "
                "run another --results-dir")
    if exc.errno in UNSUPPORTED:
        return (f"{results_dir}: this filesystem does not support file locks ({exc.strerror or exc} locking "
                f"{path}); use a results dir on a local disk (copy the results over afterwards), or run with "
                "--no-lock and make sure no other run uses this results dir at the same time")
    if exc.errno in DENIED:
        what = "its filesystem is read-only" if exc.errno == errno.EROFS else "permission denied to this user"
        return (f"{results_dir}: cannot {doing} the run lock {path}: {what} ({exc.strerror}); give a "
                "--results-dir this user can write")
    return (f"{results_dir}: cannot lock {path} ({exc.strerror or exc}); give another --results-dir, or run with "
            "--no-lock if this filesystem cannot lock files")
