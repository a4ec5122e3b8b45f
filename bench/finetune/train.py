"""The training loop: :func:`finetune` (device, process group, cost sampling) around :func:`_finetune`
(features, optimizer, epochs, dev selection), and :func:`_save` (atomic Hugging Face model folder)."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from bench.align import IGNORE_INDEX, EncodedSentence, encode_batch
from bench.data.types import Sentence
from bench.errors import ConfigError
from bench.finetune.batching import collate, length_grouped_batches, shard_batches, split_by_tokens
from bench.finetune.config import EpochStats, FinetuneConfig, FinetuneResult
from bench.finetune.decoding import decode_log_probs
from bench.finetune.features import build_features, encoding_stats
from bench.finetune.optim import _make_optimizer, linear_warmup_schedule
from bench.finetune.predict import _log_probs_encoded
from bench.finetune.runtime import (
    DistContext,
    _autocast,
    init_distributed,
    local_rank_from_env,
    resolve_device,
    resolve_precision,
    seed_everything,
)
from bench.gpu import GpuSampler
from bench.metrics import strict_f1
from bench.modeldir import MODEL_INFO_FILE, atomic_model_dir
from bench.models import ModelSpec, load_for_training, model_max_length

# One logger for the whole package, as when it was one module: log lines keep their "bench.finetune" name.
log = logging.getLogger("bench.finetune")

ProgressFn = Callable[[int, int, int, float, int], None]
"""``progress(epoch, step, total_steps, loss, tokens)`` after every optimizer step (rank 0 only); ``tokens``:
the sub-word tokens (non-padding) this rank has trained on so far."""


def _all_reduce_sum(values: list[float], dist_ctx: DistContext, device: Any) -> list[float]:
    if dist_ctx.world_size <= 1:
        return values
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def _evaluate_dev(
    model: Any,
    dev: Sequence[Sentence],
    dev_encoded: Sequence[EncodedSentence],
    *,
    labels: Sequence[str],
    pad_id: int,
    config: FinetuneConfig,
    device: Any,
    precision: str,
    dist_ctx: DistContext,
) -> float:
    """Dev strict F1 of the tags decoded as ``config.decode`` says; under DDP each rank predicts a
    slice and the predictions are gathered."""
    idx = list(range(dist_ctx.rank, len(dev), dist_ctx.world_size))
    log_probs = _log_probs_encoded(
        model,
        [dev_encoded[i] for i in idx],
        labels=labels,
        pad_id=pad_id,
        batch_size=config.eval_batch_size,
        device=device,
        precision=precision,
        max_tokens=config.max_batch_tokens,
    )
    preds, _ = decode_log_probs(log_probs, labels, decode=config.decode)
    mine = list(zip(idx, preds, strict=True))
    if dist_ctx.world_size > 1:
        import torch.distributed as dist

        gathered: list[Any] = [None] * dist_ctx.world_size
        dist.all_gather_object(gathered, mine)
        mine = [pair for part in gathered for pair in part]
    by_index = dict(mine)
    return strict_f1([s.tags for s in dev], [by_index[i] for i in range(len(dev))])


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
    import torch

    t_start = time.perf_counter()
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    if len(set(labels)) != len(labels):
        raise ConfigError(f"label set has duplicates: {labels}")
    if config.max_train_sentences:
        train = train[: config.max_train_sentences]
    if not train:
        raise ConfigError("no training sentences")
    label2id = {lab: i for i, lab in enumerate(labels)}

    seed_everything(config.seed, deterministic=config.deterministic)  # before the head is initialised
    net, tokenizer = load_for_training(spec, labels=labels)
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

    net.to(device)
    train_net: Any = net
    if dist_ctx.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        train_net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    lengths = [len(x) for x in feats.inputs]
    labelled_counts = [sum(y != IGNORE_INDEX for y in lab) for lab in feats.labels]
    batches_per_rank = len(
        shard_batches(
            length_grouped_batches(
                lengths,
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
    log.info(
        "finetune %s: %d windows (%d sentences), %d steps x %d epochs, lr %g, batch %d x %d rank(s), %s %s",
        spec.name,
        len(feats.inputs),
        len(train),
        steps_per_epoch,
        epochs,
        config.learning_rate,
        config.batch_size,
        dist_ctx.world_size,
        device,
        precision,
    )

    history: list[EpochStats] = []
    best_f1: float | None = None
    best_epoch = 0
    best_state: dict[str, Any] | None = None
    loop_seconds = 0.0
    eval_seconds_total = 0.0
    tokens_total = positions_total = 0
    step = 0
    for epoch in range(1, epochs + 1):
        net.train()
        batches = shard_batches(
            length_grouped_batches(
                lengths,
                batch_size=config.batch_size,
                seed=config.seed + epoch,
                mega_batch_factor=config.mega_batch_factor,
                group=config.group_by_length,
            ),
            rank=dist_ctx.rank,
            world_size=dist_ctx.world_size,
        )
        t0 = time.perf_counter()
        loss_acc = torch.zeros((), device=device)
        n_batches, ep_tokens, ep_positions = 0, 0, 0
        optimizer.zero_grad(set_to_none=True)
        for b, idx in enumerate(batches):
            boundary = (b + 1) % config.grad_accumulation == 0 or b + 1 == len(batches)
            micro = split_by_tokens(idx, lengths, max_tokens=config.max_batch_tokens)
            labelled = [labelled_counts[i] for i in idx]
            batch_labelled = max(1, sum(labelled))
            for m, part in enumerate(micro):
                batch = collate(
                    [feats.inputs[i] for i in part], [feats.labels[i] for i in part], pad_id=pad_id, device=device
                )
                # the model's loss is the mean over this part's labelled words: weighted by the part's
                # share, the parts' gradients add up to the whole batch's mean-loss gradient
                share = 1.0 if len(micro) == 1 else sum(labelled_counts[i] for i in part) / batch_labelled
                last = m + 1 == len(micro)
                sync = nullcontext() if (boundary and last) or dist_ctx.world_size == 1 else train_net.no_sync()
                with sync:
                    with _autocast(device, precision):
                        loss = train_net(**batch).loss * share
                    scaler.scale(loss / config.grad_accumulation).backward()
                loss_acc += loss.detach().float()
                ep_positions += batch["input_ids"].numel()
            n_batches += 1
            ep_tokens += sum(len(feats.inputs[i]) for i in idx)
            if boundary:
                if config.max_grad_norm > 0:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(net.parameters(), config.max_grad_norm)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                if progress is not None and dist_ctx.is_main:
                    progress(epoch, step, total_steps, float(loss_acc) / n_batches, tokens_total + ep_tokens)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        ep_seconds = time.perf_counter() - t0
        loss_sum = float(loss_acc)
        loss_sum, n_batches, ep_tokens, ep_positions = _all_reduce_sum(
            [loss_sum, n_batches, ep_tokens, ep_positions], dist_ctx, device
        )
        if dist_ctx.world_size > 1:
            ep_seconds = _all_reduce_sum([ep_seconds], dist_ctx, device)[0] / dist_ctx.world_size
        loop_seconds += ep_seconds
        tokens_total += int(ep_tokens)
        positions_total += int(ep_positions)

        dev_f1: float | None = None
        t1 = time.perf_counter()
        if dev and config.select_best:  # without selection dev would decide nothing: not evaluated
            dev_f1 = _evaluate_dev(
                net,
                dev,
                dev_encoded,
                labels=labels,
                pad_id=pad_id,
                config=config,
                device=device,
                precision=precision,
                dist_ctx=dist_ctx,
            )
        eval_s = time.perf_counter() - t1
        eval_seconds_total += eval_s
        stats = EpochStats(
            epoch, loss_sum / max(1, n_batches), dev_f1, ep_seconds, eval_s, steps_per_epoch, int(ep_tokens)
        )
        history.append(stats)
        log.info(
            "epoch %d/%d: loss %.4f, dev strict F1 (%s) %s, %.1fs train (%.0f tokens/s), %.1fs eval",
            epoch,
            epochs,
            stats.train_loss,
            config.decode,
            "n/a" if dev_f1 is None else f"{dev_f1:.4f}",
            ep_seconds,
            ep_tokens / ep_seconds if ep_seconds > 0 else 0.0,
            eval_s,
        )
        improved = dev_f1 is not None and (best_f1 is None or dev_f1 > best_f1)
        if not config.select_best or dev_f1 is None:
            best_epoch, best_f1 = epoch, dev_f1
        elif improved:
            best_epoch, best_f1 = epoch, dev_f1
            if epoch < epochs:  # the last epoch's weights are still in the model
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}
            else:
                best_state = None

    if config.select_best and best_state is not None and best_epoch != epochs:
        net.load_state_dict(best_state)
    if dist_ctx.is_main:
        _save(
            net,
            tokenizer,
            output_dir=output_dir,
            labels=labels,
            spec=spec,
            config=config,
            max_length=max_length,
            stride=stride,
            best_epoch=best_epoch,
            best_f1=best_f1,
        )
    if dist_ctx.world_size > 1:
        import torch.distributed as dist

        dist.barrier()

    dev_sents_evaluated = len(dev) * epochs if config.select_best else 0
    return FinetuneResult(
        model_dir=output_dir,
        best_epoch=best_epoch,
        best_dev_f1=best_f1,
        history=tuple(history),
        train_wall_seconds=time.perf_counter() - t_start,
        train_loop_seconds=loop_seconds,
        train_tokens_per_second=tokens_total / loop_seconds if loop_seconds > 0 else 0.0,
        train_samples_per_second=len(feats.inputs) * epochs / loop_seconds
        if loop_seconds > 0
        else 0.0,
        eval_sentences_per_second=dev_sents_evaluated / eval_seconds_total
        if dev_sents_evaluated and eval_seconds_total > 0
        else None,
        windows_split=feats.windows_split,
        zero_subtoken_words=feats.zero_subtoken_words,
        truncated_words=feats.truncated_words,
        device=str(device),
        precision=precision,
        world_size=dist_ctx.world_size,
        cost={},
        train_windows=len(feats.inputs),
        train_real_tokens=sum(lengths),
        padding_fraction=1 - tokens_total / positions_total if positions_total else 0.0,
        max_length=max_length,
        dev_stats=dev_stats,
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
