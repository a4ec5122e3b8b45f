"""The tables: a split's leaderboard (with its notes), per-type F1, cost and significance against the CRF;
the summary at the top of the report and the comparison with the CRF across every task."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from bench.compare import dig
from bench.metrics import N_RESAMPLES
from bench.report.blocks import (
    Block,
    Cell,
    Notes,
    Para,
    Table,
    _best,
    _count,
    _f,
    _num,
    _num_cell,
    _p,
    _row_label,
    _table,
)
from bench.report.groups import Group
from bench.report.rows import across_tasks_rows, leaderboard_rows

LEADERBOARD_COLUMNS = {
    "F1 (conlleval)": "entity F1, boundaries and type must both be right (the main score; mean ± std over seeds)",
    "95% CI": "bootstrap interval of the seed-averaged F1 over the CI units",
    "CI unit": "what the CI resamples: documents, else sentences (how many)",
    "strict F1": "as F1, but an ill-formed chunk (a stray I- tag) is no entity",
    "partial F1": "ignores the entity type; a prediction that only overlaps a gold entity counts half (nervaluate)",
    "official F1": "the task's own rule on the original character spans",
    "seen F1": "F1 on mentions whose case-folded text is a train entity of the same type",
    "unseen F1": "F1 on the other mentions",
    "invalid tags": "predicted I- tags that continue no entity",
    "seeds": "training seeds averaged (deterministic: run once, every seed gives the same model)",
    "stale": "made by other scorer or system code (re-run or rescore)",
}
"""What each leaderboard column means: the legend under every leaderboard, and its header tooltips in HTML."""


def legend(table: Table) -> Para:
    """One line under a table saying what its columns mean (those with a tip)."""
    parts = [(c, table.tip(i)) for i, c in enumerate(table.columns) if table.tip(i)]
    return Para("Columns: " + "; ".join(f"*{c}*: {t}" for c, t in parts) + ".",
                "Columns: " + "; ".join(f"{c}: {t}" for c, t in parts) + ".", css="legend")


def leaderboard_table(rows: list[dict[str, Any]], *, official: bool,
                      groups: Sequence[Group | None] | None = None) -> Table:
    groups = list(groups) if groups is not None else [None] * len(rows)
    cols = [("system", False), ("model", False), ("F1 (conlleval)", True), ("95% CI", True), ("CI unit", False),
            ("strict F1", True), ("partial F1", True)]
    if official:
        cols.append(("official F1", True))
    cols += [("seen F1", True), ("unseen F1", True), ("invalid tags", True), ("seeds", True), ("stale", False)]
    keys = ("f1_mean", "strict_f1_mean", "partial_f1_mean", "official_f1_mean", "f1_seen", "f1_unseen")
    best = {k: _best(rows, k) for k in keys}
    out = []
    for r, g in zip(rows, groups, strict=True):
        main = _f(r["f1_mean"]) + (f" ± {_f(r['f1_std'])}" if r["f1_std"] is not None else "")
        ci = "–" if r["ci_low"] is None else f"[{_f(r['ci_low'])}, {_f(r['ci_high'])}]"
        unit = r["ci_unit"] or "–"
        if r["ci_unit"] and r["ci_units"]:
            unit += f" ({r['ci_units']})"

        def score(key: str, text: str | None = None, _r: dict[str, Any] = r, _g: Group | None = g) -> Cell:
            return _num_cell(_r[key], _f(_r[key]) if text is None else text, _g, best=best[key])

        cells = [Cell(_row_label(r)), Cell(r["model"] or "–"), score("f1_mean", main),
                 Cell(ci, r["ci_low"], group=g), Cell(unit), score("strict_f1_mean"), score("partial_f1_mean")]
        if official:
            cells.append(score("official_f1_mean"))
        cells += [score("f1_seen"), score("f1_unseen"), Cell(_count(r["invalid_tags"]), r["invalid_tags"], group=g),
                  Cell(_seeds_text(r), r["n_seeds"], group=g), Cell("stale" if r["stale"] else "")]
        out.append(cells)
    return _table(cols, out, tips=LEADERBOARD_COLUMNS)


def _seeds_text(r: dict[str, Any]) -> str:
    """The seeds column: the count, or "deterministic" for a system whose seeds all give the same model."""
    return "deterministic" if r.get("deterministic") and r["n_seeds"] == 1 else str(r["n_seeds"])


def leaderboard_notes(rows: list[dict[str, Any]]) -> list[str]:
    """Mixed groups, mixed data, CI fallbacks, the rows' own notes (``system.notes`` of their results) and
    stale rows of one leaderboard, one line each."""
    notes = []
    by_system: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_system[r["system"]].append(r)
    for system, rs in by_system.items():
        if len(rs) > 1:
            notes.append(f"mixed: {system} has {len(rs)} configurations ({'; '.join(r['variant'] for r in rs)}); "
                         "each is its own row, seeds are never averaged across them.")
    data = sorted({str(r["data_fingerprint"])[:8] for r in rows})
    if len(data) > 1:
        notes.append(f"mixed data: these rows were scored on {len(data)} different data versions "
                     f"({', '.join(data)}); compare rows only within one.")
    for r in rows:
        if r["ci_note"]:
            notes.append(f"{_row_label(r)}: {r['ci_note']}.")
        notes += [f"{_row_label(r)}: {note}." for note in r.get("notes") or ()]  # e.g. a language mismatch
    for r in rows:
        if r["stale"]:
            notes.append(f"stale: {_row_label(r)} was made by other code ({'; '.join(r['stale_reasons'])}); "
                         "re-run the cell.")
    return notes


def per_type_table(groups: list[Group], types: list[str]) -> Table:
    rows = [[Cell(g.label)] + [_num_cell(v, _f(v), g) for v in (g.per_type_f1(t) for t in types)] for g in groups]
    return _table([("system", False)] + [(t, True) for t in types], rows)


def cost_table(rows: list[dict[str, Any]], groups: list[Group]) -> Table:
    cols = [("system", False), ("device", False), ("train time (s)", True), ("train tokens/s", True),
            ("predict sentences/s", True), ("peak GPU MiB", True), ("energy (Wh)", True), ("peak RSS MiB", True)]
    out = []
    for r, g in zip(rows, groups, strict=True):
        device = dig(g.results[0], "training.device") or dig(g.results[0], "cost.device") or "cpu"
        gpu = dig(g.results[0], "cost.gpu.name")
        out.append([Cell(_row_label(r)), Cell(str(gpu or device))] + [
            _num_cell(r[k], _num(r[k], fmt), g) for k, fmt in (
                ("train_seconds_mean", "{:,.0f}"), ("tokens_per_second_mean", "{:,.0f}"),
                ("predict_sentences_per_second_mean", "{:,.0f}"), ("peak_gpu_mib", "{:,.0f}"),
                ("energy_wh_mean", "{:.2f}"), ("peak_rss_mib", "{:,.0f}"))])
    return _table(cols, out)


def significance_blocks(rows: list[dict[str, Any]], notes: list[str],
                        groups: Sequence[Group] = ()) -> list[Block]:
    """The significance table of one split with its explanation and notes (empty when there is nothing to say)."""
    if not rows and not notes:
        return []
    if not rows:
        return [Para("Significance against the CRF:"), Notes(tuple(notes))]
    by_label = {g.label: g for g in groups}
    units = sorted({f"{r['units']} {r['unit']}s" for r in rows})
    intro = (f"Significance against the CRF: paired bootstrap of the seed-averaged F1 (conlleval) over the same "
             f"{' / '.join(units)} ({N_RESAMPLES} resamples, each draws the units once and scores every seed of both "
             f"systems on it); p two-sided, (1 + #{{|Δ* − Δ| ≥ |Δ|}}) / (1 + resamples); Holm-corrected over the "
             f"{len(rows)} comparison(s) of this table. *Better in* counts the system's seeds whose F1 beats the CRF's "
             "seed-averaged F1.")
    cols = [("system", False), ("vs", False), ("seeds", True), ("mean Δ F1 (conlleval)", True), ("95% CI of Δ", True),
            ("p (two-sided)", True), ("p (Holm)", True), ("better in", True)]
    out = []
    for r in rows:
        g, c = by_label.get(r["system"]), by_label.get(r["vs"])
        out.append([
            Cell(r["system"]), Cell(r["vs"], group=c), Cell(f"{r['seeds']} vs {r['crf_seeds']}", r["seeds"], group=g),
            Cell(f"{r['delta']:+.4f}", r["delta"], group=g),
            Cell(f"[{r['delta_ci_low']:+.4f}, {r['delta_ci_high']:+.4f}]", r["delta_ci_low"], group=g),
            Cell(_p(r["p"]), r["p"], group=g), Cell(_p(r["p_holm"]), r["p_holm"], group=g),
            Cell(f"{r['better']}/{r['of']} seeds", r["better"] / r["of"] if r["of"] else None, group=g),
        ])
    return [Para(intro, intro.replace("*Better in*", "Better in")), _table(cols, out), Notes(tuple(notes))]


def summary_table(grouped: dict[str, dict[str, list[Group]]]) -> Table:
    """Best system, best CRF and best other system per task (test split)."""
    out = []
    for task, splits in grouped.items():
        groups = splits.get("test", [])
        pairs = [(r, g) for r, g in zip(leaderboard_rows(groups), groups, strict=True) if r["f1_mean"] is not None]
        if not pairs:
            continue
        best = max(pairs, key=lambda p: p[0]["f1_mean"])
        crf = [p for p in pairs if p[0]["kind"] == "crf"]
        other = [p for p in pairs if p[0]["kind"] != "crf"]
        best_crf = max(crf, key=lambda p: p[0]["f1_mean"]) if crf else None
        best_other = max(other, key=lambda p: p[0]["f1_mean"]) if other else None
        out.append([
            Cell(task, task=task),
            Cell(f"{_row_label(best[0])} {_f(best[0]['f1_mean'])}", best[0]["f1_mean"], group=best[1]),
            Cell(_f(best_crf[0]["f1_mean"]), best_crf[0]["f1_mean"], group=best_crf[1]) if best_crf else Cell("–"),
            Cell(f"{_row_label(best_other[0])} {_f(best_other[0]['f1_mean'])}", best_other[0]["f1_mean"],
                 group=best_other[1]) if best_other else Cell("–"),
        ])
    return _table([("task", False), ("best system", False), ("CRF", True), ("best other system", True)], out)


def across_tasks_table(grouped: dict[str, dict[str, list[Group]]]) -> Table | None:
    rows = across_tasks_rows(grouped)
    if not rows:
        return None
    cells = [[Cell(r["task"], task=r["task"]), Cell(r["system"]), Cell(r["vs"]),
              Cell(f"{r['delta']:+.3f}", r["delta"]),
              Cell(f"[{r['delta_ci_low']:+.3f}, {r['delta_ci_high']:+.3f}]", r["delta_ci_low"]),
              Cell(f"{r['unit']} ({r['units']})"), Cell(_p(r["p"]), r["p"]), Cell(_p(r["p_holm"]), r["p_holm"]),
              Cell(_p(r["p_holm_task"]), r["p_holm_task"])] for r in rows]
    return _table([("task", False), ("system", False), ("vs", False), ("mean Δ F1", True), ("95% CI of Δ", True),
                   ("unit", False), ("p", True), ("p (Holm, this table)", True), ("p (Holm, task table)", True)],
                  cells)
