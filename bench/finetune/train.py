"""The training run: :func:`finetune` (device, process group, cost sampling) around :func:`_finetune`
(checks, features, optimizer and schedule, then :func:`bench.finetune.loop.run_epochs`: epochs and dev
selection), and :func:`_save` (atomic Hugging Face model folder)."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.align import IGNORE_INDEX, encode_batch
from bench.data.types import Sentence
from bench.errors import ConfigError
from bench.finetune.batching import length_grouped_batches, shard_batches
from bench.finetune.config import FinetuneConfig, FinetuneResult
from bench.finetune.features import build_features, encoding_stats
from bench.finetune.loop import LoopState, ProgressFn, TrainData, Training, run_epochs
from bench.finetune.optim import _make_optimizer, linear_warmup_schedule
from bench.finetune.runtime import (
    DistContext,
    init_distributed,
    local_rank_from_env,
    resolve_device,
    resolve_precision,
    seed_everything,
)
from bench.gpu import GpuSampler
from bench.modeldir import MODEL_INFO_FILE, atomic_model_dir
from bench.models import ModelSpec, load_for_training, model_max_length

# One logger for the whole package, as when it was one module: log lines keep their "bench.finetune" name.
log = logging.getLogger("bench.finetune")


def finetune(
    train: Sequence[Sentence],
    dev: Sequence[Sentence],
    *,
    labels: Sequence[str],
    model: ModelSpec,
    config: FinetuneConfig,
    output_dir: str | Path,
    progress: ProgressFn | None = None,
) -> FinetuneResult:
    """Train ``model`` on ``train``, pick the best epoch on ``dev``, save it to ``output_dir``.

    ``labels`` fixes the label ids (saved as ``id2label``); every training tag must be in it.
    The saved folder loads with ``transformers.pipeline("token-classification", model=DIR)``.
    """
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = resolve_device(config.device, local_rank=local_rank_from_env() if distributed else 0)
    dist_ctx = init_distributed(device)
    precision = resolve_precision(config.precision, device)
    with GpuSampler(device=device) as sampler:
        result = _finetune(
            train,
            dev,
            labels=list(labels),
            spec=model,
            config=config,
            output_dir=Path(output_dir),
            progress=progress,
            dist_ctx=dist_ctx,
            device=device,
            precision=precision,
        )
    result = dataclasses.replace(result, cost=sampler.summary())
    if dist_ctx.owns_group:
        import torch.distributed as dist

        dist.destroy_process_group()
    return result


def _finetune(
    train: Sequence[Sentence],
    dev: Sequence[Sentence],
    *,
    labels: list[str],
    spec: ModelSpec,
    config: FinetuneConfig,
    output_dir: Path,
    progress: ProgressFn | None,
    dist_ctx: DistContext,
    device: Any,
    precision: str,
) -> FinetuneResult:
    """The run on a chosen device, precision and process group: checks, seeding, the model and its windows,
    the optimizer and schedule, the epochs (:func:`~bench.finetune.loop.run_epochs`), the selected weights saved."""
    import torch

    t_start = time.perf_counter()
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    train = _training_sentences(train, labels, config)

    seed_everything(config.seed, deterministic=config.deterministic)  # before the head is initialised
    net, tokenizer = load_for_training(spec, labels=labels)
    data = _prepare_data(train, dev, net, tokenizer, labels=labels, config=config)

    net.to(device)
    train_net: Any = net
    if dist_ctx.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        train_net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    run = _make_training(net, train_net, data, config=config, dist_ctx=dist_ctx, device=device, precision=precision)
    log.info(
        "finetune %s: %d windows (%d sentences), %d steps x %d epochs, lr %g, batch %d x %d rank(s), %s %s",
        spec.name,
        len(data.feats.inputs),
        len(train),
        run.steps_per_epoch,
        run.epochs,
        config.learning_rate,
        config.batch_size,
        dist_ctx.world_size,
        device,
        precision,
    )

    state = run_epochs(run, dev, labels=labels, progress=progress)
    if config.select_best and state.best_state is not None and state.best_epoch != run.epochs:
        net.load_state_dict(state.best_state)
    if dist_ctx.is_main:
        _save(
            net,
            tokenizer,
            output_dir=output_dir,
            labels=labels,
            spec=spec,
            config=config,
            max_length=data.max_length,
            stride=data.stride,
            best_epoch=state.best_epoch,
            best_f1=state.best_f1,
        )
    if dist_ctx.world_size > 1:
        import torch.distributed as dist

        dist.barrier()
    return _result(run, state, dev, output_dir=output_dir, t_start=t_start)


def _training_sentences(train: Sequence[Sentence], labels: list[str], config: FinetuneConfig) -> Sequence[Sentence]:
    """The training sentences, cut to ``max_train_sentences``; a ConfigError for a label set with
    duplicates or for no sentences."""
    if len(set(labels)) != len(labels):
        raise ConfigError(f"label set has duplicates: {labels}")
    if config.max_train_sentences:
        train = train[: config.max_train_sentences]
    if not train:
        raise ConfigError("no training sentences")
    return train


def _prepare_data(
    train: Sequence[Sentence],
    dev: Sequence[Sentence],
    net: Any,
    tokenizer: Any,
    *,
    labels: list[str],
    config: FinetuneConfig,
) -> TrainData:
    """The window settings (within what the model accepts), the labelled training windows and the encoded
    dev sentences; warnings for split, empty and truncated training words and for unknown dev tags."""
    label2id = {lab: i for i, lab in enumerate(labels)}
    max_length = min(config.max_length, model_max_length(net, tokenizer))
    stride = min(config.stride, max(0, max_length // 2 - 1))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    context_length = 0
    if config.context == "document":
        if all(s.doc_id is None for s in train):
            raise ConfigError('context = "document" needs a task that knows its documents; these training '
                              "sentences have no document ids (use e.g. conll2003_docs instead of conll2003)")
        context_length = min(config.context_length, max_length)
    feats = build_features(
        train,
        tokenizer,
        label2id=label2id,
        max_length=max_length,
        stride=stride,
        label_all_tokens=config.label_all_tokens,
        context_length=context_length,
    )
    if not feats.inputs:
        raise ConfigError("no training window has a labelled word (all sentences empty?)")
    dev_encoded = encode_batch(tokenizer, [s.tokens for s in dev], max_length=max_length, stride=stride,
                               doc_ids=[s.doc_id for s in dev], context_length=context_length)
    dev_stats = encoding_stats(dev_encoded)
    for what, n in (
        ("windows_split", feats.windows_split),
        ("zero_subtoken_words", feats.zero_subtoken_words),
        ("truncated_words", feats.truncated_words),
    ):
        if n:
            log.warning("training data: %d %s", n, what.replace("_", " "))
    unseen = sorted({t for s in dev for t in s.tags} - set(labels))
    if unseen:
        log.warning("dev tags not in the label set (always counted as misses): %s", ", ".join(unseen))
    return TrainData(
        feats=feats,
        dev_encoded=dev_encoded,
        dev_stats=dev_stats,
        max_length=max_length,
        stride=stride,
        pad_id=pad_id,
        lengths=[len(x) for x in feats.inputs],
        labelled_counts=[sum(y != IGNORE_INDEX for y in lab) for lab in feats.labels],
    )


def _make_training(
    net: Any, train_net: Any, data: TrainData, *, config: FinetuneConfig, dist_ctx: DistContext, device: Any,
    precision: str,
) -> Training:
    """The steps per epoch (this rank's batches over the gradient accumulation), AdamW, the linear
    warm-up/decay schedule over all steps, and the gradient scaler (on for fp16 only)."""
    import torch

    batches_per_rank = len(
        shard_batches(
            length_grouped_batches(
                data.lengths,
                batch_size=config.batch_size,
                seed=config.seed,
                mega_batch_factor=config.mega_batch_factor,
                group=config.group_by_length,
            ),
            rank=dist_ctx.rank,
            world_size=dist_ctx.world_size,
        )
    )
    steps_per_epoch = math.ceil(batches_per_rank / config.grad_accumulation)
    epochs = config.epochs_for(steps_per_epoch)  # raised on a small training set to reach min_steps
    total_steps = steps_per_epoch * epochs
    warmup = math.ceil(config.warmup_ratio * total_steps)
    optimizer = _make_optimizer(net, config, device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: linear_warmup_schedule(s, warmup_steps=warmup, total_steps=total_steps)
    )
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    return Training(
        net=net,
        train_net=train_net,
        data=data,
        config=config,
        dist_ctx=dist_ctx,
        device=device,
        precision=precision,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=scaler,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        epochs=epochs,
    )


def _result(
    run: Training, state: LoopState, dev: Sequence[Sentence], *, output_dir: Path, t_start: float
) -> FinetuneResult:
    """The run's :class:`FinetuneResult` (its ``cost`` is filled in by :func:`finetune`)."""
    config, data, device, precision = run.config, run.data, run.device, run.precision
    feats, net, optimizer = data.feats, run.net, run.optimizer
    loop_seconds, tokens_total, positions_total = state.loop_seconds, state.tokens_total, state.positions_total
    dev_sents_evaluated = len(dev) * run.epochs if config.select_best else 0
    return FinetuneResult(
        model_dir=output_dir,
        best_epoch=state.best_epoch,
        best_dev_f1=state.best_f1,
        history=tuple(state.history),
        train_wall_seconds=time.perf_counter() - t_start,
        train_loop_seconds=loop_seconds,
        train_tokens_per_second=tokens_total / loop_seconds if loop_seconds > 0 else 0.0,
        train_samples_per_second=len(feats.inputs) * run.epochs / loop_seconds
        if loop_seconds > 0
        else 0.0,
        eval_sentences_per_second=dev_sents_evaluated / state.eval_seconds_total
        if dev_sents_evaluated and state.eval_seconds_total > 0
        else None,
        windows_split=feats.windows_split,
        zero_subtoken_words=feats.zero_subtoken_words,
        truncated_words=feats.truncated_words,
        device=str(device),
        precision=precision,
        world_size=run.dist_ctx.world_size,
        cost={},
        train_windows=len(feats.inputs),
        train_real_tokens=sum(data.lengths),
        padding_fraction=1 - tokens_total / positions_total if positions_total else 0.0,
        max_length=data.max_length,
        dev_stats=data.dev_stats,
        kernels={
            "attention": getattr(getattr(net, "config", None), "_attn_implementation", None) or "unknown",
            "optimizer": "AdamW (fused)" if optimizer.defaults.get("fused") else
            "AdamW (foreach)" if optimizer.defaults.get("foreach") else "AdamW",
            "autocast": precision,
            "pinned_batches": device.type == "cuda",
        },
    )


def _save(
    net: Any,
    tokenizer: Any,
    *,
    output_dir: Path,
    labels: list[str],
    spec: ModelSpec,
    config: FinetuneConfig,
    max_length: int,
    stride: int,
    best_epoch: int,
    best_f1: float | None,
) -> None:
    """Hugging Face format (id2label/label2id set) plus ``nerbench_model.json`` describing the run.

    Saved through :func:`atomic_model_dir`: ``output_dir`` is either the complete new model or what
    was there before, never a folder with weights but no (or a stale) ``nerbench_model.json``.
    """
    net.config.id2label = dict(enumerate(labels))
    net.config.label2id = {lab: i for i, lab in enumerate(labels)}
    info = {
        "kind": "transformer",
        "labels": labels,
        "base_model": {"name": spec.name, "source": spec.source, "revision": spec.revision},
        "config": {**config.to_dict(), "max_length": max_length, "stride": stride},
        "best_epoch": best_epoch,
        "best_dev_strict_f1": best_f1,
    }
    with atomic_model_dir(output_dir) as tmp:
        net.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / MODEL_INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    log.info("saved model (epoch %d) to %s", best_epoch, output_dir)
