"""The epoch loop of a fine-tuning run: :func:`run_epochs` trains on the length-grouped batches (token-budget
micro-batches, gradient accumulation, DDP gradient sync only where a step ends), evaluates on dev after
every epoch (:func:`_evaluate_dev`) and keeps the epoch that dev selection chooses. What it works with is
set up once by :func:`bench.finetune.train._finetune` (:class:`TrainData`, :class:`Training`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from bench.align import EncodedSentence
from bench.data.types import Sentence
from bench.finetune.batching import collate, length_grouped_batches, shard_batches, split_by_tokens
from bench.finetune.config import EpochStats, FinetuneConfig
from bench.finetune.decoding import decode_log_probs
from bench.finetune.features import Features
from bench.finetune.predict import _log_probs_encoded
from bench.finetune.runtime import DistContext, _autocast
from bench.metrics import strict_f1

# One logger for the whole package, as when it was one module: log lines keep their "bench.finetune" name.
log = logging.getLogger("bench.finetune")

ProgressFn = Callable[[int, int, int, float, int], None]
"""``progress(epoch, step, total_steps, loss, tokens)`` after every optimizer step (rank 0 only); ``tokens``:
the sub-word tokens (non-padding) this rank has trained on so far."""


@dataclass
class TrainData:
    """The labelled training windows and the encoded dev sentences, with the window settings both were cut
    with, and per training window its sub-tokens (``lengths``) and labelled words (``labelled_counts``)."""

    feats: Features
    dev_encoded: list[EncodedSentence]
    dev_stats: dict[str, int]
    max_length: int
    stride: int
    pad_id: int
    lengths: list[int]
    labelled_counts: list[int]


@dataclass
class Training:
    """Everything an epoch works with: the model (``train_net`` is it, or its DDP wrapper), the data, the
    optimizer, the learning-rate schedule and the gradient scaler, and the steps they were sized for."""

    net: Any
    train_net: Any
    data: TrainData
    config: FinetuneConfig
    dist_ctx: DistContext
    device: Any
    precision: str
    optimizer: Any
    scheduler: Any
    scaler: Any
    steps_per_epoch: int
    total_steps: int
    epochs: int
    """``config.epochs``, raised on a small training set to reach ``config.min_steps``."""


@dataclass
class LoopState:
    """What the epochs add up to: their stats, the selected epoch (and its weights, on the CPU, while they
    are not the model's), the optimizer steps taken and the totals the throughputs are computed from."""

    history: list[EpochStats] = field(default_factory=list)
    best_f1: float | None = None
    best_epoch: int = 0
    best_state: dict[str, Any] | None = None
    loop_seconds: float = 0.0
    eval_seconds_total: float = 0.0
    tokens_total: int = 0
    positions_total: int = 0
    step: int = 0


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


def run_epochs(
    run: Training, dev: Sequence[Sentence], *, labels: Sequence[str], progress: ProgressFn | None
) -> LoopState:
    """Train ``run.epochs`` epochs, each followed by its dev evaluation, its log line and dev selection."""
    state = LoopState()
    for epoch in range(1, run.epochs + 1):
        loss_sum, n_batches, ep_tokens, ep_positions, ep_seconds = _train_epoch(run, epoch, state, progress)
        state.loop_seconds += ep_seconds
        state.tokens_total += int(ep_tokens)
        state.positions_total += int(ep_positions)

        dev_f1, eval_s = _evaluate_epoch(run, dev, labels=labels)
        state.eval_seconds_total += eval_s
        stats = EpochStats(
            epoch, loss_sum / max(1, n_batches), dev_f1, ep_seconds, eval_s, run.steps_per_epoch, int(ep_tokens)
        )
        state.history.append(stats)
        log.info(
            "epoch %d/%d: loss %.4f, dev strict F1 (%s) %s, %.1fs train (%.0f tokens/s), %.1fs eval",
            epoch,
            run.epochs,
            stats.train_loss,
            run.config.decode,
            "n/a" if dev_f1 is None else f"{dev_f1:.4f}",
            ep_seconds,
            ep_tokens / ep_seconds if ep_seconds > 0 else 0.0,
            eval_s,
        )
        _select(run, state, epoch, dev_f1)
    return state


def _train_epoch(
    run: Training, epoch: int, state: LoopState, progress: ProgressFn | None
) -> tuple[float, float, float, float, float]:
    """One pass over this rank's batches (shuffled with ``seed + epoch``): ``(loss sum, batches, real
    sub-tokens, positions computed, seconds)``, summed over the ranks (the seconds averaged)."""
    import torch

    config, dist_ctx, device = run.config, run.dist_ctx, run.device
    run.net.train()
    batches = shard_batches(
        length_grouped_batches(
            run.data.lengths,
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
    run.optimizer.zero_grad(set_to_none=True)
    for b, idx in enumerate(batches):
        boundary = (b + 1) % config.grad_accumulation == 0 or b + 1 == len(batches)
        ep_positions += _forward_backward(run, idx, boundary=boundary, loss_acc=loss_acc)
        n_batches += 1
        ep_tokens += sum(len(run.data.feats.inputs[i]) for i in idx)
        if boundary:
            _optimizer_step(run)
            state.step += 1
            if progress is not None and dist_ctx.is_main:
                progress(epoch, state.step, run.total_steps, float(loss_acc) / n_batches, state.tokens_total + ep_tokens)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    ep_seconds = time.perf_counter() - t0
    loss_sum = float(loss_acc)
    loss_sum, n_batches, ep_tokens, ep_positions = _all_reduce_sum(
        [loss_sum, n_batches, ep_tokens, ep_positions], dist_ctx, device
    )
    if dist_ctx.world_size > 1:
        ep_seconds = _all_reduce_sum([ep_seconds], dist_ctx, device)[0] / dist_ctx.world_size
    return loss_sum, n_batches, ep_tokens, ep_positions, ep_seconds


def _forward_backward(run: Training, idx: Sequence[int], *, boundary: bool, loss_acc: Any) -> int:
    """Forward and backward passes of one batch, as micro-batches within the token budget; their loss is
    added to ``loss_acc`` (in place). DDP syncs gradients only on the last part of a step's last batch.
    Returns the positions (padding included) computed."""
    data, config = run.data, run.config
    micro = split_by_tokens(idx, data.lengths, max_tokens=config.max_batch_tokens)
    labelled = [data.labelled_counts[i] for i in idx]
    batch_labelled = max(1, sum(labelled))
    positions = 0
    for m, part in enumerate(micro):
        batch = collate(
            [data.feats.inputs[i] for i in part], [data.feats.labels[i] for i in part], pad_id=data.pad_id,
            device=run.device,
        )
        # the model's loss is the mean over this part's labelled words: weighted by the part's
        # share, the parts' gradients add up to the whole batch's mean-loss gradient
        share = 1.0 if len(micro) == 1 else sum(data.labelled_counts[i] for i in part) / batch_labelled
        last = m + 1 == len(micro)
        sync = nullcontext() if (boundary and last) or run.dist_ctx.world_size == 1 else run.train_net.no_sync()
        with sync:
            with _autocast(run.device, run.precision):
                loss = run.train_net(**batch).loss * share
            run.scaler.scale(loss / config.grad_accumulation).backward()
        loss_acc += loss.detach().float()
        positions += batch["input_ids"].numel()
    return positions


def _optimizer_step(run: Training) -> None:
    """Clip the gradients (when configured), step the optimizer, the scaler and the schedule, clear the gradients."""
    import torch

    if run.config.max_grad_norm > 0:
        run.scaler.unscale_(run.optimizer)
        torch.nn.utils.clip_grad_norm_(run.net.parameters(), run.config.max_grad_norm)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)


def _evaluate_epoch(run: Training, dev: Sequence[Sentence], *, labels: Sequence[str]) -> tuple[float | None, float]:
    """``(dev strict F1, seconds)``; the F1 is ``None`` without dev sentences, and without dev selection
    (``select_best = false``: it would decide nothing, so dev is not evaluated)."""
    dev_f1: float | None = None
    t1 = time.perf_counter()
    if dev and run.config.select_best:
        dev_f1 = _evaluate_dev(
            run.net,
            dev,
            run.data.dev_encoded,
            labels=labels,
            pad_id=run.data.pad_id,
            config=run.config,
            device=run.device,
            precision=run.precision,
            dist_ctx=run.dist_ctx,
        )
    return dev_f1, time.perf_counter() - t1


def _select(run: Training, state: LoopState, epoch: int, dev_f1: float | None) -> None:
    """Dev selection after an epoch: without it (or without dev) the last epoch is the one; with it, the
    first epoch of the best F1, whose weights are copied aside unless they are the last epoch's."""
    improved = dev_f1 is not None and (state.best_f1 is None or dev_f1 > state.best_f1)
    if not run.config.select_best or dev_f1 is None:
        state.best_epoch, state.best_f1 = epoch, dev_f1
    elif improved:
        state.best_epoch, state.best_f1 = epoch, dev_f1
        if epoch < run.epochs:  # the last epoch's weights are still in the model
            state.best_state = {k: v.detach().to("cpu", copy=True) for k, v in run.net.state_dict().items()}
        else:
            state.best_state = None
