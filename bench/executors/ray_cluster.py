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

Resources come from the suite (``resources = { num_gpus = 1 }`` in a system's table); by default a
transformer on ``cuda`` asks for one GPU and every other cell for one CPU slot (a transformer on CPUs
for one per ``torch_threads``). A lost worker (killed,
node gone) is retried by Ray up to :data:`WORKER_LOSS_RETRIES` times; a cell that fails on a healthy
worker is re-run by the driver ``--retries`` times, as locally.
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
from bench.executors.ray_models import CellTransport
from bench.executors.ray_worker import EventBox, run_on_worker

log = logging.getLogger(__name__)

WORKER_LOSS_RETRIES = 3
"""Ray's ``max_retries``: re-runs of a task whose worker died (Ray's own default)."""
RAY_OPTIONS = ("num_cpus", "num_gpus", "memory")
EVENT_POLL_S = 0.5
"""How often the driver collects the running cells' events (progress, warnings) while it waits."""


def cell_resources(cell: Any) -> dict[str, Any]:
    """Ray task options for a cell: the system's ``resources`` table when the suite gives one, else its
    kind's ``default_resources``: one GPU for a transformer on ``cuda``, and one CPU slot for everything
    else (a transformer on CPUs: one per ``torch_threads`` it declares, so cells never oversubscribe a
    node's cores).

    >>> from bench.plan import Cell
    >>> from bench.spec import SystemSpec
    >>> cell_resources(Cell("t", "bert", 1, SystemSpec("transformer", "bert-base-cased"), {"device": "cuda"}))
    {'num_cpus': 1, 'num_gpus': 1}
    >>> cell_resources(Cell("t", "minilm", 1, SystemSpec("transformer", "minilm-l6"), {"torch_threads": 2}))
    {'num_cpus': 2}
    >>> cell_resources(Cell("t", "crf", 1, SystemSpec("crf"), {"device": "cuda"}))
    {'num_cpus': 1}
    """
    declared = dict(getattr(cell.spec, "resources", None) or {})
    if not declared:
        from bench.systems import get_kind

        return get_kind(cell.spec.kind).default_resources(cell.params)
    options: dict[str, Any] = {}
    for name, amount in declared.items():
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
            raise ConfigError(f"system {cell.system}: resources.{name} must be a number >= 0, got {amount!r}")
        if name in RAY_OPTIONS:
            options[name] = amount
        else:
            options.setdefault("resources", {})[name] = amount  # a custom Ray resource, e.g. a GPU type
    return options


def ray_demand(options: dict[str, Any]) -> dict[str, float]:
    """Task options as the resource amounts Ray compares with a node's (``CPU``, ``GPU``, ...).

    >>> ray_demand({"num_cpus": 2, "num_gpus": 1, "resources": {"A100": 1}})
    {'CPU': 2, 'GPU': 1, 'A100': 1}
    """
    names = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}
    demand = {names[k]: v for k, v in options.items() if k in names and v}
    demand.update({k: v for k, v in (options.get("resources") or {}).items() if v})
    return demand


def fits_a_node(demand: dict[str, float], nodes: list[dict[str, float]]) -> bool:
    """Whether one of ``nodes`` (their total resources) can ever run a task that needs ``demand``.

    >>> fits_a_node({"CPU": 2}, [{"CPU": 1.0}, {"CPU": 4.0, "GPU": 1.0}])
    True
    >>> fits_a_node({"CPU": 1, "GPU": 1}, [{"CPU": 8.0}])
    False
    """
    return any(all(node.get(name, 0) >= amount for name, amount in demand.items()) for node in nodes)


class RayExecutor:
    """Cells as Ray tasks on the cluster at ``address`` (``None``: ``$RAY_ADDRESS`` or a new local
    instance); a Ray session already started in this process is used as it is."""

    name = "ray"

    def __init__(self, *, log_dir: Path | None = None, retries: int = 0, address: str | None = None,
                 models_stay_on_workers: bool = False) -> None:
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="nerbench-cells-"))
        self.retries = retries
        self.address = address
        self.models_stay_on_workers = models_stay_on_workers

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
        started_here = not ray.is_initialized()
        own = OwnRayInstance() if started_here else None  # stops what killed runs' Ray instances left, says so
        if started_here:
            try:
                # workers' output stays in their cells' logs; Ray's own records go through logging (the run
                # log), not straight to the terminal past the live display
                ray.init(address=self.address, log_to_driver=False, include_dashboard=False,
                         configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ConfigError(f"could not connect to Ray at {self.address or 'a new local instance'}: {exc}") from None
            if own is not None:
                own.started()
        try:
            feasible = self._refuse_infeasible(ray, jobs, outcome=outcome, strict=started_here or _only_this_node(ray))
            if progress and len(feasible) != len(jobs):
                progress("plan", {"total": len(feasible), "skipped": 0, "failed": len(jobs) - len(feasible),
                                  "cells": [plan_entry(job.cell, job.estimate) for job, _ in feasible]})
            self._run(ray, feasible, outcome=outcome, progress=progress)
        finally:
            if started_here:
                ray.shutdown()
                if own is not None:
                    own.stopped()

    @staticmethod
    def _refuse_infeasible(ray: Any, jobs: list[tuple[Any, Any]], *, outcome: Any, strict: bool) -> list[tuple[Any, Any]]:
        """Cells that ask for more than any node has would wait forever. On a Ray instance of this machine
        alone (e.g. the one started for this run) nothing will add nodes: such cells fail at once, with
        what they ask and what there is. On a cluster an autoscaler may add nodes: only a warning."""
        nodes = [{k: float(v) for k, v in n.get("Resources", {}).items()} for n in ray.nodes() if n.get("Alive")]
        kept = []
        for job, data in jobs:
            demand = ray_demand(cell_resources(job.cell))
            if fits_a_node(demand, nodes):
                kept.append((job, data))
                continue
            largest = max(nodes, key=lambda n: (n.get("GPU", 0), n.get("CPU", 0)), default={})
            have = {k: largest.get(k, 0) for k in ("CPU", "GPU")}
            why = (f"asks Ray for {demand}, more than any node has (largest: {have}); give the system a smaller "
                   "`resources` table or fewer torch_threads, or start Ray with more")
            if strict:
                log.error("%s failed: %s", job.cell.label, why)
                outcome.failed.append((job.cell.label, why))
            else:
                log.warning("%s %s; it waits until the cluster has such a node (an autoscaler may add one)",
                            job.cell.label, why)
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
        total = len(jobs)

        def submit(job: Any, data: Any, attempt: int) -> None:
            if job_data_key(job) not in blobs:
                blobs[job_data_key(job)] = ray.put(task_payload(data))
            options = {**cell_resources(job.cell), "max_retries": WORKER_LOSS_RETRIES, "retry_exceptions": False,
                       "name": f"nerbench {job.cell.task}/{job.cell.system}/seed{job.cell.seed}"}
            ref = remote.options(**options).remote(job, blobs[job_data_key(job)], box, side.options(job))
            pending[ref] = ((job, data), attempt)

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
                if not ready:
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
        from bench.runner import write_result_files

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
                written = write_result_files(Path(job.config.results_dir), side.receive(job, reply, attempts))
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
