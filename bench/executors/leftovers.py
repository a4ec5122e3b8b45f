"""What a killed ``--executor ray`` run leaves behind, and its cleaning up.

Staging folders. A Ray task stages its cell in ``<root>/cell-<pid>-<hex>`` (root: ``$NERBENCH_STAGING_DIR``,
else ``<temp dir>/nerbench-ray-<uid>``) with an owner record (``owner.json``: host, and the pid and start time
of the worker process and of the cell's process). The task removes its folder when it ends, and the cell's
process removes it when its worker is killed (:func:`bench.executors.child.remove_when_gone`); what a kill of
both leaves (a half-written result, a model) is removed by the next task on that host: :func:`sweep_staging`
removes every folder none of whose owner processes still runs. A process is matched by pid *and* start time,
so a recycled pid never keeps a folder, and folders of other hosts (a root on a shared filesystem) are left
to their own host's tasks.

Ray's own processes. A Ray instance that a driver starts itself (``ray.init()`` without an address) runs its
GCS, raylet, agents and workers as the driver's child processes; a driver killed with SIGKILL may leave them
running, holding CPUs, memory and GPUs. :class:`OwnRayInstance` records them (pid and start time) in
``<root>/ray-driver-<pid>.json`` right after the driver started them and forgets them after its shutdown; the
next driver on that host kills the recorded processes of every recording driver that is gone (and what runs
below them: Ray's workers and their cells), matched by pid and start time, and says which.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STAGING_ENV = "NERBENCH_STAGING_DIR"
"""The folder that holds the Ray tasks' staging folders (default: ``<temp dir>/nerbench-ray-<uid>``)."""
OWNER_FILE = "owner.json"
CELL_PREFIX = "cell-"
RECORD_PREFIX = "ray-driver-"
YOUNG_S = 60.0
"""A staging folder without a readable owner record is left alone this long (its task may be writing it)."""
TERM_GRACE_S = 5.0


def staging_root() -> Path:
    """``$NERBENCH_STAGING_DIR``, else ``<temp dir>/nerbench-ray-<uid>``; made (mode 0700) when missing."""
    given = os.environ.get(STAGING_ENV)
    root = Path(given).expanduser() if given else Path(tempfile.gettempdir()) / f"nerbench-ray-{os.getuid()}"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not given and root.stat().st_uid != os.getuid():
        raise PermissionError(f"{root} belongs to another user: set {STAGING_ENV} to a folder of your own")
    return root


def process_id(pid: int) -> dict[str, Any] | None:
    """``{"pid", "create_time"}`` of a running process, ``None`` when there is none."""
    import psutil

    try:
        return {"pid": pid, "create_time": psutil.Process(pid).create_time()}
    except psutil.Error:
        return None


def is_running(ident: dict[str, Any]) -> bool:
    """Whether the process ``ident`` (:func:`process_id`) still runs: same pid, same start time, not a zombie."""
    return _matching(ident) is not None


def _matching(ident: Any) -> Any:
    """The running process ``ident`` names (same pid and start time, not a zombie) as a ``psutil.Process``,
    else ``None``."""
    import psutil

    try:
        proc = psutil.Process(int(ident["pid"]))
        if abs(proc.create_time() - float(ident["create_time"])) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE:
            return proc
    except (psutil.Error, KeyError, TypeError, ValueError):
        pass
    return None


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- staging folders


def make_staging(root: Path | None = None) -> Path:
    """A new staging folder for this process's task, with its owner record (this process)."""
    root = root or staging_root()
    folder = root / f"{CELL_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    folder.mkdir(mode=0o700)
    _write_json(folder / OWNER_FILE, {"host": socket.gethostname(), "started": time.time(),
                                      "processes": [process_id(os.getpid())]})
    return folder


def add_owner(folder: Path, pid: int) -> None:
    """Record one more process that writes into ``folder`` (the cell's own): it keeps the folder while it runs."""
    record = _read_json(folder / OWNER_FILE) or {"host": socket.gethostname(), "processes": []}
    if (ident := process_id(pid)) is not None:
        record["processes"] = [*record.get("processes", []), ident]
        _write_json(folder / OWNER_FILE, record)


def sweep_staging(root: Path | None = None, *, keep: Path | None = None) -> list[str]:
    """Remove the staging folders under ``root`` that no running process of this host owns any more (see the
    module docstring); returns one line per folder removed, saying whose it was."""
    root = root or staging_root()
    host, removed = socket.gethostname(), []
    for folder in sorted(root.glob(f"{CELL_PREFIX}*")):
        if not folder.is_dir() or folder == keep:
            continue
        record = _read_json(folder / OWNER_FILE)
        if not isinstance(record, dict):
            try:
                young = time.time() - folder.stat().st_mtime < YOUNG_S
            except OSError:
                continue
            pid = folder.name[len(CELL_PREFIX):].split("-")[0]
            if young or not pid.isdigit() or process_id(int(pid)) is not None:
                continue
            whose = f"pid {pid}, no owner record"
        else:
            owners = [p for p in record.get("processes", []) if isinstance(p, dict)]
            if record.get("host") != host or any(is_running(p) for p in owners):
                continue
            whose = "pids " + ", ".join(str(p.get("pid")) for p in owners) + " (gone)"
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed.append(f"removed {folder}, a staging folder left by a killed task ({whose})")
    return removed


# --------------------------------------------------------------------------- Ray's processes


def _descendants(proc: Any) -> list[Any]:
    """What runs below ``proc`` (a pid or a ``psutil.Process``)."""
    import psutil

    try:
        return (psutil.Process(proc) if isinstance(proc, int) else proc).children(recursive=True)
    except psutil.Error:
        return []


class OwnRayInstance:
    """The processes of a Ray instance this driver starts (see the module docstring). Make one before
    ``ray.init`` (it cleans up after dead drivers first), call :meth:`started` after it and :meth:`stopped`
    after ``ray.shutdown``."""

    def __init__(self, root: Path | None = None) -> None:
        try:
            self.root: Path | None = root or staging_root()
        except OSError as exc:
            log.warning("cannot clean up after earlier Ray runs: %s", exc)
            self.root = None
        self.before = {p.pid for p in _descendants(os.getpid())}
        self.record: Path | None = None
        for line in kill_lingering(self.root) if self.root else []:
            log.warning("%s", line)

    def started(self) -> None:
        """Record the processes that appeared below this one since (none when ``ray.init`` connected to a
        running instance)."""
        if self.root is None:
            return
        new = [p for p in _descendants(os.getpid()) if p.pid not in self.before]
        idents = [i for p in new if (i := process_id(p.pid)) is not None]
        if not idents:
            return
        self.record = self.root / f"{RECORD_PREFIX}{os.getpid()}.json"
        try:
            _write_json(self.record, {"host": socket.gethostname(), "driver": process_id(os.getpid()),
                                      "processes": idents})
        except OSError as exc:
            log.warning("cannot record the Ray instance's processes in %s: %s", self.record, exc)
            self.record = None

    def stopped(self) -> None:
        if self.record is not None:
            self.record.unlink(missing_ok=True)
            self.record = None


def kill_lingering(root: Path) -> list[str]:
    """Kill what the Ray instances of gone drivers of this host left running (their recorded processes, matched
    by pid and start time, and what runs below them); returns one line per recording driver."""
    import psutil

    host, lines = socket.gethostname(), []
    for path in sorted(root.glob(f"{RECORD_PREFIX}*.json")):
        record = _read_json(path)
        if not isinstance(record, dict) or record.get("host") != host:
            continue
        driver = record.get("driver")
        if not isinstance(driver, dict) or "pid" not in driver or is_running(driver):
            continue
        procs = []
        for ident in record.get("processes", []):
            if (top := _matching(ident)) is not None:
                procs += [top, *_descendants(top)]
        procs = list({p.pid: p for p in procs}.values())
        names = ", ".join(sorted({_name(p) for p in procs}))
        for p in procs:
            try:
                p.terminate()
            except psutil.Error:
                pass
        alive = _wait_gone(procs, TERM_GRACE_S)
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
        _wait_gone(alive, TERM_GRACE_S)
        path.unlink(missing_ok=True)
        if procs:
            lines.append(f"stopped {len(procs)} process(es) left running by the Ray instance of an earlier nerbench "
                         f"run whose driver (pid {driver.get('pid')}) is gone: {names} (pids "
                         f"{', '.join(str(p.pid) for p in procs)})")
    return lines


def _wait_gone(procs: list[Any], timeout: float) -> list[Any]:
    """Wait until every process in ``procs`` has ended (a zombie has: the kernel no longer runs it, whether or
    not anyone reaps it); returns those still running after ``timeout`` seconds."""
    import psutil

    def running(p: Any) -> bool:
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    deadline = time.monotonic() + timeout
    alive = [p for p in procs if running(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if running(p)]
    return alive


def _name(proc: Any) -> str:
    try:
        return str(proc.name())
    except Exception:  # noqa: BLE001 - gone meanwhile
        return "?"
