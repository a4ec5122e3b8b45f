"""Result files -> groups: one :class:`Group` per cell key minus seed (:func:`group_results`), each with
the per-unit counts of its seeds (:func:`seed_counts`) and the CI of its seed-averaged F1.

Seeds are averaged within a group only; :func:`check_one_file_per_cell` refuses a copy of a result that
would count as another seed.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.analysis import mean_over_seeds
from bench.compare import dig
from bench.errors import ConfigError
from bench.metrics import BOOTSTRAP_SEED, N_RESAMPLES, bootstrap_ci_seeds
from bench.results import NUMBER_PATHS, PER_TYPE_PATHS
from bench.versions import stale_reasons

MAIN_METRIC = "conlleval_f1"
CONFIDENCE = 0.95

PATHS = NUMBER_PATHS
"""Where each reported number lives in a result file (the first path present wins): defined with the
result schema, which checks that each is a number or ``null`` when a result is read."""

KEY_FIELDS = ("task_version", "data_fingerprint", "system_config_hash", "scorer_version", "system_version",
              "train_size")
"""The cell-key fields (besides task, system, split) that separate groups; ``train_size`` is ``None``
but for a learning curve's point (:mod:`bench.report.curves`)."""


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x  # NaN != NaN


def first(result: dict[str, Any], paths: Sequence[str]) -> Any:
    """The value at the first of ``paths`` that exists in ``result`` (``None`` if none does)."""
    for p in paths:
        v = dig(result, p)
        if v is not None:
            return v
    return None


# --------------------------------------------------------------------------- per-unit counts


@dataclass(frozen=True)
class SeedCounts:
    """Per-unit ``(tp, fp, fn)`` of every seed of a group, over one list of units."""

    unit: str
    ids: tuple[str, ...]
    tables: tuple[tuple[tuple[int, int, int], ...], ...]


def seed_counts(results: Sequence[dict[str, Any]], *, mode: str = "conlleval") -> tuple[SeedCounts | None, str]:
    """The stored ``unit_counts`` of every result, when they cover the same units; else ``(None, why)``."""
    ucs = [r.get("unit_counts") for r in results]
    if not ucs or any(not isinstance(u, dict) or mode not in u for u in ucs):
        return None, "no per-unit counts (result written before unit counts were stored; re-run the cell)"
    unit, ids = ucs[0].get("unit"), tuple(ucs[0].get("ids") or ())
    if any(u.get("unit") != unit or tuple(u.get("ids") or ()) != ids for u in ucs[1:]):
        return None, "the seeds were evaluated on different units, so they cannot share resamples"
    if not ids or any(len(u[mode]) != len(ids) for u in ucs):
        return None, "per-unit counts do not match their unit ids"
    tables = tuple(tuple((int(a), int(b), int(c)) for a, b, c in u[mode]) for u in ucs)
    return SeedCounts(str(unit), ids, tables), ""


# --------------------------------------------------------------------------- groups


def group_key(result: dict[str, Any]) -> tuple[Any, ...]:
    """``(task, system, split, task_version, data_fingerprint, system_config_hash, scorer_version, system_version,
    train_size)``.

    Read from ``cell_key``; results without one fall back to ``task.version``, ``task.fingerprint``
    and ``system.config_hash``, and to ``None`` for the versions (which then show as stale).
    """
    ck = result.get("cell_key") or {}
    task, system = result["task"], result["system"]
    fallback = {"task_version": task.get("version"), "data_fingerprint": task.get("fingerprint"),
                "system_config_hash": system.get("config_hash")}
    return (task["name"], system["name"], result["split"],
            *(ck.get(k, fallback.get(k)) for k in KEY_FIELDS))


def check_one_file_per_cell(pairs: Sequence[tuple[Path, dict[str, Any]]]) -> None:
    """Two result files of one cell (the same :func:`group_key` and seed) are a :class:`ConfigError`
    naming both: a copy of a result must not count as another seed."""
    seen: dict[tuple[Any, ...], Path] = {}
    for path, r in pairs:  # an out-of-domain result is told apart by the rest of its key (bench.transfer)
        key = (*group_key(r), r["seed"], *((k, v) for k, v in sorted(r["cell_key"].items()) if k.startswith("transfer")))
        if key in seen:
            raise ConfigError(
                f"{seen[key]} and {path} are results of the same cell (task {key[0]}, system {key[1]}, split "
                f"{key[2]}, seed {r['seed']}, same data, configuration and versions); remove one of them, or read "
                "the folders separately; nothing was written"
            )
        seen[key] = path


def _sortable(key: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple("" if v is None else str(v) for v in key)


@dataclass
class Group:
    """All seeds of one cell key minus seed: (task, system, split) plus data, config and code versions."""

    task: str
    system: str
    split: str
    kind: str
    model: str | None
    task_version: Any = None
    data_fingerprint: Any = None
    system_config_hash: Any = None
    scorer_version: Any = None
    system_version: Any = None
    train_size: Any = None
    results: list[dict[str, Any]] = field(default_factory=list)
    variant: str = ""
    """What sets this group apart from others of the same (task, system, split); empty when it is alone."""
    _ci: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return f"{self.system} ({self.variant})" if self.variant else self.system

    def values(self, name: str) -> list[float]:
        return [v for v in (first(r, PATHS[name]) for r in self.results) if _number(v)]

    def mean(self, name: str) -> float | None:
        v = self.values(name)
        return statistics.fmean(v) if v else None

    def std(self, name: str) -> float | None:
        v = self.values(name)
        return statistics.stdev(v) if len(v) > 1 else None

    @property
    def n(self) -> int:
        return len(self.results)

    @property
    def seeds(self) -> list[int]:
        return [r["seed"] for r in self.results]

    @property
    def deterministic(self) -> bool:
        """Its system kind gives the same model for every seed (the CRF, lookup): run once, no spread to show."""
        return bool(self.results) and all((r.get("system") or {}).get("deterministic") is True for r in self.results)

    def per_type_f1(self, etype: str) -> float | None:
        """Mean conlleval F1 of one entity type over the seeds."""
        blocks = [(first(r, PER_TYPE_PATHS) or {}).get(etype) for r in self.results]
        vals = [b["f1"] for b in blocks if isinstance(b, dict) and _number(b.get("f1"))]
        return statistics.fmean(vals) if vals else None

    @property
    def stale_reasons(self) -> list[str]:
        return sorted({why for r in self.results for why in stale_reasons(r)})

    @property
    def stale(self) -> bool:
        return bool(self.stale_reasons)

    def analyses(self) -> list[dict[str, Any]]:
        """The stored error analysis of every seed that has one (results before scorer version 3 have none)."""
        return [a for a in (dig(r, "metrics.analysis") for r in self.results) if isinstance(a, dict)]

    def analysis(self) -> dict[str, Any] | None:
        """The error analysis averaged over the seeds that carry one (:func:`bench.analysis.mean_over_seeds`)."""
        an = self.analyses()
        return mean_over_seeds(an) if an else None

    def ci(self) -> dict[str, Any]:
        """95% CI of the seed-averaged F1 (conlleval): ``{low, high, unit, units, note}``, computed once."""
        if self._ci is None:
            self._ci = _group_ci(self)
        return self._ci


def _group_ci(g: Group) -> dict[str, Any]:
    counts, why = seed_counts(g.results)
    if counts is not None:
        low, high = bootstrap_ci_seeds(counts.tables, n_resamples=N_RESAMPLES, seed=BOOTSTRAP_SEED,
                                       confidence=CONFIDENCE)
        return {"low": low, "high": high, "unit": counts.unit, "units": len(counts.ids), "note": ""}
    main = g.results[0]["metrics"].get("main") or {}
    if g.n == 1 and main.get("name") == MAIN_METRIC and _number(main.get("ci_low")) and _number(main.get("ci_high")):
        return {"low": main["ci_low"], "high": main["ci_high"], "unit": dig(main, "ci.unit"),
                "units": dig(main, "ci.units"), "note": "the CI stored with the result (one seed)"}
    return {"low": None, "high": None, "unit": None, "units": None, "note": f"no CI: {why}"}


_VARIANT_LABELS = {
    "task_version": lambda v: f"task v{v}",
    "data_fingerprint": lambda v: f"data {str(v)[:8]}",
    "system_config_hash": lambda v: f"config {str(v)[:8]}",
    "scorer_version": lambda v: f"scorer v{v}",
    "system_version": lambda v: f"code v{v}",
    "train_size": lambda v: "all training sentences" if v == "?" else f"{v} training sentences",
}


def _label_variants(siblings: list[Group]) -> None:
    """Label each of several groups of one (task, system, split) by the key fields that differ among them."""
    differing = [k for k in KEY_FIELDS if len({str(getattr(g, k)) for g in siblings}) > 1]
    for g in siblings:
        g.variant = ", ".join(_VARIANT_LABELS[k](getattr(g, k) if getattr(g, k) is not None else "?")
                              for k in differing)


def group_results(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, list[Group]]]:
    """``{task: {split: [groups in report order]}}``, one group per cell key minus seed."""
    groups: dict[tuple[Any, ...], Group] = {}
    for r in results:
        key = group_key(r)
        if key not in groups:
            groups[key] = Group(key[0], key[1], key[2], r["system"].get("kind", "?"), r["system"].get("model"),
                                **dict(zip(KEY_FIELDS, key[3:], strict=True)))
        groups[key].results.append(r)
    by_name: dict[tuple[str, str, str], list[Group]] = defaultdict(list)
    for key in sorted(groups, key=_sortable):
        g = groups[key]
        g.results.sort(key=lambda r: r["seed"])
        by_name[(g.task, g.system, g.split)].append(g)
    out: dict[str, dict[str, list[Group]]] = defaultdict(lambda: defaultdict(list))
    for (task, _, split), siblings in by_name.items():
        if len(siblings) > 1:
            _label_variants(siblings)
        out[task][split].extend(siblings)
    for splits in out.values():
        for gs in splits.values():
            gs.sort(key=lambda g: (g.kind != "crf", g.system, g.variant))
    return {t: dict(s) for t, s in sorted(out.items())}
