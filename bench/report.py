"""Results -> Markdown tables, an HTML page, JSON rows and plots. Reads result JSON only, never re-runs a system.

Results are grouped by **cell key minus seed**: (task, system, split, task version, data
fingerprint, system config hash, scorer version, system version). Seeds are averaged within a group
only, never across different data, configurations or code versions; when one (task, system, split)
has several groups, each is its own row, labelled by what differs and noted as *mixed*.

Per task and split: a leaderboard led by the main score, **F1 (conlleval)** (seqeval default mode,
entity-level micro F1) as mean ± std over seeds, its 95% CI (percentile bootstrap of the
seed-averaged score over evaluation units, recomputed here from every seed's stored
``unit_counts``), the CI unit, strict IOB2 F1, nervaluate partial F1, the official span F1 where the
task has one, invalid predicted tags, the number of seeds and a stale marker. On the test split
also per-type F1, a cost table and the significance of every non-CRF system against the CRF on the
same data (seed-averaged paired bootstrap, two-sided, Holm-corrected per table), and the error
analysis each result carries (``metrics.analysis``, :mod:`bench.analysis`): F1 on seen and unseen
mentions (also leaderboard columns), nervaluate error types per entity type, F1 by entity length
and type confusion, averaged over seeds. Rows are in a fixed order (CRF first, then systems by name)
so the Markdown diffs cleanly. Numbers are rounded here, for display only.

Every table is built once (:class:`Table`) and rendered twice: as Markdown (:func:`render`) and
as a self-contained HTML page (:func:`render_html`, template ``bench/templates/report.html.j2``)
whose numbers link to the result files they come from.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.analysis import ERROR_KINDS, LENGTHS, mean_over_seeds
from bench.compare import dig
from bench.errors import ConfigError, NerbenchError
from bench.metrics import (
    BOOTSTRAP_SEED,
    N_RESAMPLES,
    bootstrap_ci_seeds,
    f1_from_counts,
    holm,
    paired_bootstrap_seeds,
)
from bench.results import NUMBER_PATHS, PER_TYPE_PATHS
from bench.versions import stale_reasons

MAIN_METRIC = "conlleval_f1"
CONFIDENCE = 0.95

PATHS = NUMBER_PATHS
"""Where each reported number lives in a result file (the first path present wins): defined with the
result schema, which checks that each is a number or ``null`` when a result is read."""

KEY_FIELDS = ("task_version", "data_fingerprint", "system_config_hash", "scorer_version", "system_version")
"""The cell-key fields (besides task, system, split) that separate groups."""


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x  # NaN != NaN


_MD_UNSAFE = re.compile(r"[<>|`\r\n]|&(?=#?\w+;)")
_MD_ENTITIES = {"<": "&lt;", ">": "&gt;", "|": "&#124;", "`": "&#96;", "&": "&amp;", "\r": " ", "\n": " "}


def md_text(text: str) -> str:
    """``text`` (a name, label or note) safe inside the Markdown report: ``<``, ``>``, ``|`` and backticks
    become character references (no HTML, no code spans, no broken table), so does an ``&`` that would
    start one (a lone ``&`` already shows as itself), and line breaks become spaces. Ordinary names are
    unchanged. The HTML page escapes everything itself.

    >>> md_text("bert-base-cased"), md_text("ade_drug_effect"), md_text("Däniken & Cieliebak")
    ('bert-base-cased', 'ade_drug_effect', 'Däniken & Cieliebak')
    >>> md_text("<img src=x onerror=alert(1)> | `x` &amp;")
    '&lt;img src=x onerror=alert(1)&gt; &#124; &#96;x&#96; &amp;amp;'
    """
    return _MD_UNSAFE.sub(lambda m: _MD_ENTITIES[m.group(0)], str(text))


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
    """``(task, system, split, task_version, data_fingerprint, system_config_hash, scorer_version, system_version)``.

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
    for path, r in pairs:
        key = (*group_key(r), r["seed"])
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


# --------------------------------------------------------------------------- rows


def leaderboard_rows(groups: list[Group]) -> list[dict[str, Any]]:
    """One plain row per group: the scores, their CI, the key fields, staleness and cost."""
    rows = []
    siblings: dict[str, int] = defaultdict(int)
    for g in groups:
        siblings[g.system] += 1
    for g in groups:
        ci = g.ci()
        energy = g.mean("energy_j")
        analysis = g.analysis()
        su = (analysis or {}).get("seen_unseen") or {}
        rows.append({
            "task": g.task, "system": g.system, "kind": g.kind, "model": g.model, "split": g.split,
            **{k: getattr(g, k) for k in KEY_FIELDS},
            "variant": g.variant, "mixed": siblings[g.system] > 1,
            "main_metric": MAIN_METRIC,
            "f1_mean": g.mean("f1"), "f1_std": g.std("f1"),
            "strict_f1_mean": g.mean("strict_f1"), "strict_f1_std": g.std("strict_f1"),
            "ci_low": ci["low"], "ci_high": ci["high"], "ci_unit": ci["unit"], "ci_units": ci["units"],
            "ci_note": ci["note"],
            "partial_f1_mean": g.mean("partial_f1"), "official_f1_mean": g.mean("official_f1"),
            "f1_seen": (su.get("seen") or {}).get("f1"), "f1_unseen": (su.get("unseen") or {}).get("f1"),
            "invalid_tags": g.mean("invalid_tags"),
            "n_seeds": g.n, "seeds": g.seeds, "deterministic": g.deterministic,
            "stale": g.stale, "stale_reasons": g.stale_reasons,
            "train_seconds_mean": g.mean("train_seconds"), "tokens_per_second_mean": g.mean("tokens_per_second"),
            "peak_gpu_mib": g.mean("peak_gpu_mib"), "energy_wh_mean": None if energy is None else energy / 3600,
            "peak_rss_mib": g.mean("peak_rss_mib"),
            "predict_sentences_per_second_mean": g.mean("predict_sentences_per_second"),
            "analysis": analysis,
        })
    return rows


def json_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The leaderboard of every task and split as plain rows for scripts (``nerbench report --json``).

    Each row carries ``f1_seen``/``f1_unseen`` (mean F1 on mentions seen/unseen in train, ``None``
    without an analysis) and ``analysis``, the seed-averaged error analysis (:meth:`Group.analysis`).
    """
    return [row for splits in group_results(results).values() for gs in splits.values() for row in leaderboard_rows(gs)]


def significance_rows(
    groups: list[Group], *, n_resamples: int = N_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every non-CRF group against every CRF group of the same data and scorer; ``(rows, notes)``.

    Each row is a paired bootstrap of the seed-averaged F1 (conlleval) over the same units
    (:func:`bench.metrics.paired_bootstrap_seeds`: every resample draws the units once, both
    systems' seeds are scored on it), with a two-sided p and its Holm adjustment over all rows of
    the table. ``better``/``of`` count the system's seeds whose F1 beats the CRF's seed-averaged F1
    (point estimates on the whole split, not a test). ``notes`` say which pairs could not be tested.
    """
    crfs = [g for g in groups if g.kind == "crf"]
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    if not crfs:
        return rows, notes
    for g in groups:
        if g.kind == "crf":
            continue
        for c in crfs:
            differ = [k.replace("_", " ") for k in ("task_version", "data_fingerprint", "scorer_version")
                      if getattr(g, k) != getattr(c, k)]
            if differ:
                notes.append(f"{g.label} vs {c.label}: not tested, different {', '.join(differ)}.")
                continue
            a, why_a = seed_counts(c.results)
            b, why_b = seed_counts(g.results)
            if a is None or b is None:
                notes.append(f"{g.label} vs {c.label}: not tested, {why_b or why_a}.")
                continue
            if (a.unit, a.ids) != (b.unit, b.ids):
                notes.append(f"{g.label} vs {c.label}: not tested, evaluated on different units.")
                continue
            res = paired_bootstrap_seeds(a.tables, b.tables, n_resamples=n_resamples, seed=seed,
                                         confidence=CONFIDENCE)
            per_seed = [f1_from_counts(*(sum(row[k] for row in t) for k in range(3))) for t in b.tables]
            rows.append({
                "system": g.label, "vs": c.label, "seeds": g.n, "crf_seeds": c.n,
                "delta": res["delta"], "delta_ci_low": res["delta_ci_low"], "delta_ci_high": res["delta_ci_high"],
                "p": res["p_value"], "better": sum(f > res["f1_a"] for f in per_seed), "of": len(per_seed),
                "unit": a.unit, "units": len(a.ids), "n_resamples": n_resamples,
            })
    for row, p in zip(rows, holm([r["p"] for r in rows]), strict=True):
        row["p_holm"] = p
    return rows, notes


# --------------------------------------------------------------------------- tables and blocks


def _f(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _num(x: float | None, fmt: str = "{:,.0f}") -> str:
    return "–" if x is None else fmt.format(x)


def _count(x: float | None) -> str:
    """A count, or a mean of counts over seeds (one decimal when it is not whole)."""
    if x is None:
        return "–"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _best(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in rows if r[key] is not None]
    return max(vals) if vals else None


def _is_best(value: float | None, best: float | None) -> bool:
    return value is not None and best is not None and value == best




def _row_label(r: dict[str, Any]) -> str:
    return f"{r['system']} ({r['variant']})" if r["variant"] else r["system"]


@dataclass(frozen=True)
class Cell:
    """One table cell: its display text, the raw value the HTML page sorts by, and where it came from."""

    text: str
    sort: float | None = None
    """The number behind ``text`` (``None`` for text cells and missing numbers, which sort last)."""
    best: bool = False
    """Best value of its column (bold with ↑ in Markdown, ``<strong>`` in HTML)."""
    group: Group | None = None
    """The results the number came from: the HTML page links the cell to their result file(s)."""
    task: str | None = None
    """A task name: the cell links to that task's section."""


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    numeric: tuple[bool, ...]
    """Per column: numbers (right-aligned, sorted numerically) or text."""
    rows: tuple[tuple[Cell, ...], ...]
    sortable: bool = True

    def markdown(self) -> list[str]:
        lines = ["| " + " | ".join(md_text(c) for c in self.columns) + " |",
                 "|" + "|".join("--:" if n else "---" for n in self.numeric) + "|"]
        for row in self.rows:
            lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
        return lines


def _md_cell(c: Cell) -> str:
    text = f"[{md_text(c.text)}](#{c.task})" if c.task else md_text(c.text)
    return f"**{text}** ↑" if c.best and len(text) else text


def _table(columns: Sequence[tuple[str, bool]], rows: Sequence[Sequence[Cell]], *, sortable: bool = True) -> Table:
    return Table(tuple(c for c, _ in columns), tuple(n for _, n in columns), tuple(tuple(r) for r in rows),
                 sortable=sortable)


def _num_cell(value: float | None, text: str, group: Group | None, *, best: float | None = None) -> Cell:
    return Cell(text, value, _is_best(value, best), group)


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    task: str | None = None
    """Set on a task's heading: the HTML page gives it the task's anchor."""


@dataclass(frozen=True)
class Para:
    text: str
    plain: str | None = None
    """The text without Markdown markup, for the HTML page (``None``: ``text`` has none)."""


@dataclass(frozen=True)
class Notes:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Plots:
    """Figures of one task's test split: ``(kind, alt text)``, each a :data:`PLOT_KINDS` entry."""

    task: str
    figures: tuple[tuple[str, str], ...]


Block = Heading | Para | Notes | Table | Plots


def markdown(blocks: Sequence[Block], *, plots: str | None = None) -> list[str]:
    """Markdown lines of ``blocks``, each followed by a blank line; :class:`Plots` only with a plot folder."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + md_text(b.text)]
        elif isinstance(b, Para):
            out += [b.text]
        elif isinstance(b, Notes):
            if not b.items:
                continue
            out += [f"- {md_text(n)}" for n in b.items]
        elif isinstance(b, Table):
            out += b.markdown()
        elif isinstance(b, Plots):
            if plots is None:
                continue
            out += [" ".join(f"![{md_text(alt)}]({plots}/{b.task}-{kind}.png)" for kind, alt in b.figures)]
        out.append("")
    return out


# --------------------------------------------------------------------------- the tables


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
    return _table(cols, out)




def _seeds_text(r: dict[str, Any]) -> str:
    """The seeds column: the count, or "deterministic" for a system whose seeds all give the same model."""
    return "deterministic" if r.get("deterministic") and r["n_seeds"] == 1 else str(r["n_seeds"])


def leaderboard_notes(rows: list[dict[str, Any]]) -> list[str]:
    """Mixed groups, mixed data, CI fallbacks and stale rows of one leaderboard, one line each."""
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




def _p(p: float) -> str:
    return f"{p:.4f}"


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




# --------------------------------------------------------------------------- error analysis

ERROR_LABELS = {"correct": "correct", "wrong_type": "wrong type", "wrong_boundaries": "wrong boundaries",
                "wrong_both": "wrong both", "missed": "missed", "spurious": "spurious"}


def _types(groups: Sequence[Group], declared: Sequence[str], found: Callable[[dict[str, Any]], Any]) -> list[str]:
    """The task's declared entity types, then any other type the analyses name."""
    extra = sorted({t for g in groups if (a := g.analysis()) for t in found(a)} - set(declared))
    return list(declared) + extra


def analysis_blocks(task: str, groups: list[Group], types: Sequence[str]) -> list[Block]:
    """The error-analysis section of one task's test split (empty when no result carries an analysis)."""
    with_analysis = [(g, a) for g in groups if (a := g.analysis()) is not None]
    if not with_analysis:
        return []
    out: list[Block] = [Heading(4, "Error analysis")]

    su = [(g, a["seen_unseen"]) for g, a in with_analysis if a["seen_unseen"]]
    if su:
        rows = []
        for g, s in su:
            delta = None if None in (s["seen"]["f1"], s["unseen"]["f1"]) else s["seen"]["f1"] - s["unseen"]["f1"]
            rows.append([Cell(g.label)] + [
                _num_cell(s[part][m], _f(s[part][m]), g) for part in ("seen", "unseen") for m in ("f1", "precision", "recall")
            ] + [_num_cell(delta, "–" if delta is None else f"{delta:+.4f}", g),
                 _num_cell(s["unseen_gold_share"], _pct(s["unseen_gold_share"]), g)])
        cols = [("system", False)] + [(f"{part} {m}", True) for part in ("seen", "unseen") for m in ("F1", "P", "R")]
        out += [Para("Seen vs unseen mentions: a mention is *seen* when its case-folded surface form occurs as an entity "
                     "of the same type in the train split. Recall splits the gold entities, precision the predicted "
                     "ones; mean over seeds.",
                     "Seen vs unseen mentions: a mention is seen when its case-folded surface form occurs as an entity "
                     "of the same type in the train split. Recall splits the gold entities, precision the predicted "
                     "ones; mean over seeds."),
                _table(cols + [("Δ F1 (seen − unseen)", True), ("unseen share of gold", True)], rows)]
    else:
        out += [Para("Seen vs unseen mentions: – (these results were scored without the train split).")]

    etypes = _types([g for g, _ in with_analysis], types,
                    lambda a: [t for t in a["error_types"] if t != "overall"])
    rows = []
    for g, a in with_analysis:
        for t in ["overall", *etypes]:
            counts = a["error_types"].get(t)
            if counts is None:
                continue
            total = sum(counts.values())
            rows.append([Cell(g.label), Cell("all" if t == "overall" else t)] + [
                _num_cell(counts[k], f"{_count(counts[k])} ({_pct(counts[k] / total if total else None)})", g)
                for k in ERROR_KINDS])
    out += [Para("Error types (nervaluate's categories and matching on the conlleval entities; a matched or missed "
                 "entity counts under its gold type, a spurious one under its predicted type): count, mean over "
                 "seeds, and its share of the row."),
            _table([("system", False), ("type", False)] + [(ERROR_LABELS[k], True) for k in ERROR_KINDS], rows)]

    golds = {tuple(round(a["length"].get(b, {}).get("gold") or 0) for b in LENGTHS) for _, a in with_analysis}
    sizes = (f"gold entities: {', '.join(f'{b}: {n:,}' for b, n in zip(LENGTHS, next(iter(golds)), strict=True))}"
             if len(golds) == 1 else "the rows were scored on different gold entities")
    rows = [[Cell(g.label)] + [_num_cell(v, _f(v), g) for v in ((a["length"].get(b) or {}).get("f1") for b in LENGTHS)]
            for g, a in with_analysis]
    out += [Para(f"F1 by entity length in words ({sizes}); mean over seeds."),
            _table([("system", False)] + [(b, True) for b in LENGTHS], rows)]

    ctypes = _types([g for g, _ in with_analysis], types,
                    lambda a: {t for gt, row in a["confusion"].items() for t in (gt, *row)})
    out += [Para("Type confusion: gold type (rows) × predicted type (columns) of entities with the right boundaries; "
                 "mean count over seeds; off the diagonal is *wrong type*.",
                 "Type confusion: gold type (rows) × predicted type (columns) of entities with the right boundaries; "
                 "mean count over seeds; off the diagonal is wrong type.")]
    for g, a in with_analysis:
        rows = [[Cell(gt)] + [_num_cell(v, _count(v), g) for v in ((a["confusion"].get(gt) or {}).get(pt, 0)
                                                                     for pt in ctypes)] for gt in ctypes]
        out += [Para(f"{md_text(g.label)}:", f"{g.label}:"),
                _table([("gold \\ predicted", False)] + [(t, True) for t in ctypes], rows, sortable=False)]
    out += [Plots(task, ((("seen-unseen", f"{task}: F1 on seen and unseen mentions"),) if su else ())
                  + (("error-types", f"{task}: error types"),))]
    return out


# --------------------------------------------------------------------------- a task, the report


def task_blocks(task: str, splits: dict[str, list[Group]], *, task_spec: Any | None = None) -> list[Block]:
    """Everything the report says about one task, in order; Markdown and HTML render the same blocks."""
    out: list[Block] = [Heading(2, task, task=task)]
    if task_spec is not None:
        about = f"{task_spec.description} Language: {task_spec.language}; domain: {task_spec.domain}."
        out.append(Para(md_text(about), about))
    for split in [s for s in ("test", "dev") if s in splits] + [s for s in splits if s not in ("test", "dev")]:
        groups = splits[split]
        rows = leaderboard_rows(groups)
        official = any(r["official_f1_mean"] is not None for r in rows)
        out += [Heading(3, split), leaderboard_table(rows, official=official, groups=groups),
                Notes(tuple(leaderboard_notes(rows)))]
        if split == "test":
            types = list(task_spec.entity_types) if task_spec else sorted(
                {t for g in groups for r in g.results for t in (first(r, PER_TYPE_PATHS) or {})}
            )
            out += [Para("Per-type F1 (conlleval, mean over seeds):"), per_type_table(groups, types)]
            out += [Para("Cost:"), cost_table(rows, groups)]
            out += significance_blocks(*significance_rows(groups), groups)
            out += [Plots(task, (("f1-vs-cost", f"{task}: F1 vs training cost"), ("per-type", f"{task}: per-type F1")))]
            out += analysis_blocks(task, groups, types)
    if task_spec is not None and task_spec.reference:
        out += [Para("Published reference numbers (other setups; for orientation):"), _table(
            [("system", False), ("split", False), ("metric", False), ("value", True), ("source", False)],
            [[Cell(ref.system), Cell(ref.split), Cell(ref.metric), Cell(f"{ref.value:.4f}", ref.value), Cell(ref.source)]
             for ref in task_spec.reference])]
    return out


def render_task(
    task: str, splits: dict[str, list[Group]], *, task_spec: Any | None = None, plots: str | None = None
) -> list[str]:
    return markdown(task_blocks(task, splits, task_spec=task_spec), plots=plots)


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


ACROSS_TASKS = " ".join((
    "Against the CRF on every task (test split): each system's seed-averaged Δ F1 (conlleval) with its paired",
    "bootstrap 95% CI and two-sided p, as in each task's significance table; *p (Holm, this table)* adjusts",
    "over every row of this table, the family shown here, while the per-task tables adjust over their own rows.",
))


def across_tasks_rows(grouped: dict[str, dict[str, list[Group]]]) -> list[dict[str, Any]]:
    """Every task's test-split paired comparisons with the CRF (:func:`significance_rows`), each with
    ``task``, its per-task Holm p (``p_holm_task``) and ``p_holm`` adjusted over all rows of all tasks."""
    rows: list[dict[str, Any]] = []
    for task, splits in grouped.items():
        task_rows, _ = significance_rows(splits.get("test", []))
        rows += [{**r, "task": task, "p_holm_task": r["p_holm"]} for r in task_rows]
    for row, p in zip(rows, holm([r["p"] for r in rows]), strict=True):
        row["p_holm"] = p
    return rows


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


COLUMNS = " ".join((
    "F1 (conlleval) = entity-level micro F1 as conlleval.pl and seqeval's default mode compute it (a stray I-X",
    "opens an entity), the main score and the one published CoNLL, WNUT and BC5CDR numbers use; mean ± sample",
    "std over seeds. 95% CI = percentile bootstrap of the seed-averaged F1: each resample draws the evaluation",
    "units once and averages every seed's F1 on them; CI unit = documents where the task knows them, else",
    "sentences (count in brackets). strict F1 = seqeval mode=\"strict\", scheme=IOB2, where an ill-formed chunk",
    "is no entity; partial = nervaluate partial-match F1 on the conlleval entities; official = the task's own",
    "rule on the original spans. seen / unseen F1 = F1 (conlleval) on the mentions whose case-folded surface",
    "form is / is not an entity of the same type in the train split (– for results scored without it).",
    "invalid tags = predicted I- tags that continue no entity (mean over seeds).",
    "stale = made by another scorer or system version than this checkout's (re-run the cell). ↑ marks the best",
    "value in a column. Train tokens/s: transformers count real (non-padding) sub-word tokens per second of the",
    "training loop; the CRF counts words × L-BFGS passes per second of fitting.",
))


def _generated(results: Sequence[dict[str, Any]], esc: Callable[[str], str] = str) -> str:
    """Where the report came from; ``esc`` escapes the values taken from results (:func:`md_text` for Markdown)."""
    shas = sorted({esc(str(dig(r, "environment.git.sha"))[:10]) + ("+dirty" if dig(r, "environment.git.dirty") else "")
                   for r in results})
    hw = sorted({esc(f"{dig(r, 'environment.cpu')} ({dig(r, 'environment.cpu_count')} cores)"
                     + (f" + {dig(r, 'cost.gpu.name')}" if dig(r, "cost.gpu.name") else "")) for r in results})
    return (f"Generated by `nerbench report` from {len(results)} result file(s). "
            f"nerbench git: {', '.join(shas)}. Hardware: {'; '.join(hw)}.")


def footer(results: Sequence[dict[str, Any]]) -> list[str]:
    return ["---", "", _generated(results, md_text), "", COLUMNS, ""]


MAIN_SCORE = ("Main score: F1 (conlleval), entity-level micro F1, mean over seeds on the test split; see the end of "
              "this file for every column.")


def render(results: Sequence[dict[str, Any]], *, catalog: Any | None = None, plots: str | None = None) -> str:
    """The whole report; ``plots`` is the plot folder relative to the Markdown file, or ``None``."""
    grouped = group_results(results)
    lines = ["# nerbench results", ""]
    if not grouped:
        return "\n".join(lines + ["No results yet: run `nerbench run`.", ""])
    lines += [MAIN_SCORE, ""] + summary_table(grouped).markdown() + [""]
    across = across_tasks_table(grouped)
    if across is not None:
        lines += [ACROSS_TASKS, ""] + across.markdown() + [""]
    for task, splits in grouped.items():
        lines += markdown(task_blocks(task, splits, task_spec=_spec(catalog, task)), plots=plots)
    return "\n".join(lines + footer(results))


def _spec(catalog: Any | None, task: str) -> Any | None:
    return catalog.get(task) if catalog is not None and task in catalog else None


# --------------------------------------------------------------------------- HTML


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


class _Links:
    """Where the HTML page links a number: the one result file of a single-seed group, else the group's
    list of result files further down the page."""

    def __init__(self, grouped: dict[str, dict[str, list[Group]]], result_links: Mapping[int, str]) -> None:
        self.files = result_links
        self.anchor: dict[int, str] = {}
        self.task_anchor: dict[str, str] = {}
        for task, splits in grouped.items():
            base = anchor = f"task-{_slug(task)}"
            k = 1
            while anchor in self.task_anchor.values():
                k += 1
                anchor = f"{base}-{k}"
            self.task_anchor[task] = anchor
            for i, g in enumerate(g for gs in splits.values() for g in gs):
                self.anchor[id(g)] = f"{anchor}-src-{i}"

    def file(self, result: dict[str, Any]) -> str | None:
        path = self.files.get(id(result))
        return None if path is None else quote(str(path).replace("\\", "/"), safe="/._-~")

    def group(self, g: Group | None) -> str | None:
        if g is None:
            return None
        if g.n == 1 and (path := self.file(g.results[0])) is not None:
            return path
        return "#" + self.anchor[id(g)]


def _html_table(t: Table, links: _Links) -> dict[str, Any]:
    return {
        "kind": "table", "sortable": t.sortable,
        "columns": [{"label": c, "numeric": n} for c, n in zip(t.columns, t.numeric, strict=True)],
        "rows": [[{
            "text": c.text, "numeric": n, "best": c.best,
            "sort": None if not n else ("" if c.sort is None else repr(float(c.sort))),
            "href": ("#" + links.task_anchor[c.task]) if c.task in links.task_anchor else links.group(c.group),
        } for c, n in zip(row, t.numeric, strict=True)] for row in t.rows],
    }


def _html_blocks(blocks: Sequence[Block], links: _Links, figures: Callable[[str, str], str | None]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append({"kind": "heading", "level": b.level, "text": b.text,
                        "id": links.task_anchor.get(b.task) if b.task else None})
        elif isinstance(b, Para):
            out.append({"kind": "para", "text": b.plain if b.plain is not None else b.text})
        elif isinstance(b, Notes):
            if b.items:
                out.append({"kind": "notes", "items": list(b.items)})
        elif isinstance(b, Table):
            out.append(_html_table(b, links))
        elif isinstance(b, Plots):
            figs = [{"alt": alt, "svg": svg} for kind, alt in b.figures if (svg := figures(b.task, kind))]
            if figs:
                out.append({"kind": "figures", "figures": figs})
    return out


def render_html(
    results: Sequence[dict[str, Any]],
    *,
    catalog: Any | None = None,
    result_links: Mapping[int, str] | None = None,
    plots: bool = True,
) -> str:
    """The report as one self-contained HTML page (no network: plots inlined as SVG, CSS and JS inline).

    The page holds the same tables as :func:`render` (readable without JavaScript; a small inline
    script only adds sorting by any column), the plots, and a list of each row's result files.
    ``result_links`` maps ``id(result)`` (the dicts in ``results``) to the path of its result JSON
    relative to the HTML file: every number links to the file it came from, or, for a mean over
    seeds, to the list of its files. Every string from a result or a task file is escaped.
    """
    from markupsafe import Markup

    grouped = group_results(results)
    links = _Links(grouped, result_links or {})
    cache: dict[tuple[str, str], str | None] = {}

    def figure_svg(task: str, kind: str) -> str | None:
        if not plots:
            return None
        if (task, kind) not in cache:
            groups = grouped.get(task, {}).get("test") or []
            fig = figure(kind, task, groups) if groups else None
            prefix = "f" + hashlib.sha1(f"{task}/{kind}".encode()).hexdigest()[:8] + "-"  # unique per figure
            cache[(task, kind)] = None if fig is None else Markup(_svg_text(fig, prefix=prefix))
        return cache[(task, kind)]

    tasks = []
    for task, splits in grouped.items():
        sources = []
        for split, gs in splits.items():
            for g in gs:
                sources.append({"id": links.anchor[id(g)], "label": g.label, "split": split, "files": [
                    {"seed": r["seed"], "href": links.file(r), "f1": _f(first(r, PATHS["f1"]))} for r in g.results]})
        tasks.append({"name": task, "anchor": links.task_anchor[task], "sources": sources,
                      "blocks": _html_blocks(task_blocks(task, splits, task_spec=_spec(catalog, task)), links,
                                             figure_svg)})
    summary = summary_table(grouped) if grouped else None
    template = _jinja().get_template("report.html.j2")
    return template.render(
        title="nerbench results", main_score=MAIN_SCORE.replace("see the end of this file", "see the end of this page"),
        summary=_html_table(summary, links) if summary is not None else None, tasks=tasks,
        generated=_generated(results).replace("`", "") if results else "", columns=COLUMNS,
    )


def _jinja() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    return Environment(loader=PackageLoader("bench", "templates"), autoescape=True, undefined=StrictUndefined,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


# --------------------------------------------------------------------------- plots

PLOT_KINDS = ("f1-vs-cost", "per-type", "seen-unseen", "error-types")
"""Every figure of a task's test split; the file of one is ``<task>-<kind>.png`` / ``.svg``."""
ERROR_COLOURS = {"correct": "#4c9a5b", "wrong_type": "#e0a030", "wrong_boundaries": "#c97a2a",
                 "wrong_both": "#a0522d", "missed": "#c0392b", "spurious": "#7f8c8d"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "nerbench"  # deterministic SVG ids
    return plt


def figure(kind: str, task: str, groups: list[Group]) -> Any | None:
    """One matplotlib figure of a task's test split (the caller closes it), or ``None`` when it would be empty.

    ``kind`` is one of :data:`PLOT_KINDS`: F1 (conlleval) vs training cost, per-type F1 bars, F1 on
    seen vs unseen mentions, and each system's shares of the error types.
    """
    plt = _pyplot()
    import matplotlib.ticker

    if kind == "f1-vs-cost":
        rows = leaderboard_rows(groups)
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for r in rows:
            if r["train_seconds_mean"] is None or r["f1_mean"] is None:
                continue
            err = None
            if r["ci_low"] is not None and r["ci_high"] is not None:
                err = [[max(0.0, r["f1_mean"] - r["ci_low"])], [max(0.0, r["ci_high"] - r["f1_mean"])]]
            ax.errorbar(r["train_seconds_mean"], r["f1_mean"], yerr=err, capsize=3,
                        marker="s" if r["kind"] == "crf" else "o", linestyle="none")
            ax.annotate(_row_label(r), (r["train_seconds_mean"], r["f1_mean"]),
                        textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.margins(x=0.3, y=0.15)
        ax.set_xlabel("training wall time (s, log scale)")
        ax.set_ylabel("test F1, conlleval (95% CI)")
        ax.set_title(f"{task}: F1 vs training cost")
        ax.grid(alpha=0.3)
    elif kind == "per-type":
        types = sorted({t for g in groups for r in g.results for t in (first(r, PER_TYPE_PATHS) or {})})
        if not types:
            return None
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        width = 0.8 / max(len(groups), 1)
        for i, g in enumerate(groups):
            vals = [g.per_type_f1(t) or 0.0 for t in types]
            ax.bar([k + i * width for k in range(len(types))], vals, width=width, label=g.label)
        ax.set_xticks([k + width * (len(groups) - 1) / 2 for k in range(len(types))], types)
        ax.set_ylim(0, 1)
        ax.set_ylabel("test F1 (conlleval)")
        ax.set_title(f"{task}: F1 per entity type")
        ax.legend(fontsize=8)
    elif kind == "seen-unseen":
        su = [(g, a["seen_unseen"]) for g in groups if (a := g.analysis()) and a["seen_unseen"]]
        if not su:
            return None
        fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
        width = 0.8 / len(su)
        for i, (g, s) in enumerate(su):
            ax.bar([k + i * width for k in range(2)], [s["seen"]["f1"] or 0.0, s["unseen"]["f1"] or 0.0], width=width, label=g.label)
        share = su[0][1]["unseen_gold_share"]
        ax.set_xticks([k + width * (len(su) - 1) / 2 for k in range(2)],
                      ["seen in train", "unseen" + (f" ({_pct(share)} of gold)" if share is not None else "")])
        ax.set_ylim(0, 1)
        ax.set_ylabel("test F1 (conlleval)")
        ax.set_title(f"{task}: F1 on seen and unseen mentions")
        fig.legend(fontsize=8, loc="outside lower center", ncol=min(len(su), 3), frameon=False)
    elif kind == "error-types":
        an = [(g, a["error_types"]["overall"]) for g in groups if (a := g.analysis())]
        if not an:
            return None
        fig, ax = plt.subplots(figsize=(6.5, 1.5 + 0.35 * len(an)), layout="constrained")
        labels = [g.label for g, _ in an]
        left = [0.0] * len(an)
        for k in ERROR_KINDS:
            shares = [c[k] / s if (s := sum(c.values())) else 0.0 for _, c in an]
            ax.barh(labels, shares, left=left, color=ERROR_COLOURS[k], label=ERROR_LABELS[k])
            left = [a + b for a, b in zip(left, shares, strict=True)]
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of gold + spurious entities")
        ax.set_title(f"{task}: error types")
        fig.legend(fontsize=8, loc="outside lower center", ncol=len(ERROR_KINDS), frameon=False,
                   handlelength=1, columnspacing=1)
    else:
        raise ValueError(f"unknown plot kind {kind!r} (use one of {', '.join(PLOT_KINDS)})")
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    return fig


def plot(results: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Every :data:`PLOT_KINDS` figure of every task's test split, as PNG and SVG, each file inside ``out_dir``."""
    plt = _pyplot()
    written: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    grouped = group_results(results)
    for task in grouped:  # every file checked before any is written
        for kind in PLOT_KINDS:
            _plot_paths(out_dir, task, kind)
    for task, splits in grouped.items():
        groups = splits.get("test")
        if not groups:
            continue
        for kind in PLOT_KINDS:
            fig = figure(kind, task, groups)
            if fig is not None:
                written += _save(fig, _plot_paths(out_dir, task, kind))
                plt.close(fig)
    return written


def _plot_paths(out_dir: Path, task: str, kind: str) -> list[Path]:
    """``<out_dir>/<task>-<kind>.png`` and ``.svg``; a :class:`ConfigError` when one would not land inside
    ``out_dir`` (a task name that is not a name, a symlink in the folder that leads elsewhere)."""
    base = out_dir.resolve()
    paths = [out_dir / f"{task}-{kind}.png", out_dir / f"{task}-{kind}.svg"]
    for p in paths:
        if p.resolve().parent != base:
            raise ConfigError(f"{p}: refused to write a plot that resolves outside the plots dir {out_dir} "
                              f"(to {p.resolve()}); nothing was written")
    return paths


def _save(fig: Any, paths: list[Path]) -> list[Path]:
    """Write a figure as PNG and SVG, each to a temporary file renamed into place: a full disk or an
    unwritable file is one :class:`NerbenchError` naming the file, and leaves no partial figure."""
    for path, kwargs in zip(paths, ({"dpi": 120, "metadata": {"Software": None}},
                                    {"metadata": {"Date": None, "Creator": None}}), strict=True):
        tmp = path.with_name(f".{path.name}.partial")
        try:
            fig.savefig(tmp, format=path.suffix.lstrip("."), **kwargs)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise NerbenchError(f"{path}: cannot write the figure: {exc.strerror or exc}") from None
    return paths


_SVG_NUMBER = re.compile(r"-?\d+\.\d{3,}")


def _compact_svg(text: str) -> str:
    r"""The same drawing in fewer bytes, for inlining: no metadata block or comments, no indentation or
    line breaks between elements (the figure has no ``<text>``: text is glyph paths), and positions
    (path data, ``x``/``y``, ``translate``) rounded to 1/100 of their unit (0.01 pt at most, far below a
    pixel). Scale factors are kept exactly.

    >>> _compact_svg('<svg>\n <metadata>m</metadata>\n <!-- a -->\n <path d="M 1.234567 2.5 \n L 3 4"/>\n'
    ...              ' <use x="0.123456" transform="translate(63.623047 0.746875) scale(0.015625)"/>\n</svg>')
    '<svg><path d="M 1.23 2.5 L 3 4"/><use x="0.12" transform="translate(63.62 0.75) scale(0.015625)"/></svg>'
    """
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = re.sub(r">\s+<", "><", text)

    def rounded(numbers: str) -> str:
        return _SVG_NUMBER.sub(lambda n: f"{float(n.group(0)):.2f}", numbers)

    text = re.sub(r'(\sd=")([^"]*)"', lambda m: m.group(1) + " ".join(rounded(m.group(2)).split()) + '"', text)
    text = re.sub(r'(\s[xy]=")([^"]*)"', lambda m: m.group(1) + rounded(m.group(2)) + '"', text)
    return re.sub(r"translate\(([^)]*)\)", lambda m: f"translate({rounded(m.group(1))})", text)


def _svg_text(fig: Any, *, prefix: str) -> str:
    """``fig`` as an ``<svg>`` element to inline in HTML, every id and reference to one prefixed: matplotlib
    numbers ids per figure (``figure_1``, ``patch_1``, glyphs) and a page holds several figures. Text stays
    glyph paths, as in the SVG files: the browser's fonts would not fit matplotlib's layout."""
    plt = _pyplot()
    buf = io.StringIO()
    with plt.rc_context({"svg.hashsalt": "nerbench"}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):].strip()
    text = _compact_svg(text)
    ids = set(re.findall(r'\sid="([^"]+)"', text))
    text = re.sub(r'(\sid=")([^"]+)"', lambda m: f'{m.group(1)}{prefix}{m.group(2)}"', text)
    return re.sub(r'(url\(#|href="#)([^)"]+)',
                  lambda m: m.group(1) + prefix + m.group(2) if m.group(2) in ids else m.group(0), text)
