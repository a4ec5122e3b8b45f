"""Executors: what runs the cells that :func:`bench.runner.run_cells` planned and did not skip.

- ``inline``: every cell in this process, one after another. Simple to debug, but a cell's memory
  and CPU figures include what earlier cells left in the process, and a crash ends the suite.
- ``local`` (the default, :mod:`bench.executors.local`): each cell in its own freshly started Python
  process (started, not forked, so CUDA and thread pools start clean). The child measures itself
  (peak RSS, CPU and wall seconds, torch's peak GPU memory) and those figures go into the cell's
  results; a child that dies is a failed cell with its cause and log tail, and the suite goes on.
- ``ray`` (:mod:`bench.executors.ray_cluster`): each cell is a Ray task that runs the same child
  process on a worker; the results come back to the driver, which writes them.

Every executor has a ``name`` and ``run(jobs, *, outcome, progress)``; ``jobs`` are
``(CellJob, TaskData)`` pairs and ``outcome`` (a :class:`bench.runner.SuiteOutcome`) is filled in.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from bench.errors import ConfigError, NerbenchError

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray", "inline")
RAY_EXTRA_HINT = "pip install 'nerbench[ray]' (in a checkout: pip install -e '.[ray]')"


class Executor(Protocol):
    name: str

    def run(self, jobs: list[tuple[Any, Any]], *, outcome: Any, progress: Any = None) -> None: ...


class InlineExecutor:
    """Every cell in this process, in order. A :class:`NerbenchError` fails only its cell; any other
    exception ends the run (a bug should be loud)."""

    name = "inline"

    def run(self, jobs: list[tuple[Any, Any]], *, outcome: Any, progress: Any = None) -> None:
        from bench.runner import run_cell

        for i, (job, data) in enumerate(jobs, 1):
            label = job.cell.label
            if progress:
                progress("cell", {"cell": label, "index": i, "total": len(jobs)})
            try:
                outcome.written.extend(run_cell(job.cell, data, job.config, splits=job.splits, progress=progress))
                outcome.done.append(label)
            except NerbenchError as exc:
                log.error("%s failed: %s", label, exc)
                outcome.failed.append((label, str(exc)))
            if progress:
                progress("cell_done", {"cell": label, "done": i, "total": len(jobs)})


def cell_log_name(cell: Any) -> str:
    """File name of a cell's own log: ``<task>.<system>.seed<k>.log``."""
    return f"{cell.task}.{cell.system}.seed{cell.seed}.log"


def require_ray() -> Any:
    """The ``ray`` module, or a clear error naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray needs Ray, which is not installed: {RAY_EXTRA_HINT}") from None
    return ray


def make_executor(name: str, *, log_dir: Path | None = None, retries: int = 0, ray_address: str | None = None) -> Any:
    """The executor called ``name`` (see :data:`EXECUTORS`)."""
    if retries < 0:
        raise ConfigError(f"--retries must be 0 or more, got {retries}")
    if ray_address and name != "ray":
        raise ConfigError("--ray-address needs --executor ray")
    if name == "inline":
        if retries:
            raise ConfigError("--retries needs a process executor (--executor local or ray)")
        return InlineExecutor()
    if name == "local":
        from bench.executors.local import LocalExecutor

        return LocalExecutor(log_dir=log_dir, retries=retries)
    if name == "ray":
        require_ray()
        from bench.executors.ray_cluster import RayExecutor

        return RayExecutor(log_dir=log_dir, retries=retries, address=ray_address)
    raise ConfigError(f"unknown executor {name!r} (use one of {', '.join(EXECUTORS)})")
