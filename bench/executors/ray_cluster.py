"""``--executor ray``: each cell a Ray task; results travel back to the driver.

The driver (this process) has planned the suite and skipped finished cells before anything is
submitted. Each task gets the cell's job and its task's data (one object in Ray's store per task, so
workers need no copy of the data), starts the same child process as ``--executor local`` in a
worker-local staging folder, and returns the result documents and saved predictions as bytes plus
the cell's log. The driver validates and writes them atomically into its results dir: no shared
filesystem is needed for results. Trained models come back to the driver's ``--models-dir`` too, checked
file by file, unless the workers share it or ``--models-stay-on-workers`` leaves them on the node that
trained them (:mod:`bench.executors.ray_models`); every attempt, Ray's own re-runs included, is in the
cell's log and its results (:mod:`bench.executors.attempts`). While a cell runs, its task streams its
progress events and nerbench's own warnings to the driver through an :class:`EventBox` actor, so the
driver's display and progress lines follow Ray cells as they follow local ones.

Connecting, and the driver's settings every task takes along: :mod:`bench.executors.ray_connect`.
Resources come from the suite (``resources = { num_gpus = 1 }`` in a system's table), else the cell's kind,
with the device rule of :mod:`bench.executors.ray_resources` (a transformer on ``auto`` reserves a GPU when
the cluster has one, else runs on ``cpu``). A cell no node can run fails at once on a Ray instance of this
machine alone; on a cluster it waits for such a node at most ``--ray-wait-deadline`` seconds. A lost worker
(killed, node gone) is retried by Ray up to :data:`WORKER_LOSS_RETRIES` times; a cell that fails on a
healthy worker is re-run by the driver ``--retries`` times, as locally.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.cell_estimate import plan_entry
from bench.errors import ConfigError, NerbenchError
from bench.executors.base import cell_log_name, job_data_key, require_ray
from bench.executors.leftovers import OwnRayInstance
from bench.executors.ray_connect import connect, task_runtime_env
from bench.executors.ray_models import CellTransport
from bench.executors.ray_resources import (
    WAIT_DEADLINE_S,
    InfeasibleWatch,
    alive_nodes,
    cell_resources,
    cluster_gpus,
    fits_a_node,
    no_node_reason,
    place_on_cluster,
    ray_demand,
)
from bench.executors.ray_worker import EventBox, run_on_worker

__all__ = ["RayExecutor", "cell_resources", "fits_a_node", "ray_demand"]

log = logging.getLogger(__name__)

WORKER_LOSS_RETRIES = 3
"""Ray's ``max_retries``: re-runs of a task whose worker died (Ray's own default)."""
EVENT_POLL_S = 0.5
"""How often the driver collects the running cells' events (progress, warnings) while it waits."""


class RayExecutor:
    """Cells as Ray tasks on the cluster at ``address`` (``None``: ``$RAY_ADDRESS`` or a new local
    instance); a Ray session already started in this process is used as it is."""

    name = "ray"

    def __init__(self, *, log_dir: Path | None = None, retries: int = 0, address: str | None = None,
                 models_stay_on_workers: bool = False, ray_wait_deadline: float | None = None) -> None:
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="nerbench-cells-"))
        self.retries = retries
        self.address = address
        self.models_stay_on_workers = models_stay_on_workers
        self.wait_deadline = WAIT_DEADLINE_S if ray_wait_deadline is None else float(ray_wait_deadline)
        if not self.wait_deadline >= 0:
            raise ConfigError(f"--ray-wait-deadline must be 0 (wait forever) or more seconds, got {ray_wait_deadline}")

    def estimate_threads(self, cell: Any) -> int | None:
        """The threads a cell's process trains with when its params do not say: Ray sets OMP_NUM_THREADS (which
        torch follows) to the CPU slots the task asks for, unless it is set already."""
        if os.environ.get("OMP_NUM_THREADS"):
            return None
        return max(1, math.floor(cell_resources(cell).get("num_cpus", 1)))

    def run(self, jobs: list[tuple[Any, Any]], *, outcome: Any, progress: Any = None) -> None:
        if not jobs:
            return  # everything finished: no Ray needed
        ray = require_ray()
        fresh = not ray.is_initialized()
        own = OwnRayInstance() if fresh else None  # stops what killed runs' Ray instances left, says so
        started_here = connect(ray, self.address)
        if own is not None and started_here:
            own.started()
        try:
            jobs = place_on_cluster(jobs, cluster_gpus=cluster_gpus(alive_nodes(ray)))
            # no address given: a Ray instance of this machine (started for the run, or a `ray start` here) that is
            # one node gets no new nodes; a cluster's address (its other nodes may still be joining) waits
            local = not (self.address or os.environ.get("RAY_ADDRESS"))
            feasible = self._refuse_infeasible(ray, jobs, outcome=outcome, strict=local and _only_this_node(ray))
            if progress and len(feasible) != len(jobs):
                progress("plan", {"total": len(feasible), "skipped": 0, "failed": len(jobs) - len(feasible),
                                  "cells": [plan_entry(job.cell, job.estimate) for job, _ in feasible]})
            self._run(ray, feasible, outcome=outcome, progress=progress)
        finally:
            if started_here:
                ray.shutdown()
                if own is not None:
                    own.stopped()

    def _refuse_infeasible(self, ray: Any, jobs: list[tuple[Any, Any]], *, outcome: Any,
                           strict: bool) -> list[tuple[Any, Any]]:
        """Cells that ask for more than any node has would wait forever. On a Ray instance of this machine
        alone (e.g. the one started for this run) nothing will add nodes: such cells fail at once, with
        what they ask and what there is. On a cluster a node may join (an autoscaler may add one): a
        warning, and the cell waits for one at most ``--ray-wait-deadline`` seconds (:meth:`_run`)."""
        nodes = alive_nodes(ray)
        kept = []
        for job, data in jobs:
            demand = ray_demand(cell_resources(job.cell))
            if fits_a_node(demand, nodes):
                kept.append((job, data))
                continue
            why = no_node_reason(demand, nodes)
            if strict:
                why += "; give the system a smaller `resources` table or fewer torch_threads, or start Ray with more"
                log.error("%s failed: %s", job.cell.label, why)
                outcome.failed.append((job.cell.label, why))
            else:
                wait = f"at most {self.wait_deadline:g} s" if self.wait_deadline else "as long as it takes"
                log.warning("%s %s; it waits %s for such a node to join (--ray-wait-deadline)", job.cell.label,
                            why, wait)
                kept.append((job, data))
        return kept

    def _run(self, ray: Any, jobs: list[tuple[Any, Any]], *, outcome: Any, progress: Any) -> None:
        from bench.executors.local import record_attempt, task_payload

        if not jobs:
            return
        remote = ray.remote(run_on_worker)
        models_dir = Path(jobs[0][0].config.models_dir).expanduser().resolve()
        box = ray.remote(num_cpus=0)(EventBox).remote()
        side = CellTransport(ray, models_dir, bring_back=not self.models_stay_on_workers,
                             only_this_node=_only_this_node(ray))
        blobs: dict[str, Any] = {}
        pending: dict[Any, tuple[Any, int]] = {}
        demands: dict[Any, dict[str, float]] = {}
        total = len(jobs)
        env = task_runtime_env()  # the driver's settings, read once: every task of the run gets the same
        watch = InfeasibleWatch(ray, self.wait_deadline)

        def submit(job: Any, data: Any, attempt: int) -> None:
            if job_data_key(job) not in blobs:
                blobs[job_data_key(job)] = ray.put(task_payload(data))
            resources = cell_resources(job.cell)
            options = {**resources, **env, "max_retries": WORKER_LOSS_RETRIES, "retry_exceptions": False,
                       "name": f"nerbench {job.cell.task}/{job.cell.system}/seed{job.cell.seed}"}
            ref = remote.options(**options).remote(job, blobs[job_data_key(job)], box, side.options(job))
            pending[ref], demands[ref] = ((job, data), attempt), ray_demand(resources)

        for job, data in jobs:
            job = dataclasses.replace(job, config=dataclasses.replace(job.config, models_dir=models_dir))
            submit(job, data, 1)
        finished = 0
        if progress:
            progress("running", {"done": 0, "total": total, "pending": total})
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=EVENT_POLL_S)
                box = _relay(ray, box, progress, side.attempts)
                for ref, why in watch.overdue(lambda: {r: demands[r] for r in pending}):
                    finished += _give_up(ray, ref, pending.pop(ref)[0][0], why, outcome=outcome, progress=progress,
                                         done=finished, total=total, pending=len(pending))
                if not ready or ready[0] not in pending:
                    continue
                (job, data), attempt = pending.pop(ready[0])
                run, written = self._settle(ray, ready[0], job, outcome=outcome, side=side)
                if record_attempt(outcome, job.cell.label, run, attempt=attempt, retries=self.retries,
                                  progress=progress, written=written):
                    finished += 1
                    if progress:
                        progress("cell_done", {"cell": job.cell.label, "done": finished, "total": total,
                                               "failed": not run.ok})
                        progress("running", {"done": finished, "total": total, "pending": len(pending)})
                else:
                    submit(job, data, attempt + 1)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)  # the worker dies; its child sees its stdin close and stops
            raise
        finally:
            if box is not None:
                ray.kill(box)
            side.close()
        if (note := side.note()) is not None:
            outcome.notes.append(note)

    def _settle(self, ray: Any, ref: Any, job: Any, *, outcome: Any,
                side: CellTransport) -> tuple[Any, list[Path] | None]:
        """One ended task: its attempts in the cell's log, its model put in place (checked) and its files written
        (``None`` when it failed)."""
        from bench.executors.local import ChildRun, log_tail
        from bench.runner import write_checked

        label = job.cell.label
        log_path = self.log_dir / cell_log_name(job.cell)
        outcome.logs[label] = log_path
        try:
            reply = ray.get(ref)
            run = ChildRun(**reply["run"])
            attempts = side.attempts.ended(label, reply.get("attempt"))
        except ray.exceptions.RayError as exc:
            reply = {"log": "", "files": {}}
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            run = ChildRun(ok=False, cause=f"Ray: {type(exc).__name__}: {first}")
            lost = isinstance(exc, (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                                    ray.exceptions.LocalRayletDiedError))
            attempts = side.attempts.ended(label, None, failed=run.cause, lost=lost)
        written = None
        if run.ok:
            try:
                written = write_checked(side.receive(job, reply, attempts))
            except NerbenchError as exc:
                run = dataclasses.replace(run, ok=False, cause=str(exc))
                side.attempts.fail_last(label, str(exc))
            else:
                log.info("%s: done on %s (worker pid %s)", label, reply["node"], reply["worker_pid"])
        _append_log(log_path, label, side.attempts.unlogged(label), reply.get("log", ""),
                    mine=(reply.get("attempt") or {}).get("attempt"))
        if not run.ok and not run.log_tail:
            run.log_tail = log_tail(reply.get("log", ""))
        return run, written


def _relay(ray: Any, box: Any, progress: Any, attempts: Any = None) -> Any:
    """Hand what the cells' tasks put into ``box`` to ``progress`` (``cell_start`` when a task begins), to
    logging and to ``attempts`` (a :class:`~bench.executors.attempts.RayAttempts`: a start after a start of
    the same cell that did not end is Ray's re-run after losing the worker); returns the box, or ``None``
    once it is lost (the cells still run, without progress)."""
    from bench.executors.local import relay_log

    if box is None:
        return None
    try:
        events = ray.get(box.drain.remote())
    except ray.exceptions.RayError as exc:
        log.warning("the Ray actor that collects the cells' progress is gone (%s): no progress until they end", exc)
        return None
    for label, kind, payload in events:
        if kind == "start" and attempts is not None:
            for lost in attempts.started(label, payload):
                log.warning("%s: attempt %d on %s (worker pid %s) was lost with its Ray worker; Ray runs the task "
                            "again: attempt %s on %s", label, lost["attempt"], lost["host"], lost.get("worker_pid"),
                            payload.get("attempt"), payload.get("node"))
        if kind == "log":
            relay_log(label, *payload)
        elif progress and kind == "start":
            progress("cell_start", {**payload, "cell": label})
        elif progress and kind == "progress":
            event, info = payload
            progress(event, {**info, "cell": label})
    return box


def _give_up(ray: Any, ref: Any, job: Any, why: str, *, outcome: Any, progress: Any, done: int, total: int,
             pending: int) -> int:
    """Cancel a cell that waited too long for a node that can run it, and fail it with ``why``; returns 1 (a
    cell settled)."""
    ray.cancel(ref, force=True)
    log.error("%s failed: %s", job.cell.label, why)
    outcome.failed.append((job.cell.label, why))
    if progress:
        progress("cell_done", {"cell": job.cell.label, "done": done + 1, "total": total, "failed": True})
        progress("running", {"done": done + 1, "total": total, "pending": pending})
    return 1


def _only_this_node(ray: Any) -> bool:
    """Whether the Ray cluster is this machine's node and nothing else."""
    try:
        alive = [n for n in ray.nodes() if n.get("Alive")]
        return len(alive) == 1 and alive[0].get("NodeID") == ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - an older Ray without these fields: be lenient
        return False


def _append_log(path: Path, label: str, attempts: list[dict[str, Any]], text: str, *, mine: int | None) -> None:
    """A header per attempt not in the cell's log yet (where it ran, how it ended), and the log of the attempt
    ``mine`` (the one whose reply came back) below its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for a in attempts:
            where = f"on {a['host']} (worker pid {a.get('worker_pid')})" if a.get("host") else "on a lost worker"
            how = {"worker_lost": "worker lost; no log came back", "failed": "failed"}.get(a["outcome"] or "", "")
            fh.write(f"===== {label}: attempt {a['attempt']}, Ray task {where}{': ' + how if how else ''} =====\n")
            if a["attempt"] == mine and text:
                fh.write(text if text.endswith("\n") else text + "\n")
            elif a["outcome"] == "worker_lost" or a.get("cause"):
                fh.write(f"({a.get('cause') or 'ended'})\n")
