"""``nerbench rescore``: recompute every metric of saved results from their saved predictions.

For a scorer change or a new metric no cell is trained again: each result's saved word-level
predictions (``<run_id>.predictions.jsonl.gz``) are read back, checked against the result's sha256
and the task data (same fingerprint, same number of sentences and words), scored with this
checkout's scorer, and the result is rewritten with the new metrics, per-unit counts and scorer
version. The system version is kept: predictions made by older system code stay stale. The task's
published reference numbers are written into its ``task`` block as a new run would. A result whose
``metrics`` block is missing is rebuilt the same way (:func:`read_for_rescore`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.data.types import Entity
from bench.errors import NerbenchError
from bench.metrics import N_RESAMPLES
from bench.results import (
    ResultError,
    read_predictions,
    read_result,
    task_references,
    transfer_of,
    validate,
    write_result,
)
from bench.versions import SCORER_VERSION

log = logging.getLogger(__name__)


@dataclass
class RescoreOutcome:
    rescored: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def rescore_result(path: Path, result: dict[str, Any], data: Any, *, n_resamples: int | None = None) -> dict[str, Any]:
    """The result with metrics recomputed from its saved predictions (not written)."""
    from bench.scoring import score_split, train_sentences

    key = result["cell_key"]
    if key.get("data_fingerprint") != data.fingerprint:
        raise ResultError(
            f"{path}: made on other data (fingerprint {str(key.get('data_fingerprint'))[:12]}, the data found now is "
            f"{data.fingerprint[:12]}); it cannot be rescored against this data"
        )
    rows = read_predictions(path, result)
    sentences = data.sentences(result["split"])
    expected = (result.get("data") or {}).get("eval_sentences", len(sentences))
    limited = isinstance(expected, int) and 0 < expected < len(sentences) and \
        ((result.get("data") or {}).get("limits") or {}).get("max_eval_sentences") == expected
    if limited:
        sentences = sentences[:expected]  # the cell scored the split's first max_eval_sentences (e.g. smoke)
    if len(rows) != len(sentences):
        raise ResultError(
            f"{path}: {len(rows)} saved sentences but the {result['split']} split has {len(sentences)}"
            + (f" (the result scored {expected})" if isinstance(expected, int) and expected != len(sentences) else "")
            + "; predictions must cover the whole split the result scored"
        )
    pred: list[list[str]] = []
    spans: list[list[Entity]] | None = [] if rows and "spans" in rows[0] else None
    for i, (row, sent) in enumerate(zip(rows, sentences, strict=True)):
        if row.get("id", i) != i or len(row["tags"]) != len(sent.tokens):
            raise ResultError(
                f"{path}: saved sentence {i} has {len(row['tags'])} tags, the data's sentence {sent.source} has "
                f"{len(sent.tokens)} words"
            )
        pred.append([str(t) for t in row["tags"]])
        if spans is not None:
            spans.append([Entity(e["type"], tuple((int(a), int(b)) for a, b in e["fragments"]))
                          for e in row.get("spans", [])])
    ci = ((result.get("metrics") or {}).get("main") or {}).get("ci") or {}
    resamples = n_resamples or ci.get("resamples") or N_RESAMPLES
    metrics, unit_counts = score_split(data.task, sentences, pred, n_resamples=resamples,
                                       pred_spans=spans, train=_trained_on(path, result, data, train_sentences(data)))
    out = dict(result)
    out.pop("sentence_counts", None)
    previous = key.get("scorer_version")
    out["metrics"] = metrics
    out["unit_counts"] = unit_counts
    out["task"] = {**result["task"], "reference": task_references(data.task)}  # older results have none
    out["cell_key"] = {**key, "scorer_version": SCORER_VERSION}
    out["rescored"] = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "from_scorer_version": previous}
    return out


def _trained_on(path: Path, result: dict[str, Any], data: Any, train: list[Any] | None) -> list[Any] | None:
    """What the system was trained on, for seen/unseen: the train split, or a learning-curve point's
    subset drawn again (and checked against the one the result records)."""
    subset = result.get("train_subset")
    if not subset or train is None:
        return train
    from bench.data.subsets import SUBSET_VERSION, draw_train_subset

    if subset.get("version") != SUBSET_VERSION:
        raise ResultError(f"{path}: its training subset was drawn by subset rule {subset.get('version')!r}, this "
                          f"nerbench draws with rule {SUBSET_VERSION}; run the cell again")
    drawn = draw_train_subset(train, subset["size"], result["seed"], task=data.task.name)
    if drawn.sha256 != subset["sha256"]:
        raise ResultError(f"{path}: the training subset drawn again (sha256 {drawn.sha256[:12]}) is not the one the "
                          f"result records ({str(subset['sha256'])[:12]})")
    return drawn.sentences


def read_for_rescore(path: Path) -> dict[str, Any]:
    """A result file as :func:`bench.results.read_result` reads it, or, when its ``metrics`` block is
    missing (or null), the file with every other part valid: that block is what rescoring rebuilds
    from the saved predictions. Any other problem is the reader's own error."""
    try:
        return read_result(path)
    except ResultError as exc:
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raise exc from None
        if not isinstance(raw, dict) or raw.get("metrics") is not None:
            raise
        # everything but the metrics: checked with a stand-in block that rescore_result replaces
        validate({**raw, "metrics": {"main": {"value": 0.0}}}, where=str(path))
        log.info("%s: no metrics block; rebuilding it from the saved predictions", path)
        return {k: v for k, v in raw.items() if k != "metrics"}


def rescore_dir(results_dir: Path, *, data_dir: str | None = None, allow_hub: bool = True,
                task_files: tuple[Path, ...] = ()) -> RescoreOutcome:
    """Rescore every result under ``results_dir`` in place; a file that cannot be rescored is reported, the rest go on."""
    from bench.catalog import resolve_task
    from bench.data.load import load_task_data
    from bench.transfer_run import rescore_transfer

    cache: dict[str, Any] = {}
    out = RescoreOutcome()

    def load(name: str) -> Any:
        if name not in cache:
            cache[name] = load_task_data(resolve_task(name, task_files), data_dir=data_dir, allow_hub=allow_hub)
        return cache[name]

    for path in sorted(Path(results_dir).rglob("*.json")):
        try:
            result = read_for_rescore(path)
            if transfer_of(result) is not None:  # out of domain: both splits, under the mapping it records
                new = rescore_transfer(path, result, load)
            else:
                new = rescore_result(path, result, load(result["task"]["name"]))
            write_result(results_dir, new)
            out.rescored.append(path)
        except NerbenchError as exc:
            log.error("%s", exc)
            out.failed.append((path, str(exc)))
    return out
