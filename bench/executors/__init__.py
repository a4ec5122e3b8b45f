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
Every executor reports the same progress events (a Ray cell's stream to the driver while it runs);
one may say with ``estimate_threads(cell)`` how many CPU threads it gives a cell whose params do not,
for the cell's duration estimate (:mod:`bench.cell_estimate`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.errors import ConfigError
from bench.executors.base import RAY_EXTRA_HINT, Executor, InlineExecutor, cell_log_name, require_ray

__all__ = ["EXECUTORS", "RAY_EXTRA_HINT", "Executor", "InlineExecutor", "cell_log_name", "make_executor", "require_ray"]

EXECUTORS = ("local", "ray", "inline")


def make_executor(name: str, *, log_dir: Path | None = None, retries: int = 0, ray_address: str | None = None,
                  **ray_options: Any) -> Any:
    """The executor called ``name`` (see :data:`EXECUTORS`); ``ray_options`` (those not ``None``) go to the Ray
    executor only."""
    if retries < 0:
        raise ConfigError(f"--retries must be 0 or more, got {retries}")
    ray_options = {k: v for k, v in ray_options.items() if v is not None}
    if (ray_address or ray_options) and name != "ray":
        given = ["--ray-address"] * bool(ray_address) + [f"--{k.replace('_', '-')}" for k in ray_options]
        raise ConfigError(f"{', '.join(given)} needs --executor ray")
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

        return RayExecutor(log_dir=log_dir, retries=retries, address=ray_address, **ray_options)
    raise ConfigError(f"unknown executor {name!r} (use one of {', '.join(EXECUTORS)})")
