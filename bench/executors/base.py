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
        for i, (job, data) in enumerate(jobs, 1):
            label = job.cell.label
            if progress:
                progress("cell", {"cell": label, "index": i, "total": len(jobs)})
            try:
                outcome.written.extend(execute_job(job, data, progress=progress))
                outcome.done.append(label)
            except NerbenchError as exc:
                log.error("%s failed: %s", label, exc)
                outcome.failed.append((label, str(exc)))
            if progress:
                progress("cell_done", {"cell": label, "done": i, "total": len(jobs), "failed": label not in outcome.done})


def cell_log_name(cell: Any) -> str:
    """File name of a cell's own log: ``<task>.<system>.seed<k>.log``, ``<task>.<system>.n<size>.seed<k>.log``
    for a learning curve's point, or the cell's own ``log_name`` (a transfer cell's)."""
    if own := getattr(cell, "log_name", None):
        return own
    size = "" if getattr(cell, "train_size", None) is None else f".n{cell.train_size}"
    return f"{cell.task}.{cell.system}{size}.seed{cell.seed}.log"


def execute_job(job: Any, data: Any, *, progress: Any = None, measure: Any = None) -> list[Any]:
    """Run one job where it is: :func:`bench.runner.run_cell` for a cell, or the job's own ``execute`` (a
    transfer cell, :class:`bench.transfer.TransferJob`)."""
    own = getattr(job, "execute", None)
    if own is not None:
        return own(data, progress=progress, measure=measure)
    from bench.runner import run_cell

    return run_cell(job.cell, data, job.config, splits=job.splits, progress=progress, measure=measure,
                    estimate=getattr(job, "estimate", None))


def job_key(job: Any, data: Any) -> dict[str, Any]:
    """The key a job's process computes from the data it was sent (checked against the planner's)."""
    own = getattr(job, "key_for", None)
    if own is not None:
        return own(data)
    from bench.plan import cell_key

    return cell_key(job.cell, data)


def job_data_key(job: Any) -> str:
    """What executors file a job's data under: its task, or the job's own ``data_key`` (a transfer pair)."""
    return getattr(job, "data_key", None) or job.cell.task


def require_ray() -> Any:
    """The ``ray`` module, or a clear error naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray needs Ray, which is not installed: {RAY_EXTRA_HINT}") from None
    return ray
