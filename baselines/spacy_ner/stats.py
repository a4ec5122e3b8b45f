"""What training a spaCy model cost and produced: :class:`EpochStats` per epoch, :class:`TrainStats` in all."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from baselines.crf import PredictStats  # the CRF's record of a prediction's time


@dataclass(frozen=True)
class EpochStats:
    """One epoch: its loss, dev score and time (training and dev scoring apart)."""

    epoch: int
    updates: int
    loss: float
    train_seconds: float
    train_words_per_second: float
    dev_f1: float | None
    dev_seconds: float | None
    best: bool


@dataclass(frozen=True)
class TrainStats:
    """What training cost and produced.

    ``dev_f1`` is the conlleval-compatible entity micro F1 (:func:`bench.metrics.conlleval_f1`, the
    results' main score) of the kept epoch, ``best_epoch``; without dev sentences the last epoch is kept
    and ``dev_f1`` is ``None``. ``peak_rss_bytes`` is this process's lifetime peak (``ru_maxrss``), as
    for the CRF. ``train_cpu_seconds`` is this process's CPU time for the same work.
    """

    train_seconds: float
    train_cpu_seconds: float
    setup_seconds: float
    epochs_run: int
    best_epoch: int
    stopped: str
    updates: int
    train_sentences: int
    train_tokens: int
    empty_train_sentences: int
    entity_types: tuple[str, ...]
    lang: str
    peak_rss_bytes: int
    epochs: tuple[EpochStats, ...] = ()
    dev_f1: float | None = None
    dev_predict: PredictStats | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["entity_types"] = list(self.entity_types)
        d["epochs"] = [asdict(e) for e in self.epochs]
        d["dev_predict"] = self.dev_predict.to_dict() if self.dev_predict is not None else None
        return d

