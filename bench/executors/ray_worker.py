"""The worker side of ``--executor ray``: the Ray task that runs one attempt at a cell, and the event
channel that streams the cell's progress and warnings back to the driver while it runs.

The task learns its attempt number from the driver's event box (a task Ray re-runs after losing its
worker is attempt 2), removes what killed tasks left in the staging root (:mod:`bench.executors.leftovers`),
starts the same child process as ``--executor local`` in a staging folder of its own and returns the
result documents and saved predictions as bytes, the cell's log, its attempt's record
(:mod:`bench.executors.attempts`) and where its model is: a cell trained into the driver's models dir when
the worker sees it (a shared filesystem), else into the staging folder, and packed with a manifest of
sha256 digests for the driver to bring back and check (:mod:`bench.executors.model_transfer`), or into the
same absolute path on this node with ``--models-stay-on-workers``. A transfer cell gets its in-domain
model from the driver the same way. The task never raises for what happens in the child;
:mod:`bench.executors.ray_cluster` is the driver side.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RETURNED_LOG_BYTES = 1 << 20
"""At most this much of a cell's log (its end) comes back to the driver."""
STEP_EVERY_S = 0.25
"""A worker forwards a cell's ``step`` events at most this often (a training's last step always)."""
BEGIN_TIMEOUT_S = 60.0
"""How long a task waits for the event box to tell its attempt number (else it takes the driver's guess)."""


@dataclasses.dataclass(frozen=True)
class WorkerOptions:
    """What the driver tells a cell's task besides its job."""

    attempt: int = 1
    """The driver's guess of the attempt number (the event box's count wins: it sees Ray's own re-runs)."""
    marker: str | None = None
    """The token of the driver's marker file in its models dir (:class:`~bench.executors.model_transfer.SharedMarker`)."""
    bring_back: bool = True
    """Pack a trained model for the driver (unless this worker sees the driver's models dir);
    ``False``: ``--models-stay-on-workers``."""
    model: tuple[Any, dict[str, str], str] | None = None
    """A transfer cell's in-domain model from the driver: (object ref of its archive, manifest, digest)."""


class EventBox:
    """The driver's mailbox (a Ray actor that takes no CPU slot): the cells' tasks put their progress
    events and nerbench's own warnings into it while they run, the driver drains it every
    :data:`EVENT_POLL_S` while it waits for cells to end. A side channel beside the task's return value,
    rather than a streaming-generator task, so that a task Ray re-runs after losing its worker still
    returns its one reply as before (a re-run generator's items would fall on indices the driver has read)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []
        self.starts: dict[str, int] = {}

    def begin(self, label: str, info: dict[str, Any]) -> int:
        """A task of ``label`` starts: its ``start`` event, and its attempt number (every start of that cell's
        tasks counts, Ray's own re-runs of a task too)."""
        n = self.starts[label] = self.starts.get(label, 0) + 1
        self.events.append((label, "start", {**info, "attempt": n}))
        return n

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

    def begin(self, info: dict[str, Any], guess: int) -> int:
        """Announce the start; returns the attempt number (``guess`` when the box does not answer)."""
        import ray

        try:
            return int(ray.get(self.box.begin.remote(self.label, info), timeout=BEGIN_TIMEOUT_S))
        except Exception as exc:  # noqa: BLE001 - the box is only progress: the cell runs without it
            log.warning("%s: the driver's event box did not answer (%s): counting this as attempt %d",
                        self.label, exc, guess)
            self._put("start", {**info, "attempt": guess})
            return guess

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




def _ray_place() -> tuple[str | None, list[Any]]:
    """This task's Ray node id and the GPU ids Ray assigned it (``(None, [])`` outside a Ray task)."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id(), [str(g) for g in ray.get_gpu_ids()]
    except Exception:  # noqa: BLE001 - a record only: never fail a cell over it
        return None, []


def run_on_worker(job: Any, data_blob: bytes, box: Any = None, options: WorkerOptions | None = None) -> dict[str, Any]:
    """The Ray task: one attempt at a cell in a child process on this worker; returns what the driver
    needs (never raises for what happens in the child). Its events stream to the driver's ``box``."""
    from bench.errors import NerbenchError
    from bench.executors.attempts import record
    from bench.executors.leftovers import make_staging

    options = options or WorkerOptions()
    forward = _Forward(box, job.cell.label) if box is not None else None
    started, host = time.time(), socket.gethostname()
    node_id, gpu_ids = _ray_place()
    info = {"node": host, "worker_pid": os.getpid(), "started": started, "node_id": node_id, "gpu_ids": gpu_ids}
    attempt = forward.begin(info, options.attempt) if forward is not None else options.attempt
    _sweep(forward)
    staging = make_staging()
    try:
        log_path, pid, model = staging / "cell.log", None, None
        try:
            job, shared = _stage(job, options, staging)
            run, pid = _run_child(job, data_blob, log_path=log_path, attempt=attempt, staging=staging, forward=forward)
            if run.ok and _trains(job):
                model = _model_reply(job, shared=shared, bring_back=options.bring_back)
        except (NerbenchError, OSError) as exc:
            from bench.executors.local import ChildRun

            run = ChildRun(ok=False, cause=str(exc))
            with log_path.open("a", encoding="utf-8") as fh:
                fh.write(f"{exc}\n")
        raw = staging / "raw"
        files = {}
        if run.ok:
            files = {p.relative_to(raw).as_posix(): p.read_bytes() for p in sorted(raw.rglob("*"))
                     if p.is_file() and not p.name.startswith(".")}
        mine = record(attempt=attempt, executor="ray", host=host, pid=pid, worker_pid=os.getpid(), started=started,
                      ended=time.time(), outcome="finished" if run.ok else "failed", cause=run.cause,
                      node_id=node_id, gpu_ids=gpu_ids)
        return {"run": dataclasses.asdict(run), "files": files, "log": _log_end(log_path), "node": host,
                "worker_pid": os.getpid(), "attempt": mine, "model": model}
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if forward is not None:
            forward.close()


def _trains(job: Any) -> bool:
    from bench.executors.model_transfer import job_trains_model

    return job_trains_model(job)


def _sweep(forward: _Forward | None) -> None:
    """Remove what killed tasks left in the staging root; say so in the driver's run log."""
    from bench.executors.leftovers import sweep_staging

    try:
        lines = sweep_staging()
    except OSError as exc:
        lines = [f"could not look for staging folders left by killed tasks: {exc}"]
    for line in lines:
        log.info("%s", line)
        if forward is not None:
            forward.log("bench.executors.leftovers", logging.INFO, f"{socket.gethostname()}: {line}")


def _stage(job: Any, options: WorkerOptions, staging: Path) -> tuple[Any, bool]:
    """The job as this worker runs it: results into the staging folder; models into the driver's models dir
    when this worker sees it (``shared``), else a trained model into the staging folder (to be brought
    back) or into the same absolute path here (``--models-stay-on-workers``), and a transfer cell's model
    from the driver unpacked into the staging folder."""
    from bench.executors.model_transfer import sees_marker, unpack_model

    models_dir = Path(job.config.models_dir)
    shared = sees_marker(models_dir, options.marker)
    staged = staging / "models"
    if not shared and _trains(job) and options.bring_back:
        models_dir = staged
    elif not shared and not _trains(job) and options.model is not None:
        import ray

        ref, manifest, digest = options.model
        unpack_model(ray.get(ref), manifest, digest, staged / job.cell.model_rel, origin="the driver")
        models_dir = staged
    config = dataclasses.replace(job.config, results_dir=staging / "raw", models_dir=models_dir)
    return dataclasses.replace(job, config=config), shared


def _run_child(job: Any, data_blob: bytes, *, log_path: Path, attempt: int, staging: Path,
               forward: _Forward | None) -> tuple[Any, int]:
    """The cell in its own process (recorded as an owner of the staging folder); its run and pid."""
    from bench.executors.leftovers import add_owner
    from bench.executors.local import ChildProcess

    child = ChildProcess(kind=job.cell.spec.kind, label=job.cell.label, log_path=log_path, executor="ray",
                         attempt=attempt, staging_dir=str(staging), model=job.cell.spec.model)
    try:
        add_owner(staging, child.proc.pid)
    except OSError as exc:
        log.warning("%s: could not record its process in %s: %s", job.cell.label, staging, exc)
    run = child.run(job, data_blob, progress=forward.progress if forward else None,
                    on_log=forward.log if forward else None)
    return run, child.proc.pid


def _model_reply(job: Any, *, shared: bool, bring_back: bool) -> dict[str, Any] | None:
    """Where the cell's trained model is and what it holds (its manifest's digest), with the packed folder
    when it goes back to the driver; ``None`` when the system saved no model folder."""
    from bench.executors.model_transfer import describe, manifest_of, pack_model
    from bench.modeldir import MODEL_INFO_FILE

    folder = Path(job.config.models_dir) / job.cell.model_rel
    if not (folder / MODEL_INFO_FILE).is_file():
        return None
    archive, manifest = pack_model(folder) if bring_back and not shared else (None, manifest_of(folder))
    return {"node": socket.gethostname(), "path": Path(job.cell.model_rel).as_posix(), "shared_filesystem": shared,
            "archive": archive, "manifest": manifest if archive is not None else None, **describe(folder, manifest)}


def _log_end(log_path: Path) -> str:
    """The end of a cell's log (at most :data:`RETURNED_LOG_BYTES`)."""
    try:
        with log_path.open("rb") as fh:
            fh.seek(max(0, log_path.stat().st_size - RETURNED_LOG_BYTES))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
