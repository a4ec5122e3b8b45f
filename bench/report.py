"""Results -> Markdown tables, JSON rows and plots. Reads result JSON only, never re-runs anything.

Per task: a leaderboard (strict F1 mean ± std over seeds with the 95% bootstrap CI, lenient F1,
nervaluate partial F1, official span F1 where the task has one), per-type F1, a cost table, the
paired-bootstrap significance of every transformer against the CRF, and the task's published
reference numbers. Rows are in a fixed order (systems sorted by name within kind, CRF first) so
the Markdown diffs cleanly.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.compare import dig

# Where each reported number lives in a result file.
PATHS = {
    "strict_f1": "metrics.main.value",
    "ci_low": "metrics.main.ci_low",
    "ci_high": "metrics.main.ci_high",
    "lenient_f1": "metrics.lenient.micro.f1",
    "partial_f1": "metrics.nervaluate.overall.partial.f1",
    "official_f1": "metrics.spans.official.f1",
    "train_seconds": "cost.train_wall_seconds",
    "tokens_per_second": "cost.train_tokens_per_second",
    "peak_gpu_mib": "cost.gpu.peak_memory_used_mb",
    "energy_j": "cost.gpu.energy_j",
    "peak_rss_mib": "cost.peak_rss_mb",
    "predict_sentences_per_second": "prediction.sentences_per_second",
}
PER_TYPE_PATH = "metrics.strict.per_type"


@dataclass
class Group:
    """All seeds of one (task, system, split)."""

    task: str
    system: str
    split: str
    kind: str
    model: str | None
    results: list[dict[str, Any]] = field(default_factory=list)

    def values(self, name: str) -> list[float]:
        return [v for v in (dig(r, PATHS[name]) for r in self.results) if isinstance(v, (int, float))]

    def mean(self, name: str) -> float | None:
        v = self.values(name)
        return statistics.fmean(v) if v else None

    def std(self, name: str) -> float | None:
        v = self.values(name)
        return statistics.stdev(v) if len(v) > 1 else None

    @property
    def n(self) -> int:
        return len(self.results)

    def per_type_f1(self, etype: str) -> float | None:
        """Mean strict F1 of one entity type over the seeds."""
        vals = [v for v in (dig(r, f"{PER_TYPE_PATH}.{etype}.f1") for r in self.results) if isinstance(v, (int, float))]
        return statistics.fmean(vals) if vals else None


def group_results(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, list[Group]]]:
    """``{task: {split: [groups in report order]}}``."""
    groups: dict[tuple[str, str, str], Group] = {}
    for r in results:
        key = (r["task"]["name"], r["system"]["name"], r["split"])
        if key not in groups:
            groups[key] = Group(key[0], key[1], key[2], r["system"].get("kind", "?"), r["system"].get("model"))
        groups[key].results.append(r)
    out: dict[str, dict[str, list[Group]]] = defaultdict(lambda: defaultdict(list))
    for g in groups.values():
        g.results.sort(key=lambda r: r["seed"])
        out[g.task][g.split].append(g)
    for splits in out.values():
        for gs in splits.values():
            gs.sort(key=lambda g: (g.kind != "crf", g.system))
    return {t: dict(s) for t, s in sorted(out.items())}


def _f(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _num(x: float | None, fmt: str = "{:,.0f}") -> str:
    return "–" if x is None else fmt.format(x)


def leaderboard_rows(groups: list[Group]) -> list[dict[str, Any]]:
    rows = []
    for g in groups:
        low, high = g.values("ci_low"), g.values("ci_high")
        rows.append({
            "task": g.task, "system": g.system, "kind": g.kind, "model": g.model, "split": g.split, "n": g.n,
            "strict_f1_mean": g.mean("strict_f1"), "strict_f1_std": g.std("strict_f1"),
            "ci_low": statistics.fmean(low) if low else None, "ci_high": statistics.fmean(high) if high else None,
            "lenient_f1_mean": g.mean("lenient_f1"), "partial_f1_mean": g.mean("partial_f1"),
            "official_f1_mean": g.mean("official_f1"), "train_seconds_mean": g.mean("train_seconds"),
            "tokens_per_second_mean": g.mean("tokens_per_second"), "peak_gpu_mib": g.mean("peak_gpu_mib"),
            "energy_wh_mean": (g.mean("energy_j") or 0) / 3600 if g.values("energy_j") else None, "peak_rss_mib": g.mean("peak_rss_mib"),
            "predict_sentences_per_second_mean": g.mean("predict_sentences_per_second"),
        })
    return rows


def json_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The leaderboard of every task and split as plain rows for scripts."""
    return [row for splits in group_results(results).values() for gs in splits.values() for row in leaderboard_rows(gs)]


def _best(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in rows if r[key] is not None]
    return max(vals) if vals else None


def _mark(value: float | None, best: float | None, text: str) -> str:
    return f"**{text}** ↑" if value is not None and best is not None and len(text) and value == best else text


def render_leaderboard(rows: list[dict[str, Any]], *, official: bool) -> list[str]:
    cols = ["system", "model", "n", "strict F1 (mean ± std)", "95% CI", "lenient F1", "partial F1"]
    if official:
        cols.append("official F1")
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] * 2 + ["--:"] * (len(cols) - 2)) + "|"]
    best = {k: _best(rows, k) for k in ("strict_f1_mean", "lenient_f1_mean", "partial_f1_mean", "official_f1_mean")}
    for r in rows:
        strict = _f(r["strict_f1_mean"]) + (f" ± {_f(r['strict_f1_std'])}" if r["strict_f1_std"] is not None else "")
        cells = [
            r["system"], r["model"] or "–", str(r["n"]),
            _mark(r["strict_f1_mean"], best["strict_f1_mean"], strict),
            f"[{_f(r['ci_low'])}, {_f(r['ci_high'])}]",
            _mark(r["lenient_f1_mean"], best["lenient_f1_mean"], _f(r["lenient_f1_mean"])),
            _mark(r["partial_f1_mean"], best["partial_f1_mean"], _f(r["partial_f1_mean"])),
        ]
        if official:
            cells.append(_mark(r["official_f1_mean"], best["official_f1_mean"], _f(r["official_f1_mean"])))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_per_type(groups: list[Group], types: list[str]) -> list[str]:
    lines = ["| system | " + " | ".join(types) + " |", "|---|" + "--:|" * len(types)]
    for g in groups:
        cells = [_f(g.per_type_f1(t)) for t in types]
        lines.append(f"| {g.system} | " + " | ".join(cells) + " |")
    return lines


def render_cost(rows: list[dict[str, Any]], groups: list[Group]) -> list[str]:
    lines = [
        "| system | device | train time (s) | train tokens/s | predict sentences/s | peak GPU MiB | energy (Wh) | peak RSS MiB |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for r, g in zip(rows, groups, strict=False):
        device = dig(g.results[0], "training.device") or dig(g.results[0], "cost.device") or "cpu"
        gpu = dig(g.results[0], "cost.gpu.name")
        lines.append(
            f"| {r['system']} | {gpu or device} | {_num(r['train_seconds_mean'])} | {_num(r['tokens_per_second_mean'])} "
            f"| {_num(r['predict_sentences_per_second_mean'])} | {_num(r['peak_gpu_mib'])} "
            f"| {_num(r['energy_wh_mean'], '{:.2f}')} | {_num(r['peak_rss_mib'])} |"
        )
    return lines


def significance(groups: list[Group], *, n_resamples: int = 1000, seed: int = 0) -> list[str]:
    """Paired bootstrap of each transformer seed against the CRF on the same sentences."""
    from bench.metrics import paired_bootstrap_counts

    crf = next((g for g in groups if g.kind == "crf"), None)
    if crf is None:
        return []
    base = crf.results[0].get("sentence_counts")
    lines = [
        "| system vs crf | seeds | mean Δ strict F1 | p-values (paired bootstrap) | better in |",
        "|---|--:|--:|---|--:|",
    ]
    any_row = False
    for g in groups:
        if g.kind == "crf":
            continue
        deltas, ps, wins = [], [], 0
        for r in g.results:
            counts = r.get("sentence_counts")
            if not base or not counts or len(counts) != len(base):
                continue
            res = paired_bootstrap_counts(base, counts, n_resamples=n_resamples, seed=seed)
            deltas.append(res["delta"])
            ps.append(res["p_value"])
            wins += res["delta"] > 0 and res["p_value"] < 0.05
        if deltas:
            any_row = True
            lines.append(
                f"| {g.system} | {len(deltas)} | {statistics.fmean(deltas):+.4f} | "
                f"{', '.join(f'{p:.3f}' for p in ps)} | {wins}/{len(deltas)} seeds (p<0.05) |"
            )
    return lines if any_row else []


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
        if split == "test":
            types = list(task_spec.entity_types) if task_spec else sorted(
                {t for g in groups for r in g.results for t in (dig(r, PER_TYPE_PATH) or {})}
            )
            out += ["Per-type strict F1 (mean over seeds):", ""] + render_per_type(groups, types) + [""]
            out += ["Cost:", ""] + render_cost(rows, groups) + [""]
            sig = significance(groups)
            if sig:
                out += ["Significance against the CRF (same test sentences):", ""] + sig + [""]
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


def footer(results: Sequence[dict[str, Any]]) -> list[str]:
    shas = sorted({str(dig(r, "environment.git.sha"))[:10] + ("+dirty" if dig(r, "environment.git.dirty") else "")
                   for r in results})
    hw = sorted({f"{dig(r, 'environment.cpu')} ({dig(r, 'environment.cpu_count')} cores)"
                 + (f" + {dig(r, 'cost.gpu.name')}" if dig(r, "cost.gpu.name") else "") for r in results})
    return [
        "---", "",
        f"Generated by `nerbench report` from {len(results)} result file(s). "
        f"nerbench git: {', '.join(shas)}. Hardware: {'; '.join(hw)}.", "",
        "Strict F1 = seqeval `mode=\"strict\", scheme=IOB2` entity-level micro F1 (the main score); lenient = "
        "seqeval default (conlleval); partial = nervaluate partial-match F1; official = the task's own rule on the "
        "original spans. CI = 95% bootstrap over sentences (mean of the per-seed bounds). ↑ marks the best value in "
        "a column. Train tokens/s: transformers count real (non-padding) sub-word tokens per second of the training "
        "loop; the CRF counts words × L-BFGS passes per second of fitting.", "",
    ]


def render(results: Sequence[dict[str, Any]], *, catalog: Any | None = None, plots: str | None = None) -> str:
    """The whole report; ``plots`` is the plot folder relative to the Markdown file, or ``None``."""
    grouped = group_results(results)
    lines = ["# nerbench results", ""]
    if not grouped:
        return "\n".join(lines + ["No results yet: run `nerbench run`.", ""])
    lines += ["| task | best system (test strict F1) | CRF | best transformer |", "|---|---|--:|--:|"]
    for task, splits in grouped.items():
        rows = leaderboard_rows(splits.get("test", []))
        if not rows:
            continue
        best = max(rows, key=lambda r: r["strict_f1_mean"] or -1)
        crf = next((r for r in rows if r["kind"] == "crf"), None)
        tr = [r for r in rows if r["kind"] != "crf"]
        best_tr = max(tr, key=lambda r: r["strict_f1_mean"] or -1) if tr else None
        lines.append(
            f"| [{task}](#{task}) | {best['system']} ({_f(best['strict_f1_mean'])}) | "
            f"{_f(crf['strict_f1_mean']) if crf else '–'} | "
            f"{(best_tr['system'] + ' ' + _f(best_tr['strict_f1_mean'])) if best_tr else '–'} |"
        )
    lines.append("")
    for task, splits in grouped.items():
        spec = catalog.get(task) if catalog is not None and task in catalog else None
        lines += render_task(task, splits, task_spec=spec, plots=plots)
    return "\n".join(lines + footer(results))


def plot(results: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """F1 vs training cost per task and per-type F1 bars, as PNG and SVG."""
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
            if r["train_seconds_mean"] is None or r["strict_f1_mean"] is None:
                continue
            err = None
            if r["ci_low"] is not None and r["ci_high"] is not None:
                err = [[max(0.0, r["strict_f1_mean"] - r["ci_low"])], [max(0.0, r["ci_high"] - r["strict_f1_mean"])]]
            ax.errorbar(r["train_seconds_mean"], r["strict_f1_mean"], yerr=err, capsize=3,
                        marker="s" if r["kind"] == "crf" else "o", linestyle="none")
            ax.annotate(r["system"], (r["train_seconds_mean"], r["strict_f1_mean"]),
                        textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.margins(x=0.3, y=0.15)
        ax.set_xlabel("training wall time (s, log scale)")
        ax.set_ylabel("test strict F1 (95% CI)")
        ax.set_title(f"{task}: F1 vs training cost")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        written += _save(fig, out_dir / f"{task}-f1-vs-cost")
        plt.close(fig)

        types = sorted({t for g in groups for r in g.results for t in (dig(r, PER_TYPE_PATH) or {})})
        if types:
            fig, ax = plt.subplots(figsize=(5.5, 3.8))
            width = 0.8 / max(len(groups), 1)
            for i, g in enumerate(groups):
                vals = [g.per_type_f1(t) or 0.0 for t in types]
                ax.bar([k + i * width for k in range(len(types))], vals, width=width, label=g.system)
            ax.set_xticks([k + width * (len(groups) - 1) / 2 for k in range(len(types))], types)
            ax.set_ylim(0, 1)
            ax.set_ylabel("test strict F1")
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
