"""One duration estimate per cell, by one method, and the measured pace that replaces it.

A cell's estimate is made once, by :func:`estimate_cell`: ``nerbench run --dry-run`` shows it, and
``nerbench run`` makes it for every cell to run before the first one starts (in the driver, with the
same function), then hands it to the cell with its job (:class:`bench.runner.CellJob`). The cell logs
that number, shows it when it is a minute or more, and records it as ``training.estimate``; it never
estimates again inside its own process, where another probe of the machine gave another number. For
the same cell and the same machine state the dry run and the run therefore say the same. The thread
count is the one the cell will train with: the system's ``torch_threads``, else what the executor
gives the cell (a Ray task gets its CPU slots, see ``RayExecutor.estimate_threads``), else this
process's torch threads, which a local cell process inherits.

An estimate is a guess made before any work. Once training has run for :data:`MEASURED_AFTER_S` the
measured pace replaces it: :class:`TrainingClock` stamps every ``step`` event with the seconds since
training began, measured where the cell runs (so a slow path to the driver does not bend the pace),
and logs the projection once in the cell's log; the driver's progress lines and display
(:mod:`bench.progress`) compute the ETA from the same stamps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bench.data.subsets import TrainSubset, draw_train_subset
from bench.data.types import Sentence
from bench.plan import RUNNER_PARAMS, Cell

if TYPE_CHECKING:
    from bench.data.load import TaskData

log = logging.getLogger("bench.runner")  # the records keep the name they had in every cell log so far

MEASURED_AFTER_S = 60.0
"""Seconds of training after which the measured pace replaces the estimate (in ETAs and the cell's log)."""
IN_CELL = "in-cell"
"""``run_cell(estimate=IN_CELL)``: no estimate was made for the cell before it started; it makes its own."""

ProgressFn = Callable[[str, dict[str, Any]], None]


def limit(sentences: list, n: Any) -> list:
    return sentences[: int(n)] if n else sentences


def cell_inputs(
    cell: Cell, data: TaskData
) -> tuple[dict[str, Any], dict[str, int], list[Sentence], list[Sentence], TrainSubset | None]:
    """The system's params without the runner's limits, the limits, the train sentences (limited, or the
    cell's subset of a learning curve), the (limited) dev sentences, and the subset (or ``None``)."""
    params = dict(cell.params)
    limits = {k: params.pop(k) for k in RUNNER_PARAMS if k in params}
    train = limit(data.sentences("train"), limits.get("max_train_sentences"))
    subset = None
    if cell.train_size is not None:
        subset = draw_train_subset(train, cell.train_size, cell.seed, task=cell.task)
        train = subset.sentences
    dev = limit(data.splits["dev"].sentences, limits.get("max_eval_sentences")) if "dev" in data.splits else []
    return params, limits, train, dev, subset


def estimate_cell(cell: Cell, data: TaskData, config: Any, *, splits: Sequence[str],
                  threads: int | None = None) -> dict[str, Any] | None:
    """The kind's duration estimate for ``cell`` (its data limits applied), or None. ``threads``: the CPU
    threads the cell will get when its params do not say (``torch_threads``). Never fails: an estimate
    that cannot be made is logged and skipped."""
    from bench.systems import get_kind

    params, limits, train, dev, _ = cell_inputs(cell, data)
    if threads and not params.get("torch_threads"):
        params["torch_threads"] = threads
    predicted = [limit(data.sentences(s), limits.get("max_eval_sentences")) for s in splits if s in data.splits]
    try:
        return get_kind(cell.spec.kind).estimate(params, model=cell.spec.model, train=train, dev=dev,
                                                 predicted=predicted, device=params.get("device", config.device))
    except Exception as exc:  # noqa: BLE001 - only an estimate
        log.info("%s: no duration estimate (%s: %s)", cell.label, type(exc).__name__, exc)
        return None


def announce(cell: Cell, estimate: Any, progress: ProgressFn | None) -> dict[str, Any] | None:
    """Say a cell's estimate as it starts: in its log, and through ``progress`` when a minute or more.
    Returns it."""
    if not isinstance(estimate, dict):
        return None
    log.info("%s: %s", cell.label, estimate["text"])
    if progress and estimate["seconds"] >= 60:
        progress("estimate", {"cell": cell.label, "seconds": estimate["seconds"], "text": estimate["text"]})
    return estimate


def plan_entry(cell: Cell, estimate: Any) -> dict[str, Any]:
    """What the driver's progress needs to know of a cell before it runs (the ``plan`` event's ``cells``)."""
    seconds = estimate.get("seconds") if isinstance(estimate, dict) else None
    return {"cell": cell.label, "system": cell.system, "kind": cell.spec.kind, "estimate": seconds,
            "train_size": cell.train_size}


def format_seconds(seconds: float) -> str:
    """``~ 45 s``, ``~ 12 min``, ``~ 2.4 h`` (:func:`bench.estimate.format_duration`)."""
    from bench.estimate import format_duration

    return format_duration(seconds)


class TrainingClock:
    """A cell's progress callback while it trains: ``step`` events get ``elapsed``, the seconds since
    training began, and after :data:`MEASURED_AFTER_S` the cell's log says once what the measured pace
    projects for the whole training, beside the estimate."""

    def __init__(self, cell: Cell, progress: ProgressFn | None, estimate: dict[str, Any] | None, *,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.label = cell.label
        self.progress = progress
        self.estimate = estimate
        self.clock = clock
        self.t0 = clock()
        self.projected: float | None = None

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event == "step":
            elapsed = self.clock() - self.t0
            info = {**info, "elapsed": round(elapsed, 3)}
            if self.projected is None and elapsed >= MEASURED_AFTER_S and info.get("step") and info.get("total"):
                self.projected = elapsed / info["step"] * info["total"]
                said = f"; the estimate said {self.estimate['text'].removeprefix('estimated ')}" if self.estimate else ""
                log.info("%s: measured pace after %.0f s (%s %d of %d): training %s in all%s", self.label, elapsed,
                         info.get("name", "step"), info["step"], info["total"], format_seconds(self.projected), said)
        if self.progress:
            self.progress(event, info)
