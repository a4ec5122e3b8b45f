"""What a cell asks Ray for, and what the driver does about cells no node can run.

- :func:`cell_resources`: a cell's Ray task options, from the suite's ``resources`` table or its kind's
  ``default_resources``.
- :func:`place_on_cluster`: the device rule under Ray. A cell of a kind that can train on a GPU (a
  transformer) with ``device = "cuda"`` reserves one GPU (and ``torch_threads`` CPU slots); with
  ``device = "auto"`` (the default) it reserves one GPU when the cluster has any GPU, and otherwise is
  given ``device = "cpu"``, so that it never uses a GPU it did not reserve; the device it is given is in
  its params (and so in its results' ``system.params``). A suite's ``resources`` table wins: ``auto``
  becomes ``cuda`` when the table reserves a GPU, ``cpu`` when it does not.
- :class:`InfeasibleWatch`: a cell whose demand fits no alive node of a cluster waits for such a node to
  join at most ``--ray-wait-deadline`` seconds; a cell merely queued behind busy cells never times out.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from bench.errors import ConfigError

log = logging.getLogger(__name__)

RAY_OPTIONS = ("num_cpus", "num_gpus", "memory")
WAIT_DEADLINE_S = 600.0
"""``--ray-wait-deadline``'s default: how long a cell no node can run waits for one to join (0: forever)."""
NODE_CHECK_S = 5.0
"""How often the driver looks at the cluster's nodes again while cells no node can run wait."""


def cell_resources(cell: Any) -> dict[str, Any]:
    """Ray task options for a cell: the system's ``resources`` table when the suite gives one, else its
    kind's ``default_resources``: a GPU and ``torch_threads`` CPU slots for a transformer on ``cuda``,
    and one CPU slot for everything else (a transformer on CPUs: one per ``torch_threads`` it declares,
    so cells never oversubscribe a node's cores).

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


def alive_nodes(ray: Any) -> list[dict[str, float]]:
    """The total resources of each alive node of the cluster."""
    return [{k: float(v) for k, v in n.get("Resources", {}).items()} for n in ray.nodes() if n.get("Alive")]


def largest_node(demand: dict[str, float], nodes: list[dict[str, float]]) -> dict[str, float]:
    """What the node nearest to ``demand`` has of it (and of CPUs and GPUs): the one that meets most of it.

    >>> largest_node({"CPU": 1, "A100": 1}, [{"CPU": 4.0}, {"CPU": 8.0, "GPU": 2.0}])
    {'CPU': 8.0, 'GPU': 2.0, 'A100': 0}
    """
    def score(node: dict[str, float]) -> tuple[int, float, float]:
        return sum(node.get(k, 0) >= v for k, v in demand.items()), node.get("GPU", 0), node.get("CPU", 0)

    best = max(nodes, key=score, default={})
    return {k: best.get(k, 0) for k in dict.fromkeys(("CPU", "GPU", *demand))}


def no_node_reason(demand: dict[str, float], nodes: list[dict[str, float]]) -> str:
    """Why a cell can run nowhere: what it asks for and what the nearest node has."""
    return f"asks Ray for {demand}, more than any node has (largest: {largest_node(demand, nodes)})"


def uses_gpu(cell: Any) -> bool:
    """Whether the cell's kind trains on a GPU when its device is ``cuda`` (its default resources say so)."""
    from bench.systems import get_kind

    return bool(get_kind(cell.spec.kind).default_resources({**cell.params, "device": "cuda"}).get("num_gpus"))


def with_device(cell: Any, device: str) -> Any:
    """The cell with ``device`` in its params (a transfer cell: in its in-domain cell's)."""
    if hasattr(cell, "source"):
        return dataclasses.replace(cell, source=with_device(cell.source, device))
    return dataclasses.replace(cell, params={**cell.params, "device": device})


def place_on_cluster(jobs: list[tuple[Any, Any]], *, cluster_gpus: float) -> list[tuple[Any, Any]]:
    """The jobs with the device rule of this module applied (``cluster_gpus``: the alive nodes' GPUs, read
    once when the run starts); one log line per system and decision."""
    placed, said = [], set()
    for job, data in jobs:
        cell = job.cell
        given = str(cell.params.get("device") or getattr(job.config, "device", None) or "auto")
        if not uses_gpu(cell):
            placed.append((job, data))
            continue
        device, why = given, f"device {given}"
        if given == "auto":
            declared = bool(getattr(cell.spec, "resources", None))
            reserve = cell_resources(cell).get("num_gpus", 0) if declared else cluster_gpus
            device = "cuda" if reserve else "cpu"
            why = "--device auto: " + (("its `resources` table reserves " + ("a GPU" if reserve else "no GPU"))
                                       if declared else f"the cluster has {cluster_gpus:g} GPU(s)" if reserve
                                       else "the cluster has no GPU")
        if cell.params.get("device") != device:  # the device it is given, in its params (and its results)
            cell = with_device(cell, device)
            job = dataclasses.replace(job, cell=cell)
        options = cell_resources(cell)
        if cell.system not in said and (given == "auto" or options.get("num_gpus")):
            said.add(cell.system)
            log.info("Ray: %s trains on device %s (%s), asking Ray for %s", cell.system, device, why,
                     ray_demand(options))
        placed.append((job, data))
    return placed


def cluster_gpus(nodes: list[dict[str, float]]) -> float:
    """The GPUs of all ``nodes`` together.

    >>> cluster_gpus([{"CPU": 4.0}, {"CPU": 8.0, "GPU": 2.0}])
    2.0
    """
    return float(sum(n.get("GPU", 0) for n in nodes))


class InfeasibleWatch:
    """The cells waiting for a node that can run them: since when, re-checked against the alive nodes
    every :data:`NODE_CHECK_S` (a node may join, or leave). A cell whose demand fits some alive node is
    never overdue, however long it is queued behind busy cells. ``deadline_s`` 0: none is ever overdue."""

    def __init__(self, ray: Any, deadline_s: float, *, clock: Any = time.monotonic) -> None:
        self.ray, self.deadline_s, self.clock = ray, deadline_s, clock
        self.since: dict[Any, float] = {}
        self.checked = -float("inf")

    def overdue(self, waiting: Callable[[], dict[Any, dict[str, float]]]) -> list[tuple[Any, str]]:
        """``(key, why)`` for each cell of ``waiting()`` (key: its demand) that no alive node could run for
        the whole deadline; ``waiting`` is called only when the nodes are due to be checked again."""
        now = self.clock()
        if not self.deadline_s or now - self.checked < min(NODE_CHECK_S, self.deadline_s / 4):
            return []
        self.checked = now
        cells = waiting()
        try:
            nodes = alive_nodes(self.ray)
        except Exception as exc:  # noqa: BLE001 - the cluster's state unknown now: look again later
            log.debug("could not list the Ray nodes: %s", exc)
            return []
        out = []
        for key in list(self.since):
            if key not in cells:
                del self.since[key]
        for key, demand in cells.items():
            if fits_a_node(demand, nodes):
                self.since.pop(key, None)
                continue
            since = self.since.setdefault(key, now)
            if now - since >= self.deadline_s:
                out.append((key, f"{no_node_reason(demand, nodes)}, and no such node joined within "
                                 f"{self.deadline_s:g} s (--ray-wait-deadline): cancelled. Give the system a "
                                 "`resources` table a node can meet, add such a node, or wait longer with "
                                 "--ray-wait-deadline SECONDS (0: wait forever)"))
        return out
