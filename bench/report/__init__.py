"""Results -> Markdown tables, an HTML page, JSON rows and plots. Reads result JSON only, never re-runs a system.

Results are grouped by **cell key minus seed**: (task, system, split, task version, data
fingerprint, system config hash, scorer version, system version). Seeds are averaged within a group
only, never across different data, configurations or code versions; when one (task, system, split)
has several groups, each is its own row, labelled by what differs and noted as *mixed*.

Per task and split: a leaderboard led by the main score, **F1 (conlleval)** (seqeval default mode,
entity-level micro F1) as mean ± std over seeds, its 95% CI (percentile bootstrap of the
seed-averaged score over evaluation units, recomputed here from every seed's stored
``unit_counts``), the CI unit, strict IOB2 F1, nervaluate partial F1 (entity type ignored), the official
span F1 where the task has one, invalid predicted tags, the number of seeds and a stale marker, with a
legend of its columns under it (header tooltips in HTML). On the test split the task's published
reference numbers follow the leaderboard (the catalogue entry's, else those the results carry in
``task.reference``); also per-type F1, a cost table and the significance of every non-CRF system
against the CRF on the same data (seed-averaged paired bootstrap, two-sided, Holm-corrected per
table), and the error
analysis each result carries (``metrics.analysis``, :mod:`bench.analysis`): F1 on seen and unseen
mentions (also leaderboard columns), nervaluate error types per entity type, F1 by entity length
and type confusion, averaged over seeds, and the most frequent spurious and missed mentions, their
counts summed over seeds. Rows are in a fixed order (CRF first, then systems by name)
so the Markdown diffs cleanly. Numbers are rounded here, for display only.

Every table is built once (:class:`Table`) and rendered twice: as Markdown (:func:`render`) and
as a self-contained HTML page (:func:`render_html`, template ``bench/templates/report.html.j2``)
whose numbers link to the result files they come from.

The package, by concern: :mod:`bench.report.groups` (results -> groups, seed counts, CIs),
:mod:`bench.report.rows` (leaderboard and significance rows, also ``--json``), :mod:`bench.report.blocks`
(the block model and its Markdown), :mod:`bench.report.tables` and :mod:`bench.report.error_analysis` (the
tables), :mod:`bench.report.sections` (a task's blocks, the Markdown report), :mod:`bench.report.html`
(the HTML page), :mod:`bench.report.figures` (the plots), :mod:`bench.report.curves` (the learning curves) and
:mod:`bench.report.transfer` (the "Out of domain" section, results with a ``transfer`` block, which no
leaderboard or curve counts). Everything is importable from here.
"""

from __future__ import annotations

from bench.metrics import BOOTSTRAP_SEED, N_RESAMPLES
from bench.report.blocks import Block, Cell, Heading, Notes, Para, Plots, Table, markdown, md_text, md_verbatim
from bench.report.curves import curve_blocks, curve_json_rows, curve_lines, whole_split
from bench.report.error_analysis import ERROR_LABELS, analysis_blocks, examples_blocks
from bench.report.figures import ERROR_COLOURS, PLOT_KINDS, figure, plot
from bench.report.figures import _pyplot as _pyplot
from bench.report.figures import _save as _save
from bench.report.groups import (
    CONFIDENCE,
    KEY_FIELDS,
    MAIN_METRIC,
    PATHS,
    Group,
    SeedCounts,
    check_one_file_per_cell,
    first,
    group_key,
    group_results,
    seed_counts,
)
from bench.report.html import render_html
from bench.report.rows import across_tasks_rows, json_rows, leaderboard_rows, significance_rows
from bench.report.sections import (
    ACROSS_TASKS,
    COLUMNS,
    MAIN_SCORE,
    footer,
    reference_blocks,
    references,
    render,
    render_task,
    task_blocks,
)
from bench.report.tables import (
    LEADERBOARD_COLUMNS,
    across_tasks_table,
    cost_table,
    leaderboard_notes,
    leaderboard_table,
    legend,
    per_type_table,
    significance_blocks,
    summary_table,
)
from bench.report.tables import _seeds_text as _seeds_text
from bench.report.transfer import transfer_blocks, transfer_json_rows, transfer_pairs

__all__ = [
    "curve_blocks", "curve_json_rows", "curve_lines", "whole_split",
    "transfer_blocks", "transfer_json_rows", "transfer_pairs",
    "ACROSS_TASKS", "BOOTSTRAP_SEED", "COLUMNS", "CONFIDENCE", "ERROR_COLOURS", "ERROR_LABELS", "KEY_FIELDS",
    "LEADERBOARD_COLUMNS", "MAIN_METRIC", "MAIN_SCORE", "N_RESAMPLES", "PATHS", "PLOT_KINDS",
    "Block", "Cell", "Group", "Heading", "Notes", "Para", "Plots", "SeedCounts", "Table",
    "across_tasks_rows", "across_tasks_table", "analysis_blocks", "check_one_file_per_cell", "cost_table",
    "examples_blocks", "figure", "first", "footer", "group_key", "group_results", "json_rows", "leaderboard_notes",
    "leaderboard_rows", "leaderboard_table", "legend", "markdown", "md_text", "md_verbatim", "per_type_table", "plot",
    "reference_blocks", "references", "render", "render_html", "render_task", "seed_counts", "significance_blocks",
    "significance_rows", "summary_table", "task_blocks",
]
