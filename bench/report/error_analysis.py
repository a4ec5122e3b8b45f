"""The error-analysis section of a task's test split, from the analysis each result carries
(``metrics.analysis``, :mod:`bench.analysis`): F1 on seen and unseen mentions, nervaluate error types per
entity type, the most frequent spurious and missed mentions (counts summed over seeds), F1 by entity length
and type confusion (averaged over seeds)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bench.analysis import ERROR_KINDS, EXAMPLES_KEPT, LENGTHS
from bench.report.blocks import Block, Cell, Heading, Para, Plots, _count, _f, _num_cell, _pct, _table, md_text
from bench.report.groups import Group

EXAMPLES_SHOWN = 10
"""How many of the most frequent spurious and missed mentions the report shows per system."""
MENTION_CHARS = 60
"""A longer mention is cut to this many characters (with …) in the tables."""
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
    out += examples_blocks(with_analysis)

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


def _mention(text: str) -> str:
    return text if len(text) <= MENTION_CHARS else text[: MENTION_CHARS - 1] + "…"


def examples_blocks(with_analysis: Sequence[tuple[Group, dict[str, Any]]]) -> list[Block]:
    """The most frequent spurious and missed mentions of each system (groups whose results carry examples:
    nothing for results scored before they were stored), side by side, counts summed over the seeds."""
    found = [(g, ex) for g, a in with_analysis if (ex := a.get("examples"))]
    if not found:
        return []
    text = (f"Most frequent *spurious* mentions (predicted, overlapping no gold entity) and *missed* mentions (gold, "
            f"overlapped by no prediction), by their words as written and their type: the first {EXAMPLES_SHOWN}, "
            f"with counts summed over the seeds (not averaged). Each result keeps its {EXAMPLES_KEPT} most frequent "
            "of each, so a mention below that in one seed adds nothing for it. Wrong types and boundaries are "
            "counted in the table above.")
    out: list[Block] = [Para(text, text.replace("*", ""))]
    cols = [("#", True), ("spurious mention", False), ("type", False), ("count", True), ("missed mention", False),
            ("type", False), ("count", True)]
    for g, ex in found:
        spurious, missed = ex["spurious"][:EXAMPLES_SHOWN], ex["missed"][:EXAMPLES_SHOWN]
        rows = []
        for i in range(max(len(spurious), len(missed))):
            cells = [Cell(str(i + 1), i + 1)]
            for listed in (spurious, missed):
                mention, etype, n = listed[i] if i < len(listed) else ("none" if i == 0 else "", "", None)
                cells += [Cell(_mention(mention), verbatim=n is not None), Cell(etype),
                          _num_cell(n, _count(n) if n else "", g)]
            rows.append(cells)
        seeds = f"{ex['seeds']} seed{'s' if ex['seeds'] != 1 else ''}" + (f" of {g.n}" if ex["seeds"] != g.n else "")
        label = f"{g.label}, summed over {seeds}" + (":" if rows else ": no spurious or missed mention.")
        out += [Para(md_text(label), label)] + ([_table(cols, rows, sortable=False)] if rows else [])
    return out
