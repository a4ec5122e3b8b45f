"""The report as one self-contained HTML page (:func:`render_html`, template
``bench/templates/report.html.j2``) whose numbers link to the result files they come from."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from bench.report.blocks import Block, Heading, Notes, Para, Plots, Table, _f
from bench.report.curves import CURVE_PLOT, curve_blocks, curve_lines, whole_split
from bench.report.figures import _svg_text, figure, learning_curve_figure
from bench.report.groups import PATHS, Group, first, group_results
from bench.report.sections import COLUMNS, MAIN_SCORE, _generated, _spec, task_blocks
from bench.report.tables import summary_table
from bench.report.transfer import html_section as transfer_html
from bench.report.transfer import transfer_pairs

CURVES_ANCHOR = "learning-curves"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


class _Links:
    """Where the HTML page links a number: the one result file of a single-seed group, else the group's
    list of result files further down the page."""

    def __init__(self, grouped: dict[str, dict[str, list[Group]]], result_links: Mapping[int, str], *,
                 extra: Sequence[Group] = ()) -> None:
        self.files = result_links
        self.anchor: dict[int, str] = {id(g): f"{CURVES_ANCHOR}-src-{i}" for i, g in enumerate(extra)}
        """``extra``: the learning curves' groups, listed in their own section."""
        self.task_anchor: dict[str, str] = {}
        for task, splits in grouped.items():
            base = anchor = f"task-{_slug(task)}"
            k = 1
            while anchor in self.task_anchor.values() or anchor == CURVES_ANCHOR:
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
        "columns": [{"label": c, "numeric": n, "tip": t.tip(i)}
                    for i, (c, n) in enumerate(zip(t.columns, t.numeric, strict=True))],
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
            out.append({"kind": "para", "text": b.plain if b.plain is not None else b.text, "css": b.css})
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

    grouped = group_results(whole_split(results))
    curves = curve_lines(results)
    curve_section = curve_blocks(results, by_task=curves)
    pairs = transfer_pairs(results)
    links = _Links(grouped, result_links or {}, extra=[p.group for lines in curves.values() for ln in lines
                                                       for p in ln.points] + [g for p in pairs for g in p.groups])
    cache: dict[tuple[str, str], str | None] = {}

    def figure_svg(task: str, kind: str) -> str | None:
        if not plots:
            return None
        if (task, kind) not in cache:
            groups = grouped.get(task, {}).get("test") or []
            if kind == CURVE_PLOT:
                fig = learning_curve_figure(task, curves[task]) if task in curves else None
            else:
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
    if curve_section:
        links.task_anchor[CURVES_ANCHOR] = CURVES_ANCHOR
        tasks.append({"name": "Learning curves", "anchor": CURVES_ANCHOR, "blocks": _html_blocks(
            [Heading(2, "Learning curves", task=CURVES_ANCHOR), *curve_section[1:]], links, figure_svg),
            "sources": [{"id": links.anchor[id(p.group)], "label": f"{ln.task} {ln.system} at {p.size_text}",
                         "split": "test", "files": [{"seed": r["seed"], "href": links.file(r),
                                                     "f1": _f(first(r, PATHS["f1"]))} for r in p.group.results]}
                        for lines in curves.values() for ln in lines for p in ln.points]})
    if pairs:
        tasks.append(transfer_html(pairs, links, lambda blocks: _html_blocks(blocks, links, figure_svg)))
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
