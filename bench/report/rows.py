"""Groups -> plain rows: a leaderboard row per group (also what ``nerbench report --json`` prints) and the
paired comparisons with the CRF, per task (:func:`significance_rows`) and across tasks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from bench.metrics import BOOTSTRAP_SEED, N_RESAMPLES, f1_from_counts, holm, paired_bootstrap_seeds
from bench.report.groups import CONFIDENCE, KEY_FIELDS, MAIN_METRIC, Group, group_results, seed_counts
from bench.results import in_domain, train_size_of


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
            "notes": list(dict.fromkeys(n for r in g.results for n in (r["system"].get("notes") or ()))),
        })
    return rows


def json_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The leaderboard of every task and split as plain rows for scripts (``nerbench report --json``), each
    with ``"row": "leaderboard"`` (the learning curves' rows follow them: :func:`bench.report.curves.curve_json_rows`).

    Each row carries ``f1_seen``/``f1_unseen`` (mean F1 on mentions seen/unseen in train, ``None``
    without an analysis) and ``analysis``, the seed-averaged error analysis (:meth:`Group.analysis`; its
    ``examples`` are summed over seeds).
    """
    whole = [r for r in in_domain(results) if train_size_of(r) is None]  # curves, out of domain: their own rows
    return [{**row, "row": "leaderboard"} for splits in group_results(whole).values() for gs in splits.values()
            for row in leaderboard_rows(gs)]


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
