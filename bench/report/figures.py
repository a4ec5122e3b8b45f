"""The figures of a task's test split (:data:`PLOT_KINDS`): matplotlib figures (:func:`figure`), written as
PNG and SVG files (:func:`plot`) or inlined in the HTML page as compact SVG (:func:`_svg_text`)."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.analysis import ERROR_KINDS
from bench.errors import ConfigError, NerbenchError
from bench.report.blocks import _pct, _row_label
from bench.report.curves import CURVE_PLOT, Line, curve_lines, whole_split
from bench.report.error_analysis import ERROR_LABELS
from bench.report.groups import Group, first, group_results
from bench.report.rows import leaderboard_rows
from bench.results import PER_TYPE_PATHS

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
    draw = _FIGURES.get(kind)
    if draw is None:
        raise ValueError(f"unknown plot kind {kind!r} (use one of {', '.join(PLOT_KINDS)})")
    fig = draw(plt, task, groups)
    if fig is None:
        return None
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    return fig


def _f1_vs_cost_figure(plt: Any, task: str, groups: list[Group]) -> Any:
    """Each row's F1 (conlleval) with its 95% CI against its training wall time, log scale."""
    import matplotlib.ticker

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
    return fig


def _per_type_figure(plt: Any, task: str, groups: list[Group]) -> Any | None:
    """Per-type F1 bars, one per group; ``None`` without per-type scores."""
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
    return fig


def _seen_unseen_figure(plt: Any, task: str, groups: list[Group]) -> Any | None:
    """F1 on seen and on unseen mentions, one bar per group; ``None`` when no analysis has the split."""
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
    return fig


def _error_types_figure(plt: Any, task: str, groups: list[Group]) -> Any | None:
    """Each group's shares of the error types, stacked bars; ``None`` without an analysis."""
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
    return fig


_FIGURES: dict[str, Callable[[Any, str, list[Group]], Any | None]] = {
    "f1-vs-cost": _f1_vs_cost_figure, "per-type": _per_type_figure,
    "seen-unseen": _seen_unseen_figure, "error-types": _error_types_figure,
}
"""How each of :data:`PLOT_KINDS` is drawn."""


def learning_curve_figure(task: str, lines: Sequence[Line]) -> Any | None:
    """F1 (conlleval) with its 95% CI band against training sentences (log scale), one line per system, and
    beside it the training time against the same axis; ``None`` without a point."""
    import matplotlib.ticker

    plt = _pyplot()
    fig, (ax, cost) = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
    drawn = False
    for ln in lines:
        pts = [(p.x, p.group.mean("f1"), p.group.ci(), p.group.mean("train_seconds")) for p in ln.points]
        pts = [t for t in pts if t[1] is not None and t[0] > 0]
        if not pts:
            continue
        drawn = True
        xs = [t[0] for t in pts]
        (line,) = ax.plot(xs, [t[1] for t in pts], marker="s" if ln.kind == "crf" else "o", label=ln.system)
        band = [(x, t[2]["low"], t[2]["high"]) for x, t in zip(xs, pts, strict=True) if t[2]["low"] is not None]
        if band:
            ax.fill_between([b[0] for b in band], [b[1] for b in band], [b[2] for b in band], color=line.get_color(),
                            alpha=0.18, linewidth=0)
        timed = [(x, t[3]) for x, t in zip(xs, pts, strict=True) if t[3]]
        cost.plot([t[0] for t in timed], [t[1] for t in timed], marker=line.get_marker(), color=line.get_color())
    if not drawn:
        plt.close(fig)
        return None
    for a in (ax, cost):
        a.set_xscale("log")
        a.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        a.set_xlabel("training sentences (log scale)")
        a.grid(alpha=0.3)
    cost.set_yscale("log")
    ax.set_ylabel("test F1, conlleval (95% CI band)")
    cost.set_ylabel("training wall time (s, log scale)")
    ax.set_title(f"{task}: learning curve")
    cost.set_title("training time")
    fig.legend(fontsize=8, loc="outside lower center", ncol=min(len(lines), 4), frameon=False)
    return fig


def plot(results: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Every :data:`PLOT_KINDS` figure of every task's test split, and each task's learning curve, as PNG and
    SVG, each file inside ``out_dir``."""
    plt = _pyplot()
    written: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    grouped = group_results(whole_split(results))
    curves = curve_lines(results)
    for task in grouped:  # every file checked before any is written
        for kind in PLOT_KINDS:
            _plot_paths(out_dir, task, kind)
    for task in curves:
        _plot_paths(out_dir, task, CURVE_PLOT)
    for task, lines in curves.items():
        fig = learning_curve_figure(task, lines)
        if fig is not None:
            written += _save(fig, _plot_paths(out_dir, task, CURVE_PLOT))
            plt.close(fig)
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
