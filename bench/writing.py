"""Scoring one split's predictions and writing its result beside its saved predictions
(:func:`score_and_write`): every system, trained here or external, goes through it, so all results have
one shape."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.data.load import TaskData
from bench.data.types import Sentence
from bench.results import prediction_rows, predictions_path, task_references, write_predictions, write_result
from bench.spec import TaskSpec


def score_and_write(
    data: TaskData,
    split: str,
    sentences: list,
    pred: list[list[str]],
    *,
    system: dict[str, Any],
    key: dict[str, Any],
    seed: int,
    results_dir: Path,
    scores: list[list[float]] | None = None,
    pred_spans: list | None = None,
    training: dict[str, Any] | None = None,
    cost: dict[str, Any] | None = None,
    prediction: dict[str, Any] | None = None,
    started: str | None = None,
    git: dict[str, Any] | None = None,
    run: dict[str, Any] | None = None,
    n_resamples: int = 1000,
    extra_data: dict[str, Any] | None = None,
    train_subset: dict[str, Any] | None = None,
    seen_train: list[Sentence] | None = None,
) -> Path:
    """Score one split's predictions and write its result plus saved predictions; every system (trained
    here or external) goes through this, so all results have one shape. A learning-curve point gives
    its ``train_subset`` block, and the subset as ``seen_train`` (seen/unseen is relative to what the
    system was trained on)."""
    from bench import env as envmod
    from bench.scoring import score_split, train_sentences

    metrics, unit_counts = score_split(data.task, sentences, pred, n_resamples=n_resamples, pred_spans=pred_spans,
                                       train=seen_train if seen_train is not None else train_sentences(data))
    rows = prediction_rows(sentences, pred, scores=scores, pred_spans=pred_spans)
    size = train_subset["size"] if train_subset else None
    ppath = predictions_path(results_dir, data.task.name, system["name"], seed, split, train_size=size)
    pref = write_predictions(ppath, rows)
    n_tokens = sum(len(s.tokens) for s in sentences)
    result = {
        "task": task_block(data, split),
        "system": system,
        "seed": seed,
        "split": split,
        "cell_key": key,
        "data": {"eval_sentences": len(sentences), "eval_tokens": n_tokens, **(extra_data or {})},
        "metrics": metrics,
        "unit_counts": unit_counts,
        "predictions": {**pref, "has_scores": scores is not None, "has_spans": pred_spans is not None},
        "training": training or {},
        "prediction": prediction or {},
        "cost": cost or {},
        "environment": envmod.environment(gpu=(cost or {}).get("gpu"), git=git),
        "run": run or {},
        "timestamps": {"started": started, "finished": datetime.now(UTC).isoformat(timespec="seconds")},
        "data_warnings": data.warnings,
    }
    if train_subset is not None:
        result["train_subset"] = train_subset
    return write_result(results_dir, result)


def task_block(data: TaskData, split: str) -> dict[str, Any]:
    """A result's ``task`` block: the task spec's identity, the data's fingerprints and provenance, and its
    published reference numbers (also the block of an out-of-domain result, :mod:`bench.transfer_run`)."""
    t: TaskSpec = data.task
    return {
        "name": t.name, "version": t.version, "language": t.language, "domain": t.domain,
        "entity_types": list(t.entity_types), "fingerprint": data.fingerprint,
        "split_fingerprint": data.split_fingerprints.get(split), "source": data.source,
        "provenance": getattr(data, "provenance", None), "span_scoring": t.span_scoring,
        "reference": task_references(t),
    }
