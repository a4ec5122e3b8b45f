"""``--executor local``: each cell in its own freshly started Python process.

The parent starts ``python -m bench.executors.child`` (a new interpreter, never a fork: CUDA, thread
pools and allocators start clean), in its own session so a terminal's Ctrl-C reaches only the
parent, which then stops the child itself. Over the child's stdin go first what to import (the
system kind), then the job and the task data (pickled once per task, so the child reads exactly
the data the parent planned with); the stdin pipe then stays open, and the child stops itself when
it closes, i.e. when the parent is gone. Events come back as JSON lines on a separate pipe
(progress, nerbench's own warnings, the child's own cost figures, done/failed), so nothing a
library prints can break the parent's display: the child's stdout and stderr go to the cell's own
log file.

Start-up is hidden where it costs nothing: once a cell has measured itself (training and prediction
done, only scoring and writing left) the parent starts the next cell's process, which imports
torch or the CRF library while the previous cell writes; no recorded figure overlaps another
cell's work.

A child that dies (signal, OOM kill, segfault, non-zero exit) is a failed cell with the cause and
the tail of its log; ``retries`` re-runs it. Every attempt (its process, when it started and ended, how
it ended) goes into the results of the one that finished (``run.attempts``, :mod:`bench.executors.attempts`).
What the kernel accounted for the child (``os.wait4``: peak RSS, CPU seconds) is kept beside what the
child measured itself.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.executors.base import cell_log_name, job_data_key

log = logging.getLogger(__name__)

STOP_GRACE_S = 30.0
"""How long a child may take to stop cleanly after SIGINT before it is killed."""
LOG_TAIL_LINES = 20
CHILD_MODULE = "bench.executors.child"


@dataclass(frozen=True)
class ChildMeta:
    """What the parent tells a child when it starts it."""

    kind: str
    """The system kind, whose libraries the child imports before its job comes."""
    executor: str
    spawned_at: float
    """``time.time()`` just before the process was started."""
    attempt: int = 1
    staging_dir: str | None = None
    """A worker-local folder the child may delete when its parent is gone (``--executor ray``)."""
    model: str | None = None
    """The transformer's model (name, folder or hub id), whose modelling code the child imports early."""


@dataclass
class ChildRun:
    """How one attempt at a cell went."""

    ok: bool
    cause: str | None = None
    written: list[str] = field(default_factory=list)
    process: dict[str, Any] | None = None
    """The figures the child measured itself (``cost.process`` of its results)."""
    exit_code: int | None = None
    """``os.waitstatus_to_exitcode``: negative for a signal."""
    exit_usage: dict[str, Any] | None = None
    """``os.wait4``'s account of the child: peak RSS (MiB) and CPU seconds."""
    log_tail: str = ""


def task_payload(data: Any) -> bytes:
    """A task's data as sent to a cell's process (pickled once per task and reused for every cell)."""
    return pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)


def child_env() -> dict[str, str]:
    """The child's environment: this one, with the folder holding ``bench`` first on ``PYTHONPATH`` (a
    source checkout runs without being installed) and the hub's progress bars off."""
    import bench

    env = dict(os.environ)
    root = str(Path(bench.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    return env


def describe_exit(code: int, usage: dict[str, Any] | None) -> str:
    """Why a child that reported no outcome ended, in words.

    >>> describe_exit(-9, {"peak_rss_mb": 2048.0})
    'killed by SIGKILL (signal 9): out of memory (the kernel OOM killer) or killed from outside; peak RSS 2048 MiB'
    >>> describe_exit(3, None)
    'exited with status 3 without reporting a result'
    """
    peak = f"; peak RSS {usage['peak_rss_mb']:.0f} MiB" if usage and usage.get("peak_rss_mb") else ""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = {
            "SIGKILL": ": out of memory (the kernel OOM killer) or killed from outside",
            "SIGSEGV": ": segmentation fault (a crash in native code; see the log for the Python stack)",
            "SIGABRT": ": aborted (a native library gave up; see the log)",
            "SIGBUS": ": bus error (memory-mapped file gone or hardware fault)",
            "SIGTERM": ": terminated from outside",
        }.get(name, "")
        return f"killed by {name} (signal {-code}){why}{peak}"
    return f"exited with status {code} without reporting a result{peak}"


CRASH_MARKERS = ("Traceback (most recent call last)", "Fatal Python error")
LOG_LINE_CHARS = 240


def log_tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    """The part of a cell's log that says why it failed: from the last Python traceback or fatal-error
    report when there is one near the end (a segfault's stack, from faulthandler), else the last
    ``lines`` lines; long lines are cut.

    >>> print(log_tail("a\\nTraceback (most recent call last):\\n  File x\\nValueError: bad", lines=2))
    Traceback (most recent call last):
      File x
    ValueError: bad
    """
    rows = text.rstrip().splitlines()
    recent = rows[-3 * lines:]
    starts = [i for i, row in enumerate(recent) if row.startswith(CRASH_MARKERS)]
    picked = recent[starts[-1]:][: 2 * lines] if starts else rows[-lines:]
    return "\n".join(row if len(row) <= LOG_LINE_CHARS else row[: LOG_LINE_CHARS - 1] + "…" for row in picked)


def _log_tail(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            return log_tail(fh.read().decode("utf-8", errors="replace"))
    except OSError:
        return ""


def _usage(ru: Any) -> dict[str, Any]:
    from bench.gpu import rusage_peak_mb

    return {"peak_rss_mb": rusage_peak_mb(ru), "cpu_seconds": ru.ru_utime + ru.ru_stime}


UNKNOWN_EXIT = -255
"""Exit code when the child was reaped by someone else (a host that ignores SIGCHLD): only its events tell."""


def _reap(pid: int, *, block: bool) -> tuple[int, dict[str, Any]] | None:
    """``os.wait4`` the child: ``(exit code, usage)``, or ``None`` when not blocking and still running."""
    try:
        got, status, ru = os.wait4(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return UNKNOWN_EXIT, {}
    if got == 0:
        return None
    return os.waitstatus_to_exitcode(status), _usage(ru)


def _stop(proc: subprocess.Popen[bytes]) -> tuple[int, dict[str, Any]]:
    """Ask the child to stop (SIGINT: it cleans up like a Ctrl-C), kill it after :data:`STOP_GRACE_S`."""
    try:
        os.kill(proc.pid, signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline:
            reaped = _reap(proc.pid, block=False)
            if reaped is not None:
                return reaped
            time.sleep(0.05)
    except (KeyboardInterrupt, ProcessLookupError, ChildProcessError):
        pass  # a second Ctrl-C: no more waiting
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        return _reap(proc.pid, block=True) or (-9, {})
    except ChildProcessError:
        return -9, {}


class ChildProcess:
    """A started cell process, importing what its system kind needs, until :meth:`run` hands it a job."""

    def __init__(self, *, kind: str, label: str, log_path: Path, executor: str = "local", attempt: int = 1,
                 staging_dir: str | None = None, model: str | None = None) -> None:
        self.label = label
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.offset = log_path.stat().st_size if log_path.exists() else 0
        self.reaped: tuple[int, dict[str, Any]] | None = None
        read_fd, write_fd = os.pipe()
        with log_path.open("ab") as logfh:
            logfh.write(f"===== {label}: attempt {attempt} ({executor} executor) =====\n".encode())
            logfh.flush()
            meta = ChildMeta(kind=kind, executor=executor, spawned_at=time.time(), attempt=attempt,
                             staging_dir=staging_dir, model=model)
            try:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", CHILD_MODULE, str(write_fd)], stdin=subprocess.PIPE, stdout=logfh,
                    stderr=subprocess.STDOUT, pass_fds=(write_fd,), env=child_env(), start_new_session=True,
                )
            except BaseException:
                os.close(read_fd)
                raise
            finally:
                os.close(write_fd)
        self.events = os.fdopen(read_fd, "rb")
        self._send(pickle.dumps(meta, protocol=pickle.HIGHEST_PROTOCOL))

    def _send(self, *parts: bytes) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(struct.pack(f">{len(parts)}Q", *(len(p) for p in parts)))
            for part in parts:
                self.proc.stdin.write(part)
            self.proc.stdin.flush()  # stays open: its end tells the child that this process is gone
        except BrokenPipeError:
            pass  # the child died early; its exit status says why

    def run(self, job: Any, data_blob: bytes, *, progress: Any = None, on_measured: Any = None,
            on_log: Any = None) -> ChildRun:
        """Hand over ``job`` (a :class:`bench.runner.CellJob`) and wait for the child to end; never raises
        for what happens inside it. KeyboardInterrupt stops the child cleanly, then propagates.
        ``on_log(name, level, message)`` takes the child's own warnings (default: :func:`relay_log`)."""
        run = ChildRun(ok=False)
        try:
            self._send(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL), data_blob)
            for raw in self.events:
                kind = _handle_event(raw, run, label=self.label, progress=progress, on_log=on_log)
                if kind == "measured" and on_measured:
                    on_measured()
            self.reaped = _reap(self.proc.pid, block=True)
        except BaseException:
            self.close()
            raise
        self.close()
        assert self.reaped is not None
        run.exit_code, run.exit_usage = self.reaped
        if run.exit_code == UNKNOWN_EXIT:
            run.exit_usage = None
            if not run.ok and run.cause is None:
                run.cause = "ended without reporting a result (exit status unknown)"
        elif run.ok and run.exit_code != 0:
            run.ok, run.cause = False, f"reported success but {describe_exit(run.exit_code, run.exit_usage)}"
        elif not run.ok and run.cause is None:
            run.cause = describe_exit(run.exit_code, run.exit_usage)
        if not run.ok:
            run.log_tail = _log_tail(self.log_path, self.offset)
        return run

    def close(self) -> None:
        """Stop the child if it still runs (SIGINT, then SIGKILL), reap it, close the pipes."""
        if self.reaped is None:
            self.reaped = _stop(self.proc)
        self.proc.returncode = self.reaped[0]  # reaped here, not by Popen
        for stream in (self.proc.stdin, self.events):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


def run_child(job: Any, data_blob: bytes, *, log_path: Path, progress: Any = None, executor: str = "local",
              attempt: int = 1, staging_dir: str | None = None, on_log: Any = None) -> ChildRun:
    """One attempt at ``job`` in a new process (see :class:`ChildProcess`)."""
    child = ChildProcess(kind=job.cell.spec.kind, label=job.cell.label, log_path=log_path, executor=executor,
                         attempt=attempt, staging_dir=staging_dir, model=job.cell.spec.model)
    return child.run(job, data_blob, progress=progress, on_log=on_log)


def relay_log(label: str, name: str | None, level: Any, message: Any) -> None:
    """A cell's own log record, reported by its process, logged here under its logger's name."""
    logging.getLogger(name or "bench").log(int(level or logging.WARNING), "%s: %s", label, message)


def _handle_event(raw: bytes, run: ChildRun, *, label: str, progress: Any, on_log: Any = None) -> str | None:
    """Apply one event line to ``run``; returns its type."""
    try:
        event = json.loads(raw)
    except ValueError:
        log.warning("%s: unreadable event from the cell's process: %r", label, raw[:200])
        return None
    kind = event.get("type")
    if kind == "progress":
        if progress:
            progress(event["event"], {**event["info"], "cell": label})
    elif kind == "log":
        (on_log or functools.partial(relay_log, label))(event.get("name"), event.get("level"), event.get("message"))
    elif kind == "done":
        run.ok, run.written, run.process = True, list(event["written"]), event.get("process")
    elif kind == "failed":
        run.ok, run.cause = False, str(event.get("cause"))
    return kind


class LocalExecutor:
    """Every cell in its own process, one after another; see the module docstring."""

    name = "local"

    def __init__(self, *, log_dir: Path | None = None, retries: int = 0) -> None:
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="nerbench-cells-"))
        self.retries = retries

    def _start(self, job: Any, attempt: int = 1) -> ChildProcess:
        return ChildProcess(kind=job.cell.spec.kind, label=job.cell.label, log_path=self.log_dir / cell_log_name(job.cell),
                            executor=self.name, attempt=attempt, model=job.cell.spec.model)

    def run(self, jobs: list[tuple[Any, Any]], *, outcome: Any, progress: Any = None) -> None:
        payloads: dict[str, bytes] = {}
        spare: dict[int, ChildProcess] = {}  # at most one: the next cell's process, started early

        try:
            for i, (job, data) in enumerate(jobs):
                label = job.cell.label
                if progress:
                    progress("cell", {"cell": label, "index": i + 1, "total": len(jobs)})
                if job_data_key(job) not in payloads:
                    payloads = {job_data_key(job): task_payload(data)}  # jobs come grouped by task: keep one
                outcome.logs[label] = self.log_dir / cell_log_name(job.cell)

                def start_next(i: int = i) -> None:
                    if i + 1 < len(jobs) and i + 1 not in spare:
                        spare[i + 1] = self._start(jobs[i + 1][0])

                attempts: list[dict[str, Any]] = []
                for attempt in range(1, self.retries + 2):
                    child = spare.pop(i) if attempt == 1 and i in spare else self._start(job, attempt)
                    handed = time.time()
                    run = child.run(job, payloads[job_data_key(job)], progress=progress, on_measured=start_next)
                    _note_attempt(attempts, run, attempt=attempt, pid=child.proc.pid, started=handed)
                    if record_attempt(outcome, label, run, attempt=attempt, retries=self.retries, progress=progress):
                        break
                if progress:
                    progress("cell_done", {"cell": label, "done": i + 1, "total": len(jobs),
                                           "failed": label not in outcome.done})
        finally:
            for child in spare.values():
                child.close()


def _note_attempt(attempts: list[dict[str, Any]], run: ChildRun, *, attempt: int, pid: int, started: float) -> None:
    """Add this attempt to the cell's record; a finished one writes them all into its results (``run.attempts``)."""
    import socket

    from bench.executors.attempts import annotate_written, record

    attempts.append(record(attempt=attempt, executor="local", host=socket.gethostname(), pid=pid, started=started,
                           ended=time.time(), outcome="finished" if run.ok else "failed", cause=run.cause))
    if run.ok:
        annotate_written([Path(p) for p in run.written], attempts)


def record_attempt(outcome: Any, label: str, run: ChildRun, *, attempt: int, retries: int, progress: Any,
                   written: list[Path] | None = None) -> bool:
    """Put one attempt's outcome into ``outcome``; ``True`` when the cell is settled (done, or failed
    with no retry left)."""
    if run.exit_usage:
        outcome.exit_usage[label] = run.exit_usage
    if run.ok:
        if run.process:
            outcome.process[label] = run.process
            log.info("%s: done; its process: peak RSS %.0f MiB, %.1f CPU s, %.1f s wall (%.1f s to start)", label,
                     run.process["peak_rss_mb"], run.process["cpu_seconds"], run.process["wall_seconds"] or 0.0,
                     run.process["startup_seconds"] or 0.0)
        outcome.written.extend(written if written is not None else [Path(p) for p in run.written])
        outcome.done.append(label)
        return True
    if attempt <= retries:
        outcome.retried.append((label, attempt, run.cause or "failed"))
        log.warning("%s: attempt %d failed (%s); running it again", label, attempt, run.cause)
        if progress:
            progress("retry", {"cell": label, "attempt": attempt, "retries": retries, "cause": run.cause})
        return False
    log.error("%s failed: %s", label, run.cause)
    outcome.failed.append((label, run.cause or "failed"))
    outcome.log_tails[label] = run.log_tail
    return True
