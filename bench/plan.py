"""The matrix of a suite: cells (task x system x training size x seed), their keys, shards and seeds.

A *cell* trains once and writes one result per evaluated split. Its key (task version, data
fingerprint, system config hash, seed, scorer version, system implementation version, and for a
learning-curve point the training size and the subset rule's version) decides whether a result on
disk is still the cell's: a result with another key is run again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.catalog import shipped_dir
from bench.data.load import TaskData
from bench.data.subsets import SUBSET_VERSION, check_train_size
from bench.errors import ConfigError
from bench.models.languages import language_mismatch
from bench.spec import SuiteSpec, SystemSpec, train_sizes
from bench.systems import get_kind, resolved_config
from bench.systems.suites import load_suite
from bench.versions import SCORER_VERSION

# Parameters the runner applies itself (data limits); everything else goes to the system.
RUNNER_PARAMS = ("max_train_sentences", "max_eval_sentences")
# Parameters that do not change what a system learns, so they stay out of the config hash.
NON_SEMANTIC_PARAMS = ("device", "torch_threads", "eval_batch_size", "progress")


@dataclass(frozen=True)
class Cell:
    task: str
    system: str
    seed: int
    spec: SystemSpec
    params: dict[str, Any] = field(hash=False, compare=False, default_factory=dict)
    train_size: int | None = None
    """Training sentences of a learning-curve point (a subset drawn with the seed); ``None``: the whole split."""

    @property
    def label(self) -> str:
        size = "" if self.train_size is None else f" × n{self.train_size}"
        return f"{self.task} × {self.system}{size} × seed {self.seed}"

    @property
    def model_rel(self) -> Path:
        """Where its model goes, under the run's models dir."""
        size = () if self.train_size is None else (f"n{self.train_size}",)
        return Path(self.task, self.system, *size, f"seed{self.seed}")

    def config_hash(self) -> str:
        """Hash of everything that defines what the system learns: kind, model and the *resolved*
        configuration (defaults included, so a changed default is a different config)."""
        semantic = {k: v for k, v in sorted(self.params.items()) if k not in NON_SEMANTIC_PARAMS}
        resolved = resolved_config(self.spec, semantic, seed=self.seed)
        resolved = {k: v for k, v in resolved.items() if k not in NON_SEMANTIC_PARAMS + ("seed",)}
        if resolved.get("context", "sentence") == "sentence":
            # options added after results existed, inert at these values: they keep the old key
            resolved.pop("context", None)
            resolved.pop("context_length", None)
        if resolved.get("min_steps") == 0:
            resolved.pop("min_steps")
        blob = json.dumps({"kind": self.spec.kind, "model": self.spec.model, "params": semantic,
                           "resolved": resolved}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def suite_file(name_or_path: str) -> Path | None:
    """The TOML file a suite name or path refers to (``None`` when there is none)."""
    path = Path(name_or_path)
    if path.suffix == ".toml":
        return path if path.is_file() else None
    candidate = shipped_dir("suites") / f"{name_or_path}.toml"
    return candidate if candidate.is_file() else None


def find_suite(name_or_path: str) -> SuiteSpec:
    """The suite a name or path refers to, read for running (:func:`bench.systems.suites.load_suite`: its
    kinds and parameters checked); an unknown name lists the shipped suites."""
    path = Path(name_or_path)
    if path.suffix == ".toml":
        if not path.is_file():
            raise ConfigError(f"{path}: suite file not found")
        return load_suite(path)
    folder = shipped_dir("suites")
    candidate = folder / f"{name_or_path}.toml"
    if candidate.is_file():
        return load_suite(candidate)
    from bench.registry import Registry

    reg: Registry[Path] = Registry("suite")
    for f in sorted(folder.glob("*.toml")):
        reg.register(f.stem, f)
    reg.get(name_or_path)  # raises with did-you-mean
    raise AssertionError("unreachable")


def plan(
    suite: SuiteSpec,
    *,
    tasks: list[str] | None = None,
    systems: list[str] | None = None,
    seeds: list[int] | None = None,
    device: str | None = None,
    sizes: list[int | None] | None = None,
) -> list[Cell]:
    """Cells of the suite in a fixed order (task, system, training size, seed), filtered by the CLI
    selections. A deterministic kind runs one seed on the whole split and every seed on a subset (the
    subset is drawn with the seed)."""
    for name, known, what in ((tasks, suite.tasks, "task"), (systems, suite.systems, "system")):
        for n in name or ():
            if n not in known:
                raise ConfigError(f"suite '{suite.name}' has no {what} '{n}' (has: {', '.join(known)})")
    cells = []
    for t in suite.tasks:
        if tasks and t not in tasks:
            continue
        for s in suite.systems:
            if (systems and s not in systems) or not suite.crosses(t, s):
                continue
            params = suite.params_for(t, s)
            if device and device != "auto":
                params["device"] = device
            for size in sizes if sizes is not None else suite.sizes_of(t, s):
                if size is not None and "max_train_sentences" in params:
                    raise ConfigError(f"suite '{suite.name}': {t} × {s} has both a training size and "
                                      "max_train_sentences; a learning curve draws its own subsets")
                for seed in seeds_of(suite.system[s].kind, seeds or suite.seeds, whole=size is None):
                    cells.append(Cell(t, s, int(seed), suite.system[s], params, train_size=size))
    return cells


def is_deterministic(kind: str) -> bool:
    from bench.systems import SYSTEM_KINDS

    return kind in SYSTEM_KINDS and bool(SYSTEM_KINDS.get(kind).deterministic)


def seeds_of(kind: str, seeds: Sequence[int], *, whole: bool = True) -> list[int]:
    """The seeds a kind runs: all of them, or, on the whole train split, only the first for a
    deterministic kind (the CRF, lookup), whose seeds would all give the same model; its results are
    marked deterministic instead. On a subset every seed runs: the seed draws the subset."""
    return list(seeds[:1]) if whole and is_deterministic(kind) else list(seeds)


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``; shards are 1-based."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard must look like K/N (e.g. 1/2), got {text!r}") from None
    if not 1 <= k <= n:
        raise ConfigError(f"--shard {text}: K must be between 1 and N")
    return k, n


def balance(weights: Sequence[float], n: int) -> list[int]:
    """The shard (0-based) of each of ``weights``: heaviest first onto the least-loaded shard, ties to the
    lower index (equal weights: plan order), so the same weights always give the same partition.
    Equal weights deal round robin:

    >>> balance([1, 1, 1, 1, 1], 2)
    [0, 1, 0, 1, 0]
    >>> balance([5, 1, 1, 4, 2, 3], 2)  # loads 5+2+1 and 4+3+1
    [0, 0, 1, 1, 0, 1]
    """
    loads = [0.0] * n
    shards = [0] * len(weights)
    for i in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        j = min(range(n), key=lambda j: (loads[j], j))
        shards[i] = j
        loads[j] += weights[i]
    return shards


def shard_cells(cells: list[Cell], k: int, n: int, weights: Sequence[float] | None = None) -> list[Cell]:
    """Shard ``k`` of ``n`` (1-based): :func:`balance` of ``weights`` (one per cell; ``nerbench run`` weighs
    them by their estimated work, :mod:`bench.shards`), round robin without."""
    shards = balance(weights if weights is not None else [1.0] * len(cells), n)
    return [c for c, s in zip(cells, shards, strict=True) if s == k - 1]


def cell_key(cell: Cell, data: TaskData) -> dict[str, Any]:
    return {
        "task": data.task.name,
        "task_version": data.task.version,
        "data_fingerprint": data.fingerprint,
        "system": cell.system,
        "system_config_hash": cell.config_hash(),
        "seed": cell.seed,
        "scorer_version": SCORER_VERSION,
        "system_version": get_kind(cell.spec.kind).version,
        **({} if cell.train_size is None else {"train_size": cell.train_size, "subset_version": SUBSET_VERSION}),
    }


def external_cell_key(data: TaskData, *, system: str, predictions_sha256: str) -> dict[str, Any]:
    """The cell key of scored external predictions: their "configuration" is the predictions file."""
    return {
        "task": data.task.name,
        "task_version": data.task.version,
        "data_fingerprint": data.fingerprint,
        "system": system,
        "system_config_hash": predictions_sha256[:16],
        "seed": 0,
        "scorer_version": SCORER_VERSION,
        "system_version": get_kind("external").version,
    }


def parse_train_sizes(text: str) -> list[int | None]:
    """``--train-size 100,500,all`` -> ``[100, 500, None]``.

    >>> parse_train_sizes("100, all")
    [100, None]
    """
    values: list[int | str] = []
    for part in text.split(","):
        part = part.strip()
        values.append("all" if part == "all" else int(part) if part.isdigit() else part)
    try:
        return train_sizes(values, where="--train-size")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def check_train_sizes(cells: Sequence[Cell], loaded: dict[str, TaskData]) -> None:
    """Plan time: every training size fits its task's train split (a size beyond it is an error, never
    a silent "all")."""
    problems = sorted({why for c in cells if c.train_size is not None and c.task in loaded
                       for why in [check_train_size(c.train_size, len(loaded[c.task].sentences("train")), task=c.task)]
                       if why})
    if problems:
        raise ConfigError("; ".join(problems))


def language_mismatches(cells: Sequence[Cell], languages: Mapping[str, str]) -> list[str]:
    """Plan time: one line per task × system whose model was pretrained on other languages than the task's
    (``languages``: task name -> its ``language``); such a cell still runs, and its results say so
    (:func:`cell_notes`)."""
    found: dict[tuple[str, str], str] = {}
    for c in cells:
        if c.task in languages and (why := language_mismatch(c.spec.model, languages[c.task])):
            found.setdefault((c.task, c.system), f"{c.task} × {c.system}: {why}; it runs anyway, and its results say so")
    return list(found.values())


def cell_notes(cell: Cell, task_language: str) -> list[str]:
    """What a cell's results carry in ``system.notes`` and the report shows beside their row: a model
    pretrained on other languages than the task's."""
    why = language_mismatch(cell.spec.model, task_language)
    return [why] if why else []
