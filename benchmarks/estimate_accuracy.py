"""How close the CPU duration estimate (bench/estimate.py) comes to what committed transformer cells took.

For every committed transformer result on a CPU, the estimate is made again from the cell's own
configuration and data (same sentences, limits, epochs, window, context, threads), with this
machine's matmul probe, and set against the cell's measured time: training wall seconds (which
include each epoch's dev pass) plus the prediction seconds of its evaluated splits. The implied
efficiency of each run (its FLOPs / (probe x measured seconds)) shows what ``EFFICIENCY`` should be;
the median over the runs is printed as the fitted value.

Run it on a quiet machine (the probe measures the CPU as it is now):

    HF_HUB_OFFLINE=1 python benchmarks/estimate_accuracy.py --data-dir ../shared/data \\
        --out results/benchmarks/estimate_accuracy.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_RESULTS = ("results/raw", "results/context/raw")


def runs(result_dirs: list[Path]) -> list[dict[str, Any]]:
    """One entry per (task, system, seed) transformer cell on a CPU, with its results per split."""
    from bench.results import iter_results

    cells: dict[tuple[str, str, int], dict[str, Any]] = defaultdict(dict)
    for folder in result_dirs:
        for path, r in iter_results(folder):
            if r["system"]["kind"] != "transformer" or r["cost"].get("device") != "cpu":
                continue
            cells[(r["task"]["name"], r["system"]["name"], r["seed"])][r["split"]] = (path, r)
    return [{"key": k, "splits": v} for k, v in sorted(cells.items())]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--results", type=Path, nargs="*", default=[REPO / d for d in DEFAULT_RESULTS])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    import torch

    from bench.catalog import resolve_task
    from bench.data.load import load_task_data
    from bench.env import benchmark_command, git_state
    from bench.estimate import EFFICIENCY, estimate_transformer
    from bench.models import load_config, load_tokenizer, resolve_model

    rows = []
    loaded: dict[str, Any] = {}
    for cell in runs(args.results):
        task, system, seed = cell["key"]
        any_result = next(iter(cell["splits"].values()))[1]
        config = any_result["system"]["config"]
        params = any_result["system"]["params"]
        if task not in loaded:
            loaded[task] = load_task_data(resolve_task(task), data_dir=args.data_dir, allow_hub=False)
        data = loaded[task]
        limit_train, limit_eval = params.get("max_train_sentences"), params.get("max_eval_sentences")
        train = data.sentences("train")[:limit_train]
        dev = data.splits["dev"].sentences[:limit_eval] if "dev" in data.splits else []
        predicted = [data.sentences(s)[:limit_eval] for s in sorted(cell["splits"])]
        spec = resolve_model(any_result["system"]["model"])
        hf_config = load_config(spec)
        tok = load_tokenizer(spec, model_type=hf_config.model_type)
        threads = config.get("torch_threads") or torch.get_num_threads()
        est = estimate_transformer(
            config=hf_config, tokenizer=tok, train=[s.tokens for s in train], dev=[s.tokens for s in dev],
            predicted=[[s.tokens for s in p] for p in predicted], epochs=config["epochs"],
            max_length=config["max_length"],
            context_width=config["context_length"] if config.get("context") == "document" else 0, threads=threads)
        assert est is not None
        measured = any_result["cost"]["train_wall_seconds"] + sum(
            r["prediction"]["seconds"] for _, r in cell["splits"].values())
        flops = est.train_flops + est.eval_flops
        rows.append({
            "task": task, "system": system, "seed": seed, "model": any_result["system"]["model"],
            "splits": sorted(cell["splits"]), "epochs": config["epochs"], "threads": threads,
            "pflop": round(flops / 1e15, 4), "probe_gflops": round(est.probe_gflops, 1),
            "estimated_seconds": round(est.seconds, 1), "measured_seconds": round(measured, 1),
            "estimated_over_measured": round(est.seconds / measured, 3),
            "implied_efficiency": round(flops / (est.probe_gflops * 1e9 * measured), 3),
            "result": str(next(iter(cell["splits"].values()))[0].relative_to(REPO)),
        })
        print(f"{task:16s} {system:22s} est {est.seconds:7.0f} s  measured {measured:7.0f} s  "
              f"ratio {est.seconds / measured:5.2f}  implied efficiency {rows[-1]['implied_efficiency']:.3f}",
              flush=True)
    fitted = statistics.median(r["implied_efficiency"] for r in rows)
    ratios = [r["estimated_over_measured"] for r in rows]
    summary = {
        "efficiency_in_code": EFFICIENCY, "fitted_efficiency_median": round(fitted, 3),
        "estimated_over_measured": {"min": min(ratios), "median": statistics.median(ratios), "max": max(ratios)},
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        out = {
            "benchmark": "estimate_accuracy",
            "command": benchmark_command(__file__, data_dir=args.data_dir),
            "git": git_state(),  # the commit it ran from, and whether the code differed from it
            "what": "the CPU duration estimate made again for every committed CPU transformer cell, against the "
                    "cell's measured training wall seconds + prediction seconds",
            "machine": {"cpus": torch.get_num_threads(), "platform": platform.platform(),
                        "processor": platform.processor() or platform.machine(), "torch": torch.__version__},
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "summary": summary, "runs": rows,
        }
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
