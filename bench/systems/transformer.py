"""System kind ``transformer``: fine-tune a pretrained encoder for token classification (``bench/finetune``)."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.data.wordtok import DEFAULT_WORD_TOKENIZER
from bench.errors import ConfigError
from bench.systems.base import SystemKind, TrainedSystem, on_step
from bench.versions import SYSTEM_VERSIONS

log = logging.getLogger(__name__)


class TransformerKind(SystemKind):
    name = "transformer"
    version = SYSTEM_VERSIONS["transformer"]
    """2: constrained Viterbi decoding by default, saved predictions with scores.
    3: a token budget per forward pass (max_batch_tokens): over-budget batches run as micro-batches."""
    summary = "a pretrained encoder fine-tuned for token classification (first-subword labels)"
    needs_model = True
    extra_params = {"trust_remote_code": bool}

    def config_type(self) -> type:
        from bench.finetune import FinetuneConfig  # no torch at import time

        return FinetuneConfig

    def resolve_config(self, params: Mapping[str, Any], *, seed: int) -> dict[str, Any]:
        from bench.finetune import FinetuneConfig

        params = {k: v for k, v in params.items() if k != "trust_remote_code"}
        return FinetuneConfig.from_params(params, seed=seed).to_dict()

    def preflight(self, model: str | None) -> None:
        """The model's weights must be found (a hub id offline fails here, before any cell runs), and a
        local folder's weights must be whole: the check ``nerbench predict`` makes
        (:func:`bench.finetune.check_weights`; a truncated ``model.safetensors`` fails here, not in every cell)."""
        from bench.finetune import check_weights
        from bench.models import load_config, resolve_model

        assert model is not None
        spec = resolve_model(model)
        load_config(spec)
        if spec.is_local:
            check_weights(Path(spec.source))

    def preload(self, model: str | None) -> None:
        """torch, transformers' auto classes and the model type's modelling module (``from_pretrained``
        would otherwise import it inside the timed training, about 2.5 s)."""
        import torch  # noqa: F401
        from transformers import AutoModelForTokenClassification, AutoTokenizer  # noqa: F401
        from transformers.utils import logging as hf_logging

        import bench.finetune  # noqa: F401

        hf_logging.disable_progress_bar()
        if model:
            _preload_model_type(model)

    def default_resources(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """One CPU slot per ``torch_threads`` (so cells never oversubscribe a node), and one GPU on ``cuda``."""
        threads = {"num_cpus": max(1, int(params.get("torch_threads") or 1))}
        return {**threads, "num_gpus": 1} if str(params.get("device", "auto")).startswith("cuda") else threads

    def train(self, params, *, model, train, dev, data, seed, model_dir, device, progress) -> TrainedSystem:
        from bench.finetune import FinetuneConfig, finetune, load_trained, predict_words
        from bench.models import model_identity, resolve_model

        assert model is not None
        params = dict(params)
        trust_remote_code = bool(params.pop("trust_remote_code", False))
        spec = resolve_model(model)
        if trust_remote_code:
            spec = dataclasses.replace(spec, trust_remote_code=True)
        params.setdefault("device", device)
        config = FinetuneConfig.from_params(params, seed=seed)
        step = on_step(progress)
        result, retries = with_oom_retry(
            lambda cfg: finetune(train, dev, labels=data.labels, model=spec, config=cfg, output_dir=model_dir,
                                 progress=step),
            config,
        )
        loaded = load_trained(result.model_dir, device=result.device)
        eval_batch = result_config_eval_batch(config, retries)

        def predict(sentences: Sequence[Any]) -> tuple[list[list[str]], dict[str, Any], list[list[float]] | None]:
            return predict_words(loaded, sentences, batch_size=eval_batch)

        training = result.to_dict()
        cost = dict(training.pop("cost", {}) or {})
        cost.update(
            train_tokens_per_second=result.train_tokens_per_second,
            train_tokens_unit="sub-word tokens (non-padding)",
            train_samples_per_second=result.train_samples_per_second,
            train_loop_seconds=result.train_loop_seconds,
            peak_rss_mb=cost.get("peak_rss_mb"),
            device=result.device,
        )
        training["oom_retries"] = retries
        info = {"model_identity": model_identity(spec), "config": config.to_dict()}
        return TrainedSystem(predict=predict, training=training, cost=cost, info=info)

    def load(self, model_dir: Path, *, device: str = "auto", batch_size: int = 64,
             decode: str | None = None) -> TransformerPredictor:
        return TransformerPredictor(model_dir, device=device, batch_size=batch_size, decode=decode)

    def estimate(self, params, *, model, train, dev, predicted, device) -> dict[str, Any] | None:
        """On a CPU: the FLOP-count estimate of :mod:`bench.estimate` (a GPU is not estimated, and a cell
        bound for one costs no torch import here: ``nerbench run`` estimates every cell in its own process)."""
        from bench.finetune import FinetuneConfig
        assert model is not None
        params = {k: v for k, v in params.items() if k != "trust_remote_code"}
        params.setdefault("device", device)
        config = FinetuneConfig.from_params(params)
        if config.device.startswith("cuda"):
            return None
        import torch

        from bench.estimate import estimate_transformer
        if config.device == "auto" and torch.cuda.is_available():
            return None
        hf_config, tokenizer = _config_and_tokenizer(model)
        found = estimate_transformer(config=hf_config, tokenizer=tokenizer, **_work_args(config, train, dev, predicted),
                                     threads=config.torch_threads or torch.get_num_threads())
        return None if found is None else {**found.to_dict(), "text": found.text()}

    def work(self, params, *, model, train, dev, predicted) -> float:
        """The cell's FLOPs (:func:`bench.estimate.count_work`), on any device and machine alike. A model read
        without the hub (a named offline model, a local folder) is counted with its own config and tokenizer;
        a hub id as :data:`~bench.estimate.FALLBACK_SHAPE` at :data:`~bench.estimate.FALLBACK_SUBTOKENS_PER_WORD`
        sub-tokens per word, never from the hub or its cache, so no node's cache changes the partition."""
        from bench.estimate import FALLBACK_SHAPE, Shape, count_work
        from bench.finetune import FinetuneConfig
        from bench.models import resolve_model

        config = FinetuneConfig.from_params({k: v for k, v in params.items() if k != "trust_remote_code"})
        shape, tokenizer = FALLBACK_SHAPE, None
        local = model is not None and resolve_model(model).is_local  # an offline model not installed: an error
        if local:
            hf_config, tokenizer = _config_and_tokenizer(model)
            shape = Shape.from_config(hf_config) or FALLBACK_SHAPE
        train_flops, eval_flops, _ = count_work(shape=shape, tokenizer=tokenizer,
                                                **_work_args(config, train, dev, predicted))
        return train_flops + eval_flops


def _work_args(config: Any, train: Sequence[Any], dev: Sequence[Any], predicted: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """What :func:`bench.estimate.count_work` needs of a cell besides the model: its words, epochs and windows."""
    epochs = config.epochs_for(math.ceil(len(train) / config.batch_size / config.grad_accumulation))
    return {"train": [s.tokens for s in train], "dev": [s.tokens for s in dev],
            "predicted": [[s.tokens for s in split] for split in predicted], "epochs": epochs,
            "dev_passes": epochs if config.select_best else 0, "max_length": config.max_length,
            "context_width": config.context_length if config.context == "document" else 0}


class TransformerPredictor:
    """Batched, length-sorted, windowed word tagging with per-word probabilities
    (:func:`bench.finetune.predict_words`).

    ``decode`` overrides the decoding saved with the model (``viterbi`` or ``argmax``).
    """

    kind = "transformer"
    word_tokenizer = DEFAULT_WORD_TOKENIZER

    def __init__(
        self, model_dir: Path, *, device: str = "auto", batch_size: int = 64, decode: str | None = None
    ) -> None:
        from bench.finetune import load_trained

        self.loaded = load_trained(model_dir, device=device, decode=decode)
        self.labels = self.loaded.labels
        self.batch_size = batch_size

    def tag(
        self, docs: Sequence[Sequence[str]], *, pos: Sequence[Sequence[str] | None] | None = None
    ) -> list[tuple[list[str], list[float | None]]]:
        """``pos`` is accepted for a uniform interface; transformers do not use it."""
        from bench.finetune import predict_words

        tags, _, scores = predict_words(self.loaded, [list(d) for d in docs], batch_size=self.batch_size)
        out: list[tuple[list[str], list[float | None]]] = []
        for word_tags, word_scores in zip(tags, scores, strict=True):
            optional: list[float | None] = list(word_scores)
            out.append((word_tags, optional))
        return out


def result_config_eval_batch(config: Any, retries: list[dict[str, Any]]) -> int:
    """Prediction batch size: halved as often as training had to be, so it fits too."""
    return max(1, config.eval_batch_size // (2 ** len(retries)))


def with_oom_retry(run: Callable[[Any], Any], config: Any, *, max_retries: int = 3) -> tuple[Any, list[dict[str, Any]]]:
    """Run training; on CUDA out-of-memory retry with half the batch and double the accumulation.

    The effective batch (batch_size x grad_accumulation) stays the same, so the recipe is unchanged;
    every retry is recorded in the result.
    """
    import torch

    retries: list[dict[str, Any]] = []
    while True:
        try:
            return run(config), retries
        except torch.cuda.OutOfMemoryError as exc:
            if len(retries) >= max_retries or config.batch_size <= 1:
                raise ConfigError(
                    f"CUDA out of memory even at batch size {config.batch_size} "
                    f"(after {len(retries)} retries): {str(exc).splitlines()[0]}"
                ) from None
            new = dataclasses.replace(
                config, batch_size=config.batch_size // 2, grad_accumulation=config.grad_accumulation * 2,
                eval_batch_size=max(1, config.eval_batch_size // 2),
            )
            retries.append({"from_batch_size": config.batch_size, "to_batch_size": new.batch_size,
                            "grad_accumulation": new.grad_accumulation, "error": str(exc).splitlines()[0][:200]})
            log.warning("out of memory at batch %d; retrying with batch %d x accumulation %d",
                        config.batch_size, new.batch_size, new.grad_accumulation)
            torch.cuda.empty_cache()
            config = new


@functools.lru_cache(maxsize=4)
def _config_and_tokenizer(model: str) -> tuple[Any, Any]:
    """A model's config and tokenizer for estimates, loaded once per process (``--dry-run`` estimates many cells)."""
    from bench.models import load_config, load_tokenizer, resolve_model

    spec = resolve_model(model)
    config = load_config(spec)
    return config, load_tokenizer(spec, model_type=getattr(config, "model_type", None))


def _preload_model_type(model: str) -> None:
    """Import ``transformers.models.<type>.modeling_<type>`` for a local or named model (never the hub)."""
    import importlib

    from bench.models import resolve_model

    try:
        spec = resolve_model(model)
        if not spec.is_local:
            return
        model_type = json.loads((Path(spec.source) / "config.json").read_text(encoding="utf-8")).get("model_type")
        if isinstance(model_type, str) and model_type.replace("_", "").isalnum():
            importlib.import_module(f"transformers.models.{model_type}.modeling_{model_type}")
    except Exception as exc:  # noqa: BLE001 - only a head start; training reports real problems
        log.debug("no early import for model %s: %s", model, exc)
