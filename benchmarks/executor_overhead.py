"""What running each cell in its own process (``--executor local``) or as a Ray task costs, per cell,
against running every cell in one process (``--executor inline``), on the same suite.

The suite's data is loaded once, before any clock starts, and every executor runs every cell
(``force``) into its own scratch results dir, one cell at a time: inline and local as one suite run,
Ray as one run per cell on a local Ray instance with all CPUs (so its tasks never overlap, and each
pays Ray's submission and result transfer). The overhead per cell is (executor's wall time - inline
wall time) / cells; Ray's one-off ``ray.init`` is reported apart from it. The cells' own records of where their time went
(``cost.process.startup_seconds``: interpreter, imports, unpickling the task data) are summarised by
system kind. The three executors must give identical metrics and saved predictions for every cell
(asserted), so the overhead buys isolation, not other numbers. Goal: <= 2 s per cell.

    HF_HUB_OFFLINE=1 python benchmarks/executor_overhead.py --suite smoke --data-dir ../shared/data \\
        --out results/benchmarks/executor_overhead.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

log = logging.getLogger("executor_overhead")

GOAL_SECONDS_PER_CELL = 2.0
EXECUTORS = ("inline", "local", "ray")


def run_suite(executor_name: str, *, suite: Any, cells: list[Any], data: dict[str, Any], out: Path,
              ray_cpus: int) -> dict[str, Any]:
    """Run every cell with one executor; wall time in all and per cell, and the metrics written."""
    from bench.env import benchmark_command
    from bench.executors import make_executor
    from bench.results import iter_results
    from bench.runner import RunConfig, run_cells

    config = RunConfig(results_dir=out / "raw", models_dir=out / "models", force=True,
                       run_info={"command": benchmark_command(__file__)})
    extra: dict[str, Any] = {}
    if executor_name == "ray":
        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=ray_cpus, log_to_driver=False, include_dashboard=False, logging_level=logging.WARNING)
        extra["ray_init_seconds"] = time.perf_counter() - t0
    executor = make_executor(executor_name, log_dir=out / "logs")
    marks: dict[str, float] = {}
    per_cell: dict[str, float] = {}

    def progress(event: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if event == "plan" and "_last" not in marks:
            marks["_last"] = now
        elif event == "cell_done":
            per_cell[info["cell"]] = now - marks["_last"]  # one at a time: since the previous cell ended
            marks["_last"] = now

    try:
        t0 = time.perf_counter()
        if executor_name == "ray":  # one cell at a time
            from bench.runner import SuiteOutcome

            outcome = SuiteOutcome()
            for cell in cells:
                part = run_cells([cell], suite, config, load=lambda t: data[t], progress=progress, executor=executor)
                outcome.done += part.done
                outcome.failed += part.failed
        else:
            outcome = run_cells(cells, suite, config, load=lambda t: data[t], progress=progress, executor=executor)
        wall = time.perf_counter() - t0
    finally:
        if executor_name == "ray":
            import ray

            ray.shutdown()
    assert not outcome.failed, outcome.failed
    assert len(outcome.done) == len(cells), outcome.done
    results = {(r["task"]["name"], r["system"]["name"], r["seed"], r["split"]): r for _, r in iter_results(out / "raw")}
    startup: dict[str, list[float]] = {}
    imports: dict[str, list[float]] = {}
    work: dict[str, float] = {}  # the system's own timed work: training, and predicting every split
    for r in results.values():
        label = f"{r['task']['name']} × {r['system']['name']} × seed {r['seed']}"
        work[label] = work.get(label, r["cost"]["train_wall_seconds"]) + r["prediction"]["seconds"]
        process = r["cost"].get("process")
        if process and r["split"] == suite.eval_splits[0]:
            startup.setdefault(r["system"]["kind"], []).append(process["startup_seconds"])
            imports.setdefault(r["system"]["kind"], []).append(process["import_seconds"])
    return {
        "wall_seconds": wall,
        "per_cell_seconds": per_cell,
        "train_and_predict_seconds": work,
        "startup_seconds_mean_by_kind": {k: statistics.mean(v) for k, v in sorted(startup.items())},
        "import_seconds_mean_by_kind": {k: statistics.mean(v) for k, v in sorted(imports.items())},
        "metrics": {"/".join(map(str, k)): (r["metrics"], r["predictions"]["sha256"]) for k, r in results.items()},
        **extra,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="smoke")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--out", type=Path, default=Path("results/benchmarks/executor_overhead.json"))
    p.add_argument("--ray-cpus", type=int, default=os.cpu_count(), help="CPUs of the local Ray instance")
    p.add_argument("--executors", default=",".join(EXECUTORS))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from bench import env as envmod
    from bench.catalog import resolve_task
    from bench.data.load import load_task_data
    from bench.env import benchmark_command
    from bench.lognoise import drop_library_noise
    from bench.plan import find_suite, plan

    drop_library_noise()
    suite = find_suite(args.suite)
    cells = plan(suite)
    t0 = time.perf_counter()
    data = {t: load_task_data(resolve_task(t), data_dir=args.data_dir, allow_hub=False)
            for t in dict.fromkeys(c.task for c in cells)}
    load_seconds = time.perf_counter() - t0
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="nerbench-overhead-") as tmp:
        for name in args.executors.split(","):
            log.warning("running suite %s with the %s executor ...", suite.name, name)
            runs[name] = run_suite(name, suite=suite, cells=cells, data=data, out=Path(tmp) / name,
                                   ray_cpus=args.ray_cpus)
            log.warning("  %s: %.1f s", name, runs[name]["wall_seconds"])

    base = runs["inline"]
    n = len(cells)
    for name, r in runs.items():
        assert r["metrics"] == base["metrics"], f"{name} gave other metrics or predictions than inline"
        assert len(r["metrics"]) == n * len(suite.eval_splits)
    kinds = {c.label: c.spec.kind for c in cells}
    summary = {}
    for name, r in runs.items():
        if name == "inline":
            continue
        by_kind: dict[str, list[float]] = {}
        outside: dict[str, list[float]] = {}
        for label, seconds in r["per_cell_seconds"].items():
            by_kind.setdefault(kinds[label], []).append(seconds - base["per_cell_seconds"][label])
            # the same, less the change in the system's own timed work (noise, a fresh process's warm-up)
            outside.setdefault(kinds[label], []).append(
                seconds - base["per_cell_seconds"][label]
                - (r["train_and_predict_seconds"][label] - base["train_and_predict_seconds"][label]))
        overhead = (r["wall_seconds"] - base["wall_seconds"]) / n
        summary[name] = {
            "overhead_seconds_per_cell": overhead,
            "overhead_seconds_per_cell_by_kind": {k: statistics.mean(v) for k, v in sorted(by_kind.items())},
            "overhead_outside_timed_work_seconds_per_cell": statistics.mean(x for v in outside.values() for x in v),
            "overhead_outside_timed_work_seconds_per_cell_by_kind": {
                k: statistics.mean(v) for k, v in sorted(outside.items())},
            "goal_met": overhead <= GOAL_SECONDS_PER_CELL,
            **({"ray_init_seconds": r["ray_init_seconds"],
                "overhead_seconds_per_cell_with_init": overhead + r["ray_init_seconds"] / n} if "ray_init_seconds" in r else {}),
        }
    record = {
        "benchmark": "executor_overhead",
        "command": benchmark_command(__file__, argv, data_dir=args.data_dir),
        "suite": suite.name,
        "cells": n,
        "goal_seconds_per_cell": GOAL_SECONDS_PER_CELL,
        "machine": {"cpu": envmod.cpu_name(), "cpu_count": os.cpu_count(), "python": platform.python_version()},
        "packages": envmod.package_versions(("nerbench", "torch", "transformers", "ray", "sklearn-crfsuite")),
        "git": envmod.git_state(),
        "data_load_seconds": load_seconds,
        "identical_metrics_and_predictions": True,
        "executors": {name: {k: v for k, v in r.items() if k != "metrics"} for name, r in runs.items()},
        "overhead": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    for name, s in summary.items():
        print(f"{name}: {s['overhead_seconds_per_cell']:+.2f} s per cell vs inline "
              f"({', '.join(f'{k} {v:+.2f}' for k, v in s['overhead_seconds_per_cell_by_kind'].items())}); "
              f"outside the systems' own timed work {s['overhead_outside_timed_work_seconds_per_cell']:+.2f} s"
              + (f"; ray.init {s['ray_init_seconds']:.1f} s once" if "ray_init_seconds" in s else ""))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
