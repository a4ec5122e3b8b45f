"""The worker side of ``--executor ray``: the Ray task that runs one attempt at a cell, and the event
channel that streams the cell's progress and warnings back to the driver while it runs.

The task starts the same child process as ``--executor local`` in a worker-local staging folder and
returns the result documents and saved predictions as bytes plus the cell's log (never raising for
what happens in the child); :mod:`bench.executors.ray_cluster` is the driver side.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RETURNED_LOG_BYTES = 1 << 20
"""At most this much of a cell's log (its end) comes back to the driver."""
STEP_EVERY_S = 0.25
"""A worker forwards a cell's ``step`` events at most this often (a training's last step always)."""


class EventBox:
    """The driver's mailbox (a Ray actor that takes no CPU slot): the cells' tasks put their progress
    events and nerbench's own warnings into it while they run, the driver drains it every
    :data:`EVENT_POLL_S` while it waits for cells to end. A side channel beside the task's return value,
    rather than a streaming-generator task, so that a task Ray re-runs after losing its worker still
    returns its one reply as before (a re-run generator's items would fall on indices the driver has read)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []

    def put(self, batch: list[tuple[str, str, Any]]) -> int:
        self.events.extend(batch)
        return len(self.events)

    def drain(self) -> list[tuple[str, str, Any]]:
        out, self.events = self.events, []
        return out


class _Forward:
    """In a Ray task: one cell's events to the :class:`EventBox`, without waiting (Ray runs one caller's
    calls to an actor in the order they were made); ``step`` events at most every :data:`STEP_EVERY_S`,
    the latest one kept until the next event."""

    def __init__(self, box: Any, label: str) -> None:
        self.box, self.label = box, label
        self.pending: dict[str, Any] | None = None
        self.last_step = -math.inf

    def _put(self, kind: str, payload: Any) -> Any:
        return self.box.put.remote([(self.label, kind, payload)])

    def progress(self, event: str, info: dict[str, Any]) -> None:
        if event == "step":
            now = time.monotonic()
            if now - self.last_step < STEP_EVERY_S and info.get("step") != info.get("total"):
                self.pending = info
                return
            self.last_step, self.pending = now, None
        elif self.pending is not None:
            self._put("progress", ("step", self.pending))
            self.pending = None
        self._put("progress", (event, info))

    def log(self, name: str | None, level: Any, message: Any) -> None:
        self._put("log", (name, level, message))

    def close(self) -> None:
        """Send what is kept and wait until the box holds everything sent: the driver, which drains it when
        the task's reply is ready, then has all of the cell's events."""
        import ray

        if self.pending is not None:
            self._put("progress", ("step", self.pending))
        try:
            ray.get(self.box.put.remote([]))
        except Exception as exc:  # noqa: BLE001 - progress only: the cell's result still goes back
            log.warning("%s: its progress events could not reach the driver: %s", self.label, exc)


def run_on_worker(job: Any, data_blob: bytes, box: Any = None) -> dict[str, Any]:
    """The Ray task: one attempt at a cell in a child process on this worker; returns what the driver
    needs (never raises for what happens in the child). Its events stream to the driver's ``box``."""
    from bench.executors.local import run_child

    forward = _Forward(box, job.cell.label) if box is not None else None
    if forward is not None:
        forward._put("start", {"node": socket.gethostname()})
    staging = Path(tempfile.mkdtemp(prefix="nerbench-cell-"))
    try:
        raw = staging / "raw"
        job = dataclasses.replace(job, config=dataclasses.replace(job.config, results_dir=raw))
        log_path = staging / "cell.log"
        run = run_child(job, data_blob, log_path=log_path, executor="ray", staging_dir=str(staging),
                        progress=forward.progress if forward else None, on_log=forward.log if forward else None)
        files = {}
        if run.ok:
            files = {p.relative_to(raw).as_posix(): p.read_bytes() for p in sorted(raw.rglob("*"))
                     if p.is_file() and not p.name.startswith(".")}
        with log_path.open("rb") as fh:
            fh.seek(max(0, log_path.stat().st_size - RETURNED_LOG_BYTES))
            cell_log = fh.read().decode("utf-8", errors="replace")
        return {"run": dataclasses.asdict(run), "files": files, "log": cell_log, "node": socket.gethostname(),
                "worker_pid": os.getpid()}
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if forward is not None:
            forward.close()
