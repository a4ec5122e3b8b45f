"""``nerbench score``: score predictions of a system nerbench did not train into the common result schema.

The predictions are read by :mod:`bench.external`, lined up with the task's gold split and scored by
:func:`bench.writing.score_and_write`, like every trained system: the result (system kind
``external``, seed 0) lands in ``<results-dir>/<task>/<system>/seed0-<split>.json`` with the saved
word-level predictions beside it, so ``nerbench report`` puts it in the leaderboards next to the
CRF and the transformers.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SYSTEM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
"""A system name is a folder name in the results tree: letters, digits, ``.``, ``_``, ``+``, ``-``."""
EXTERNAL_SEED = 0
MAX_RESAMPLES = 1_000_000


def resamples(text: str) -> int:
    """``--bootstrap N`` (``score`` and ``run``): a whole number of resamples from 1 to
    :data:`MAX_RESAMPLES`, else argparse's one-line usage error (exit status 2).

    >>> resamples("1000")
    1000
    """
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of bootstrap resamples, got {text!r}") from None
    if not 1 <= n <= MAX_RESAMPLES:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_RESAMPLES} bootstrap resamples, got {n}")
    return n


def add_commands(sub: argparse._SubParsersAction, common: Callable[[argparse.ArgumentParser], None]) -> None:
    from bench.external import FORMATS, SCHEMES

    p = sub.add_parser(
        "score", help="score predictions of a system nerbench did not train (CoNLL, BRAT, JSONL) into a result",
        description="Score external predictions against a task's gold split and write a result (system kind "
                    "'external', seed 0) that the report shows beside the CRF and the transformers.",
    )
    common(p)
    p.add_argument("--task", required=True, help="task name, or path to a task TOML")
    p.add_argument("--split", default="test", help="the split the predictions are for (default: test)")
    p.add_argument("--predictions", required=True, type=Path, metavar="PATH",
                   help="CoNLL file, BRAT folder (or .ann file) or JSONL file")
    p.add_argument("--system", required=True, metavar="NAME", help="the system's name in results and leaderboards")
    p.add_argument("--format", choices=FORMATS,
                   help="default: brat for a folder or .ann, jsonl for .jsonl/.json or a first line starting "
                        "with '{', else conll")
    p.add_argument("--scheme", default="auto", choices=SCHEMES,
                   help="tag scheme of CoNLL predictions (default: auto, from the tags; recorded in the result)")
    p.add_argument("--exact-tokens", action="store_true",
                   help="CoNLL: a token that differs from the gold is an error (default: counted substitution)")
    p.add_argument("--results-dir", type=Path, default=Path("results/raw"), help="where result JSON goes")
    p.add_argument("--no-hub", action="store_true", help="never fall back to the Hugging Face Hub")
    p.add_argument("--bootstrap", type=resamples, default=1000, help="bootstrap resamples for the 95%% CI")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_score)


def check_system_name(name: str) -> str:
    """``name`` if it can be a results folder, else a :class:`ConfigError`.

    >>> check_system_name("uh_ritual")
    'uh_ritual'
    """
    from bench.errors import ConfigError

    if not SYSTEM_NAME.fullmatch(name):
        raise ConfigError(
            f"--system {name!r}: a system name is a folder name: letters, digits, '.', '_', '+' and '-', "
            "starting with a letter or digit"
        )
    return name


def check_not_trained(results_dir: Path, task: str, system: str) -> None:
    """Refuse a name whose results folder holds results of a trained system (they would mix)."""
    from bench.errors import ConfigError
    from bench.results import ResultError, read_result

    folder = Path(results_dir) / task / system
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            kind = read_result(path)["system"].get("kind")
        except ResultError:
            continue
        if kind != "external":
            raise ConfigError(
                f"{path} holds a result of the {kind} system '{system}'; give the external system another --system name"
            )


def cmd_score(args: argparse.Namespace) -> int:
    from bench import env as envmod
    from bench.catalog import resolve_task
    from bench.data.load import load_task_data
    from bench.plan import external_cell_key
    from bench.runner import run_info
    from bench.systems import get_kind
    from bench.writing import score_and_write

    started = datetime.now(UTC).isoformat(timespec="seconds")
    check_system_name(args.system)
    task = resolve_task(args.task, args.task_file)
    check_not_trained(args.results_dir, task.name, args.system)
    data = load_task_data(task, data_dir=args.data_dir, allow_hub=not args.no_hub)
    sentences = data.sentences(args.split)
    preds = get_kind("external").read(args.predictions, data, args.split, format=args.format,
                                      exact_tokens=args.exact_tokens, scheme=args.scheme)
    system = {
        "name": args.system, "kind": "external", "model": None,
        "source": {"file": preds.path.name, "sha256": preds.sha256}, "format": preds.format,
    }
    path = score_and_write(
        data, args.split, sentences, preds.tags,
        system=system, key=external_cell_key(data, system=args.system, predictions_sha256=preds.sha256),
        seed=EXTERNAL_SEED, results_dir=args.results_dir, pred_spans=preds.spans, prediction=preds.describe(),
        started=started, git=envmod.git_state(),
        run=run_info(argv=getattr(args, "argv", []), suite=None, suite_file=None, shard="1/1",
                     data_dir=args.data_dir),
        n_resamples=args.bootstrap,
    )
    summary = _summary(path, preds.notes)
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return 0
    line = (f"{summary['task']} · {summary['system']} (external, {summary['format']}) · {summary['split']}: "
            f"conlleval F1 {summary['conlleval_f1']:.4f}, strict F1 {summary['strict_f1']:.4f}")
    if summary.get("official_f1") is not None:
        line += f", official F1 {summary['official_f1']:.4f}"
    print(line)
    for note in preds.notes:
        print(f"  note: {note}")
    print(f"written {path}")
    return 0


def _summary(path: Path, notes: list[str]) -> dict[str, Any]:
    from bench.results import read_result

    r = read_result(path)
    m = r["metrics"]
    spans = (m.get("spans") or {}).get("official")
    return {
        "task": r["task"]["name"], "system": r["system"]["name"], "split": r["split"],
        "format": r["system"].get("format"), "result": str(path),
        "conlleval_f1": m["main"]["value"], "strict_f1": m["strict"]["micro"]["f1"],
        "official_f1": spans["f1"] if spans else None,
        "official_counts": {k: spans[k] for k in ("correct", "incorrect", "partial", "spurious", "missing")}
        if spans else None,
        "notes": notes,
    }
