"""Batching: length-grouped batches, per-rank shards, token-budget micro-batches, and padding (:func:`collate`)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from bench.align import IGNORE_INDEX
from bench.finetune.config import batch_cost


def length_grouped_batches(
    lengths: Sequence[int], *, batch_size: int, seed: int, mega_batch_factor: int = 50, group: bool = True
) -> list[list[int]]:
    """Batches of indices: random chunks of ``mega_batch_factor`` batches sorted by length, then
    the batches shuffled. Similar lengths share a batch (little padding), order stays random.

    >>> sorted(map(len, length_grouped_batches([5, 1, 9, 3, 7], batch_size=2, seed=0)))
    [1, 2, 2]
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    if group:
        mega = batch_size * mega_batch_factor
        for start in range(0, len(order), mega):
            chunk = sorted(order[start : start + mega], key=lambda i: -lengths[i])
            batches.extend(chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size))
        rng.shuffle(batches)
    else:
        batches = [order[k : k + batch_size] for k in range(0, len(order), batch_size)]
    return batches


def shard_batches(batches: Sequence[list[int]], *, rank: int, world_size: int) -> list[list[int]]:
    """This rank's batches; the list is padded (repeating the first batches) so that every rank runs
    the same number of steps, which DDP needs to avoid a hang.

    >>> shard_batches([[0], [1], [2]], rank=1, world_size=2)
    [[1], [0]]
    """
    if world_size <= 1:
        return list(batches)
    n = math.ceil(len(batches) / world_size) * world_size
    padded = list(batches) + [batches[k % len(batches)] for k in range(n - len(batches))]
    return padded[rank::world_size]


def split_by_tokens(idx: Sequence[int], lengths: Sequence[int], *, max_tokens: int) -> list[list[int]]:
    """``idx`` as micro-batches of at most ``max_tokens`` each (:func:`batch_cost`), longest first; a
    window over the budget alone is a micro-batch of its own. ``max_tokens`` 0: one batch.

    >>> split_by_tokens([0, 1, 2, 3], [10, 100, 20, 90], max_tokens=200)
    [[1, 3], [2, 0]]
    >>> split_by_tokens([0, 1], [10, 12], max_tokens=1000)
    [[0, 1]]
    """
    if not idx:
        return []
    if max_tokens <= 0 or batch_cost(len(idx), max(lengths[i] for i in idx)) <= max_tokens:
        return [list(idx)]
    out: list[list[int]] = []
    for i in sorted(idx, key=lambda i: -lengths[i]):
        if out and batch_cost(len(out[-1]) + 1, lengths[out[-1][0]]) <= max_tokens:
            out[-1].append(i)
        else:
            out.append([i])
    return out


def budget_batches(lengths_ascending: Sequence[int], *, batch_size: int, max_tokens: int) -> list[range]:
    """Consecutive ranges over length-sorted windows: at most ``batch_size`` windows and (unless
    ``max_tokens`` is 0) at most ``max_tokens`` each (:func:`batch_cost`).

    >>> budget_batches([3, 4, 300, 400], batch_size=3, max_tokens=600)
    [range(0, 2), range(2, 3), range(3, 4)]
    """
    out: list[range] = []
    start = 0
    for k, n in enumerate(lengths_ascending):
        count = k - start + 1
        if k > start and (count > batch_size or (max_tokens > 0 and batch_cost(count, n) > max_tokens)):
            out.append(range(start, k))
            start = k
    if start < len(lengths_ascending):
        out.append(range(start, len(lengths_ascending)))
    return out


def collate(
    inputs: Sequence[Sequence[int]], labels: Sequence[Sequence[int]] | None, *, pad_id: int, device: Any
) -> dict[str, Any]:
    """Pad to the batch's longest window; omit the attention mask when nothing is padded. On a CUDA
    device the host tensors are pinned so the copy overlaps the previous step's kernels."""
    import torch

    width = max(len(x) for x in inputs)
    ids = torch.full((len(inputs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(inputs), width), dtype=torch.long)
    for r, x in enumerate(inputs):
        ids[r, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[r, : len(x)] = 1
    batch: dict[str, Any] = {"input_ids": ids}
    if any(len(x) < width for x in inputs):
        batch["attention_mask"] = mask
    if labels is not None:
        lab = torch.full((len(inputs), width), IGNORE_INDEX, dtype=torch.long)
        for r, y in enumerate(labels):
            lab[r, : len(y)] = torch.tensor(y, dtype=torch.long)
        batch["labels"] = lab
    if getattr(device, "type", str(device)).startswith("cuda"):  # pinned pages copy asynchronously
        return {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}
    return {k: v.to(device) for k, v in batch.items()}
