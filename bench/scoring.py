"""Score one split's word-level predictions for a task: the glue between tasks and ``bench.metrics``.

Every system (CRF, transformers, external predictions) goes through here, so they are scored
identically. Span-scored tasks (BRAT) are also scored on their *original* character spans: the
predicted word tags are turned back into character spans (or an external system's own spans are
used) and compared with what the annotators wrote, discontinuous entities included.

Uncertainty is computed over *evaluation units*: documents where the task knows them (every
sentence has a ``doc_id``: ``conll2003_docs``, BC5CDR and ADE by PMID), sentences otherwise.
Sentences of one document are not independent draws, so resampling them one by one would make
the intervals too narrow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from bench import analysis, metrics
from bench.data.bioview import bio_to_entities
from bench.data.types import Entity, Sentence
from bench.spec import TaskSpec

Unit = Literal["document", "sentence"]


def predicted_entities(sentence: Sentence, tags: Sequence[str]) -> list[Entity]:
    """Contiguous character-offset entities from word tags (needs ``sentence.offsets``)."""
    if sentence.offsets is None or sentence.text is None:
        raise ValueError(f"{sentence.source}: no text/offsets, so tags cannot be turned into character spans")
    return bio_to_entities(sentence.offsets, tags, sentence.text)


def evaluation_units(sentences: Sequence[Sentence]) -> tuple[Unit, list[str]]:
    """The resampling unit of a split and each sentence's unit id.

    ``document`` (id = ``doc_id``) when every sentence has a non-empty ``doc_id``, else ``sentence``
    (id = the sentence's index in the split, as a string: stable across systems and machines,
    unlike a source path).

    >>> evaluation_units([Sentence(("a",), ("O",), doc_id="d1"), Sentence(("b",), ("O",), doc_id="d1")])
    ('document', ['d1', 'd1'])
    >>> evaluation_units([Sentence(("a",), ("O",), doc_id="d1"), Sentence(("b",), ("O",))])
    ('sentence', ['0', '1'])
    """
    if sentences and all(s.doc_id for s in sentences):
        return "document", [str(s.doc_id) for s in sentences]
    return "sentence", [str(i) for i in range(len(sentences))]


def train_sentences(data: Any) -> list[Sentence] | None:
    """The train split of a :class:`bench.data.load.TaskData` (for seen/unseen), or ``None`` when it has none."""
    splits = getattr(data, "splits", None) or {}
    return splits["train"].sentences if "train" in splits else None


def score_split(
    task: TaskSpec,
    sentences: Sequence[Sentence],
    pred: Sequence[Sequence[str]],
    *,
    n_resamples: int = metrics.N_RESAMPLES,
    seed: int = metrics.BOOTSTRAP_SEED,
    pred_spans: Sequence[Sequence[Entity]] | None = None,
    train: Sequence[Sentence] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """All metrics for one split, and per-unit ``[tp, fp, fn]`` counts in both modes.

    Returns ``(metrics, unit_counts)``. ``metrics`` is :func:`bench.metrics.score_tags` with
    ``main`` extended by the 95% percentile bootstrap CI over units (``ci_low``, ``ci_high``,
    ``ci``), plus ``spans`` for span-scored tasks. ``unit_counts`` is ``{"unit": "document" |
    "sentence", "ids": [...], "conlleval": [[tp, fp, fn], ...], "strict": [[tp, fp, fn], ...]}``,
    one row per unit in first-appearance order; the result file stores it so the report can compute
    seed-averaged CIs and paired tests without the predictions.

    ``pred_spans`` (one entity list per sentence) are an external system's own character spans:
    when given, the span scores use them instead of spans derived from ``pred``. They need a
    span-scored task.

    ``metrics["analysis"]`` is :func:`bench.analysis.analyse` of the split (error types, entity
    lengths, type confusion); its seen/unseen part needs the task's ``train`` sentences (their gold
    entity surface forms) and is left out without them.
    """
    if len(pred) != len(sentences):
        raise ValueError(f"{len(sentences)} sentences but {len(pred)} predictions")
    gold = [list(s.tags) for s in sentences]
    pred = [list(p) for p in pred]
    out: dict[str, Any] = metrics.score_tags(gold, pred)
    forms = None if train is None else analysis.train_forms(train)
    out["analysis"] = analysis.analyse([s.tokens for s in sentences], gold, pred, forms=forms)

    unit, sentence_ids = evaluation_units(sentences)
    counts: dict[str, Any] = {"unit": unit}
    for mode in metrics.MODES:
        ids, rows = metrics.sum_by_unit(metrics.sentence_counts(gold, pred, mode=mode), sentence_ids)
        counts["ids"] = ids
        counts[mode] = rows
    low, high = metrics.bootstrap_ci_counts(counts["conlleval"], n_resamples=n_resamples, seed=seed)
    out["main"] = {
        **out["main"],
        "ci_low": low,
        "ci_high": high,
        "ci": {"method": "percentile bootstrap", "unit": unit, "units": len(counts["ids"]), "confidence": 0.95,
               "resamples": n_resamples, "seed": seed},
    }

    has_gold_spans = bool(sentences) and all(s.entities is not None for s in sentences)
    if pred_spans is not None:
        if not (task.span_scoring and has_gold_spans):
            raise ValueError(f"task {task.name}: predicted spans were given, but the task is not span-scored "
                             "or its sentences carry no gold spans")
        if len(pred_spans) != len(sentences):
            raise ValueError(f"{len(sentences)} sentences but {len(pred_spans)} predicted span lists")
    if task.span_scoring and has_gold_spans:
        gold_spans = [list(s.entities or ()) for s in sentences]
        if pred_spans is not None:
            spans, source = [list(p) for p in pred_spans], "predicted spans (external)"
        else:
            spans = [predicted_entities(s, p) for s, p in zip(sentences, pred, strict=True)]
            source = "predicted tags (conlleval chunks -> character spans)"
        out["spans"] = metrics.score_spans(gold_spans, spans, texts=[s.text for s in sentences])
        out["spans"]["rule"] = task.span_scoring
        out["spans"]["source"] = source
    return out, counts
