"""The process one cell runs in: ``python -m bench.executors.child EVENTS_FD`` (started by
:func:`bench.executors.local.run_child`, never by hand).

From stdin it reads what to import (its :class:`~bench.executors.local.ChildMeta`), imports it,
then waits for its job and task data, runs :func:`bench.runner.run_cell`, and reports on the
``EVENTS_FD`` pipe as JSON lines: ``progress``, ``log`` (nerbench's own warnings), ``measured``
(training and prediction are over), then ``done`` (written files and the figures it measured of
itself) or ``failed`` (the cause). Its stdout and stderr are the cell's log file. When stdin
reaches its end the parent is gone: the child stops as after a Ctrl-C (atomic writes clean up), and
is killed if that takes too long. It ends with ``os._exit`` once its logs are flushed, as
``multiprocessing`` children do: tearing down torch's interpreter state costs a second and
nothing needs it.
"""

from __future__ import annotations

import _thread
import faulthandler
import json
import logging
import os
import pickle
import shutil
import signal
import struct
import sys
import threading
import time
from typing import Any

log = logging.getLogger("bench.executors.child")

OWN_LOGGERS = ("bench", "baselines")


class Events:
    """JSON lines to the parent, one ``os.write`` each (threads may log too)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()

    def send(self, kind: str, **fields: Any) -> None:
        line = (json.dumps({"type": kind, **fields}, default=str) + "\n").encode()
        with self.lock:
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(self.fd, view):]
            except OSError:
                pass  # the parent is gone; the stdin watchdog stops this process

    def progress(self, event: str, info: dict[str, Any]) -> None:
        self.send("progress", event=event, info=info)


class _ForwardWarnings(logging.Handler):
    """nerbench's own warnings go to the parent's console too (library chatter stays in the cell log)."""

    def __init__(self, events: Events) -> None:
        super().__init__(level=logging.WARNING)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in OWN_LOGGERS and record.name != log.name:
            self.events.send("log", name=record.name, level=record.levelno, message=record.getMessage())


def _read_exact(fd: int, n: int) -> bytes:
    """``n`` bytes from ``fd`` (raw reads: no buffer lock for the watchdog thread to hold at exit)."""
    buf, got = bytearray(n), 0
    view = memoryview(buf)
    while got < n:
        k = os.readv(fd, [view[got:]])
        if not k:
            raise EOFError("the parent closed the job pipe early")
        got += k
    return bytes(buf)


_CLEANER = """
import os, shutil, sys
fd = int(sys.argv[1])
while os.read(fd, 4096):
    pass
shutil.rmtree(sys.argv[2], ignore_errors=True)
"""


def remove_when_gone(folder: str) -> None:
    """Remove ``folder`` once this process has ended, from a small detached process.

    Removing it from here is not enough: the main thread may still write into it (a CRF swallows the
    interrupt and finishes its work) while this process removes it, and :func:`os._exit` may cut a
    removal short. The cleaner holds the read end of a pipe whose write end only this process has
    (not inherited by anything it starts); the end of this process, however it ends, closes it."""
    import subprocess

    read_fd, write_fd = os.pipe()
    try:
        subprocess.Popen([sys.executable, "-I", "-S", "-c", _CLEANER, str(read_fd), folder], pass_fds=(read_fd,),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    except OSError as exc:
        print(f"could not start the cleaner of {folder}: {exc}", file=sys.stderr, flush=True)
        os.close(write_fd)
    finally:
        os.close(read_fd)
    # write_fd stays open, unused, until this process ends


def _watch_parent(fd: int, grace_s: float, gone: threading.Event, staging_dir: str | None) -> None:
    while os.read(fd, 1 << 16):
        pass
    from bench.runner import STOP

    gone.set()
    if staging_dir:
        remove_when_gone(staging_dir)
    print("the parent process is gone: stopping this cell", file=sys.stderr, flush=True)
    STOP.set()  # sticky, in case the interrupt is swallowed (see bench.runner.STOP)
    _thread.interrupt_main(signal.SIGINT)
    time.sleep(grace_s)
    print(f"still running {grace_s:.0f} s later: exiting", file=sys.stderr, flush=True)
    if staging_dir:
        shutil.rmtree(staging_dir, ignore_errors=True)
    os._exit(137)


def _interrupt(signum: int, frame: Any) -> None:
    """SIGINT/SIGTERM: a sticky stop (see :data:`bench.runner.STOP`), then the usual KeyboardInterrupt."""
    from bench.runner import STOP

    STOP.set()
    raise KeyboardInterrupt(f"signal {signum}")


def _preload(kind: str, model: str | None = None) -> None:
    """Import what the cell needs before its clock starts, so ``train_wall_seconds`` means the same as
    in one long-lived process; the import time is in ``cost.process.startup_seconds``. The local
    executor starts the next cell's process while this one scores, so these imports mostly overlap.

    Everything: the scorers (seqeval pulls in scikit-learn, about 1.7 s); then what the system kind's
    ``preload`` names (a transformer: torch and the model type's modelling module; a CRF never imports
    torch)."""
    try:
        import nervaluate  # noqa: F401
        import seqeval.metrics  # noqa: F401
    except ImportError:
        pass  # scoring reports it properly
    from bench.systems import SYSTEM_KINDS

    try:
        if kind in SYSTEM_KINDS:
            SYSTEM_KINDS.get(kind).preload(model)
    except ImportError:
        pass  # training reports it properly


def _key_mismatch(mine: dict[str, Any], planned: dict[str, Any]) -> str:
    diffs = [f"{k} {mine.get(k)!r} here vs {planned.get(k)!r} planned" for k in sorted(set(mine) | set(planned))
             if mine.get(k) != planned.get(k)]
    return ("this process computes another cell key than the planner (" + "; ".join(diffs) + "): the worker runs "
            "other nerbench code or data; install the driver's nerbench version on every worker")


def main(argv: list[str]) -> int:
    from bench.errors import NerbenchError
    from bench.executors.local import STOP_GRACE_S
    from bench.gpu import process_cost
    from bench.lognoise import drop_library_noise
    from bench.plan import cell_key
    from bench.runner import run_cell

    events = Events(int(argv[0]))
    os.set_inheritable(events.fd, False)
    # a Ray worker blocks SIGINT, and a started process inherits the mask: the parent's SIGINT must arrive
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    faulthandler.enable()  # a segfault leaves its Python stack in the cell log
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().addHandler(_ForwardWarnings(events))
    drop_library_noise()
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

    stdin = sys.stdin.fileno()
    gone = threading.Event()
    meta = None
    try:
        (meta_len,) = struct.unpack(">Q", _read_exact(stdin, 8))
        meta = pickle.loads(_read_exact(stdin, meta_len))
        _preload(meta.kind, getattr(meta, "model", None))
        import_seconds = time.time() - meta.spawned_at
        head_len, data_len = struct.unpack(">QQ", _read_exact(stdin, 16))
        job_started_at = time.time()
        job = pickle.loads(_read_exact(stdin, head_len))
        blob = _read_exact(stdin, data_len)
        threading.Thread(target=_watch_parent, args=(stdin, STOP_GRACE_S, gone, meta.staging_dir), daemon=True).start()
        log.info("%s: process %d, attempt %d, %s executor (imports took %.1f s)", job.cell.label, os.getpid(),
                 meta.attempt, meta.executor, import_seconds)
        data = pickle.loads(blob)
        del blob
        key = cell_key(job.cell, data)
        if key != job.key:
            raise NerbenchError(_key_mismatch(key, job.key))
        startup = time.time() - job_started_at
        measured: list[dict[str, Any]] = []

        def measure() -> dict[str, Any]:
            measured.append(process_cost(executor=meta.executor, job_started_at=job_started_at,
                                         startup_seconds=startup, import_seconds=import_seconds))
            events.send("measured")
            return measured[-1]

        written = run_cell(job.cell, data, job.config, splits=job.splits, progress=events.progress, measure=measure,
                           estimate=job.estimate)
        events.send("done", written=[str(p) for p in written], process=measured[-1] if measured else None)
        log.info("%s: done, %d result file(s)", job.cell.label, len(written))
        return 0
    except EOFError:
        log.info("no job came: the parent stopped or is gone")
        if meta is not None and meta.staging_dir:  # a Ray worker killed before it handed over the job
            shutil.rmtree(meta.staging_dir, ignore_errors=True)
        return 0
    except KeyboardInterrupt:
        log.warning("interrupted")
        events.send("failed", cause="interrupted" + (" (its parent process is gone)" if gone.is_set() else ""))
        if gone.is_set() and meta is not None and meta.staging_dir:
            shutil.rmtree(meta.staging_dir, ignore_errors=True)
        return 130
    except NerbenchError as exc:
        log.error("%s", exc)
        events.send("failed", cause=str(exc))
        return 1
    except Exception as exc:  # noqa: BLE001 - any error fails this cell only, with its message
        log.exception("the cell raised")
        events.send("failed", cause=f"{type(exc).__name__}: {exc}")
        return 1


def _exit(code: int) -> None:
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    _exit(main(sys.argv[1:]))
