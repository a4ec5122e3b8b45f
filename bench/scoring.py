"""Score one split's word-level predictions for a task: the glue between tasks and ``bench.metrics``.

Every system (CRF, transformers) goes through here, so they are scored identically. Span-scored
tasks (BRAT) are also scored on their *original* character spans: the predicted word tags are turned
back into character spans and compared with what the annotators wrote, discontinuous entities
included.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench import metrics
from bench.data.types import Entity, Sentence
from bench.spec import TaskSpec


def predicted_entities(sentence: Sentence, tags: Sequence[str]) -> list[Entity]:
    """Contiguous character-offset entities from word tags (needs ``sentence.offsets``)."""
    from bench.data.brat import bio_to_entities

    assert sentence.offsets is not None and sentence.text is not None
    return bio_to_entities(sentence.offsets, tags, sentence.text)


def score_split(
    task: TaskSpec,
    sentences: Sequence[Sentence],
    pred: Sequence[Sequence[str]],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, Any], list[list[int]]]:
    """All metrics for one split plus per-sentence strict ``[tp, fp, fn]`` counts.

    The per-sentence counts are stored in the result file so the report can run paired bootstrap
    tests between systems without keeping predictions.
    """
    gold = [list(s.tags) for s in sentences]
    pred = [list(p) for p in pred]
    out: dict[str, Any] = metrics.score_tags(gold, pred)
    low, high = metrics.bootstrap_ci(gold, pred, n_resamples=n_resamples, seed=seed)
    out["main"] = {
        **out["main"],
        "ci_low": low,
        "ci_high": high,
        "ci": {"method": "bootstrap over sentences", "confidence": 0.95, "resamples": n_resamples, "seed": seed},
    }
    if task.span_scoring and sentences and sentences[0].entities is not None:
        gold_spans = [list(s.entities or ()) for s in sentences]
        pred_spans = [predicted_entities(s, p) for s, p in zip(sentences, pred, strict=False)]
        out["spans"] = metrics.score_spans(gold_spans, pred_spans, texts=[s.text for s in sentences])
        out["spans"]["rule"] = task.span_scoring
    counts = [list(c) for c in metrics.sentence_counts(gold, pred)]
    return out, counts
