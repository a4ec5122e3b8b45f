"""Run a suite: plan the matrix, skip finished cells, train, predict, score, write results.

A *cell* is (task, system, seed). It trains once and writes one result per evaluated split, and
beside it the split's word-level predictions. A cell is finished when every split's result exists,
validates, and carries the same cell key (task version, data fingerprint, system config hash,
seed, scorer version, system implementation version): a killed run loses at most the cell it was
in, the next run does only what is missing, and results made by older scoring or system code are
run again.

:func:`run_cells` plans (finished cells are skipped before anything runs) and hands the rest to an
executor (:mod:`bench.executors`): in this process, each cell in its own fresh process (the
default), or each cell as a Ray task. :func:`run_cell` is what every executor finally calls.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cell_estimate import IN_CELL, TrainingClock, announce, cell_inputs, estimate_cell, limit, plan_entry
from bench.data.load import TaskData, load_task_data
from bench.errors import NerbenchError
from bench.plan import Cell, cell_key, cell_notes, is_deterministic
from bench.results import (
    ResultError,
    read_result,
    result_path,
)
from bench.spec import SuiteSpec
from bench.writing import score_and_write

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class RunConfig:
    results_dir: Path = Path("results/raw")
    models_dir: Path = Path("models")
    data_dir: str | None = None
    device: str = "auto"
    force: bool = False
    allow_hub: bool = True
    bootstrap_resamples: int = 1000
    task_files: tuple[Path, ...] = ()
    """Extra task TOML files (``--task-file``) besides the shipped catalogue."""
    run_info: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    """What started the run (command line, suite file hash, shard, nerbench version): the ``run`` block
    of every result it writes."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run_info(*, argv: list[str], suite: SuiteSpec | None, suite_file: Path | None, shard: str,
             data_dir: str | Path | None) -> dict[str, Any]:
    """The ``run`` block: the command as typed (machine paths made relative or named), the suite file's
    sha256, the shard and the nerbench version."""
    from bench import __version__

    return {
        "command": "nerbench " + " ".join(portable_arg(a, data_dir) for a in argv),
        "suite": suite.name if suite else None,
        "suite_sha256": file_sha256(suite_file) if suite_file else None,
        "shard": shard,
        "nerbench_version": __version__,
    }


def portable_arg(arg: str, data_dir: str | Path | None) -> str:
    """A command-line argument without this machine's absolute paths (``--x=/abs`` forms too)."""
    import shlex

    from bench.data.load import resolve_data_dir

    prefix, sep, value = arg.partition("=") if arg.startswith("--") and "=" in arg else ("", "", arg)
    if value.startswith(("/", "~")):
        p = Path(value).expanduser().resolve()
        root = resolve_data_dir(data_dir)
        if root is not None and p == root.expanduser().resolve():
            value = "$NERBENCH_DATA_DIR"
        else:
            try:
                value = str(p.relative_to(Path.cwd().resolve()))
            except ValueError:
                value = f"<{p.name}>"
    return prefix + sep + (value if value == "$NERBENCH_DATA_DIR" else shlex.quote(value))


def is_finished(cell: Cell, data: TaskData, config: RunConfig, splits: tuple[str, ...]) -> bool:
    key = cell_key(cell, data)
    for split in splits:
        path = result_path(config.results_dir, cell.task, cell.system, cell.seed, split, train_size=cell.train_size)
        if not path.is_file():
            return False
        try:
            result = read_result(path)
            if result["cell_key"] != key:
                return False
            saved = (result.get("predictions") or {}).get("file")
            if not saved or not (path.parent / saved).is_file():
                log.warning("%s: its saved predictions are missing; the cell will be run again", path)
                return False
        except ResultError as exc:
            log.warning("%s; the cell will be run again", exc)
            return False
    return True


STOP = threading.Event()
"""Set when this process has been asked to stop (a cell's process on Ctrl-C or when its parent is
gone). :func:`run_cell` checks it between phases, because a library may swallow the
KeyboardInterrupt: the CRF trains in C, and pycrfsuite ignores exceptions raised in its callback."""


def check_stop() -> None:
    """Raise KeyboardInterrupt when :data:`STOP` is set: nothing is predicted or written after a stop."""
    if STOP.is_set():
        raise KeyboardInterrupt("stop requested")


ProgressFn = Callable[[str, dict[str, Any]], None]
MeasureFn = Callable[[], dict[str, Any]]
"""Returns the ``cost.process`` block of the process the cell runs in (see :func:`bench.gpu.process_cost`)."""


def run_cell(
    cell: Cell, data: TaskData, config: RunConfig, *, splits: tuple[str, ...], progress: ProgressFn | None = None,
    measure: MeasureFn | None = None, estimate: dict[str, Any] | None | str = IN_CELL,
) -> list[Path]:
    """Train the cell's system once, predict every split in ``splits``, then score and write one result each.

    All predictions come before any scoring, so ``measure`` (given when the cell owns its process)
    sees exactly training + prediction: its peak RSS becomes the results' ``cost.peak_rss_mb``.
    ``estimate``: the run's, made before the cell started (:mod:`bench.cell_estimate`); else made here.
    """
    from bench import env as envmod
    from bench.systems import train_system

    started = datetime.now(UTC).isoformat(timespec="seconds")
    git = envmod.git_state()  # the code that trains is the code checked out now
    params, limits, train, dev, subset = cell_inputs(cell, data)
    model_rel = cell.model_rel
    model_dir = Path(config.models_dir) / model_rel
    from bench.modeldir import check_model_dir_replaceable

    check_model_dir_replaceable(model_dir)  # fails before training, not after it
    estimate = announce(cell, estimate_cell(cell, data, config, splits=splits) if estimate == IN_CELL else estimate,
                        progress)
    t0 = time.perf_counter()
    trained = train_system(
        cell.spec, params, train=train, dev=dev, data=data, seed=cell.seed, model_dir=model_dir,
        device=params.get("device", config.device), progress=TrainingClock(cell, progress, estimate),
    )
    train_wall = time.perf_counter() - t0
    check_stop()
    if int(os.environ.get("RANK", "0")) != 0:
        return []  # under torchrun only rank 0 predicts and writes
    key = cell_key(cell, data)
    training = dict(trained.training)
    if estimate is not None:
        training["estimate"] = {k: v for k, v in estimate.items() if k != "text"}
    if "model_dir" in training:
        training["model_dir"] = str(model_rel)
    system = {
        "name": cell.system, "kind": cell.spec.kind, "model": cell.spec.model, "params": cell.params,
        "config_hash": cell.config_hash(), "deterministic": is_deterministic(cell.spec.kind), **trained.describe(),
        "model_dir": str(model_rel), "model_dir_note": "relative to the run's --models-dir (default models/)",
        **({"notes": notes} if (notes := cell_notes(cell, data.task.language)) else {}),
    }
    predicted = _predict_splits(trained, cell, data, splits=splits, limits=limits, progress=progress)
    cost = {**trained.cost, "train_wall_seconds": train_wall}
    if measure is not None:
        process = measure()
        cost.update(peak_rss_mb=process["peak_rss_mb"], peak_rss_scope="cell process", process=process)
    else:
        cost["peak_rss_scope"] = "shared process: may include what earlier cells left in it"
    written = []
    for split, sents, pred, scores, prediction in predicted:
        check_stop()
        written.append(score_and_write(
            data, split, sents, pred, system=system, key=key, seed=cell.seed, results_dir=config.results_dir,
            scores=scores, training=training, cost=cost, prediction=prediction, started=started, git=git,
            run=config.run_info, n_resamples=config.bootstrap_resamples,
            extra_data={"train_sentences": len(train), "limits": limits},
            train_subset=subset.describe() if subset else None, seen_train=train if subset else None,
        ))
    return written


def _predict_splits(trained: Any, cell: Cell, data: TaskData, *, splits: tuple[str, ...], limits: dict[str, int],
                    progress: ProgressFn | None) -> list[tuple[str, list, list, Any, dict[str, Any]]]:
    """Predict every split in ``splits`` the task has, in order: ``(split, sentences, tags, scores, the
    result's prediction block)`` each."""
    predicted = []
    for split in splits:
        if split not in data.splits:
            log.warning("%s: task has no %s split; skipped", cell.label, split)
            continue
        sents = limit(data.sentences(split), limits.get("max_eval_sentences"))
        if progress:
            progress("predict", {"cell": cell.label, "split": split, "sentences": len(sents)})
        t1 = time.perf_counter()
        pred, pred_stats, scores = trained.predict(sents)
        predict_seconds = time.perf_counter() - t1
        check_stop()
        n_tokens = sum(len(s.tokens) for s in sents)
        prediction = {
            **pred_stats,
            "seconds": predict_seconds,
            "sentences_per_second": len(sents) / predict_seconds if predict_seconds > 0 else None,
            "words_per_second": n_tokens / predict_seconds if predict_seconds > 0 else None,
        }
        predicted.append((split, sents, pred, scores, prediction))
    return predicted


@dataclass
class SuiteOutcome:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    """(cell label, cause): an exception's message, or how the cell's process died."""
    written: list[Path] = field(default_factory=list)
    log_tails: dict[str, str] = field(default_factory=dict)
    """The last lines of a failed cell's own log."""
    logs: dict[str, Path] = field(default_factory=dict)
    """Where each cell's own log is (process executors)."""
    retried: list[tuple[str, int, str]] = field(default_factory=list)
    """(cell label, attempt that failed, cause) for every re-run."""
    process: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The figures each cell's process measured itself (``cost.process`` of its results)."""
    exit_usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    """What the parent saw of each cell's process when it ended (``os.wait4``: peak RSS, CPU seconds)."""
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CellJob:
    """A planned cell that is not finished: what an executor needs to run it anywhere."""

    cell: Cell
    splits: tuple[str, ...]
    config: RunConfig
    key: dict[str, Any]
    """The cell key the planner computed; a process that computes another one (other data, other
    nerbench) refuses to run rather than write results every later run would redo."""
    estimate: dict[str, Any] | None | str = IN_CELL
    """The cell's duration estimate, made by the driver before any cell ran (``None``: the kind gives none)."""


def run_cells(
    cells: list[Cell],
    suite: SuiteSpec,
    config: RunConfig,
    *,
    load: Callable[[str], TaskData] | None = None,
    progress: ProgressFn | None = None,
    executor: Any,
) -> SuiteOutcome:
    """Skip the finished cells of ``cells``, then run the others with ``executor`` (one of
    :mod:`bench.executors`, which sit above this module). A failing cell is recorded and the rest still run.
    Every cell to run is estimated first (:mod:`bench.cell_estimate`), with the threads the executor gives it."""
    from bench.catalog import resolve_task

    cache: dict[str, TaskData] = {}

    def get(task: str) -> TaskData:
        if task not in cache:
            cache[task] = load(task) if load else load_task_data(
                resolve_task(task, config.task_files), data_dir=config.data_dir, allow_hub=config.allow_hub
            )
        return cache[task]

    out = SuiteOutcome()
    jobs: list[tuple[CellJob, TaskData]] = []
    for cell in cells:
        try:
            data = get(cell.task)
            if not config.force and is_finished(cell, data, config, suite.eval_splits):
                out.skipped.append(cell.label)
                continue
            threads = executor.estimate_threads(cell) if hasattr(executor, "estimate_threads") else None
            estimate = estimate_cell(cell, data, config, splits=suite.eval_splits, threads=threads)
            jobs.append((CellJob(cell, tuple(suite.eval_splits), config, cell_key(cell, data), estimate), data))
        except NerbenchError as exc:
            log.error("%s failed: %s", cell.label, exc)
            out.failed.append((cell.label, str(exc)))
    if progress:
        progress("plan", {"total": len(jobs), "skipped": len(out.skipped), "failed": len(out.failed),
                          "cells": [plan_entry(job.cell, job.estimate) for job, _ in jobs]})
    executor.run(jobs, outcome=out, progress=progress)
    return out


def write_result_files(results_dir: Path, files: dict[str, bytes]) -> list[Path]:
    """Write a cell's result documents and saved predictions that came back as bytes from another
    machine (``--executor ray``): each file atomically, the predictions before the results that name
    them, every result validated first. Returns the result paths."""
    return write_checked(check_result_files(results_dir, files))


def write_checked(checked: list[tuple[Path, bytes]]) -> list[Path]:
    """Write what :func:`check_result_files` passed, in its order; returns the result paths."""
    from bench.results import atomic_write_bytes

    for path, blob in checked:
        atomic_write_bytes(path, blob)
    return [p for p, _ in checked if p.suffix == ".json"]


def check_result_files(results_dir: Path, files: dict[str, bytes]) -> list[tuple[Path, bytes]]:
    """:func:`write_result_files`' checks, writing nothing: ``(path, bytes)`` in the order to write them, or a
    :class:`ResultError` naming the first file refused."""
    from bench.results import PREDICTIONS_SUFFIX, validate

    root = Path(results_dir)
    checked: list[tuple[Path, bytes]] = []
    for rel, blob in sorted(files.items(), key=lambda kv: (kv[0].endswith(".json"), kv[0])):
        parts = Path(rel).parts
        below = len(parts) == 4 and re.fullmatch(r"n[1-9][0-9]*|from-[A-Za-z0-9][A-Za-z0-9_.+-]*", parts[2])  # a curve's point
        if Path(rel).is_absolute() or ".." in parts or not (len(parts) == 3 or below) or \
                not rel.endswith((".json", PREDICTIONS_SUFFIX)):  # or an out-of-domain result (from-<train task>)
            raise ResultError(f"refused a returned result file {rel!r}: not <task>/<system>/[n<size>/|from-<task>/]<run id>")
        if rel.endswith(".json"):
            try:
                validate(json.loads(blob.decode("utf-8")), where=rel)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ResultError(f"{rel}: the returned result is not valid JSON: {exc}") from None
        checked.append((root / rel, blob))
    return checked
