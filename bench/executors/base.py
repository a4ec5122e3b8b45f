"""What every executor shares: the executor protocol, the inline executor, cell log names and the Ray
import check. The executors (:mod:`bench.executors.local`, :mod:`bench.executors.ray_cluster`) import
this module, never the package, so the package can import them without a circle."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from bench.errors import ConfigError, NerbenchError

log = logging.getLogger(__name__)

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
                outcome.written.extend(run_cell(job.cell, data, job.config, splits=job.splits, progress=progress,
                                                estimate=job.estimate))
                outcome.done.append(label)
            except NerbenchError as exc:
                log.error("%s failed: %s", label, exc)
                outcome.failed.append((label, str(exc)))
            if progress:
                progress("cell_done", {"cell": label, "done": i, "total": len(jobs), "failed": label not in outcome.done})


def cell_log_name(cell: Any) -> str:
    """File name of a cell's own log: ``<task>.<system>.seed<k>.log`` (``<task>.<system>.n<size>.seed<k>.log``
    for a learning curve's point)."""
    size = "" if getattr(cell, "train_size", None) is None else f".n{cell.train_size}"
    return f"{cell.task}.{cell.system}{size}.seed{cell.seed}.log"


def require_ray() -> Any:
    """The ``ray`` module, or a clear error naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray needs Ray, which is not installed: {RAY_EXTRA_HINT}") from None
    return ray
