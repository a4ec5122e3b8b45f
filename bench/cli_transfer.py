"""``nerbench run``'s out-of-domain part: the suite's ``[[transfer]]`` cells planned with the in-domain ones
(a mapping that names an unknown type fails before anything runs), their eval tasks loaded, listed by
``--dry-run``, and run after the in-domain cells of the same run, through the same executor
(:mod:`bench.transfer`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.errors import ConfigError, DataNotFoundError, NerbenchError
from bench.transfer import TransferCell, TransferData, is_transfer_finished, plan_transfers
from bench.transfer_run import run_transfer_cells


class TransferRun:
    """The transfer cells of one ``nerbench run`` and the data they read."""

    def __init__(self, suite: Any, cells: list[TransferCell]) -> None:
        self.suite = suite
        self.cells = cells
        self.loaded: dict[str, Any] = {}
        self.missing: dict[str, str] = {}
        self.broken: dict[str, str] = {}

    @classmethod
    def plan(cls, suite: Any, cells: list[Any], *, catalog: Any) -> TransferRun:
        """Plan time: every task of the suite exists (with a did-you-mean), and so does every ``[[transfer]]``
        entry's, with only their types in its mapping; then one transfer cell per entry and in-domain cell."""
        for name in suite.tasks:
            catalog.get(name)  # an unknown task fails the whole run up front, with a did-you-mean
        return cls(suite, plan_transfers(suite, cells, catalog=catalog))

    def load(self, args: argparse.Namespace, *, loaded: dict[str, Any], missing: dict[str, str], console: Any) -> None:
        """The eval tasks' data (the train tasks' came with the in-domain cells); a transfer cell whose train or
        eval task has no data is left out with one line, or fails the run under ``--require-data``."""
        from bench.catalog import resolve_task
        from bench.data.load import load_task_data

        self.loaded = loaded
        for task in dict.fromkeys(c.eval_task for c in self.cells):
            if task in loaded or task in missing:
                continue
            try:
                loaded[task] = load_task_data(resolve_task(task, args.task_file), data_dir=args.data_dir,
                                              allow_hub=not args.no_hub)
            except DataNotFoundError:
                self.missing[task] = "no data"
                console.print(f"{task}: no data — see README#data; its out-of-domain cells are skipped", soft_wrap=True)
            except NerbenchError as exc:
                self.broken[task] = str(exc)
        if self.missing and args.require_data:
            raise ConfigError(f"--require-data: no data for {', '.join(self.missing)}; nothing was run")
        gone = set(self.missing) | set(missing)
        self.cells = [c for c in self.cells if c.eval_task not in gone and c.train_task not in gone]

    def data(self, cell: TransferCell) -> TransferData:
        if cell.eval_task in self.broken:
            raise NerbenchError(self.broken[cell.eval_task])
        return TransferData(eval=self.loaded[cell.eval_task], train=self.loaded[cell.train_task])

    def run(self, config: Any, *, executor: Any, outcome: Any, progress: Any = None) -> None:
        """After the in-domain cells (``outcome``): the transfer cells that are not finished, with ``executor``."""
        run_transfer_cells(self.cells, self.data, config, executor=executor, outcome=outcome, progress=progress)

    def status(self, cell: TransferCell, config: Any) -> str:
        """``--dry-run``'s status of a transfer cell, with where its model comes from."""
        from bench.runner import is_finished

        if cell.train_task not in self.loaded or cell.eval_task in self.broken:
            return f"error: {self.broken.get(cell.eval_task, 'no data')[:60]}"
        if is_transfer_finished(cell, self.data(cell), Path(config.results_dir)):
            return "finished"
        if not is_finished(cell.source, self.loaded[cell.train_task], config, self.suite.eval_splits):
            return "to run, after its in-domain cell"
        there = (Path(config.models_dir) / cell.model_rel).is_dir()
        return "to run" if there else f"model missing: {Path(config.models_dir) / cell.model_rel}"

    def dry_run(self, config: Any) -> int:
        """``run --dry-run``: the transfer cells as a table (finished or to run, and what they need)."""
        if not self.cells:
            return 0
        from rich.table import Table

        from bench.cli_console import make_console

        table = Table(title=f"out of domain · {len(self.cells)} cells (run after the in-domain cells)")
        for col in ("train → eval", "system", "seed", "types (eval → train)", "status", "note"):
            table.add_column(col)
        for c in self.cells:
            note = ""
            if _pos_off(c, self.loaded):
                note = f"{c.eval_task} has no POS column: this CRF tags it with its POS features off"
            table.add_row(f"{c.train_task} → {c.eval_task}", c.system, str(c.seed),
                          ", ".join(f"{e} → {t}" for e, t in c.types), self.status(c, config), note)
        make_console().print(table)
        return 0


def _pos_off(cell: TransferCell, loaded: dict[str, Any]) -> bool:
    """A CRF that uses POS (``use_pos`` true, or unset and its training split has a POS column) meets an eval
    split without one (:mod:`bench.transfer_run`); only a CRF reads POS."""
    if cell.spec.kind != "crf" or cell.eval_task not in loaded or cell.train_task not in loaded:
        return False
    use_pos = cell.params.get("use_pos")
    trained_with = _has_pos(loaded[cell.train_task], "train") if use_pos is None else bool(use_pos)
    return trained_with and not _has_pos(loaded[cell.eval_task], "test")


def _has_pos(data: Any, split: str) -> bool:
    sentences = data.sentences(split) if split in data.splits else []
    return bool(sentences) and all(s.pos is not None for s in sentences)
