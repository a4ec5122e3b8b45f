"""``--shard K/N`` by cost: every cell in exactly one shard, the shards about equally heavy, and the same
partition on every machine.

A cluster job runs one shard per array task, each on whatever node it is given, each planning the suite
on its own: the partition must come out the same everywhere. So it is computed only from what every node
sees alike (the plan, the task data, the tokenizers of models read without the hub), never from a timing
or a probe of the node. A cell weighs :data:`CELL_OVERHEAD` plus its kind's
:meth:`~bench.systems.base.SystemKind.work`: a transformer's FLOPs (:func:`bench.estimate.count_work`, the
duration estimate's work without its probe; a hub model counted as a base-size one), any other kind its
``work_per_train_word`` per training word (CRF 2e7, spaCy 1.2e8, lookup 1e5 FLOP-equivalents). A task
without data here weighs :data:`MISSING_WEIGHT` per cell. :func:`bench.plan.balance` then puts the heaviest
cell first onto the least-loaded shard.

Nodes that see different data (a task folder missing on one) or different models compute different
partitions, and cells would run twice or never: :attr:`ShardPlan.fingerprint`, printed by the dry run
and logged by every run, is the same on all array tasks of a job exactly when they agree. Give every
node the same data (``NERBENCH_DATA_DIR`` on shared storage) and add ``--require-data``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.cell_estimate import cell_inputs, limit
from bench.errors import ConfigError
from bench.plan import Cell, balance

if TYPE_CHECKING:
    from bench.data.load import TaskData

log = logging.getLogger(__name__)

CELL_OVERHEAD = 2e11
"""FLOP-equivalents every cell costs besides training (process start, imports, scoring, the bootstrap):
about 4 s in the committed CPU runs, at the ~55 GFLOP/s their transformer training reached."""
MISSING_WEIGHT = CELL_OVERHEAD
"""The weight of a cell whose task has no data here: it is skipped (or, with ``--require-data``, the run
stops), so it costs what any cell costs to plan."""


def cell_work(cell: Cell, data: TaskData, *, splits: Sequence[str]) -> float:
    """A cell's weight: :data:`CELL_OVERHEAD` plus its kind's work on the cell's own inputs (data limits
    and learning-curve subsets applied). A kind whose count fails is weighed by training words instead."""
    from bench.systems import get_kind

    params, limits, train, dev, _ = cell_inputs(cell, data)
    predicted = [limit(data.sentences(s), limits.get("max_eval_sentences")) for s in splits if s in data.splits]
    kind = get_kind(cell.spec.kind)
    try:
        found = kind.work(params, model=cell.spec.model, train=train, dev=dev, predicted=predicted)
    except Exception as exc:  # noqa: BLE001 - any failure: a fallback weight would split the plan differently
        # on this node than on one where the count works, and cells would run twice or never
        raise ConfigError(f"--shard: cannot weigh {cell.label} ({type(exc).__name__}: {exc}); every array task "
                          "computes the same partition only when every node has the same data and models "
                          "(install the model here, or run without --shard)") from None
    return CELL_OVERHEAD + found


@dataclass(frozen=True)
class ShardPlan:
    """The partition of one plan into ``n`` shards: each cell's weight and shard (0-based)."""

    labels: tuple[str, ...]
    weights: tuple[int, ...]
    shards: tuple[int, ...]
    n: int

    @classmethod
    def weigh(cls, cells: Sequence[Cell], loaded: Mapping[str, TaskData], *, n: int,
              splits: Sequence[str]) -> ShardPlan:
        """Weigh every cell of the plan (its task's data loaded, else :data:`MISSING_WEIGHT`) and balance."""
        weights = [int(cell_work(c, loaded[c.task], splits=splits)) if c.task in loaded else int(MISSING_WEIGHT)
                   for c in cells]
        return cls(tuple(f"{c.label} {c.config_hash()}" for c in cells), tuple(weights),
                   tuple(balance(weights, n)), n)

    def cells(self, cells: Sequence[Cell], k: int) -> list[Cell]:
        """Shard ``k``'s cells (1-based, as ``--shard K/N``), in plan order."""
        return [c for c, s in zip(cells, self.shards, strict=True) if s == k - 1]

    @property
    def fingerprint(self) -> str:
        """8 hex digits of the cells, their weights and shards: equal on two machines exactly when they
        split the plan alike."""
        blob = json.dumps([self.n, self.labels, self.weights, self.shards])
        return hashlib.sha256(blob.encode()).hexdigest()[:8]

    def share(self, k: int) -> tuple[int, float]:
        """``(cells, share of the plan's work)`` of shard ``k`` (1-based)."""
        total = sum(self.weights) or 1
        mine = [w for w, s in zip(self.weights, self.shards, strict=True) if s == k - 1]
        return len(mine), sum(mine) / total

    def line(self, k: int) -> str:
        """One shard in a sentence, for the run log: ``shard 2/3 of plan 1a2b3c4d: 4 of 12 cells, 33.1% of the work``."""
        count, share = self.share(k)
        return (f"shard {k}/{self.n} of plan {self.fingerprint}: {count} of {len(self.weights)} cells, "
                f"{share:.1%} of the estimated work")

    def table(self, k: int) -> list[str]:
        """Every shard's share of the work, this one marked (``run --dry-run --shard K/N``)."""
        lines = [f"shard plan {self.fingerprint}: {len(self.weights)} cells weighed by their estimated work "
                 "(FLOPs, the same on every machine; see bench/shards.py)"]
        for j in range(1, self.n + 1):
            count, share = self.share(j)
            lines.append(f"  shard {j}/{self.n}: {count} cells, {share:6.1%} of the work" + ("  <- this one" if j == k else ""))
        return lines
