"""System adapters: one interface over the CRF and spaCy baselines and transformer fine-tuning.

The runner calls :func:`train_system` and gets back something that predicts word-level IOB2 tags,
plus the training record and the cost, so both kinds of system go through the same splits, scorer
and result schema.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data.load import TaskData
from bench.data.types import Sentence
from bench.errors import ConfigError
from bench.spec import SystemSpec

log = logging.getLogger(__name__)

PredictFn = Callable[[Sequence[Sentence]], tuple[list[list[str]], dict[str, Any], list[list[float]] | None]]
"""Sentences -> (word-level IOB2 tags, timing stats, per-word confidence of the chosen tag or ``None``)."""


@dataclass
class TrainedSystem:
    predict: PredictFn
    training: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    """Extra fields for the result's ``system`` block (feature set, model revision, ...)."""

    def describe(self) -> dict[str, Any]:
        return dict(self.info)


def train_system(
    spec: SystemSpec,
    params: dict[str, Any],
    *,
    train: Sequence[Sentence],
    dev: Sequence[Sentence],
    data: TaskData,
    seed: int,
    model_dir: Path,
    device: str = "auto",
    progress: Callable[[str, dict[str, Any]], None] | None = None,
) -> TrainedSystem:
    trained: TrainedSystem
    if spec.kind == "crf":
        trained = _train_crf(params, train=train, dev=dev, seed=seed, model_dir=model_dir, progress=progress)
    elif spec.kind == "spacy":
        trained = _train_spacy(params, train=train, dev=dev, data=data, seed=seed, model_dir=model_dir,
                               progress=progress)
    elif spec.kind == "transformer":
        assert spec.model is not None
        trained = _train_transformer(
            spec.model, params, train=train, dev=dev, data=data, seed=seed, model_dir=model_dir, device=device,
            progress=progress,
        )
    else:
        raise ConfigError(f"unknown system kind {spec.kind!r}")
    record_word_tokenizer(model_dir, data.task.word_tokenizer)
    return trained


def record_word_tokenizer(model_dir: Path, name: str) -> None:
    """Write the task's word tokenizer into the model folder's ``nerbench_model.json`` (atomically), so
    ``nerbench predict`` cuts raw text into the words this model was trained on. A failed write fails
    the cell with the file named (:class:`~bench.errors.NerbenchError`)."""
    import json

    from bench.finetune import MODEL_INFO_FILE, read_json_object
    from bench.results import atomic_write_text

    path = Path(model_dir) / MODEL_INFO_FILE
    if not path.is_file():
        return
    info = read_json_object(path, what="the nerbench model description")
    info["word_tokenizer"] = name
    atomic_write_text(path, json.dumps(info, indent=2, sort_keys=True) + "\n")


def _without_runtime(params: dict[str, Any]) -> dict[str, Any]:
    """A CPU baseline's params without the transformer runtime settings a suite may give every system."""
    return {k: v for k, v in params.items() if k not in ("device", "torch_threads")}


def resolved_config(spec: SystemSpec, params: dict[str, Any], *, seed: int) -> dict[str, Any]:
    """The full configuration a system would train with (defaults filled in), without training.

    Bad parameter names fail here, before any cell runs.
    """
    params = {k: v for k, v in params.items() if k not in ("max_train_sentences", "max_eval_sentences")}
    if spec.kind == "crf":
        from baselines.crf import config_from_params

        return config_from_params(_without_runtime(params), seed=seed).to_dict()
    if spec.kind == "spacy":
        from baselines.spacy_ner import config_from_params as spacy_config

        return spacy_config(_without_runtime(params), seed=seed).to_dict()
    from bench.finetune import FinetuneConfig

    params = {k: v for k, v in params.items() if k != "trust_remote_code"}
    return FinetuneConfig.from_params(params, seed=seed).to_dict()


# --------------------------------------------------------------------------- transformers


def _train_transformer(
    model_name: str,
    params: dict[str, Any],
    *,
    train: Sequence[Sentence],
    dev: Sequence[Sentence],
    data: TaskData,
    seed: int,
    model_dir: Path,
    device: str,
    progress: Callable[[str, dict[str, Any]], None] | None,
) -> TrainedSystem:
    from bench.finetune import FinetuneConfig, finetune, load_trained, predict_words
    from bench.models import model_identity, resolve_model

    params = dict(params)
    trust_remote_code = bool(params.pop("trust_remote_code", False))
    model = resolve_model(model_name)
    if trust_remote_code:
        import dataclasses

        model = dataclasses.replace(model, trust_remote_code=True)
    params.setdefault("device", device)
    config = FinetuneConfig.from_params(params, seed=seed)

    def on_step(epoch: int, step: int, total: int, loss: float) -> None:
        if progress:
            progress("step", {"epoch": epoch, "step": step, "total": total, "loss": loss})

    result, retries = _with_oom_retry(
        lambda cfg: finetune(train, dev, labels=data.labels, model=model, config=cfg, output_dir=model_dir,
                             progress=on_step),
        config,
    )
    loaded = load_trained(result.model_dir, device=result.device)
    eval_batch = result_config_eval_batch(config, retries)

    def predict(sentences: Sequence[Sentence]) -> tuple[list[list[str]], dict[str, Any], list[list[float]] | None]:
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
    info = {
        "model_identity": model_identity(model),
        "config": config.to_dict(),
    }
    return TrainedSystem(predict=predict, training=training, cost=cost, info=info)


def result_config_eval_batch(config: Any, retries: list[dict[str, Any]]) -> int:
    """Prediction batch size: halved as often as training had to be, so it fits too."""
    return max(1, config.eval_batch_size // (2 ** len(retries)))


def _with_oom_retry(run: Callable[[Any], Any], config: Any, *, max_retries: int = 3) -> tuple[Any, list[dict[str, Any]]]:
    """Run training; on CUDA out-of-memory retry with half the batch and double the accumulation.

    The effective batch (batch_size x grad_accumulation) stays the same, so the recipe is unchanged;
    every retry is recorded in the result.
    """
    import dataclasses

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


# --------------------------------------------------------------------------- CRF


def _cpu_cost(stats: dict[str, Any], cpu_seconds: float, *, passes: int, unit: str, who: str) -> dict[str, Any]:
    """The cost block of a system that trains on the CPU from its training stats (CRF, spaCy)."""
    train_seconds = stats.get("train_seconds")
    return {
        "train_seconds": train_seconds,
        "cpu_seconds": cpu_seconds,
        "train_tokens_per_second": stats["train_tokens"] * passes / train_seconds if train_seconds else None,
        "train_tokens_unit": unit,
        "peak_rss_mb": stats.get("peak_rss_bytes", 0) / 2**20 if stats.get("peak_rss_bytes") else None,
        "device": "cpu",
        "gpu": {"available": False, "reason": f"{who} runs on the CPU"},
    }


def _train_crf(
    params: dict[str, Any],
    *,
    train: Sequence[Sentence],
    dev: Sequence[Sentence],
    seed: int,
    model_dir: Path,
    progress: Callable[[str, dict[str, Any]], None] | None,
) -> TrainedSystem:
    import time

    from baselines.crf import config_from_params, train_crf

    params = _without_runtime(params)
    config = config_from_params(params, seed=seed)
    if progress:
        progress("message", {"text": f"training CRF ({config.feature_set}, c1={config.c1}, c2={config.c2})"})
    t0 = time.process_time()
    model = train_crf(train, config=config, dev=dev or None)
    cpu_seconds = time.process_time() - t0
    model.save(model_dir)
    stats = model.stats.to_dict() if model.stats is not None else {}

    def predict(sentences: Sequence[Sentence]) -> tuple[list[list[str]], dict[str, Any], list[list[float]] | None]:
        from baselines.crf import PredictStats

        t0 = time.perf_counter()
        rows = model.predict_with_scores([s.tokens for s in sentences], pos=[s.pos for s in sentences])
        seconds = time.perf_counter() - t0
        stats = PredictStats(seconds, len(sentences), sum(len(s.tokens) for s in sentences)).to_dict()
        stats["includes"] = "Viterbi tags and each tag's marginal probability"
        return [t for t, _ in rows], stats, [m for _, m in rows]

    cost = _cpu_cost(stats, cpu_seconds, passes=stats["iterations"], unit="words x L-BFGS iterations",
                     who="the CRF")
    described = model.describe()
    info = {k: described.get(k) for k in ("feature_set", "feature_groups", "uses_pos", "model_sha256", "versions")}
    info.update(config=config.to_dict())
    return TrainedSystem(predict=predict, training=stats, cost=cost, info=info)


# --------------------------------------------------------------------------- spaCy


def _train_spacy(
    params: dict[str, Any],
    *,
    train: Sequence[Sentence],
    dev: Sequence[Sentence],
    data: TaskData,
    seed: int,
    model_dir: Path,
    progress: Callable[[str, dict[str, Any]], None] | None,
) -> TrainedSystem:
    """The spaCy baseline (``baselines/spacy_ner.py``), recorded the way the CRF is."""
    import time

    from baselines.spacy_ner import config_from_params, require_spacy, train_spacy

    params = _without_runtime(params)
    config = config_from_params(params, seed=seed)
    require_spacy()  # a missing extra fails here, naming it, before any work
    if progress:
        progress("message", {"text": f"training spaCy NER (up to {config.max_epochs} epochs, patience {config.patience})"})

    def on_step(epoch: int, step: int, total: int, loss: float) -> None:
        if progress:
            progress("step", {"epoch": epoch, "step": step, "total": total, "loss": loss})

    t0 = time.process_time()
    model = train_spacy(train, dev or None, config=config, language=data.task.language,
                        entity_types=data.task.entity_types, progress=on_step)
    cpu_seconds = time.process_time() - t0
    model.save(model_dir)
    stats = model.stats.to_dict() if model.stats is not None else {}

    def predict(sentences: Sequence[Sentence]) -> tuple[list[list[str]], dict[str, Any], list[list[float]] | None]:
        tags, timed = model.predict_timed(sentences)  # an empty word is an error naming its sentence
        stats = timed.to_dict()
        stats["includes"] = "greedy transition-based NER tags (no per-word scores)"
        return tags, stats, None

    cost = _cpu_cost(stats, cpu_seconds, passes=stats["epochs_run"],
                     unit="words x epochs (the seconds include each epoch's dev scoring)", who="the spaCy baseline")
    described = model.describe()
    info = {k: described.get(k) for k in ("lang", "entity_types", "pipeline", "versions")}
    info.update(model_sha256=described["model_sha256"], config=config.to_dict())
    return TrainedSystem(predict=predict, training=stats, cost=cost, info=info)
