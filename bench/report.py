"""Results -> Markdown tables, JSON rows and plots. Reads result JSON only, never re-runs a system.

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
same data (seed-averaged paired bootstrap, two-sided, Holm-corrected per table). Rows are in a fixed
order (CRF first, then systems by name) so the Markdown diffs cleanly. Numbers are rounded here, for
display only.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.compare import dig
from bench.metrics import bootstrap_ci_seeds, f1_from_counts, holm, paired_bootstrap_seeds
from bench.versions import stale_reasons

MAIN_METRIC = "conlleval_f1"
N_RESAMPLES = 1000
"""Bootstrap resamples for every CI and test the report computes."""
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95

# Where each reported number lives in a result file; the first path present wins. The second paths
# read results written before scorer version 2 (``lenient`` was the conlleval block then).
PATHS: dict[str, tuple[str, ...]] = {
    "f1": ("metrics.conlleval.micro.f1", "metrics.lenient.micro.f1"),
    "strict_f1": ("metrics.strict.micro.f1",),
    "partial_f1": ("metrics.nervaluate.overall.partial.f1",),
    "official_f1": ("metrics.spans.official.f1",),
    "invalid_tags": ("metrics.invalid_tags.predicted", "metrics.counts.invalid_pred_tags"),
    "train_seconds": ("cost.train_wall_seconds",),
    "tokens_per_second": ("cost.train_tokens_per_second",),
    "peak_gpu_mib": ("cost.gpu.peak_memory_used_mb",),
    "energy_j": ("cost.gpu.energy_j",),
    "peak_rss_mib": ("cost.peak_rss_mb",),
    "predict_sentences_per_second": ("prediction.sentences_per_second",),
}
PER_TYPE_PATHS = ("metrics.conlleval.per_type", "metrics.lenient.per_type")

KEY_FIELDS = ("task_version", "data_fingerprint", "system_config_hash", "scorer_version", "system_version")
"""The cell-key fields (besides task, system, split) that separate groups."""


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
            "invalid_tags": g.mean("invalid_tags"),
            "n_seeds": g.n, "seeds": g.seeds,
            "stale": g.stale, "stale_reasons": g.stale_reasons,
            "train_seconds_mean": g.mean("train_seconds"), "tokens_per_second_mean": g.mean("tokens_per_second"),
            "peak_gpu_mib": g.mean("peak_gpu_mib"), "energy_wh_mean": None if energy is None else energy / 3600,
            "peak_rss_mib": g.mean("peak_rss_mib"),
            "predict_sentences_per_second_mean": g.mean("predict_sentences_per_second"),
        })
    return rows


def json_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The leaderboard of every task and split as plain rows for scripts (``nerbench report --json``)."""
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


# --------------------------------------------------------------------------- Markdown


def _f(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _num(x: float | None, fmt: str = "{:,.0f}") -> str:
    return "–" if x is None else fmt.format(x)


def _count(x: float | None) -> str:
    """A count, or a mean of counts over seeds (one decimal when it is not whole)."""
    if x is None:
        return "–"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def _best(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in rows if r[key] is not None]
    return max(vals) if vals else None


def _mark(value: float | None, best: float | None, text: str) -> str:
    return f"**{text}** ↑" if value is not None and best is not None and len(text) and value == best else text


def _row_label(r: dict[str, Any]) -> str:
    return f"{r['system']} ({r['variant']})" if r["variant"] else r["system"]


def render_leaderboard(rows: list[dict[str, Any]], *, official: bool) -> list[str]:
    cols = ["system", "model", "F1 (conlleval)", "95% CI", "CI unit", "strict F1", "partial F1"]
    if official:
        cols.append("official F1")
    cols += ["invalid tags", "seeds", "stale"]
    align = ["---", "---", "--:", "--:", "---", "--:", "--:"] + (["--:"] if official else []) + ["--:", "--:", "---"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(align) + "|"]
    best = {k: _best(rows, k) for k in ("f1_mean", "strict_f1_mean", "partial_f1_mean", "official_f1_mean")}
    for r in rows:
        main = _f(r["f1_mean"]) + (f" ± {_f(r['f1_std'])}" if r["f1_std"] is not None else "")
        ci = "–" if r["ci_low"] is None else f"[{_f(r['ci_low'])}, {_f(r['ci_high'])}]"
        unit = r["ci_unit"] or "–"
        if r["ci_unit"] and r["ci_units"]:
            unit += f" ({r['ci_units']})"
        cells = [
            _row_label(r), r["model"] or "–",
            _mark(r["f1_mean"], best["f1_mean"], main), ci, unit,
            _mark(r["strict_f1_mean"], best["strict_f1_mean"], _f(r["strict_f1_mean"])),
            _mark(r["partial_f1_mean"], best["partial_f1_mean"], _f(r["partial_f1_mean"])),
        ]
        if official:
            cells.append(_mark(r["official_f1_mean"], best["official_f1_mean"], _f(r["official_f1_mean"])))
        cells += [_count(r["invalid_tags"]), str(r["n_seeds"]), "stale" if r["stale"] else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


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


def render_per_type(groups: list[Group], types: list[str]) -> list[str]:
    lines = ["| system | " + " | ".join(types) + " |", "|---|" + "--:|" * len(types)]
    for g in groups:
        cells = [_f(g.per_type_f1(t)) for t in types]
        lines.append(f"| {g.label} | " + " | ".join(cells) + " |")
    return lines


def render_cost(rows: list[dict[str, Any]], groups: list[Group]) -> list[str]:
    lines = [
        "| system | device | train time (s) | train tokens/s | predict sentences/s | peak GPU MiB | energy (Wh) | peak RSS MiB |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for r, g in zip(rows, groups, strict=True):
        device = dig(g.results[0], "training.device") or dig(g.results[0], "cost.device") or "cpu"
        gpu = dig(g.results[0], "cost.gpu.name")
        lines.append(
            f"| {_row_label(r)} | {gpu or device} | {_num(r['train_seconds_mean'])} | {_num(r['tokens_per_second_mean'])} "
            f"| {_num(r['predict_sentences_per_second_mean'])} | {_num(r['peak_gpu_mib'])} "
            f"| {_num(r['energy_wh_mean'], '{:.2f}')} | {_num(r['peak_rss_mib'])} |"
        )
    return lines


def _p(p: float) -> str:
    return f"{p:.4f}"


def render_significance(rows: list[dict[str, Any]], notes: list[str]) -> list[str]:
    """The significance table of one split (empty when there is nothing to say)."""
    if not rows and not notes:
        return []
    if not rows:
        return ["Significance against the CRF:", ""] + [f"- {n}" for n in notes] + [""]
    units = sorted({f"{r['units']} {r['unit']}s" for r in rows})
    out = [
        f"Significance against the CRF: paired bootstrap of the seed-averaged F1 (conlleval) over the same "
        f"{' / '.join(units)} ({N_RESAMPLES} resamples, each draws the units once and scores every seed of both "
        f"systems on it); p two-sided, (1 + #{{|Δ* − Δ| ≥ |Δ|}}) / (1 + resamples); Holm-corrected over the "
        f"{len(rows)} comparison(s) of this table. *Better in* counts the system's seeds whose F1 beats the CRF's "
        "seed-averaged F1.",
        "",
    ]
    out += [
        "| system | vs | seeds | mean Δ F1 (conlleval) | 95% CI of Δ | p (two-sided) | p (Holm) | better in |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        out.append(
            f"| {r['system']} | {r['vs']} | {r['seeds']} vs {r['crf_seeds']} | {r['delta']:+.4f} | "
            f"[{r['delta_ci_low']:+.4f}, {r['delta_ci_high']:+.4f}] | {_p(r['p'])} | {_p(r['p_holm'])} | "
            f"{r['better']}/{r['of']} seeds |"
        )
    out.append("")
    out += [f"- {n}" for n in notes]
    if notes:
        out.append("")
    return out


def render_task(
    task: str, splits: dict[str, list[Group]], *, task_spec: Any | None = None, plots: str | None = None
) -> list[str]:
    out = [f"## {task}", ""]
    if task_spec is not None:
        out += [f"{task_spec.description} Language: {task_spec.language}; domain: {task_spec.domain}.", ""]
    for split in [s for s in ("test", "dev") if s in splits] + [s for s in splits if s not in ("test", "dev")]:
        groups = splits[split]
        rows = leaderboard_rows(groups)
        official = any(r["official_f1_mean"] is not None for r in rows)
        out += [f"### {split}", ""] + render_leaderboard(rows, official=official) + [""]
        notes = leaderboard_notes(rows)
        if notes:
            out += [f"- {n}" for n in notes] + [""]
        if split == "test":
            types = list(task_spec.entity_types) if task_spec else sorted(
                {t for g in groups for r in g.results for t in (first(r, PER_TYPE_PATHS) or {})}
            )
            out += ["Per-type F1 (conlleval, mean over seeds):", ""] + render_per_type(groups, types) + [""]
            out += ["Cost:", ""] + render_cost(rows, groups) + [""]
            out += render_significance(*significance_rows(groups))
            if plots is not None:
                out += [f"![{task}: F1 vs training cost]({plots}/{task}-f1-vs-cost.png) "
                        f"![{task}: per-type F1]({plots}/{task}-per-type.png)", ""]
    if task_spec is not None and task_spec.reference:
        out += ["Published reference numbers (other setups; for orientation):", ""]
        out += ["| system | split | metric | value | source |", "|---|---|---|--:|---|"]
        for ref in task_spec.reference:
            out.append(f"| {ref.system} | {ref.split} | {ref.metric} | {ref.value:.4f} | {ref.source} |")
        out.append("")
    return out


COLUMNS = " ".join((
    "F1 (conlleval) = entity-level micro F1 as conlleval.pl and seqeval's default mode compute it (a stray I-X",
    "opens an entity), the main score and the one published CoNLL, WNUT and BC5CDR numbers use; mean ± sample",
    "std over seeds. 95% CI = percentile bootstrap of the seed-averaged F1: each resample draws the evaluation",
    "units once and averages every seed's F1 on them; CI unit = documents where the task knows them, else",
    "sentences (count in brackets). strict F1 = seqeval mode=\"strict\", scheme=IOB2, where an ill-formed chunk",
    "is no entity; partial = nervaluate partial-match F1 on the conlleval entities; official = the task's own",
    "rule on the original spans. invalid tags = predicted I- tags that continue no entity (mean over seeds).",
    "stale = made by another scorer or system version than this checkout's (re-run the cell). ↑ marks the best",
    "value in a column. Train tokens/s: transformers count real (non-padding) sub-word tokens per second of the",
    "training loop; the CRF counts words × L-BFGS passes per second of fitting.",
))


def footer(results: Sequence[dict[str, Any]]) -> list[str]:
    shas = sorted({str(dig(r, "environment.git.sha"))[:10] + ("+dirty" if dig(r, "environment.git.dirty") else "")
                   for r in results})
    hw = sorted({f"{dig(r, 'environment.cpu')} ({dig(r, 'environment.cpu_count')} cores)"
                 + (f" + {dig(r, 'cost.gpu.name')}" if dig(r, "cost.gpu.name") else "") for r in results})
    return [
        "---", "",
        f"Generated by `nerbench report` from {len(results)} result file(s). "
        f"nerbench git: {', '.join(shas)}. Hardware: {'; '.join(hw)}.", "",
        COLUMNS, "",
    ]


def render(results: Sequence[dict[str, Any]], *, catalog: Any | None = None, plots: str | None = None) -> str:
    """The whole report; ``plots`` is the plot folder relative to the Markdown file, or ``None``."""
    grouped = group_results(results)
    lines = ["# nerbench results", ""]
    if not grouped:
        return "\n".join(lines + ["No results yet: run `nerbench run`.", ""])
    lines += ["Main score: F1 (conlleval), entity-level micro F1, mean over seeds on the test split; see the end of "
              "this file for every column.", ""]
    lines += ["| task | best system | CRF | best other system |", "|---|---|--:|--:|"]
    for task, splits in grouped.items():
        rows = [r for r in leaderboard_rows(splits.get("test", [])) if r["f1_mean"] is not None]
        if not rows:
            continue
        best = max(rows, key=lambda r: r["f1_mean"])
        crf = [r for r in rows if r["kind"] == "crf"]
        other = [r for r in rows if r["kind"] != "crf"]
        best_crf = max(crf, key=lambda r: r["f1_mean"]) if crf else None
        best_other = max(other, key=lambda r: r["f1_mean"]) if other else None
        lines.append(
            f"| [{task}](#{task}) | {_row_label(best)} {_f(best['f1_mean'])} | "
            f"{_f(best_crf['f1_mean']) if best_crf else '–'} | "
            f"{(_row_label(best_other) + ' ' + _f(best_other['f1_mean'])) if best_other else '–'} |"
        )
    lines.append("")
    for task, splits in grouped.items():
        spec = catalog.get(task) if catalog is not None and task in catalog else None
        lines += render_task(task, splits, task_spec=spec, plots=plots)
    return "\n".join(lines + footer(results))


# --------------------------------------------------------------------------- plots


def plot(results: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """F1 (conlleval) vs training cost per task and per-type F1 bars, as PNG and SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    written: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    plt.rcParams["svg.hashsalt"] = "nerbench"  # deterministic SVG ids
    for task, splits in group_results(results).items():
        groups = splits.get("test")
        if not groups:
            continue
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
        fig.tight_layout()
        written += _save(fig, out_dir / f"{task}-f1-vs-cost")
        plt.close(fig)

        types = sorted({t for g in groups for r in g.results for t in (first(r, PER_TYPE_PATHS) or {})})
        if types:
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
            fig.tight_layout()
            written += _save(fig, out_dir / f"{task}-per-type")
            plt.close(fig)
    return written


def _save(fig: Any, stem: Path) -> list[Path]:
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=120, metadata={"Software": None})
    fig.savefig(paths[1], metadata={"Date": None, "Creator": None})
    return paths
