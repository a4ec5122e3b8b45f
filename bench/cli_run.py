"""The ``run`` sub-command: plan a suite, load its data, run its cells, show progress and what it produced."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("bench")


def add_commands(sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    from bench.cli_score import resamples  # --bootstrap's rule, shared with `nerbench score`
    from bench.executors.ray_resources import WAIT_DEADLINE_S

    p = sub.add_parser("run", help="run a suite (tasks x systems x seeds), skipping finished cells")
    common(p)
    p.add_argument("--suite", default="default", help="suite name (tasks/suites/NAME.toml) or path to a suite TOML")
    p.add_argument("--task", action="append", default=[], help="only this task (repeatable)")
    p.add_argument("--system", action="append", default=[], help="only this system (repeatable)")
    p.add_argument("--seeds", help="comma-separated seeds instead of the suite's, e.g. 1,2,3")
    p.add_argument("--train-size", metavar="SIZES",
                   help="learning-curve points instead of the suite's train_sizes: comma-separated numbers of "
                        "training sentences and 'all', e.g. 100,500,all")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where transformers train")
    p.add_argument("--dry-run", action="store_true", help="print the cells and whether each is finished; run nothing")
    p.add_argument("--force", action="store_true", help="re-run finished cells")
    p.add_argument("--shard", default="1/1",
                   help="K/N: run only the K-th of N slices of the matrix, balanced by the cells' estimated work "
                        "and the same on every machine that sees the same data (--dry-run shows each shard's share)")
    p.add_argument("--results-dir", type=Path, default=Path("results/raw"),
                   help="where result JSON goes. One run at a time per results dir: a flock lock file in it "
                        "refuses a second run on this machine, and on other machines only where the "
                        "filesystem shares flock locks (not NFS mounted nolock, not Lustre localflock)")
    p.add_argument("--no-lock", action="store_true",
                   help="do not lock the results dir (a filesystem without file locks); then make sure no other "
                        "run uses it meanwhile")
    p.add_argument("--models-dir", type=Path, default=Path("models"), help="where trained models go")
    p.add_argument("--log-file", type=Path,
                   help="log file (default: runs/<suite>-<time>[-shardK-of-N][-slurmJOB_TASK].log, beside the "
                        "folder of each cell's log; a name in use gets -2, -3, ...)")
    p.add_argument("--no-hub", action="store_true", help="never fall back to the Hugging Face Hub")
    p.add_argument("--require-data", action="store_true",
                   help="fail when a task has no data (default: skip its cells with one line each)")
    p.add_argument("--bootstrap", type=resamples, default=1000, help="bootstrap resamples for the 95%% CI")
    p.add_argument("--executor", default="local", choices=["local", "ray", "inline"],
                   help="local (default): each cell in its own fresh process; ray: each cell a Ray task "
                        "(pip install 'nerbench[ray]'); inline: all cells in this process (debugging)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="with --executor ray: the cluster to use (e.g. ray://head:10001 or auto; "
                        "default: $RAY_ADDRESS, else a new local Ray instance); a cluster with token authentication needs "
                        "RAY_AUTH_MODE=token and its token here (RAY_AUTH_TOKEN or ~/.ray/auth_token)")
    p.add_argument("--models-stay-on-workers", action="store_true",
                   help="with --executor ray: leave each trained model on the node that trained it (under the "
                        "same absolute --models-dir there) instead of bringing it back to this machine's "
                        "--models-dir (default, every file's sha256 checked; skipped where the workers share "
                        "the models dir); each result's system.model_location says where it is")
    p.add_argument("--ray-wait-deadline", type=_seconds_arg, metavar="SECONDS",
                   help="with --executor ray on a cluster: how long a cell whose resources no node has waits for "
                        f"such a node to join before it fails (default {WAIT_DEADLINE_S:g}; 0: wait forever)")
    p.add_argument("--retries", type=int, default=0, metavar="N",
                   help="run a failed cell (error, crash, kill) again up to N times")
    p.add_argument("--progress-every", type=_seconds_arg, default=30.0, metavar="SECONDS",
                   help="when the console is not a terminal (nohup, CI, Slurm logs): a progress line for each "
                        "running cell every SECONDS (default 30; 0: none)")
    p.set_defaults(func=cmd_run)



def _seconds_arg(text: str) -> float:
    """``--progress-every``, ``--ray-wait-deadline``: a number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds (0 or more), got {text!r}")
    return value


def _log_to_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)


def preflight_systems(cells: list[Any]) -> None:
    """Fail before any cell runs when a system cannot run here: each kind's ``preflight`` (a transformer's
    weights not found, e.g. hub ids offline; the spaCy extra not installed)."""
    from bench.errors import ConfigError
    from bench.systems import get_kind

    problems = []
    for kind, model in sorted({(c.spec.kind, c.spec.model or "") for c in cells}):
        try:
            get_kind(kind).preflight(model or None)
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError(
            "systems not available, nothing was run:\n  " + "\n  ".join(problems)
            + "\n(give a local Hugging Face directory as the system's model, or run with hub access; install the "
            "extra a message names; --system selects the systems that are available)"
        )


def parse_seeds(text: str) -> list[int]:
    """``"1,2,3"`` -> ``[1, 2, 3]``; anything else is a clear error.

    >>> parse_seeds("13, 7")
    [13, 7]
    """
    from bench.errors import ConfigError

    seeds = []
    for part in text.split(","):
        try:
            seeds.append(int(part.strip()))
        except ValueError:
            raise ConfigError(f"--seeds must be comma-separated integers (e.g. 1,2,3); {part.strip()!r} is not") from None
    check_seeds(seeds, where="--seeds")
    return seeds


def check_seeds(seeds: list[int], *, where: str) -> None:
    """Seeds are distinct integers from 0 to 2**32 - 1 (what NumPy and torch accept): a repeated seed would
    train the same cell twice, a negative one fails deep inside NumPy."""
    from bench.errors import ConfigError

    bad = [s for s in seeds if not 0 <= s < 2**32]
    if bad:
        raise ConfigError(f"{where}: a seed must be an integer from 0 to 4294967295, got {bad[0]}")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(f"{where}: seed {repeated[0]} is given twice (each seed is one cell)")
    if not seeds:
        raise ConfigError(f"{where}: no seed given")


def suite_for_task_files(suite: Any, task_files: list[Path], *, selected: list[str], console: Any) -> Any:
    """A task given only by ``--task-file`` runs with the suite's systems when the suite does not name it."""
    import dataclasses

    from bench.catalog import load_catalog

    if not task_files:
        return suite
    shipped = set(load_catalog([]))
    extra = [n for n in load_catalog(task_files) if n not in shipped and n not in (*suite.tasks, *(t.eval for t in suite.transfer))]
    if selected:
        extra = [n for n in extra if n in selected]
    if not extra or any(t in suite.tasks for t in selected):
        return suite
    console.print(f"task file: running {', '.join(extra)} with suite {suite.name}'s systems "
                  f"({', '.join(suite.systems)}); --system selects among them")
    return dataclasses.replace(suite, tasks=tuple(extra), task_systems={}, transfer=())  # no [[transfer]] of its tasks


def distributed_rank() -> tuple[int, int]:
    """``(RANK, WORLD_SIZE)`` under torchrun, ``(0, 1)`` otherwise."""
    import os

    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _load_one(task: str, args: argparse.Namespace) -> Any:
    from bench.catalog import resolve_task
    from bench.data.load import load_task_data

    return load_task_data(resolve_task(task, args.task_file), data_dir=args.data_dir, allow_hub=not args.no_hub)


def load_cell_tasks(cells: list[Any], args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Load every task of ``cells`` once, up front: ``(loaded, missing, broken)``.

    ``missing`` maps a task without data to where it was looked for (its cells are skipped: a fresh
    machine still runs the embedded task); ``broken`` maps a task whose data exists but cannot be read
    to the error (its cells fail with it, the others run).
    """
    from bench.catalog import resolve_task
    from bench.data.load import resolve_data_dir
    from bench.errors import DataNotFoundError, NerbenchError

    loaded: dict[str, Any] = {}
    missing: dict[str, str] = {}
    broken: dict[str, str] = {}
    root = resolve_data_dir(args.data_dir)
    for task in dict.fromkeys(c.task for c in cells):
        try:
            loaded[task] = _load_one(task, args)
        except DataNotFoundError:
            spec = resolve_task(task, args.task_file)
            folder = spec.local.folder if spec.local else None
            missing[task] = (f"in {root / folder}" if root and folder else
                             "(no --data-dir given and $NERBENCH_DATA_DIR is not set)" if folder else "(hub only)")
        except NerbenchError as exc:
            broken[task] = str(exc)
    return loaded, missing, broken


def cmd_run(args: argparse.Namespace) -> int:
    from bench.cli_console import make_console
    from bench.cli_runfiles import choose_run_log
    from bench.errors import ConfigError
    from bench.plan import find_suite, parse_shard, parse_train_sizes, plan

    console = make_console(stderr=True)
    suite = find_suite(args.suite)
    seeds = parse_seeds(args.seeds) if args.seeds else None
    suite = suite_for_task_files(suite, args.task_file, selected=args.task, console=console)
    sizes = parse_train_sizes(args.train_size) if args.train_size else None
    cells = plan(suite, tasks=args.task or None, systems=args.system or None, seeds=seeds, device=args.device,
                 sizes=sizes)
    shard = parse_shard(args.shard)
    rank, world = distributed_rank()
    if world > 1 and args.executor != "inline":
        raise ConfigError(f"under torchrun (WORLD_SIZE={world}) every rank must train in its own launched "
                          "process: add --executor inline (and select one cell per launch; see README)")
    run_log = choose_run_log(args, suite.name, shard=shard, rank=rank)  # reserved now, except for a dry run
    try:
        return _run(args, suite, cells, shard=shard, run_log=run_log, rank=rank, console=console)
    except BaseException:
        run_log.discard()  # a folder reserved for a run that stopped before its first cell
        raise


def select_shard(cells: list[Any], args: argparse.Namespace, suite: Any, *, shard: tuple[int, int],
                 console: Any) -> tuple[list[Any], Any, dict[str, Any], dict[str, str], dict[str, str]]:
    """Load the plan's tasks and keep shard K of N: ``(cells, shard plan or None, loaded, missing, broken)``.
    Sharded, every task of the whole plan is read: the shards are balanced by the cells' work
    (:mod:`bench.shards`), which needs them all."""
    from bench.errors import ConfigError
    from bench.shards import ShardPlan

    loaded, missing, broken = load_cell_tasks(cells, args)
    k, n = shard
    if args.require_data and missing:
        raise ConfigError(f"--require-data: no data for {', '.join(missing)}; nothing was run")
    if n == 1:
        return cells, None, loaded, missing, broken
    plan = ShardPlan.weigh(cells, loaded, n=n, splits=suite.eval_splits)
    mine = plan.cells(cells, k)
    tasks = {c.task for c in mine}
    elsewhere = sorted(t for t in missing if t not in tasks)
    if elsewhere:
        console.print(f"shard plan: no data here for {', '.join(elsewhere)} (other shards' cells), so they are "
                      "weighed without it; a node that has it splits the plan differently: give every node the "
                      "same data (--require-data checks)", soft_wrap=True, highlight=False)
    return (mine, plan, {t: d for t, d in loaded.items() if t in tasks},
            {t: w for t, w in missing.items() if t in tasks}, {t: e for t, e in broken.items() if t in tasks})


def _run(args: argparse.Namespace, suite: Any, cells: list[Any], *, shard: tuple[int, int], run_log: Any,
         rank: int, console: Any) -> int:
    from bench.catalog import load_catalog
    from bench.cli_console import make_display
    from bench.cli_runfiles import preflight_writable, results_lock
    from bench.cli_transfer import TransferRun
    from bench.executors import make_executor
    from bench.lognoise import drop_library_noise
    from bench.plan import check_train_sizes, language_mismatches, suite_file
    from bench.runner import RunConfig, run_cells, run_info

    k, n = shard
    executor = make_executor(args.executor, log_dir=run_log.log_dir, retries=args.retries,  # no Ray extra: fails
                             ray_address=args.ray_address,  # here, before any work
                             models_stay_on_workers=args.models_stay_on_workers or None,
                             ray_wait_deadline=args.ray_wait_deadline)
    config = RunConfig(
        results_dir=args.results_dir, models_dir=args.models_dir, data_dir=args.data_dir, device=args.device,
        force=args.force, allow_hub=not args.no_hub, bootstrap_resamples=args.bootstrap,
        task_files=tuple(args.task_file),
        run_info=run_info(argv=args.argv, suite=suite, suite_file=suite_file(args.suite), shard=f"{k}/{n}",
                          data_dir=args.data_dir),
    )
    catalog = load_catalog(args.task_file)
    cells, shards, loaded, missing, broken = select_shard(cells, args, suite, shard=shard, console=console)
    transfers = TransferRun.plan(suite, cells, catalog=catalog)  # unknown tasks (did-you-mean), transfer types: fail here
    scored = [*cells, *transfers.cells]  # a transfer cell's model tags its eval task
    for line in language_mismatches(scored, {c.task: catalog.get(c.task).language for c in scored}):
        log.warning("%s", line)
    for task, where in missing.items():
        console.print(f"{task}: no data {where} — see README#data; its cells are skipped", soft_wrap=True)
    check_train_sizes(cells, loaded)
    transfers.load(args, loaded=loaded, missing=missing, console=console)
    if args.dry_run:
        for line in shards.table(k) if shards else ():
            console.print(line, soft_wrap=True, highlight=False)
        return dry_run(cells, suite, config, loaded=loaded, missing=missing, broken=broken, shard=f"{k}/{n}",
                       threads=getattr(executor, "estimate_threads", None)) or transfers.dry_run(config)
    cells = [c for c in cells if c.task not in missing]

    preflight_systems(cells)
    preflight_writable({"results dir": args.results_dir, "models dir": args.models_dir,
                        "log file folder": run_log.log_file.parent})
    lock = results_lock(args.results_dir) if rank == 0 and not args.no_lock else None  # other ranks write nothing
    _log_to_file(run_log.log_file)
    drop_library_noise()
    log.info("suite %s: %d cells (shard %d/%d), %s executor; log %s", suite.name, len(cells), k, n, executor.name,
             run_log.log_file)
    if shards:
        log.info("%s", shards.line(k))
    try:
        with make_display(console, f"suite {suite.name}", total=len(cells), every=args.progress_every) as display:
            outcome = run_cells(cells, suite, config, progress=display.progress, executor=executor,
                                load=lambda t: loaded[t] if t in loaded else _load_one(t, args))
            transfers.run(config, executor=executor, outcome=outcome, progress=display.progress)
    finally:
        if lock is not None:
            lock.close()

    show_outcome(console, outcome, config.results_dir, splits=suite.eval_splits)
    return 1 if outcome.failed else 0


def show_outcome(console: Any, outcome: Any, results_dir: Path, *, splits: tuple[str, ...]) -> None:
    """What a run did: counts, the table of what it produced, notes, and each failure with its log's tail."""
    from rich.markup import escape

    console.print(
        f"done {len(outcome.done)}, already finished {len(outcome.skipped)}, failed {len(outcome.failed)}; "
        f"{len(outcome.written)} result file(s) written under {results_dir}"
    )
    if outcome.written:
        console.print(produced_table(outcome.written, splits=splits))
        console.print(f"report: {report_hint(results_dir)}", soft_wrap=True, highlight=False)
    for note in outcome.notes:
        console.print(note, soft_wrap=True, highlight=False)
    for label, why in outcome.failed:
        console.print(f"[red]failed[/red] {escape(label)}: {escape(why)}", soft_wrap=True, highlight=False)
        tail = outcome.log_tails.get(label)
        if tail:
            console.print("\n".join(f"    {line}" for line in tail.splitlines()), style="dim", soft_wrap=True,
                          highlight=False, markup=False)
        if label in outcome.logs:
            console.print(f"    log: {outcome.logs[label]}", style="dim", soft_wrap=True, highlight=False)


def dry_run(cells: list[Any], suite: Any, config: Any, *, loaded: dict[str, Any], missing: dict[str, str],
            broken: dict[str, str], shard: str, threads: Callable[[Any], int | None] | None = None) -> int:
    """``run --dry-run``: the plan as a table (finished or to run, with each cell's duration estimate: the
    run makes the same one, by the same function, with the threads the executor gives the cell)."""
    from rich.table import Table

    from bench.cell_estimate import estimate_cell
    from bench.cli_console import make_console
    from bench.estimate import format_duration
    from bench.runner import is_finished

    console = make_console(stderr=True)
    table = Table(title=f"suite {suite.name} · shard {shard} · {len(cells)} cells")
    sized = any(c.train_size is not None for c in cells)
    for col in ("task", "system", *(("train size",) if sized else ()), "seed", "config", "status", "estimate"):
        table.add_column(col)
    total, estimated, to_run = 0.0, 0, 0
    for c in cells:
        guess = "–"
        if c.task in loaded:
            finished = is_finished(c, loaded[c.task], config, suite.eval_splits)
            status = "finished" if finished else "to run"
            found = None if finished else estimate_cell(c, loaded[c.task], config, splits=suite.eval_splits,
                                                        threads=threads(c) if threads else None)
            to_run += not finished
            if found is not None:
                guess, total, estimated = format_duration(found["seconds"]), total + found["seconds"], estimated + 1
        else:
            status = "no data" if c.task in missing else f"error: {broken[c.task][:60]}"
        size = (("all" if c.train_size is None else str(c.train_size)),) if sized else ()
        table.add_row(c.task, c.system, *size, str(c.seed), c.config_hash(), status, guess)
    make_console().print(table)
    if estimated:
        console.print(f"estimated {format_duration(total)} for the {estimated} of {to_run} cell(s) to run that "
                      "say how long they take (transformers on a CPU; see bench/estimate.py)", highlight=False)
    return 0


def report_hint(results_dir: Path) -> str:
    """Where ``nerbench report`` puts the report of ``results_dir``, and the command that (re)writes it."""
    output = Path(results_dir).parent / "README.md"
    command = "nerbench report" + ("" if Path(results_dir) == Path("results/raw") else f" --results-dir {results_dir}")
    state = "" if output.is_file() else " (not written yet)"
    return f"{output}{state}; update it with `{command}`"


def produced_table(written: list[Path], *, splits: tuple[str, ...]) -> Any:
    """What a run just produced, one row per cell: the main F1 with its 95% CI on the test split (else
    the last split evaluated) and the training time."""
    from rich import box
    from rich.table import Table

    from bench.results import ResultError, read_result, variant_text

    shown = "test" if "test" in splits else splits[-1]
    cells: dict[tuple[str, str, int], dict[str, Any]] = {}
    for path in written:
        try:
            r = read_result(path)
        except ResultError:
            continue
        system = r["system"]["name"] + variant_text(r)  # " (n=100)" for a curve's point, " (from bc5cdr)" out of domain
        row = cells.setdefault((r["task"]["name"], system, r["seed"]), {})
        if r["split"] == shown:
            row["main"] = r["metrics"]["main"]
        row["train"] = (r.get("cost") or {}).get("train_wall_seconds")
    table = Table(title=f"produced by this run ({shown} split)", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("task", "system", "seed"):
        table.add_column(col, no_wrap=True)
    table.add_column("F1 [95% CI]", justify="right", no_wrap=True)
    table.add_column("train", justify="right", no_wrap=True)
    for (task, system, seed), row in sorted(cells.items()):
        table.add_row(task, system, str(seed), _f1_ci(row.get("main")), _duration(row.get("train")))
    return table


def _f1_ci(main: dict[str, Any] | None) -> str:
    if not main or main.get("value") is None:
        return "–"
    ci = f" [{main['ci_low']:.3f}, {main['ci_high']:.3f}]" if main.get("ci_low") is not None else ""
    return f"{main['value']:.3f}{ci}"


def _duration(seconds: float | None) -> str:
    """
    >>> _duration(42.4), _duration(754.0), _duration(None)
    ('42 s', '12.6 min', '–')
    """
    if seconds is None:
        return "–"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
