"""The report's sections: everything it says about one task (:func:`task_blocks`, rendered as Markdown and
as HTML), and the whole Markdown report (:func:`render`) with its summary and its footer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bench.compare import dig
from bench.report.blocks import Block, Cell, Heading, Notes, Para, Plots, _table, markdown, md_text
from bench.report.curves import curve_blocks, whole_split
from bench.report.error_analysis import analysis_blocks
from bench.report.groups import Group, first, group_results
from bench.report.rows import leaderboard_rows, significance_rows
from bench.report.tables import (
    across_tasks_table,
    cost_table,
    leaderboard_notes,
    leaderboard_table,
    legend,
    per_type_table,
    significance_blocks,
    summary_table,
)
from bench.report.transfer import transfer_blocks, transfer_pairs
from bench.results import PER_TYPE_PATHS


def task_blocks(task: str, splits: dict[str, list[Group]], *, task_spec: Any | None = None) -> list[Block]:
    """Everything the report says about one task, in order; Markdown and HTML render the same blocks."""
    out: list[Block] = [Heading(2, task, task=task)]
    if task_spec is not None:
        about = f"{task_spec.description} Language: {task_spec.language}; domain: {task_spec.domain}."
        out.append(Para(md_text(about), about))
    refs = reference_blocks(references(task_spec, splits))
    for split in [s for s in ("test", "dev") if s in splits] + [s for s in splits if s not in ("test", "dev")]:
        groups = splits[split]
        rows = leaderboard_rows(groups)
        official = any(r["official_f1_mean"] is not None for r in rows)
        table = leaderboard_table(rows, official=official, groups=groups)
        out += [Heading(3, split), table, legend(table), Notes(tuple(leaderboard_notes(rows)))]
        if split == "test" or "test" not in splits:  # beside the test results (else the first split's)
            out += refs
            refs = []
        if split == "test":
            types = list(task_spec.entity_types) if task_spec else sorted(
                {t for g in groups for r in g.results for t in (first(r, PER_TYPE_PATHS) or {})}
            )
            out += [Para("Per-type F1 (conlleval, mean over seeds):"), per_type_table(groups, types)]
            out += [Para("Cost:"), cost_table(rows, groups)]
            out += significance_blocks(*significance_rows(groups), groups)
            out += [Plots(task, (("f1-vs-cost", f"{task}: F1 vs training cost"), ("per-type", f"{task}: per-type F1")))]
            out += analysis_blocks(task, groups, types)
    return out


REFERENCE_FIELDS = ("system", "split", "metric", "value", "source", "note")


def references(task_spec: Any | None, splits: dict[str, list[Group]]) -> list[dict[str, Any]]:
    """The task's published reference numbers: the catalogue entry's when the report has one (``task_spec``),
    else those its results carry (``task.reference``, written when a result is scored or rescored; results
    written before have none), each once, in order."""
    if task_spec is not None:
        return [{k: getattr(ref, k) for k in REFERENCE_FIELDS} for ref in task_spec.reference]
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in (r for gs in splits.values() for g in gs for r in g.results):
        for ref in r["task"].get("reference") or ():
            seen.setdefault(tuple(ref.get(k) for k in REFERENCE_FIELDS), ref)
    return list(seen.values())


def reference_blocks(refs: list[dict[str, Any]]) -> list[Block]:
    """The published numbers as a table (nothing when there are none)."""
    if not refs:
        return []
    cols = [("system", False), ("split", False), ("metric", False), ("value", True), ("source", False)]
    notes = any(ref.get("note") for ref in refs)
    rows = [[Cell(ref["system"]), Cell(ref["split"]), Cell(ref["metric"]), Cell(f"{ref['value']:.4f}", ref["value"]),
             Cell(ref["source"])] + ([Cell(ref.get("note") or "")] if notes else []) for ref in refs]
    return [Para("Published reference numbers (other setups; for orientation, not a row of this benchmark):"),
            _table(cols + ([("note", False)] if notes else []), rows)]


def render_task(
    task: str, splits: dict[str, list[Group]], *, task_spec: Any | None = None, plots: str | None = None
) -> list[str]:
    return markdown(task_blocks(task, splits, task_spec=task_spec), plots=plots)


ACROSS_TASKS = " ".join((
    "Against the CRF on every task (test split): each system's seed-averaged Δ F1 (conlleval) with its paired",
    "bootstrap 95% CI and two-sided p, as in each task's significance table; *p (Holm, this table)* adjusts",
    "over every row of this table, the family shown here, while the per-task tables adjust over their own rows.",
))


COLUMNS = " ".join((
    "F1 (conlleval) = entity-level micro F1 as conlleval.pl and seqeval's default mode compute it (a stray I-X",
    "opens an entity), the main score and the one published CoNLL, WNUT and BC5CDR numbers use; mean ± sample",
    "std over seeds. 95% CI = percentile bootstrap of the seed-averaged F1: each resample draws the evaluation",
    "units once and averages every seed's F1 on them; CI unit = documents where the task knows them, else",
    "sentences (count in brackets). strict F1 = seqeval mode=\"strict\", scheme=IOB2, where an ill-formed chunk",
    "is no entity; partial = nervaluate partial-match F1 on the conlleval entities, which ignores the entity type",
    "and counts a prediction that only overlaps a gold entity half; official = the task's own",
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
    grouped = group_results(whole_split(results))
    curves = curve_blocks(results)
    lines = ["# nerbench results", ""]
    if not grouped and not curves and not transfer_pairs(results):
        return "\n".join(lines + ["No results yet: run `nerbench run`.", ""])
    if grouped:
        lines += [MAIN_SCORE, ""] + summary_table(grouped).markdown() + [""]
    across = across_tasks_table(grouped)
    if across is not None:
        lines += [ACROSS_TASKS, ""] + across.markdown() + [""]
    for task, splits in grouped.items():
        lines += markdown(task_blocks(task, splits, task_spec=_spec(catalog, task)), plots=plots)
    lines += markdown(curves, plots=plots) + markdown(transfer_blocks(results))
    return "\n".join(lines + footer(results))


def _spec(catalog: Any | None, task: str) -> Any | None:
    return catalog.get(task) if catalog is not None and task in catalog else None
