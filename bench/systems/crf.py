"""System kind ``crf``: the CRF baseline of ``baselines/crf`` (python-crfsuite, L-BFGS, in-corpus features)."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.data.wordtok import DEFAULT_WORD_TOKENIZER
from bench.errors import ConfigError
from bench.systems.base import RUNTIME_PARAMS, SystemKind, TrainedSystem, cpu_cost, timed_cpu, without_runtime
from bench.versions import SYSTEM_VERSIONS


class CrfKind(SystemKind):
    name = "crf"
    version = SYSTEM_VERSIONS["crf"]
    """2: saved predictions with per-word marginals."""
    summary = "linear-chain CRF (python-crfsuite, L-BFGS) on in-corpus features; see baselines/crf"
    deterministic = True
    extra_params = dict(RUNTIME_PARAMS)  # accepted for every kind; the CRF ignores them

    def config_type(self) -> type:
        from baselines.crf import CrfConfig  # no scikit-learn, no torch

        return CrfConfig

    def resolve_config(self, params: Mapping[str, Any], *, seed: int) -> dict[str, Any]:
        from baselines.crf import config_from_params

        return config_from_params(without_runtime(params), seed=seed).to_dict()

    def preload(self, model: str | None) -> None:
        import baselines.crf  # noqa: F401

    def train(self, params, *, model, train, dev, data, seed, model_dir, device, progress) -> TrainedSystem:
        from baselines.crf import PredictStats, config_from_params, train_crf

        config = config_from_params(without_runtime(params), seed=seed)
        if progress:
            progress("message", {"text": f"training CRF ({config.feature_set}, c1={config.c1}, c2={config.c2})"})
        words = sum(len(s.tokens) for s in train)

        def on_iteration(iteration: int, most: int, loss: float) -> None:
            if progress:  # an L-BFGS iteration passes over every training word
                progress("step", {"name": "iteration", "epoch": None, "step": iteration, "total": most,
                                  "loss": loss, "processed": words * iteration, "unit": "words"})

        crf, cpu_seconds = timed_cpu(lambda: train_crf(train, config=config, dev=dev or None,
                                                       on_iteration=on_iteration))
        crf.save(model_dir)
        stats = crf.stats.to_dict() if crf.stats is not None else {}

        def predict(sentences: Sequence[Any]) -> tuple[list[list[str]], dict[str, Any], list[list[float]] | None]:
            t0 = time.perf_counter()
            rows = crf.predict_with_scores([s.tokens for s in sentences], pos=[s.pos for s in sentences])
            seconds = time.perf_counter() - t0
            timing = PredictStats(seconds, len(sentences), sum(len(s.tokens) for s in sentences)).to_dict()
            timing["includes"] = "Viterbi tags and each tag's marginal probability"
            return [t for t, _ in rows], timing, [m for _, m in rows]

        cost = cpu_cost(stats, cpu_seconds, passes=stats["iterations"], unit="words x L-BFGS iterations",
                        who="the CRF")
        described = crf.describe()
        info = {k: described.get(k) for k in ("feature_set", "feature_groups", "uses_pos", "model_sha256", "versions")}
        info.update(config=config.to_dict())
        return TrainedSystem(predict=predict, training=stats, cost=cost, info=info)

    def load(self, model_dir: Path, *, device: str = "auto", batch_size: int = 64,
             decode: str | None = None) -> CrfPredictor:
        return CrfPredictor(model_dir)


class CrfPredictor:
    """A saved CRF; a word's score is its marginal probability of the predicted tag."""

    kind = "crf"
    word_tokenizer = DEFAULT_WORD_TOKENIZER

    def __init__(self, model_dir: Path) -> None:
        from baselines.crf import CrfModel

        self.model = CrfModel.load(model_dir)
        self.labels = list(self.model.labels)

    @property
    def uses_pos(self) -> bool:
        """Trained with POS features: :meth:`tag` needs a POS list for every sentence."""
        return bool(self.model.uses_pos)

    def without_pos(self) -> CrfPredictor:
        """The same model tagging with its POS features off (absent for every word, so their weights add
        nothing): for a corpus without a POS column, scored out of domain (:mod:`bench.transfer_run`)."""
        other = copy.copy(self)
        other.model = copy.copy(self.model)  # shares the tagger; only the flag differs
        other.model.uses_pos = False
        return other

    def tag(
        self, docs: Sequence[Sequence[str]], *, pos: Sequence[Sequence[str] | None] | None = None
    ) -> list[tuple[list[str], list[float | None]]]:
        if self.model.uses_pos and (pos is None or any(p is None for p in pos)):
            raise ConfigError(
                "this CRF was trained with POS features: give CoNLL input with a POS column (--format conll; "
                "the column its folder records, else --pos-column N), or train it with params.use_pos = false"
            )
        return [(t, list(s)) for t, s in self.model.predict_with_scores([list(d) for d in docs], pos=pos)]
