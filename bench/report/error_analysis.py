"""The error-analysis section of a task's test split, from the analysis each result carries
(``metrics.analysis``, :mod:`bench.analysis`): F1 on seen and unseen mentions, nervaluate error types per
entity type, F1 by entity length and type confusion, averaged over seeds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bench.analysis import ERROR_KINDS, LENGTHS
from bench.report.blocks import Block, Cell, Heading, Para, Plots, _count, _f, _num_cell, _pct, _table, md_text
from bench.report.groups import Group

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
