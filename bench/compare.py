"""Regression checks: compare current results with committed reference results.

Runs are grouped by their cell key minus seed (task, task version, data fingerprint, system, system
config hash, scorer version, system version) and split; the seeds of a group are pooled. Only groups
whose keys match are compared; a group whose task or system matches but whose key differs is
*incomparable* (not a pass, not a failure), so a changed data file, hyper-parameter, metric
definition or training code never masquerades as a regression or as a pass.

Compared: the main score (``metrics.main.value``, F1 (conlleval) since scorer version 2), strict F1
and the official span F1 where present.

Tolerances: a deterministic system (the CRF, lookup: ``system.deterministic`` in its results, see
``SystemKind.deterministic``) gets 0.002 F1;
any other (a transformer, spaCy) gets max(2·std of the reference seeds, 0.005) — half a point when the
reference has a single seed.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.results import iter_results

CRF_TOLERANCE = 0.002
"""For a deterministic kind (the CRF): rounding only."""
TRANSFORMER_MIN_TOLERANCE = 0.005

# (label, dotted path into the result) of every metric the check compares.
# The main score's label is its recorded name (``metrics.main.name``).
METRICS = (
    ("main", "metrics.main.value"),
    ("strict_f1", "metrics.strict.micro.f1"),
    ("official_f1", "metrics.spans.official.f1"),
)

KEY_NAMES = ("task", "task version", "data fingerprint", "system", "system config", "scorer version",
             "system version", "split")
GroupKey = tuple[str, str, str, str, str, str, str, str]


def dig(obj: Any, dotted: str) -> Any:
    """``dig(r, "metrics.main.value")``; ``None`` when any step is missing."""
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def group_key(r: dict[str, Any]) -> GroupKey:
    """The cell key minus seed, plus the split (versions missing from old results read as ``"None"``); a
    learning-curve point's system reads ``"<system> n<size>"``, so each size is a group of its own, and an
    out-of-domain result's ``"<system> from <train task> [<mapping>]"`` (the rest of its key, the in-domain
    cell's, is summed up by the mapping and its ``transfer_from_cell_key``)."""
    k = r["cell_key"]
    system = k["system"] if k.get("train_size") is None else f"{k['system']} n{k['train_size']}"  # a curve's point
    if k.get("transfer_from") is not None:
        system = f"{k['system']} from {k['transfer_from']} [{k.get('type_mapping')}; {k.get('transfer_from_cell_key')}]"
    return (k["task"], str(k["task_version"]), k["data_fingerprint"], system, k["system_config_hash"],
            str(k.get("scorer_version")), str(k.get("system_version")), r["split"])


def _groups(results: Iterable[dict[str, Any]]) -> dict[GroupKey, list[dict[str, Any]]]:
    out: dict[GroupKey, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        out[group_key(r)].append(r)
    return out


@dataclass(frozen=True)
class Finding:
    task: str
    system: str
    split: str
    metric: str
    status: str
    """``ok``, ``regression``, ``improvement``, ``incomparable`` or ``missing``."""
    reference: float | None = None
    current: float | None = None
    tolerance: float | None = None
    detail: str = ""

    @property
    def delta(self) -> float | None:
        if self.reference is None or self.current is None:
            return None
        return self.current - self.reference


def tolerance(deterministic: bool, values: list[float]) -> float:
    if deterministic:
        return CRF_TOLERANCE
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return max(2 * spread, TRANSFORMER_MIN_TOLERANCE)


def compare(reference: list[dict[str, Any]], current: list[dict[str, Any]], *,
            deterministic_kinds: Collection[str] = ()) -> list[Finding]:
    """Findings for every reference group. A group is deterministic when its results say so
    (``system.deterministic``) or, for results written before that field, when its kind is one of
    ``deterministic_kinds`` (the caller knows the system kinds; this module does not)."""
    ref_groups, cur_groups = _groups(reference), _groups(current)
    by_name: dict[tuple[str, str, str], list[GroupKey]] = defaultdict(list)
    for key in cur_groups:
        by_name[(key[0], key[3], key[-1])].append(key)
    findings: list[Finding] = []
    for key in sorted(ref_groups):
        task, system, split = key[0], key[3], key[-1]
        refs = ref_groups[key]
        if key not in cur_groups:
            others = by_name.get((task, system, split))
            if others:
                diff = _key_difference(key, others[0])
                findings.append(Finding(task, system, split, "*", "incomparable", detail=diff))
            else:
                findings.append(Finding(task, system, split, "*", "missing", detail="no current result"))
            continue
        curs = cur_groups[key]
        marked = refs[0]["system"].get("deterministic")
        deterministic = marked if isinstance(marked, bool) else refs[0]["system"].get("kind") in deterministic_kinds
        for label, path in METRICS:
            if label == "main":
                label = str(dig(refs[0], "metrics.main.name") or "main")
            ref_vals = [v for v in (dig(r, path) for r in refs) if v is not None]
            cur_vals = [v for v in (dig(r, path) for r in curs) if v is not None]
            if not ref_vals or not cur_vals:
                continue
            ref_mean, cur_mean = statistics.fmean(ref_vals), statistics.fmean(cur_vals)
            tol = tolerance(deterministic, ref_vals)
            if cur_mean < ref_mean - tol:
                status = "regression"
            elif cur_mean > ref_mean + tol:
                status = "improvement"
            else:
                status = "ok"
            findings.append(Finding(task, system, split, label, status, ref_mean, cur_mean, tol,
                                    detail=f"n={len(ref_vals)}/{len(cur_vals)}"))
    return findings


def _key_difference(ref: GroupKey, cur: GroupKey) -> str:
    diffs = [f"{n} {a[:12]} -> {b[:12]}" for n, a, b in zip(KEY_NAMES, ref, cur, strict=True) if a != b]
    return "; ".join(diffs)


def load_dir(path: Path, *, on_error: Callable[[Exception], None] | None = None) -> list[dict[str, Any]]:
    """Every valid result under ``path``; with ``on_error`` a broken file is reported and skipped."""
    return [r for _, r in iter_results(path, on_error=on_error)]


def render(findings: list[Finding]) -> str:
    """A Markdown table of the findings (fixed order), then a one-line verdict."""
    lines = [
        "| task | system | split | metric | reference | current | Δ | tolerance | status |",
        "|---|---|---|---|---:|---:|---:|---:|---|",
    ]

    def f(x: float | None) -> str:
        return "" if x is None else f"{x:.4f}"

    for x in findings:
        delta = "" if x.delta is None else f"{x.delta:+.4f}"
        status = x.status + (f" ({x.detail})" if x.status in ("incomparable", "missing") else "")
        lines.append(
            f"| {x.task} | {x.system} | {x.split} | {x.metric} | {f(x.reference)} | {f(x.current)} | {delta} "
            f"| {f(x.tolerance)} | {status} |"
        )
    counts = {s: sum(1 for x in findings if x.status == s) for s in ("ok", "improvement", "regression", "incomparable", "missing")}
    verdict = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return "\n".join(lines) + f"\n\n{verdict or 'nothing to compare'}\n"


def has_regression(findings: list[Finding]) -> bool:
    return any(x.status == "regression" for x in findings)
