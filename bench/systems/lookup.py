"""System kind ``lookup``: the memorised-entities baseline of :mod:`baselines.lookup` behind the one system
interface (train, save, load, predict)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from baselines.lookup import LookupConfig, LookupModel, config_from_params
from bench.data.wordtok import DEFAULT_WORD_TOKENIZER
from bench.systems.base import RUNTIME_PARAMS, SystemKind, TrainedSystem, cpu_cost, timed_cpu, without_runtime
from bench.versions import SYSTEM_VERSIONS


class LookupKind(SystemKind):
    name = "lookup"
    version = SYSTEM_VERSIONS["lookup"]
    """1: unique-class training phrases, longest match (the CoNLL-2003 baseline)."""
    summary = "the CoNLL-2003 baseline: training entities with a unique class, longest match"
    deterministic = True
    work_per_train_word = 1e5
    """A dictionary of phrases: its cell costs what every cell costs (``bench.shards.CELL_OVERHEAD``)."""
    extra_params = dict(RUNTIME_PARAMS)  # accepted for every kind; ignored

    def config_type(self) -> type:
        return LookupConfig

    def resolve_config(self, params: Mapping[str, Any], *, seed: int) -> dict[str, Any]:
        return config_from_params(without_runtime(params), seed=seed).to_dict()

    def train(self, params, *, model, train, dev, data, seed, model_dir, device, progress) -> TrainedSystem:
        from baselines.crf import PredictStats, peak_rss_bytes

        config = config_from_params(without_runtime(params), seed=seed)
        lookup, cpu_seconds = timed_cpu(lambda: LookupModel.train(train, config=config, labels=data.labels))
        lookup.save(model_dir)
        stats = dict(lookup.stats, peak_rss_bytes=peak_rss_bytes())

        def predict(sentences: Sequence[Any]) -> tuple[list[list[str]], dict[str, Any], list[list[float]] | None]:
            t0 = time.perf_counter()
            tags = [lookup.tag(s.tokens) for s in sentences]
            timing = PredictStats(time.perf_counter() - t0, len(sentences),
                                  sum(len(s.tokens) for s in sentences)).to_dict()
            timing["includes"] = "longest-match lookup (no per-word scores)"
            return tags, timing, None

        cost = cpu_cost(stats, cpu_seconds, passes=1, unit="words (one pass)", who="the lookup baseline")
        info = {"config": config.to_dict(), "phrases": stats["phrases"]}
        return TrainedSystem(predict=predict, training=stats, cost=cost, info=info)

    def load(self, model_dir: Path, *, device: str = "auto", batch_size: int = 64,
             decode: str | None = None) -> LookupPredictor:
        return LookupPredictor(model_dir)


class LookupPredictor:
    kind = "lookup"
    word_tokenizer = DEFAULT_WORD_TOKENIZER

    def __init__(self, model_dir: Path) -> None:
        self.model = LookupModel.load(Path(model_dir))
        self.labels = self.model.labels

    def tag(self, docs: Sequence[Sequence[str]], *, pos: Sequence[Sequence[str] | None] | None = None
            ) -> list[tuple[list[str], list[float | None]]]:
        out: list[tuple[list[str], list[float | None]]] = []
        for words in docs:
            tags = self.model.tag(list(words))
            out.append((tags, [None] * len(tags)))
        return out
