"""``--executor ray``: each cell a Ray task; results travel back to the driver.

The driver (this process) has planned the suite and skipped finished cells before anything is
submitted. Each task gets the cell's job and its task's data (one object in Ray's store per task, so
workers need no copy of the data), starts the same child process as ``--executor local`` in a
worker-local staging folder, and returns the result documents and saved predictions as bytes plus
the cell's log. The driver validates and writes them atomically into its results dir: no shared
filesystem is needed for results. Trained models stay on the worker that trained them, under the
absolute ``--models-dir`` path (resolved on the driver). While a cell runs, its task streams its
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
from bench.executors.ray_connect import connect, task_runtime_env
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
                 ray_wait_deadline: float | None = None) -> None:
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="nerbench-cells-"))
        self.retries = retries
        self.address = address
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
        started_here = connect(ray, self.address)
        try:
            jobs = place_on_cluster(jobs, cluster_gpus=cluster_gpus(alive_nodes(ray)))
            feasible = self._refuse_infeasible(ray, jobs, outcome=outcome, strict=started_here or _only_this_node(ray))
            if progress and len(feasible) != len(jobs):
                progress("plan", {"total": len(feasible), "skipped": 0, "failed": len(jobs) - len(feasible),
                                  "cells": [plan_entry(job.cell, job.estimate) for job, _ in feasible]})
            self._run(ray, feasible, outcome=outcome, progress=progress)
        finally:
            if started_here:
                ray.shutdown()

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
            ref = remote.options(**options).remote(job, blobs[job_data_key(job)], box)
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
                box = _relay(ray, box, progress)
                for ref, why in watch.overdue(lambda: {r: demands[r] for r in pending}):
                    finished += _give_up(ray, ref, pending.pop(ref)[0][0], why, outcome=outcome, progress=progress,
                                         done=finished, total=total, pending=len(pending))
                if not ready or ready[0] not in pending:
                    continue
                (job, data), attempt = pending.pop(ready[0])
                run, written = self._settle(ray, ready[0], job, attempt, outcome=outcome, models_dir=models_dir)
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
        note = (f"trained models stay on the Ray workers that trained them, under {models_dir} "
                "(which node trained each cell is in the run log)")
        outcome.notes += [] if note in outcome.notes else [note]  # once, though transfer cells run after the others

    def _settle(self, ray: Any, ref: Any, job: Any, attempt: int, *, outcome: Any,
                models_dir: Path) -> tuple[Any, list[Path] | None]:
        """One ended attempt: its log appended to the cell's, its files written (``None`` when it failed)."""
        from bench.executors.local import ChildRun, log_tail
        from bench.runner import write_result_files

        label = job.cell.label
        log_path = self.log_dir / cell_log_name(job.cell)
        outcome.logs[label] = log_path
        try:
            reply = ray.get(ref)
            run = ChildRun(**reply["run"])
            where = f"on {reply['node']} (worker pid {reply['worker_pid']})"
        except ray.exceptions.RayError as exc:
            reply = {"log": "", "files": {}}
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            run = ChildRun(ok=False, cause=f"Ray: {type(exc).__name__}: {first}")
            where = "on a lost worker"
        _append_log(log_path, label, attempt, where, reply.get("log", ""))
        written = None
        if run.ok:
            try:
                written = write_result_files(Path(job.config.results_dir), reply["files"])
            except NerbenchError as exc:
                run = dataclasses.replace(run, ok=False, cause=str(exc))
            else:
                log.info("%s: done %s; its model stays there under %s", label, where,
                         models_dir / job.cell.model_rel)
        if not run.ok and not run.log_tail:
            run.log_tail = log_tail(reply.get("log", ""))
        return run, written


def _relay(ray: Any, box: Any, progress: Any) -> Any:
    """Hand what the cells' tasks put into ``box`` to ``progress`` (``cell_start`` when a task begins) and to
    logging; returns the box, or ``None`` once it is lost (the cells still run, without progress)."""
    from bench.executors.local import relay_log

    if box is None:
        return None
    try:
        events = ray.get(box.drain.remote())
    except ray.exceptions.RayError as exc:
        log.warning("the Ray actor that collects the cells' progress is gone (%s): no progress until they end", exc)
        return None
    for label, kind, payload in events:
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


def _append_log(path: Path, label: str, attempt: int, where: str, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(f"===== {label}: attempt {attempt}, Ray task {where} =====\n{text}")
        if text and not text.endswith("\n"):
            fh.write("\n")
