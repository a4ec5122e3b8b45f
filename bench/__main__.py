"""Command line: ``nerbench`` / ``python -m bench``.

The CLI owns the console (rich tables, progress); library modules only log. Every
:class:`bench.errors.NerbenchError` ends as one ``error:`` line and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from bench.errors import NerbenchError

log = logging.getLogger("bench")
MAX_NOTES = 4


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="folder holding the task data folders (default: $NERBENCH_DATA_DIR, then the hub)")
    p.add_argument(
        "--task-file", action="append", default=[], type=Path, metavar="PATH",
        help="extra task TOML file or folder of them (repeatable)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nerbench", description=__doc__.splitlines()[0])
    from bench import __version__

    parser.add_argument("--version", action="version", version=f"nerbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tasks", help="list tasks with per-split statistics and data fingerprints")
    _common(p)
    p.add_argument("--task", action="append", default=[], help="only these tasks (name or TOML path)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--no-hub", action="store_true", help="never fall back to the Hugging Face Hub")
    p.set_defaults(func=cmd_tasks)

    from bench import cli_results, cli_run, cli_score

    cli_run.add_commands(sub, _common)
    cli_results.add_commands(sub, _common)
    cli_score.add_commands(sub, _common)
    return parser


def cmd_tasks(args: argparse.Namespace) -> int:
    from rich.table import Table

    from bench.catalog import load_catalog, resolve_task
    from bench.cli_console import data_warnings_shown_here, make_console
    from bench.data.load import load_task_data, split_stats

    catalog = load_catalog(args.task_file)
    names = args.task or list(catalog)
    rows = []
    failures = 0
    for name in names:
        task = resolve_task(name, args.task_file)
        entry: dict[str, object] = {
            "task": task.name, "version": task.version, "language": task.language, "domain": task.domain,
            "entity_types": list(task.entity_types), "scheme": task.scheme,
        }
        try:
            with data_warnings_shown_here() as printed:  # under the task's table, not also above it
                data = load_task_data(task, data_dir=args.data_dir, allow_hub=not args.no_hub)
                printed.update(() if args.json else data.warnings)
        except NerbenchError as exc:
            failures += 1
            entry["error"] = str(exc)
            rows.append(entry)
            continue
        entry.update(
            source=data.source, fingerprint=data.fingerprint, warnings=data.warnings,
            splits={n: {**split_stats(sd), "fingerprint": data.split_fingerprints[n], "notes": sd.notes, "stats": sd.stats}
                    for n, sd in data.splits.items()},
        )
        rows.append(entry)

    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
        return 1 if failures else 0
    console = make_console()
    for entry in rows:
        title = f"{entry['task']} v{entry['version']} — {entry['language']}, {entry['domain']}"
        if "error" in entry:
            console.print(f"[bold]{title}[/bold]\n[red]error:[/red] {entry['error']}\n")
            continue
        types = entry["entity_types"]
        table = Table(title=title, caption=f"source {entry['source']} · fingerprint {str(entry['fingerprint'])[:12]}")
        for col in ["split", "sentences", "tokens", "entities", *types, "scheme", "sha256"]:
            table.add_column(col, justify="right" if col not in ("split", "scheme", "sha256") else "left")
        for split, st in entry["splits"].items():  # type: ignore[union-attr]
            per = st["original_per_type"] or st["per_type"]
            n_ent = st["original_entities"] if st["original_entities"] is not None else st["entities"]
            table.add_row(
                split, str(st["sentences"]), str(st["tokens"]), str(n_ent),
                *[str(per.get(t, 0)) for t in types], entry["scheme"], st["fingerprint"][:12],
            )
        console.print(table)
        for split, st in entry["splits"].items():  # type: ignore[union-attr]
            notes = [n if len(n) <= 160 else n[:157] + "…" for n in st["notes"]]
            for note in notes[:MAX_NOTES]:
                console.print(f"  [dim]{split}: {note}[/dim]", highlight=False)
            if len(notes) > MAX_NOTES:
                console.print(f"  [dim]{split}: … {len(notes) - MAX_NOTES} more note(s): see --json[/dim]")
        for w in entry["warnings"]:  # type: ignore[union-attr]
            console.print(f"  [yellow]warning:[/yellow] {w}")
        console.print()
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    from bench.cli_console import DataWarningsOnce

    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    # The console shows warnings (everything with -v); log files attached by `run` get INFO.
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    console.addFilter(DataWarningsOnce())  # a repaired tag is said once per command, however often it is read
    root = logging.getLogger()
    before = list(root.handlers)
    root.addHandler(console)
    root.setLevel(logging.DEBUG if getattr(args, "verbose", False) else logging.INFO)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules or args.command in ("run", "predict"):
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # the CLI draws its own progress
        except ImportError:
            pass
    try:
        return int(args.func(args) or 0)
    except NerbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished cells are saved; run the same command again to resume", file=sys.stderr)
        return 130
    finally:  # this command's handlers (the console, a run's log file) end with it, also when called again
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
            handler.close()


if __name__ == "__main__":
    sys.exit(main())
