"""Sub-commands that run and read benchmarks: run, report, compare, predict."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("bench")


def add_commands(sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("run", help="run a suite (tasks x systems x seeds), skipping finished cells")
    common(p)
    p.add_argument("--suite", default="default", help="suite name (tasks/suites/NAME.toml) or path to a suite TOML")
    p.add_argument("--task", action="append", default=[], help="only this task (repeatable)")
    p.add_argument("--system", action="append", default=[], help="only this system (repeatable)")
    p.add_argument("--seeds", help="comma-separated seeds instead of the suite's, e.g. 1,2,3")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where transformers train")
    p.add_argument("--dry-run", action="store_true", help="print the cells and whether each is finished; run nothing")
    p.add_argument("--force", action="store_true", help="re-run finished cells")
    p.add_argument("--shard", default="1/1", help="K/N: run only the K-th of N deterministic slices of the matrix")
    p.add_argument("--results-dir", type=Path, default=Path("results/raw"), help="where result JSON goes")
    p.add_argument("--models-dir", type=Path, default=Path("models"), help="where trained models go")
    p.add_argument("--log-file", type=Path, help="log file (default: runs/<suite>-<time>.log)")
    p.add_argument("--no-hub", action="store_true", help="never fall back to the Hugging Face Hub")
    p.add_argument("--require-data", action="store_true",
                   help="fail when a task has no data (default: skip its cells with one line each)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CI")
    p.set_defaults(func=cmd_run)

    add_compare(sub)
    add_report(sub)
    add_predict(sub)
    add_rescore(sub, common)


def _log_to_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)


def preflight_models(cells: list[Any]) -> None:
    """Fail before any cell runs when a transformer's weights cannot be found (e.g. hub ids offline)."""
    from bench.errors import ConfigError
    from bench.models import load_config, resolve_model

    problems = []
    for model in sorted({c.spec.model for c in cells if c.spec.kind == "transformer" and c.spec.model}):
        try:
            load_config(resolve_model(model))
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError(
            "model weights not available, nothing was run:\n  " + "\n  ".join(problems)
            + "\n(give a local Hugging Face directory as the system's model, or run with hub access; "
            "--system selects the systems that are available)"
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
    return seeds


def suite_for_task_files(suite: Any, task_files: list[Path], *, selected: list[str], console: Any) -> Any:
    """A task given only by ``--task-file`` runs with the suite's systems when the suite does not name it."""
    import dataclasses

    from bench.catalog import load_catalog

    if not task_files:
        return suite
    shipped = set(load_catalog([]))
    extra = [n for n in load_catalog(task_files) if n not in shipped and n not in suite.tasks]
    if selected:
        extra = [n for n in extra if n in selected]
    if not extra or any(t in suite.tasks for t in selected):
        return suite
    console.print(f"task file: running {', '.join(extra)} with suite {suite.name}'s systems "
                  f"({', '.join(suite.systems)}); --system selects among them")
    return dataclasses.replace(suite, tasks=tuple(extra), task_systems={})


def preflight_writable(locations: dict[str, Path]) -> None:
    """Fail before any cell trains when an output folder cannot be written (read-only, not a folder)."""
    import tempfile

    from bench.errors import ConfigError

    for what, folder in locations.items():
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise ConfigError(f"{what} {folder} is not writable ({exc.strerror or exc}); nothing was done") from None


class _Lock:
    def __init__(self, fh: Any) -> None:
        self.fh = fh

    def close(self) -> None:
        self.fh.close()


def results_lock(results_dir: Path) -> _Lock:
    """One ``nerbench run`` per results dir: a second one exits with a clear message instead of running
    cells twice. The lock is an OS file lock, so a killed run never leaves it held."""
    import fcntl
    import os

    from bench.errors import ConfigError

    path = Path(results_dir) / ".nerbench-run.lock"
    fh = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise ConfigError(
            f"{results_dir} is in use by another nerbench run ({holder}); wait for it to finish, or give this "
            "run another --results-dir"
        ) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}\n")
    fh.flush()
    return _Lock(fh)


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
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.table import Table

    from bench.catalog import load_catalog
    from bench.errors import ConfigError
    from bench.runner import (
        RunConfig,
        find_suite,
        is_finished,
        parse_shard,
        plan,
        run_cells,
        run_info,
        shard_cells,
        suite_file,
    )

    console = Console(stderr=True)
    suite = find_suite(args.suite)
    seeds = parse_seeds(args.seeds) if args.seeds else None
    suite = suite_for_task_files(suite, args.task_file, selected=args.task, console=console)
    cells = plan(suite, tasks=args.task or None, systems=args.system or None, seeds=seeds, device=args.device)
    k, n = parse_shard(args.shard)
    cells = shard_cells(cells, k, n)
    config = RunConfig(
        results_dir=args.results_dir, models_dir=args.models_dir, data_dir=args.data_dir, device=args.device,
        force=args.force, allow_hub=not args.no_hub, bootstrap_resamples=args.bootstrap,
        task_files=tuple(args.task_file),
        run_info=run_info(argv=args.argv, suite=suite, suite_file=suite_file(args.suite), shard=f"{k}/{n}",
                          data_dir=args.data_dir),
    )
    catalog = load_catalog(args.task_file)
    for name in suite.tasks:
        catalog.get(name)  # an unknown task fails the whole run up front, with a did-you-mean
    loaded, missing, broken = load_cell_tasks(cells, args)
    for task, where in missing.items():
        console.print(f"{task}: no data {where} — see README#data; its cells are skipped", soft_wrap=True)
    if missing and args.require_data:
        raise ConfigError(f"--require-data: no data for {', '.join(missing)}; nothing was run")
    if args.dry_run:
        table = Table(title=f"suite {suite.name} · shard {k}/{n} · {len(cells)} cells")
        for col in ("task", "system", "seed", "config", "status"):
            table.add_column(col)
        for c in cells:
            if c.task in loaded:
                status = "finished" if is_finished(c, loaded[c.task], config, suite.eval_splits) else "to run"
            else:
                status = "no data" if c.task in missing else f"error: {broken[c.task][:60]}"
            table.add_row(c.task, c.system, str(c.seed), c.config_hash(), status)
        Console().print(table)
        return 0
    cells = [c for c in cells if c.task not in missing]

    preflight_models(cells)
    log_file = args.log_file or Path("runs") / f"{suite.name}-{datetime.now(UTC):%Y%m%dT%H%M%S}.log"
    preflight_writable({"results dir": args.results_dir, "models dir": args.models_dir,
                        "log file folder": log_file.parent})
    lock = results_lock(args.results_dir)
    _log_to_file(log_file)
    log.info("suite %s: %d cells (shard %d/%d); log %s", suite.name, len(cells), k, n, log_file)

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
    ) as bar:
        matrix = bar.add_task(f"suite {suite.name}", total=len(cells))
        inner = bar.add_task("", total=1, visible=False)

        def progress(event: str, info: dict[str, Any]) -> None:
            if event == "cell":
                bar.update(matrix, completed=info["index"] - 1, description=f"{info['cell']}")
                bar.update(inner, visible=False)
            elif event == "step":
                bar.update(
                    inner, visible=True, total=info["total"], completed=info["step"],
                    description=f"  epoch {info['epoch']} loss {info.get('loss', float('nan')):.3f}",
                )
            elif event == "predict":
                bar.update(inner, visible=True, total=1, completed=0,
                           description=f"  predict {info['split']} ({info['sentences']} sentences)")
            elif event == "message":
                bar.update(inner, visible=True, total=1, completed=0, description=f"  {info['text']}")

        try:
            outcome = run_cells(cells, suite, config, progress=progress,
                                load=lambda t: loaded[t] if t in loaded else _load_one(t, args))
        finally:
            lock.close()
        bar.update(matrix, completed=len(cells), description=f"suite {suite.name}")

    console.print(
        f"done {len(outcome.done)}, already finished {len(outcome.skipped)}, failed {len(outcome.failed)}; "
        f"{len(outcome.written)} result file(s) written under {config.results_dir}"
    )
    for label, why in outcome.failed:
        console.print(f"[red]failed[/red] {label}: {why}")
    return 1 if outcome.failed else 0


def add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare current results with reference results; non-zero exit on regression")
    p.add_argument("--reference", type=Path, default=Path("results/reference"), help="reference result folder")
    p.add_argument("--current", type=Path, default=Path("results/raw"), help="current result folder")
    p.add_argument("--require-match", action="store_true",
                   help="fail (exit 3) when no reference result has a comparable current result")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args: argparse.Namespace) -> int:
    from bench.compare import compare, has_regression, load_dir, render
    from bench.errors import ConfigError

    for d in (args.reference, args.current):
        if not d.is_dir():
            raise ConfigError(f"{d}: result folder not found")
    findings = compare(load_dir(args.reference, on_error=_warn_bad_result),
                       load_dir(args.current, on_error=_warn_bad_result))
    print(render(findings), end="")
    if has_regression(findings):
        return 1
    if args.require_match and not any(f.status in ("ok", "improvement") for f in findings):
        print("no comparable results: the reference and current runs differ in data, task version or config")
        return 3
    return 0


def add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="regenerate the Markdown report and plots from result JSON")
    p.add_argument("--results-dir", type=Path, action="append", default=[],
                   help="result folder(s) to read (repeatable; default results/raw); shards are merged")
    p.add_argument("--output", type=Path,
                   help="Markdown file to write (default: README.md beside the first results dir, e.g. results/README.md)")
    p.add_argument("--plots-dir", type=Path, help="where PNG/SVG plots go (default: plots/ beside the Markdown file)")
    p.add_argument("--no-plots", action="store_true", help="tables only")
    p.add_argument("--json", action="store_true", help="print the leaderboard rows as JSON instead of writing files")
    p.add_argument("--force", action="store_true",
                   help="overwrite an output file that was not generated by nerbench report from the same folders")
    p.add_argument("--task-file", action="append", default=[], type=Path, metavar="PATH",
                   help="extra task TOML files (for their descriptions and reference numbers)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=cmd_report)


REPORT_MARK = "<!-- generated by `nerbench report` from {inputs}; edit the results, not this file -->"


def _warn_bad_result(exc: Exception) -> None:
    import sys

    print(f"warning: skipped {exc}", file=sys.stderr)


def check_report_target(output: Path, inputs: str, *, force: bool) -> None:
    """Refuse to overwrite a file that ``nerbench report`` did not generate from these same inputs."""
    from bench.errors import ConfigError

    if force or not output.exists():
        return
    try:
        first = output.read_text(encoding="utf-8").splitlines()[:1]
    except (OSError, UnicodeDecodeError):
        first = []
    if first != [REPORT_MARK.format(inputs=inputs)]:
        raise ConfigError(
            f"{output} exists and was not generated by `nerbench report` from {inputs}; nothing was written "
            "(choose another --output, or --force to replace it)"
        )


def cmd_report(args: argparse.Namespace) -> int:
    import json
    import os

    from bench import report
    from bench.catalog import load_catalog
    from bench.errors import ConfigError
    from bench.results import atomic_write_text, iter_results

    dirs = args.results_dir or [Path("results/raw")]
    for d in dirs:
        if not d.is_dir():
            raise ConfigError(f"{d}: result folder not found; nothing was written")
    results = [r for d in dirs for _, r in iter_results(d, on_error=_warn_bad_result)]
    if not results:
        raise ConfigError(f"no result files under {', '.join(map(str, dirs))}; nothing was written")
    if args.json:
        print(json.dumps(report.json_rows(results), indent=2, sort_keys=True))
        return 0
    output = args.output or dirs[0].parent / "README.md"
    plots_dir = args.plots_dir or output.parent / "plots"
    inputs = ", ".join(os.path.relpath(d, output.parent) for d in dirs)
    check_report_target(output, inputs, force=args.force)
    preflight_writable({"report folder": output.parent, **({} if args.no_plots else {"plots dir": plots_dir})})
    plots_rel = None
    if not args.no_plots:
        written = report.plot(results, plots_dir)
        plots_rel = os.path.relpath(plots_dir, output.parent)
        log.info("wrote %d plot file(s) under %s", len(written), plots_dir)
    text = report.render(results, catalog=load_catalog(args.task_file), plots=plots_rel)
    atomic_write_text(output, REPORT_MARK.format(inputs=inputs) + "\n" + text)
    print(f"wrote {output} from {len(results)} result file(s)")
    return 0


def add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="tag text with a trained model (transformer or CRF) and print entity spans")
    p.add_argument("--model", required=True, type=Path, help="model folder, e.g. models/conll2003/crf/seed13")
    p.add_argument("--input", default="-", help="input file, or - for standard input (default)")
    p.add_argument("--format", default="text", choices=["text", "jsonl", "conll"],
                   help="input: text (one document per line), jsonl (a 'text' field), conll (word per line)")
    p.add_argument("--pos-column", type=int, help="CoNLL input: column with POS tags (CRFs trained with POS)")
    p.add_argument("--output", default="-", help="output file, or - for standard output")
    p.add_argument("--output-format", choices=["jsonl", "conll"], help="default: conll for conll input, else jsonl")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--decode", choices=["viterbi", "argmax"],
                   help="transformers: how word labels are decoded (default: as the model was trained and selected)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=cmd_predict)


def cmd_predict(args: argparse.Namespace) -> int:
    import sys

    from bench.errors import ConfigError
    from bench.predict import format_output, load_predictor, predict_docs, read_input
    from bench.results import atomic_write_text

    predictor = load_predictor(args.model, device=args.device, batch_size=args.batch_size, decode=args.decode)
    if args.input == "-":
        lines = sys.stdin.buffer.read().splitlines()
    else:
        path = Path(args.input)
        if not path.is_file():
            raise ConfigError(f"{path}: input file not found")
        lines = path.read_bytes().splitlines()
    report = read_input(lines, args.format, pos_column=args.pos_column, source=args.input)
    for line, why in report.skipped:
        print(f"{args.input}:{line}: skipped: {why}", file=sys.stderr)
    tags, ents, seconds = predict_docs(predictor, report.docs)
    out_fmt = args.output_format or ("conll" if args.format == "conll" else "jsonl")
    text = "".join(format_output(report.docs, tags, ents, out_fmt))
    if args.output == "-":
        sys.stdout.write(text)
    else:
        atomic_write_text(Path(args.output), text)
    n = len(report.docs)
    print(
        f"{n} document(s), {sum(len(e) for e in ents)} entities, {len(report.skipped)} line(s) skipped; "
        f"{n / seconds if seconds > 0 else 0:.1f} documents/s ({predictor.kind})",
        file=sys.stderr,
    )
    return 0


def add_rescore(sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("rescore", help="recompute every metric of saved results from their saved predictions (no training)")
    common(p)
    p.add_argument("--results-dir", type=Path, default=Path("results/raw"), help="result folder to rescore in place")
    p.add_argument("--no-hub", action="store_true", help="never fall back to the Hugging Face Hub")
    p.set_defaults(func=cmd_rescore)


def cmd_rescore(args: argparse.Namespace) -> int:
    from bench.errors import ConfigError
    from bench.rescore import rescore_dir

    if not args.results_dir.is_dir():
        raise ConfigError(f"{args.results_dir}: result folder not found")
    outcome = rescore_dir(args.results_dir, data_dir=args.data_dir, allow_hub=not args.no_hub,
                          task_files=tuple(args.task_file))
    for path, why in outcome.failed:
        print(f"{path}: not rescored: {why}")
    print(f"rescored {len(outcome.rescored)} result file(s) under {args.results_dir}; {len(outcome.failed)} failed")
    return 1 if outcome.failed else 0
