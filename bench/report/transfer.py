"""Out of domain: how each system trained on one corpus does on another (results with a ``transfer`` block,
:mod:`bench.transfer`), one table per transfer pair.

Per system: its F1 (conlleval) on the in-domain test split counting only the shared types, its F1 on the
eval task's test split in the train-side types, and the drop between them with a 95% CI. The two test sets
are independent samples, so each resample draws the in-domain units and the eval units independently
(each once per resample, every seed scored on the draw and averaged, as for every CI here); the drop's
interval is the percentile interval of the resampled differences. Beside them: the paired test of each
system against the CRF on the eval split (:func:`bench.report.rows.significance_rows`, the significance
table's method, Holm over the rows of the pair's table) and the F1 on eval mentions seen and unseen in the
*training* corpus (the train task's train split, train-side types).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.compare import dig
from bench.metrics import BOOTSTRAP_SEED, N_RESAMPLES, resampled_f1
from bench.report.blocks import Block, Cell, Heading, Notes, Para, Table, _count, _f, _p, _table, md_text
from bench.report.groups import CONFIDENCE, PATHS, Group, first, group_results, seed_counts
from bench.report.rows import leaderboard_rows, significance_rows
from bench.results import transfer_of

ANCHOR = "out-of-domain"
TITLE = "Out of domain"
ALPHA = 0.05
IN_DOMAIN_RESAMPLE_SEED = BOOTSTRAP_SEED + 1
"""The in-domain side of the drop is resampled with its own stream, independent of the eval side's
(:data:`BOOTSTRAP_SEED`, the one of the eval split's CI)."""


@dataclass
class Pair:
    """The out-of-domain results of one train task -> eval task under one mapping (and one train data)."""

    train_task: str
    eval_task: str
    types: dict[str, str]
    groups: list[Group]
    key: tuple[Any, ...] = ()
    title: str = ""

    @property
    def shared(self) -> list[str]:
        return sorted(set(self.types.values()))


def _pair_key(r: dict[str, Any]) -> tuple[Any, ...]:
    k = r["cell_key"]
    return (r["transfer"]["train_task"], r["task"]["name"], k.get("type_mapping"), str(k.get("transfer_from_version")),
            str(k.get("transfer_from_fingerprint")), str(k.get("transfer_version")))


def transfer_pairs(results: Sequence[dict[str, Any]]) -> list[Pair]:
    """Every transfer pair of ``results``, each with its groups (one per system and key minus seed: seeds are
    averaged within a group only, CRF first), in (train task, eval task) order."""
    by_pair: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in results:
        if transfer_of(r) is not None:
            by_pair.setdefault(_pair_key(r), []).append(r)
    pairs = []
    for key in sorted(by_pair, key=lambda k: tuple(str(x) for x in k)):
        rs = by_pair[key]
        groups = [g for splits in group_results(rs).values() for gs in splits.values() for g in gs]
        pairs.append(Pair(key[0], key[1], dict(rs[0]["transfer"]["types"]), groups, key))
    for p in pairs:
        p.title = f"{p.train_task} → {p.eval_task}"
        if sum((q.train_task, q.eval_task) == (p.train_task, p.eval_task) for q in pairs) > 1:  # say what differs
            p.title += f" ({_mapping(p.types)}; {p.train_task} v{p.key[3]}, data {p.key[4][:8]})"
    return pairs


def _mapping(types: dict[str, str]) -> str:
    return ", ".join(f"{e} → {t}" for e, t in sorted(types.items()))


def _in_domain(g: Group) -> list[dict[str, Any]]:
    return [r["transfer"]["in_domain"] for r in g.results]


def drop_ci(g: Group, *, n_resamples: int = N_RESAMPLES) -> dict[str, Any]:
    """In-domain F1 (shared types) minus out-of-domain F1, each the mean over seeds, with its 95% percentile
    CI from independent resamples of the two test sets; also the in-domain F1's own CI."""
    home, why_home = seed_counts(_in_domain(g))
    away, why_away = seed_counts(g.results)
    values = [v for v in (dig(b, "metrics.main.value") for b in _in_domain(g)) if isinstance(v, (int, float))]
    out: dict[str, Any] = {"in_domain_f1": statistics.fmean(values) if values else None, "in_domain_ci_low": None,
                           "in_domain_ci_high": None, "drop": None, "drop_ci_low": None, "drop_ci_high": None,
                           "note": ""}
    if home is None or away is None:
        out["note"] = f"{g.label}: no CI for the drop, {why_home or why_away}."
        return out
    alpha = (1 - CONFIDENCE) / 2
    (p_away,), (r_away,) = resampled_f1([away.tables], n_resamples=n_resamples, seed=BOOTSTRAP_SEED)
    (p_home,), (r_home,) = resampled_f1([home.tables], n_resamples=n_resamples, seed=BOOTSTRAP_SEED)
    _, (r_home_ind,) = resampled_f1([home.tables], n_resamples=n_resamples, seed=IN_DOMAIN_RESAMPLE_SEED)
    diff = r_home_ind - r_away
    out.update(in_domain_f1=p_home, in_domain_ci_low=float(np.quantile(r_home, alpha)),
               in_domain_ci_high=float(np.quantile(r_home, 1 - alpha)), drop=p_home - p_away,
               drop_ci_low=float(np.quantile(diff, alpha)), drop_ci_high=float(np.quantile(diff, 1 - alpha)))
    return out


def _left_out(g: Group, side: str, *, home: bool = False) -> dict[str, float]:
    """Left-out entities per type, mean over seeds (gold counts are the same for every seed)."""
    blocks = [(r["transfer"]["in_domain"] if home else r["transfer"]).get("left_out", {}).get(side, {})
              for r in g.results]
    types = sorted({t for b in blocks for t in b})
    return {t: statistics.fmean(b.get(t, 0) for b in blocks) for t in types}


def _counts_text(counts: dict[str, float]) -> str:
    return ", ".join(f"{t} {_count(n)}" for t, n in counts.items()) or "none"


def pair_rows(pair: Pair) -> tuple[list[dict[str, Any]], list[str]]:
    """One plain row per group of the pair (also ``report --json``'s ``"row": "transfer"``), and the notes."""
    tests, notes = significance_rows(pair.groups)
    by_label = {t["system"]: t for t in tests}
    rows = []
    for g, lb in zip(pair.groups, leaderboard_rows(pair.groups), strict=True):
        drop = drop_ci(g)
        if drop.pop("note"):
            notes.append(f"{g.label}: the drop has no CI (per-unit counts missing or not shared by the seeds).")
        test = by_label.get(g.label)
        own = sorted({n for r in g.results for n in r["transfer"].get("notes", [])})
        notes += [f"{g.label}: {n}." for n in (*own, *lb["notes"])]  # missing inputs; a language mismatch
        rows.append({
            "row": "transfer", "task": pair.eval_task, "split": "test", "train_task": pair.train_task,
            "eval_task": pair.eval_task, "types": pair.types,
            "shared_types": pair.shared, "system": g.label, "kind": g.kind, "n_seeds": g.n, "seeds": g.seeds,
            "deterministic": g.deterministic, "stale": g.stale, "stale_reasons": g.stale_reasons,
            **drop, "f1_mean": lb["f1_mean"], "f1_std": lb["f1_std"], "ci_low": lb["ci_low"], "ci_high": lb["ci_high"],
            "ci_unit": lb["ci_unit"], "ci_units": lb["ci_units"], "f1_seen": lb["f1_seen"], "f1_unseen": lb["f1_unseen"],
            "vs_crf": None if test is None else {k: test[k] for k in ("vs", "delta", "delta_ci_low", "delta_ci_high",
                                                                      "p", "p_holm")},
            "left_out_predicted": _left_out(g, "predicted"), "left_out_gold": _left_out(g, "gold"),
            "in_domain_left_out_gold": _left_out(g, "gold", home=True),
            "in_domain_left_out_predicted": _left_out(g, "predicted", home=True), "notes": own,
        })
    return rows, notes


def transfer_json_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``report --json``'s out-of-domain rows: one ``"row": "transfer"`` per pair and system."""
    return [row for pair in transfer_pairs(results) for row in pair_rows(pair)[0]]


# --------------------------------------------------------------------------- blocks

INTRO = " ".join((
    "Each system trained on one task's whole train split (the in-domain cell's own model, not trained again),",
    "scored on another task's test split in the train-side types of a declared mapping. In-domain F1 =",
    "F1 (conlleval) on the train task's test split counting only the shared types; out-of-domain F1 = the same",
    "on the eval task's test split, gold types mapped, types outside the mapping left out on both sides (counted",
    "below each table). drop = in-domain − out-of-domain, 95% CI from independent resamples of the two test",
    "sets (seeds averaged). Δ vs CRF: paired bootstrap on the eval split, as in the significance tables, Holm",
    "over the rows of each table. seen / unseen F1: eval mentions whose surface form is / is not an entity of the",
    "same type in the training corpus.",
))


def _ci(low: float | None, high: float | None, signed: bool = False) -> str:
    if low is None or high is None:
        return ""
    return f" [{low:+.3f}, {high:+.3f}]" if signed else f" [{low:.3f}, {high:.3f}]"


def pair_table(pair: Pair, rows: list[dict[str, Any]]) -> Table:
    cols = [("system", False), ("seeds", True), ("in-domain F1 (shared types) [95% CI]", True),
            ("out-of-domain F1 [95% CI]", True), ("drop [95% CI]", True), ("Δ F1 vs CRF, out of domain [95% CI]", True),
            ("p (Holm)", True), ("seen F1", True), ("unseen F1", True), ("predicted, left out", True)]
    out = []
    for g, r in zip(pair.groups, rows, strict=True):
        t = r["vs_crf"]
        std = f" ± {r['f1_std']:.3f}" if r["f1_std"] is not None else ""
        mark = (" (stale)" if g.stale else "") + (" †" if r["notes"] else "")
        left = sum(r["left_out_predicted"].values())
        out.append([
            Cell(g.label + mark), Cell(str(g.n), g.n, group=g),
            Cell(_f(r["in_domain_f1"], 3) + _ci(r["in_domain_ci_low"], r["in_domain_ci_high"]), r["in_domain_f1"], group=g),
            Cell(_f(r["f1_mean"], 3) + std + _ci(r["ci_low"], r["ci_high"]), r["f1_mean"], group=g),
            Cell("–" if r["drop"] is None else f"{r['drop']:+.3f}" + _ci(r["drop_ci_low"], r["drop_ci_high"], True),
                 r["drop"], group=g),
            Cell("–" if t is None else f"{t['delta']:+.3f}" + _ci(t["delta_ci_low"], t["delta_ci_high"], True),
                 None if t is None else t["delta"], group=g),
            Cell("–" if t is None else _p(t["p_holm"]) + (" *" if t["p_holm"] < ALPHA else ""),
                 None if t is None else t["p_holm"]),
            Cell(_f(r["f1_seen"], 3), r["f1_seen"], group=g), Cell(_f(r["f1_unseen"], 3), r["f1_unseen"], group=g),
            Cell(_count(left), left, group=g),
        ])
    return _table(cols, out)


def _about(pair: Pair) -> str:
    g = pair.groups[0]
    gold, home = _left_out(g, "gold"), _left_out(g, "gold", home=True)
    return (f"{pair.eval_task}'s test split scored in {pair.train_task}'s types: {_mapping(pair.types)}. Left out "
            f"(gold mentions of {pair.eval_task}'s test split): {_counts_text(gold)}; of {pair.train_task}'s test split "
            f"(in-domain, types outside the mapping): {_counts_text(home)}. Seen/unseen against {pair.train_task}'s "
            "train split.")


def transfer_blocks(results: Sequence[dict[str, Any]], *, pairs: list[Pair] | None = None) -> list[Block]:
    """The report's "Out of domain" section (empty without out-of-domain results)."""
    pairs = transfer_pairs(results) if pairs is None else pairs
    if not pairs:
        return []
    out: list[Block] = [Heading(2, TITLE), Para(INTRO)]
    for pair in pairs:
        rows, notes = pair_rows(pair)
        about = _about(pair)
        out += [Heading(3, pair.title), Para(md_text(about), about), pair_table(pair, rows), Notes(tuple(notes))]
        if any(r["notes"] for r in rows):
            out.append(Para("† the system did not get all its inputs on the eval split: see the notes."))
        if any(r["vs_crf"] for r in rows):
            out.append(Para("\\* significant after Holm's correction (p < 0.05).", "* significant after Holm's "
                            "correction (p < 0.05)."))
    return out


def html_section(pairs: list[Pair], links: Any, render: Callable[[list[Block]], list[dict[str, Any]]]) -> dict[str, Any]:
    """The section as the HTML page's template takes it; ``links`` is the page's :class:`bench.report.html._Links`
    (holding this section's groups), ``render`` its block renderer."""
    links.task_anchor[ANCHOR] = ANCHOR
    blocks = transfer_blocks([], pairs=pairs)
    return {"name": TITLE, "anchor": ANCHOR, "blocks": render([Heading(2, TITLE, task=ANCHOR), *blocks[1:]]),
            "sources": [{"id": links.anchor[id(g)], "label": f"{p.train_task} → {p.eval_task} {g.label}",
                         "split": "test", "files": [{"seed": r["seed"], "href": links.file(r),
                                                     "f1": _f(first(r, PATHS["f1"]))} for r in g.results]}
                        for p in pairs for g in p.groups]}
