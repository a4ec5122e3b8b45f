"""Learning curves: F1 against the number of training sentences, one line per system, and the crossover.

A curve's points are the test-split groups of one system at each training size (results with a
``train_subset``, :mod:`bench.data.subsets`) plus its whole-split group (the ``all`` point) when that
group has the same configuration, data and code. Each point is the seed-averaged F1 (conlleval) with
its 95% CI over seeds and test units, as everywhere in the report.

For every system that is neither the CRF nor the lookup, each size is a paired test against the CRF at
the same size (:func:`bench.metrics.paired_bootstrap_seeds`, as in the significance table: seed ``k`` of
both systems trained on the same subset), Holm-corrected over the sizes of that pair. The *crossover*
is the smallest size from which on the system beats the CRF significantly at every larger size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.compare import dig
from bench.metrics import BOOTSTRAP_SEED, N_RESAMPLES, holm, paired_bootstrap_seeds
from bench.report.blocks import Block, Cell, Heading, Notes, Para, Plots, Table, _count, _f, _num, _p, _table
from bench.report.groups import CONFIDENCE, Group, group_results, seed_counts
from bench.report.rows import leaderboard_rows
from bench.results import in_domain, train_size_of

ALPHA = 0.05
"""A Holm-adjusted p below this is significant."""
NOT_COMPARED = ("crf", "lookup")
"""Kinds that get no crossover against the CRF (the CRF itself, and the lookup floor)."""


def whole_split(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The results of cells trained on the whole train split and scored on their own task (everything but
    learning-curve points and out-of-domain results)."""
    return [r for r in in_domain(results) if train_size_of(r) is None]


@dataclass
class Point:
    size: int | None
    """The training size asked for; ``None``: the whole train split."""
    group: Group

    @property
    def sentences(self) -> float | None:
        """Training sentences actually used, mean over seeds (whole documents may exceed the size)."""
        vals = [v for r in self.group.results if isinstance(v := dig(r, "data.train_sentences"), int)]
        return sum(vals) / len(vals) if vals else None

    @property
    def x(self) -> float:
        """Where the point sits on the curve's axis: the size, or the split's sentences for ``all``."""
        return float(self.size) if self.size is not None else float(self.sentences or 0)

    @property
    def size_text(self) -> str:
        return f"{self.size:,}" if self.size is not None else f"all ({self.sentences or 0:,.0f})"


@dataclass
class Line:
    task: str
    system: str
    kind: str
    points: list[Point] = field(default_factory=list)

    def at(self, size: int | None) -> Point | None:
        return next((p for p in self.points if p.size == size), None)


@dataclass
class Comparison:
    """One system against the CRF at every size both have: per-size rows, the crossover and a sentence."""

    system: str
    vs: str
    rows: list[dict[str, Any]]
    verdict: str
    """``"crossover"``, ``"crf_ahead"`` or ``"no_difference"``."""
    crossover: int | None
    """The crossover size (``None``: none, or at ``all`` only when ``crossover_all``)."""
    crossover_all: bool
    text: str
    notes: list[str] = field(default_factory=list)


def _line_key(g: Group) -> tuple[Any, ...]:
    return (g.system, g.task_version, g.data_fingerprint, g.system_config_hash, g.scorer_version, g.system_version)


def curve_lines(results: Sequence[dict[str, Any]]) -> dict[str, list[Line]]:
    """``{task: [lines]}`` for every task with learning-curve results (test split); the CRF's line first."""
    results = in_domain(results)
    sized_tasks = {r["task"]["name"] for r in results if train_size_of(r) is not None and r["split"] == "test"}
    grouped = group_results([r for r in results if r["task"]["name"] in sized_tasks and r["split"] == "test"])
    out: dict[str, list[Line]] = {}
    for task, splits in grouped.items():
        lines: dict[tuple[Any, ...], Line] = {}
        for g in splits.get("test", []):
            line = lines.setdefault(_line_key(g), Line(task, g.system, g.kind))
            line.points.append(Point(g.train_size, g))
        kept = [ln for ln in lines.values() if any(p.size is not None for p in ln.points)]
        for ln in kept:
            ln.points.sort(key=lambda p: (p.size is None, p.size or 0))
        kept.sort(key=lambda ln: (ln.kind != "crf", ln.kind == "lookup", ln.system))
        out[task] = kept
    return out


def _test(crf: Point, other: Point) -> dict[str, Any] | str:
    a, why_a = seed_counts(crf.group.results)
    b, why_b = seed_counts(other.group.results)
    if a is None or b is None:
        return why_b or why_a
    if (a.unit, a.ids) != (b.unit, b.ids):
        return "evaluated on different units"
    res = paired_bootstrap_seeds(a.tables, b.tables, n_resamples=N_RESAMPLES, seed=BOOTSTRAP_SEED, confidence=CONFIDENCE)
    return {"size": other.size, "size_text": other.size_text, "delta": res["delta"], "delta_ci_low": res["delta_ci_low"],
            "delta_ci_high": res["delta_ci_high"], "p": res["p_value"], "unit": a.unit, "units": len(a.ids),
            "seeds": other.group.n, "crf_seeds": crf.group.n}


def compare_with_crf(line: Line, crf: Line) -> Comparison:
    """The paired test at every size of both lines, Holm over those sizes, and the crossover."""
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for p in line.points:
        c = crf.at(p.size)
        if c is None:
            continue
        found = _test(c, p)
        if isinstance(found, str):
            notes.append(f"{line.system} vs {crf.system} at {p.size_text}: not tested, {found}.")
        else:
            rows.append(found)
    for row, p_adj in zip(rows, holm([r["p"] for r in rows]), strict=True):
        row["p_holm"] = p_adj
        row["significant"] = p_adj < ALPHA
    return _verdict(line.system, crf.system, rows, notes)


def crossover_index(rows: Sequence[dict[str, Any]]) -> int | None:
    """The first row from which on every row is a significant lead of the system (Δ > 0), or ``None``.

    >>> win = {"delta": 0.03, "significant": True}
    >>> lose = {"delta": -0.02, "significant": True}
    >>> tie = {"delta": 0.01, "significant": False}
    >>> crossover_index([lose, tie, win, win]), crossover_index([win, tie, win, tie]), crossover_index([win])
    (2, None, 0)
    """
    start = None
    for i, r in enumerate(rows):
        if r["significant"] and r["delta"] > 0:
            start = i if start is None else start
        else:
            start = None
    return start


def _pts(delta: float) -> str:
    return f"{100 * delta:+.1f}"


def _verdict(system: str, crf: str, rows: list[dict[str, Any]], notes: list[str]) -> Comparison:
    if not rows:
        return Comparison(system, crf, rows, "no_difference", None, False,
                          f"{system} and {crf} share no training size that could be tested.", notes)
    k = crossover_index(rows)
    last = rows[-1]
    if k is not None:
        r = rows[k]
        below = rows[:k]
        crf_ahead = [b["size_text"] for b in below if b["significant"] and b["delta"] < 0]
        rest = ("" if not below else "; below that " + (
            f"{crf} is ahead (significantly at {', '.join(crf_ahead)})" if crf_ahead
            else "the difference is not significant"))
        where = f"from {r['size_text']} training sentences on" if r["size"] is not None else "only on the whole split"
        if k == 0 and len(rows) > 1:
            where = f"at every size measured, from {r['size_text']} training sentences on"
        text = f"{system} beats {crf} {where} (Δ {_pts(r['delta'])} F1 points, p {r['p_holm']:.4f} Holm){rest}."
        return Comparison(system, crf, rows, "crossover", r["size"], r["size"] is None, text, notes)
    if last["significant"] and last["delta"] < 0:
        ahead = [r["size_text"] for r in rows if r["significant"] and r["delta"] < 0]
        text = (f"{crf} stays ahead of {system} up to {last['size_text']} training sentences (Δ "
                f"{_pts(last['delta'])} F1 points there, p {last['p_holm']:.4f} Holm; significantly at "
                f"{', '.join(ahead)}).")
        return Comparison(system, crf, rows, "crf_ahead", None, False, text, notes)
    wins = [r["size_text"] for r in rows if r["significant"] and r["delta"] > 0]
    text = (f"{system} does not beat {crf} significantly from any size on, up to "
            f"{last['size_text']} training sentences (Δ {_pts(last['delta'])} F1 points there, p {last['p_holm']:.4f} "
            "Holm)" + (f"; it is significantly ahead only at {', '.join(wins)}" if wins else "") + ".")
    return Comparison(system, crf, rows, "no_difference", None, False, text, notes)


def comparisons(lines: Sequence[Line]) -> list[Comparison]:
    """Every line that is not the CRF or the lookup against every CRF line of the same task."""
    crfs = [ln for ln in lines if ln.kind == "crf"]
    return [compare_with_crf(ln, c) for ln in lines if ln.kind not in NOT_COMPARED for c in crfs]


def curve_json_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``report --json``'s learning-curve rows: one ``"row": "curve"`` per point (the leaderboard row of its
    group, with the size, the sentences used and its test against the CRF) and one ``"row": "crossover"``
    per system and CRF pair."""
    out: list[dict[str, Any]] = []
    for task, lines in curve_lines(results).items():
        tests: dict[tuple[str, int | None], dict[str, Any]] = defaultdict(dict)
        for comp in comparisons(lines):
            out.append({"row": "crossover", "task": task, "system": comp.system, "vs": comp.vs, "verdict": comp.verdict,
                        "crossover_size": comp.crossover, "crossover_at_all": comp.crossover_all, "text": comp.text,
                        "tests": comp.rows, "notes": comp.notes})
            for r in comp.rows:
                tests[(comp.system, r["size"])] = {"vs": comp.vs, **{k: r[k] for k in (
                    "delta", "delta_ci_low", "delta_ci_high", "p", "p_holm", "significant")}}
        for ln in lines:
            for p, row in zip(ln.points, leaderboard_rows([p.group for p in ln.points]), strict=True):
                out.append({**row, "row": "curve", "train_size": p.size, "train_sentences_used": p.sentences,
                            "vs_crf": tests.get((ln.system, p.size))})
    return out


# --------------------------------------------------------------------------- blocks

CURVES_INTRO = " ".join((
    "F1 (conlleval) on the test split against the number of training sentences: for each size and seed a",
    "nested subset of the train split drawn with that seed (whole documents where the task has them, so a",
    "point may hold a few more sentences than its size; every system of a seed saw the same sentences);",
    "mean ± std over seeds, 95% CI over seeds and test units. Δ vs the CRF: paired bootstrap at the same",
    "size, as in the significance tables, Holm-corrected over the sizes of each system.",
))


def curve_table(lines: Sequence[Line], comps: Sequence[Comparison]) -> Table:
    """One row per (size, system): F1 with spread and CI, the test against the CRF and the cost."""
    tests = {(c.system, r["size"]): r for c in comps for r in c.rows}
    cols = [("training sentences", True), ("system", False), ("used", True), ("seeds", True),
            ("F1 (conlleval)", True), ("95% CI", True), ("Δ F1 vs CRF [95% CI]", True), ("p (Holm over sizes)", True),
            ("train", True), ("predict sent/s", True)]
    sizes = sorted({p.size for ln in lines for p in ln.points}, key=lambda s: (s is None, s or 0))
    rows = []
    for size in sizes:
        for ln in lines:
            p = ln.at(size)
            if p is None:
                continue
            g, ci, t = p.group, p.group.ci(), tests.get((ln.system, size))
            f1, std = g.mean("f1"), g.std("f1")
            rows.append([
                Cell(p.size_text, p.x), Cell(ln.system + (" (stale)" if g.stale else "")),
                Cell(_count(p.sentences), p.sentences), Cell(str(g.n), g.n, group=g),
                Cell(_f(f1) + (f" ± {_f(std)}" if std is not None else ""), f1, group=g),
                Cell(f"[{_f(ci['low'])}, {_f(ci['high'])}]" if ci["low"] is not None else "–", ci["low"], group=g),
                Cell(f"{t['delta']:+.4f} [{t['delta_ci_low']:+.4f}, {t['delta_ci_high']:+.4f}]" if t else "–",
                     t["delta"] if t else None, group=g),
                Cell(_p(t["p_holm"]) + (" *" if t["significant"] else "") if t else "–", t["p_holm"] if t else None),
                Cell(_duration(g.mean("train_seconds")), g.mean("train_seconds"), group=g),
                Cell(_num(g.mean("predict_sentences_per_second")), g.mean("predict_sentences_per_second"), group=g),
            ])
    return _table(cols, rows)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds:.0f} s" if seconds < 100 else f"{seconds / 60:.1f} min"


def curve_blocks(results: Sequence[dict[str, Any]], *, by_task: dict[str, list[Line]] | None = None) -> list[Block]:
    """The report's learning-curve section (empty without learning-curve results); ``by_task``: the
    :func:`curve_lines` of ``results`` when the caller has them (the HTML page links their groups)."""
    by_task = curve_lines(results) if by_task is None else by_task
    if not by_task:
        return []
    out: list[Block] = [Heading(2, "Learning curves"), Para(CURVES_INTRO)]
    for task, lines in by_task.items():
        comps = comparisons(lines)
        out += [Heading(3, f"{task}: learning curve"), Notes(tuple(c.text for c in comps)),
                Plots(task, ((CURVE_PLOT, f"{task}: F1 and training time against training sentences"),)),
                curve_table(lines, comps), Notes(tuple(n for c in comps for n in c.notes)),
                Para("\\* significant after Holm's correction (p < 0.05).", "* significant after Holm's correction "
                     "(p < 0.05).")]
    return out


CURVE_PLOT = "learning-curve"
"""The plot kind of a task's learning curve: ``<task>-learning-curve.png`` / ``.svg``."""
