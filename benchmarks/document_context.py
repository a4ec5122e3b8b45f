"""Accuracy per minute of document context on CoNLL-2003 (MiniLM-L6, CPU): a table from real results.

Reads the results of the ``context`` suite (``conll2003_docs`` x {each sentence alone, with 64
sub-tokens of document context}, one epoch each) and the default suite's 3-epoch sentence-level
``conll2003`` MiniLM cell, checks that the two tasks hold the same sentences and tags (so the rows are
comparable), and writes one JSON and one Markdown table: training minutes, tokens/s, dev and test
conlleval F1 with the test bootstrap CI, and the goal (test >= 0.885 in <= 12 minutes of training).

    NERBENCH_DATA_DIR=../shared/data nerbench run --suite context --require-data \\
        --results-dir results/context/raw
    python benchmarks/document_context.py --context-results results/context/raw \\
        --default-results results/raw --out results/benchmarks/document_context.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GOAL_F1, GOAL_MINUTES = 0.885, 12.0


def same_sentences(data_dir: str | None) -> dict[str, Any]:
    """Whether conll2003 and conll2003_docs hold the same words and IOB2 tags, split by split."""
    from bench.catalog import load_catalog
    from bench.data.load import load_task_data

    catalog = load_catalog([])
    a = load_task_data(catalog.get("conll2003"), data_dir=data_dir)
    b = load_task_data(catalog.get("conll2003_docs"), data_dir=data_dir)
    out: dict[str, Any] = {}
    for split in ("train", "dev", "test"):
        sa, sb = a.splits[split].sentences, b.splits[split].sentences
        out[split] = {"sentences": len(sa), "identical": [(s.tokens, s.tags) for s in sa] == [(s.tokens, s.tags) for s in sb]}
    return out


def row(path: Path, label: str) -> dict[str, Any]:
    test = json.loads((path / "seed13-test.json").read_text(encoding="utf-8"))
    dev = json.loads((path / "seed13-dev.json").read_text(encoding="utf-8"))
    params = test["system"]["config"]
    minutes = test["cost"]["train_wall_seconds"] / 60
    return {
        "row": label,
        "task": test["task"]["name"],
        "system": test["system"]["name"],
        "context": params.get("context", "sentence"),
        "context_length": params.get("context_length") if params.get("context") == "document" else None,
        "epochs": params.get("epochs"),
        "train_minutes": minutes,
        "train_tokens_per_second": test["cost"]["train_tokens_per_second"],
        "peak_rss_mb": test["cost"].get("peak_rss_mb"),
        "dev_conlleval_f1": dev["metrics"]["main"]["value"],
        "test_conlleval_f1": test["metrics"]["main"]["value"],
        "test_ci95": [test["metrics"]["main"]["ci_low"], test["metrics"]["main"]["ci_high"]],
        "goal_met": test["metrics"]["main"]["value"] >= GOAL_F1 and minutes <= GOAL_MINUTES,
        "result": str(path.relative_to(REPO) if path.is_relative_to(REPO) else path.name) + "/seed13-test.json",
        "result_command": (test.get("run") or {}).get("command"),  # how the result was made, as it records
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--context-results", type=Path, default=REPO / "results" / "context" / "raw")
    p.add_argument("--default-results", type=Path, default=REPO / "results" / "raw")
    p.add_argument("--data-dir", default=os.environ.get("NERBENCH_DATA_DIR", str(REPO.parent / "shared" / "data")))
    p.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks" / "document_context.json")
    args = p.parse_args(argv)
    from bench.env import benchmark_command, git_state

    rows = [
        row(args.default_results.resolve() / "conll2003" / "minilm-l6", "sentence alone, 3 epochs (default suite)"),
        row(args.context_results.resolve() / "conll2003_docs" / "minilm-l6-1ep", "sentence alone, 1 epoch"),
        row(args.context_results.resolve() / "conll2003_docs" / "minilm-l6-doc64-1ep", "document context 64, 1 epoch"),
    ]
    for r in rows:
        r["main_score"] = "conlleval F1 (entity micro, seqeval default mode)"
    out = {
        "benchmark": "document_context",
        "command": benchmark_command(__file__, argv, data_dir=args.data_dir),
        "git": git_state(),  # the commit it ran from, and whether the code differed from it
        "goal": {"test_conlleval_f1": GOAL_F1, "train_minutes": GOAL_MINUTES},
        "conll2003_and_conll2003_docs_hold_the_same_sentences_and_tags": same_sentences(args.data_dir),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    lines = [
        "| setting | epochs | train min | tokens/s | dev F1 | test F1 (95% CI) | goal met |",
        "|---|--:|--:|--:|--:|--:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['row']} | {r['epochs']} | {r['train_minutes']:.1f} | {r['train_tokens_per_second']:.0f} | "
            f"{r['dev_conlleval_f1']:.4f} | {r['test_conlleval_f1']:.4f} ({r['test_ci95'][0]:.3f}–{r['test_ci95'][1]:.3f}) "
            f"| {'yes' if r['goal_met'] else 'no'} |"
        )
    md = args.out.with_suffix(".md")
    md.write_text(
        "# Document context on CoNLL-2003 (MiniLM-L6, CPU, 2 cores)\n\n"
        f"Goal: test conlleval F1 >= {GOAL_F1} with <= {GOAL_MINUTES:.0f} minutes of training. "
        "Made by `benchmarks/document_context.py` from the result JSON named in the JSON beside this file.\n\n"
        + "\n".join(lines) + "\n",
        encoding="utf-8",
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
