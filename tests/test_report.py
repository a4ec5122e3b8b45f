"""The Markdown report against a golden file, from results the test builds with the real scorer."""

from __future__ import annotations

import os
import random
from pathlib import Path

from bench import report
from bench.metrics import bootstrap_ci, score_tags, sentence_counts
from bench.spec import LocalSource, ReferenceResult, TaskSpec

GOLDEN = Path(__file__).parent / "golden" / "report.md"


def make_results() -> list[dict]:
    rng = random.Random(7)
    gold = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG"] for _ in range(60)]

    def noisy(p: float) -> list[list[str]]:
        return [[t if rng.random() > p else "O" for t in s] for s in gold]

    out = []
    for system, kind, seeds, noise, seconds in (
        ("crf", "crf", [1], 0.30, 12.0), ("minilm-l6", "transformer", [1, 2, 3], 0.08, 600.0)
    ):
        for seed in seeds:
            pred = noisy(noise)
            m = score_tags(gold, pred)
            lo, hi = bootstrap_ci(gold, pred, n_resamples=200, seed=seed)
            m["main"].update(ci_low=lo, ci_high=hi)
            out.append({
                "task": {"name": "toy", "version": "1", "fingerprint": "f"},
                "system": {"name": system, "kind": kind, "model": None if kind == "crf" else "minilm-l6"},
                "seed": seed, "split": "test", "metrics": m,
                "sentence_counts": [list(c) for c in sentence_counts(gold, pred)],
                "cost": {"train_wall_seconds": seconds + seed, "train_tokens_per_second": 1000.0 * seed,
                         "peak_rss_mb": 900.0, "gpu": {"available": False}},
                "prediction": {"sentences_per_second": 50.0},
                "training": {"device": "cpu"},
                "environment": {"git": {"sha": "0123456789abcdef", "dirty": False}, "cpu": "Test CPU", "cpu_count": 2},
                "cell_key": {},
            })
    return out


class Catalog(dict):
    def get(self, name: str) -> TaskSpec:  # type: ignore[override]
        return self[name]


def test_report_matches_golden_file() -> None:
    spec = TaskSpec(
        name="toy", version="1", language="en", domain="tests", entity_types=("PER", "LOC", "ORG"), scheme="IOB2",
        licence="x", description="A toy task.", hub=None,
        local=LocalSource(
            folder="toy", format="conll", splits={"train": "a", "test": "b"}),
        reference=(ReferenceResult(system="paper", split="test", metric="strict_f1", value=0.9, source="a paper"),),
    )
    text = report.render(make_results(), catalog=Catalog(toy=spec), plots="plots")
    if os.environ.get("NERBENCH_UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_json_rows_and_significance() -> None:
    rows = report.json_rows(make_results())
    by = {r["system"]: r for r in rows}
    assert by["minilm-l6"]["n"] == 3 and by["crf"]["n"] == 1
    assert by["minilm-l6"]["strict_f1_std"] is not None and by["crf"]["strict_f1_std"] is None
    assert by["minilm-l6"]["strict_f1_mean"] > by["crf"]["strict_f1_mean"]
    groups = report.group_results(make_results())["toy"]["test"]
    sig = "\n".join(report.significance(groups))
    assert "| minilm-l6 | 3 |" in sig and "3/3 seeds" in sig


def test_plots_are_written(tmp_path: Path) -> None:
    written = report.plot(make_results(), tmp_path)
    assert sorted(p.name for p in written) == [
        "toy-f1-vs-cost.png", "toy-f1-vs-cost.svg", "toy-per-type.png", "toy-per-type.svg"]
    assert all(p.stat().st_size > 1000 for p in written)


def test_empty_report() -> None:
    assert "No results yet" in report.render([])
