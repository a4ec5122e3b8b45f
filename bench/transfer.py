"""Out of domain: a suite's trained systems scored on another task's test split (``[[transfer]]``).

A *transfer cell* is an in-domain cell (train task × system × seed, whole train split) together with an eval
task and a type mapping (eval-side type -> train-side type). It trains nothing: it loads the in-domain cell's
model from the models dir (``Cell.model_rel``: ``models/<train task>/<system>/seed<k>``), tags the eval task's
test split (its own words, as its reader gives them: no re-tokenisation, no case change) and scores it in the
train-side types (:mod:`bench.transfer_scoring`). The same result scores the in-domain test split on the
shared types only, from the in-domain result's saved predictions when they are current, else by tagging it
with the loaded model, so the report can show the drop.

Its key is the eval task's (task, version, data fingerprint), the system's (name, config hash, seed, scorer
and system versions) and the in-domain cell's (train task, its version and data fingerprint, and a digest
of the whole in-domain cell key), plus the mapping and the transfer rule's version: a new mapping or new eval
data makes the transfer result stale and run again, and leaves the in-domain result alone. Results go to
``<results>/<eval task>/<system>/from-<train task>/seed<k>-test.json`` with a ``transfer`` block, which keeps
them out of both tasks' leaderboards (:func:`bench.results.in_domain`).

Transfer cells run after the in-domain cells of the same ``nerbench run``, through the same executors
(:meth:`TransferJob.execute` is what a cell's process runs; :mod:`bench.transfer_run`), and are skipped
when finished.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data.load import TaskData
from bench.errors import ConfigError
from bench.plan import Cell, cell_key
from bench.results import ResultError, predictions_path, read_predictions, read_result, result_path
from bench.spec import SuiteSpec, TaskSpec, Transfer
from bench.transfer_scoring import TRANSFER_VERSION, mapping_text
from bench.versions import SCORER_VERSION

log = logging.getLogger(__name__)

SPLIT = "test"
"""The split a transfer cell scores, on both sides."""
IN_DOMAIN_PREDICTIONS = "in-domain"
"""``seed<k>-test.in-domain.predictions.jsonl.gz``: the in-domain test predictions a transfer result scored."""


@dataclass(frozen=True)
class TransferCell:
    """An in-domain cell scored on another task's test split through a type mapping."""

    source: Cell
    """The in-domain cell whose trained model is reused (train task × system × seed, whole train split)."""
    eval_task: str
    types: tuple[tuple[str, str], ...]
    """``(eval-side type, train-side type)`` pairs, sorted."""

    @property
    def task(self) -> str:
        """The task whose split is scored: the result goes under its folder (``from-<train task>``)."""
        return self.eval_task

    @property
    def train_task(self) -> str:
        return self.source.task

    @property
    def system(self) -> str:
        return self.source.system

    @property
    def seed(self) -> int:
        return self.source.seed

    @property
    def spec(self) -> Any:
        return self.source.spec

    @property
    def params(self) -> dict[str, Any]:
        return self.source.params

    @property
    def train_size(self) -> None:
        return None

    @property
    def mapping(self) -> dict[str, str]:
        return dict(self.types)

    @property
    def label(self) -> str:
        return f"{self.train_task} → {self.eval_task} × {self.system} × seed {self.seed}"

    @property
    def log_name(self) -> str:
        """The cell's own log file (beside the in-domain cells' ``<task>.<system>.seed<k>.log``)."""
        return f"{self.eval_task}.from-{self.train_task}.{self.system}.seed{self.seed}.log"

    @property
    def model_rel(self) -> Path:
        """The in-domain cell's model, under the run's models dir."""
        return self.source.model_rel

    def config_hash(self) -> str:
        return self.source.config_hash()


@dataclass
class TransferData:
    """What a transfer cell reads: the eval task's data and the train task's (train split for seen/unseen,
    test split for the in-domain score)."""

    eval: TaskData
    train: TaskData


# --------------------------------------------------------------------------- plan


def _where(suite: SuiteSpec, i: int, t: Transfer) -> str:
    return f"{suite.origin or f'suite {suite.name}'}: transfer[{i}] ({t.train} -> {t.eval})"


def _unknown(side: str, name: str, task: TaskSpec) -> str:
    close = difflib.get_close_matches(name, task.entity_types, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{side} type '{name}' is not a type of task {task.name} (its types: {', '.join(task.entity_types)}){hint}"


def check_transfer_types(suite: SuiteSpec, catalog: Any) -> None:
    """Plan time: every ``[[transfer]]`` entry's tasks exist and its mapping names only their types (keys: the
    eval task's, values: the train task's); an error names the suite file and the entry."""
    for i, t in enumerate(suite.transfer):
        try:
            train, evaluated = catalog.get(t.train), catalog.get(t.eval)
        except ConfigError as exc:
            raise ConfigError(f"{_where(suite, i, t)}: {exc}") from None
        for eval_type, train_type in t.types.items():
            if eval_type not in evaluated.entity_types:
                raise ConfigError(f"{_where(suite, i, t)}: {_unknown('eval-side', eval_type, evaluated)}")
            if train_type not in train.entity_types:
                raise ConfigError(f"{_where(suite, i, t)}: {_unknown('train-side', train_type, train)}")


def plan_transfers(suite: SuiteSpec, cells: Sequence[Cell], *, catalog: Any) -> list[TransferCell]:
    """The transfer cells of ``cells`` (after the CLI's selections and shard): one per ``[[transfer]]`` entry
    and in-domain whole-split cell of its train task, in entry order. Raises for a bad entry (see
    :func:`check_transfer_types`)."""
    check_transfer_types(suite, catalog)
    return [TransferCell(c, t.eval, tuple(sorted(t.types.items())))
            for t in suite.transfer for c in cells if c.task == t.train and c.train_size is None]


# --------------------------------------------------------------------------- keys and finished cells


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def transfer_key(cell: TransferCell, data: TransferData) -> dict[str, Any]:
    """The transfer result's cell key (see the module docstring)."""
    source = cell_key(cell.source, data.train)
    return {
        "task": data.eval.task.name, "task_version": data.eval.task.version,
        "data_fingerprint": data.eval.fingerprint, "system": cell.system,
        "system_config_hash": source["system_config_hash"], "seed": cell.seed, "scorer_version": SCORER_VERSION,
        "system_version": source["system_version"], "transfer_from": cell.train_task,
        "transfer_from_version": data.train.task.version, "transfer_from_fingerprint": data.train.fingerprint,
        "transfer_from_cell_key": _digest(source), "type_mapping": mapping_text(cell.mapping),
        "transfer_version": TRANSFER_VERSION,
    }


def transfer_paths(cell: TransferCell, results_dir: Path) -> tuple[Path, Path, Path]:
    """The result, its saved eval-split predictions and the in-domain predictions it scored."""
    at = {"transfer_from": cell.train_task}
    result = result_path(results_dir, cell.eval_task, cell.system, cell.seed, SPLIT, **at)
    preds = predictions_path(results_dir, cell.eval_task, cell.system, cell.seed, SPLIT, **at)
    return result, preds, preds.with_name(preds.name.replace(f"-{SPLIT}.", f"-{SPLIT}.{IN_DOMAIN_PREDICTIONS}.", 1))


def is_transfer_finished(cell: TransferCell, data: TransferData, results_dir: Path) -> bool:
    """Its result exists, validates, has this key, and both its saved predictions are there."""
    path, _, _ = transfer_paths(cell, results_dir)
    if not path.is_file():
        return False
    try:
        result = read_result(path)
    except ResultError as exc:
        log.warning("%s; the transfer cell will be run again", exc)
        return False
    if result["cell_key"] != transfer_key(cell, data):
        return False
    saved = [(result.get("predictions") or {}).get("file"),
             (((result.get("transfer") or {}).get("in_domain") or {}).get("predictions") or {}).get("file")]
    return all(f and (path.parent / f).is_file() for f in saved)


# --------------------------------------------------------------------------- jobs


def saved_in_domain(cell: TransferCell, train: TaskData, results_dir: Path) -> tuple[list[list[str]] | None, str]:
    """The in-domain cell's saved test predictions, when its result is there and current (same cell key);
    else ``(None, why not)``."""
    path = result_path(results_dir, cell.train_task, cell.system, cell.seed, SPLIT)
    if not path.is_file():
        return None, "no in-domain test result"
    try:
        result = read_result(path)
        if result["cell_key"] != cell_key(cell.source, train):
            return None, "the in-domain test result has another cell key"
        rows = read_predictions(path, result)
    except ResultError as exc:
        log.warning("%s; the transfer cell tags the in-domain test split itself", exc)
        return None, str(exc)
    return [list(row["tags"]) for row in rows], path.relative_to(results_dir).as_posix()
