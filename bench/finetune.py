"""Fine-tune a transformer encoder for word-level NER, and predict word tags with it.

A plain PyTorch loop rather than ``transformers.Trainer``, because most of the Trainer's CPU time
on NER is padding and per-step overhead: here windows are tokenized once, batches are grouped by
sub-token length (seeded), padded only to their own longest window, and the attention mask is
dropped when a batch has no padding. Everything else follows the classic recipe (AdamW, no decay
on bias/LayerNorm, linear warm-up/decay, gradient clipping) and is set in :class:`FinetuneConfig`.

Evaluation is always on *words*: a word's label log-probabilities are the log-softmax of the logits
at its first sub-token in the one window that owns it (:mod:`bench.align`). Tags are decoded from
them with constrained Viterbi by default (:func:`viterbi_decode`: the likeliest *valid* IOB2
sequence, so no ``I-X`` continues nothing) or per-word argmax (``decode = "argmax"``). Dev strict F1
(seqeval ``mode="strict"``, IOB2) under the configured decoding chooses the epoch whose weights are
saved, and the decoding is saved with the model so prediction decodes the same way.

The same code runs under ``torchrun``/``accelerate launch``: when ``WORLD_SIZE > 1`` it joins the
process group (gloo on CPU, nccl on CUDA), wraps the model in DDP, gives each rank its share of
the length-grouped batches, gathers dev predictions and metrics, and only rank 0 writes files.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import functools
import glob
import json
import logging
import math
import os
import random
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.align import (
    IGNORE_INDEX,
    EncodedSentence,
    b_to_i_map,
    encode_batch,
    first_subtoken_positions,
    window_labels,
)
from bench.data.types import Sentence
from bench.errors import ConfigError
from bench.gpu import GpuSampler
from bench.metrics import strict_f1
from bench.models import ModelSpec, load_for_training, model_max_length

log = logging.getLogger(__name__)

MODEL_INFO_FILE = "nerbench_model.json"
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DECODES = ("viterbi", "argmax")
CONTEXTS = ("sentence", "document")
LEGACY_DECODE = "argmax"
"""How a model folder saved before ``decode`` existed is decoded: the way it was evaluated."""

ProgressFn = Callable[[int, int, int, float], None]
"""``progress(epoch, step, total_steps, loss)`` after every optimizer step (rank 0 only)."""


# --------------------------------------------------------------------------- configuration


DEFAULT_MAX_BATCH_TOKENS = 8192
"""Padded positions per forward pass (see :attr:`FinetuneConfig.max_batch_tokens` and :func:`batch_cost`):
32 windows of up to 128 sub-tokens, 16 of 181, 4 of 512. Measured on MiniLM-L6 (CPU, batch 32, a
1500-word sentence among CoNLL ones): 6.3 GB peak RSS when counting plain positions (16 windows of
512 in one pass), 2.2 GB with 4 of them, 1.4 GB with one; benchmarks/long_sentence_memory.py."""

ATTENTION_WIDTH = 128
"""Window width from which attention, not the hidden states, dominates a position's activation memory."""


def batch_cost(count: int, width: int) -> int:
    """What ``count`` windows padded to ``width`` weigh against ``max_batch_tokens``: their padded
    positions, each counted ``width / ATTENTION_WIDTH`` times once the width passes it, because the
    attention maps saved for the backward pass grow with the square of the width.

    >>> batch_cost(32, 40), batch_cost(4, 512), batch_cost(5, 512)
    (1280, 8192, 10240)
    """
    return count * width * width // ATTENTION_WIDTH if width > ATTENTION_WIDTH else count * width


@dataclass(frozen=True)
class FinetuneConfig:
    """Training recipe and runtime settings. Defaults are the classic BERT NER recipe."""

    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    epochs: int = 3
    batch_size: int = 16
    eval_batch_size: int = 64
    max_length: int = 512
    """Sub-tokens per window, capped by the model's own limit."""
    stride: int = 128
    """Sub-tokens of context shared by consecutive windows of a long sentence."""
    label_all_tokens: bool = False
    seed: int = 42
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``."""
    precision: str = "auto"
    """``auto``: bf16 autocast on GPUs that support it, else fp16 + GradScaler; fp32 on CPU."""
    deterministic: bool = False
    grad_accumulation: int = 1
    max_grad_norm: float = 1.0
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS
    """Padded positions (windows x the longest window, :func:`batch_cost`) one forward pass may hold. A batch over it is
    run as several micro-batches whose gradients add up to the batch's (each loss weighted by its
    share of the batch's labelled words), so the recipe is unchanged and memory stays bounded when a
    corpus has a huge "sentence" (a missing sentence break gives full 512-sub-token windows batched
    at full batch size). Prediction batches respect it too. 0 = no limit."""
    group_by_length: bool = True
    mega_batch_factor: int = 50
    """Length grouping sorts windows inside random chunks of ``mega_batch_factor * batch_size``."""
    select_best: bool = True
    """Keep the epoch with the best dev strict F1 (else the last epoch)."""
    max_train_sentences: int | None = None
    torch_threads: int | None = None
    adam_epsilon: float = 1e-8
    context: str = "sentence"
    """``document``: encode each sentence with the neighbouring sentences of its document around it (up
    to ``context_length`` sub-tokens; loss and predictions still cover only the sentence's own words),
    in training, dev selection and prediction. Needs a task that knows its documents."""
    context_length: int = 128
    """Sub-tokens per window, special tokens included, when ``context = "document"``."""
    decode: str = "viterbi"
    """Word tags from the word-level label log-probabilities: ``viterbi`` (the likeliest IOB2-valid
    sequence, :func:`viterbi_decode`) or ``argmax`` (each word alone; may emit an ``I-X`` that
    continues nothing). Used for dev model selection and saved with the model."""

    def __post_init__(self) -> None:
        problems = []
        if self.device not in DEVICES and not (self.device.startswith("cuda:") and self.device[5:].isdigit()):
            problems.append(f"device must be one of {', '.join(DEVICES)} or cuda:N, got {self.device!r}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        for name in ("epochs", "batch_size", "eval_batch_size", "grad_accumulation", "mega_batch_factor"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_batch_tokens < 0:
            problems.append(f"max_batch_tokens must be >= 0 (0 = no limit), got {self.max_batch_tokens}")
        if self.learning_rate <= 0:
            problems.append(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.max_length < 8:
            problems.append(f"max_length must be >= 8, got {self.max_length}")
        if not 0 <= self.stride < self.max_length // 2:
            problems.append(f"stride must be in [0, max_length/2), got {self.stride}")
        if self.max_train_sentences is not None and self.max_train_sentences < 1:
            problems.append(f"max_train_sentences must be >= 1, got {self.max_train_sentences}")
        if self.context not in CONTEXTS:
            problems.append(f"context must be one of {', '.join(CONTEXTS)}, got {self.context!r}")
        if self.context_length < 8:
            problems.append(f"context_length must be >= 8, got {self.context_length}")
        if self.decode not in DECODES:
            problems.append(f"decode must be one of {', '.join(DECODES)}, got {self.decode!r}")
        if problems:
            raise ConfigError("finetune config: " + "; ".join(problems))

    @classmethod
    def from_params(cls, params: dict[str, Any], **overrides: Any) -> FinetuneConfig:
        """Build from a suite's ``params`` table; unknown keys are an error with a suggestion."""
        names = {f.name for f in dataclasses.fields(cls)}
        merged = {**params, **overrides}
        for key in merged:
            if key not in names:
                close = difflib.get_close_matches(key, sorted(names), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ConfigError(f"unknown transformer parameter '{key}'{hint}")
        return cls(**merged)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    train_loss: float
    dev_f1: float | None
    seconds: float
    """Training-loop seconds of this epoch (dev evaluation excluded, see ``eval_seconds``)."""
    eval_seconds: float
    steps: int
    train_tokens: int


@dataclass(frozen=True)
class FinetuneResult:
    model_dir: Path
    best_epoch: int
    best_dev_f1: float | None
    history: tuple[EpochStats, ...]
    train_wall_seconds: float
    """Whole :func:`finetune` call: loading, tokenizing, training, dev evaluation, saving."""
    train_loop_seconds: float
    """Forward/backward/optimizer time only (what the throughputs below divide by)."""
    train_tokens_per_second: float
    """Real (non-padding) sub-tokens, special tokens included, per training-loop second, all ranks."""
    train_samples_per_second: float
    """Windows (≈ sentences) per training-loop second, all ranks."""
    eval_sentences_per_second: float | None
    windows_split: int
    """Training sentences longer than one window, split into several."""
    zero_subtoken_words: int
    """Training words that tokenize to nothing (predicted ``O``, not trained on)."""
    truncated_words: int
    device: str
    precision: str
    world_size: int
    cost: dict[str, Any]
    train_windows: int
    train_real_tokens: int
    """Real sub-tokens in one pass over the training windows."""
    padding_fraction: float
    """Share of padded positions among all positions computed in training."""
    max_length: int
    dev_stats: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model_dir"] = str(self.model_dir)
        d["history"] = [dataclasses.asdict(h) for h in self.history]
        return d


# --------------------------------------------------------------------------- runtime helpers


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str, *, local_rank: int = 0) -> Any:
    """``torch.device`` for a config device name; ``cuda`` under DDP means this rank's GPU."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {name!r} requested but torch sees no CUDA GPU (torch {torch.__version__})"
            )
        if name == "cuda":
            name = f"cuda:{local_rank}"
        torch.cuda.set_device(torch.device(name))
    return torch.device(name)


def resolve_precision(name: str, device: Any) -> str:
    """``fp32``/``bf16``/``fp16`` for a config precision on a device."""
    import torch

    if name == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if name == "fp16" and device.type != "cuda":
        raise ConfigError("precision fp16 needs a CUDA device (use fp32 or bf16 on CPU)")
    return name


def _autocast(device: Any, precision: str) -> AbstractContextManager[Any]:
    import torch

    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int, *, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally force deterministic kernels."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def local_rank_from_env() -> int:
    """This process's GPU slot under torchrun/accelerate (``LOCAL_RANK``), 0 otherwise."""
    return int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))


def init_distributed(device: Any) -> DistContext:
    """Join the process group described by torchrun/accelerate env vars when ``WORLD_SIZE > 1``.

    ``device`` is this rank's resolved device (set before NCCL starts): gloo on CPU, nccl on CUDA.
    A group the caller already initialised is reused and left alone.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    import torch.distributed as dist

    owns = False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        owns = True
        log.info("joined process group: rank %d/%d (%s)", dist.get_rank(), world, backend)
    return DistContext(
        rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank_from_env(), owns_group=owns
    )


# --------------------------------------------------------------------------- batching


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
    """Pad to the batch's longest window; omit the attention mask when nothing is padded."""
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
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


# --------------------------------------------------------------------------- features


def _words(s: Sentence | Sequence[str]) -> Sequence[str]:
    return s.tokens if isinstance(s, Sentence) else s


@dataclass(frozen=True)
class Features:
    """Training windows: ids and labels, plus what the encoder had to do."""

    inputs: list[tuple[int, ...]]
    labels: list[list[int]]
    windows_split: int
    zero_subtoken_words: int
    truncated_words: int
    dropped_windows: int


def encoding_stats(encoded: Sequence[EncodedSentence]) -> dict[str, int]:
    return {
        "sentences": len(encoded),
        "windows": sum(len(e.windows) for e in encoded),
        "windows_split": sum(e.was_split for e in encoded),
        "zero_subtoken_words": sum(len(e.zero_subtoken_words) for e in encoded),
        "truncated_words": sum(len(e.truncated_words) for e in encoded),
    }


def build_features(
    sentences: Sequence[Sentence],
    tokenizer: Any,
    *,
    label2id: dict[str, int],
    max_length: int,
    stride: int,
    label_all_tokens: bool,
    context_length: int = 0,
) -> Features:
    """Encode training sentences into labelled windows; an unknown gold tag is a ConfigError.
    ``context_length``: windows carry neighbouring sentences of the same document (see
    :func:`bench.align.add_document_context`)."""
    unknown: dict[str, str] = {}
    for s in sentences:
        for t in s.tags:
            if t not in label2id and t not in unknown:
                unknown[t] = s.source or "?"
    if unknown:
        where = ", ".join(f"{t!r} (first at {src})" for t, src in sorted(unknown.items()))
        raise ConfigError(f"training data has tags missing from the label set: {where}")
    encoded = encode_batch(tokenizer, [s.tokens for s in sentences], max_length=max_length, stride=stride,
                           doc_ids=[s.doc_id for s in sentences], context_length=context_length)
    labels_list = [lab for lab, _ in sorted(label2id.items(), key=lambda kv: kv[1])]
    b2i = b_to_i_map(labels_list) if label_all_tokens else None
    inputs: list[tuple[int, ...]] = []
    labels: list[list[int]] = []
    dropped = 0
    for s, enc in zip(sentences, encoded, strict=True):
        tag_ids = [label2id[t] for t in s.tags]
        for w in enc.windows:
            lab = window_labels(w, tag_ids, label_all_tokens=label_all_tokens, b_to_i=b2i)
            if all(x == IGNORE_INDEX for x in lab):
                dropped += 1  # nothing to learn (empty sentence or only zero-sub-token words)
                continue
            inputs.append(w.input_ids)
            labels.append(lab)
    st = encoding_stats(encoded)
    return Features(
        inputs, labels, st["windows_split"], st["zero_subtoken_words"], st["truncated_words"], dropped
    )


# --------------------------------------------------------------------------- optimisation


def parameter_groups(model: Any, *, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: decay on weights, none on biases and normalisation parameters."""
    import torch

    no_decay: set[str] = set()
    for mod_name, module in model.named_modules():
        is_norm = (
            isinstance(module, torch.nn.LayerNorm | torch.nn.GroupNorm)
            or "norm" in type(module).__name__.lower()
        )
        for p_name, _ in module.named_parameters(recurse=False):
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            if is_norm or p_name == "bias":
                no_decay.add(full)
    decay, rest = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (rest if name in no_decay else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def linear_warmup_schedule(step: int, *, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier: linear 0 -> 1 over warm-up, then linear 1 -> 0 at ``total_steps``.

    >>> [round(linear_warmup_schedule(s, warmup_steps=2, total_steps=6), 2) for s in range(7)]
    [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]
    """
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def _make_optimizer(model: Any, config: FinetuneConfig, device: Any) -> Any:
    import torch

    groups = parameter_groups(model, weight_decay=config.weight_decay)
    kwargs: dict[str, Any] = {"lr": config.learning_rate, "eps": config.adam_epsilon}
    try:  # one fused kernel instead of a Python loop over ~100 tensors per step
        return torch.optim.AdamW(groups, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, foreach=device.type == "cuda", **kwargs)


# --------------------------------------------------------------------------- decoding


@functools.lru_cache(maxsize=64)
def _iob2_penalties(labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`iob2_constraints` as additive log-space penalties (0 allowed, -inf forbidden), cached."""
    start, trans = iob2_constraints(labels)
    start_pen = np.where(start, 0.0, -np.inf)
    trans_pen = np.where(trans, 0.0, -np.inf)
    start_pen.setflags(write=False)
    trans_pen.setflags(write=False)
    return start_pen, trans_pen


def iob2_constraints(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The IOB2 grammar over ``labels`` as boolean masks ``(start, transition)``.

    ``start[j]``: label ``j`` may tag a sentence's first word; ``transition[i, j]``: label ``j`` may
    follow label ``i``. ``I-X`` is allowed only after ``B-X`` or ``I-X``; ``O``, ``B-*`` (and any
    label without an ``I-`` prefix) are allowed everywhere.

    >>> start, trans = iob2_constraints(["O", "B-PER", "I-PER", "I-LOC"])
    >>> start.tolist()
    [True, True, False, False]
    >>> trans[:, 2].tolist(), trans[:, 3].tolist()
    ([False, True, True, False], [False, False, False, True])
    """
    n = len(labels)
    start = np.ones(n, dtype=bool)
    trans = np.ones((n, n), dtype=bool)
    for j, lab in enumerate(labels):
        if lab.startswith("I-"):
            etype = lab[2:]
            start[j] = False
            trans[:, j] = [prev in (f"B-{etype}", f"I-{etype}") for prev in labels]
    return start, trans


def viterbi_decode(log_probs: np.ndarray, labels: Sequence[str]) -> list[int]:
    """Label ids of the IOB2-valid sequence with the highest summed log-probability.

    ``log_probs`` is words x labels (one row per word, e.g. log-softmax at each word's first
    sub-token). There are no learned transition scores: the grammar only *forbids* an ``I-X`` that
    continues no ``X`` (:func:`iob2_constraints`). So when the per-word argmax is already valid it is
    also the answer (ties aside); when it is not, the likeliest valid repair wins — ``O I-PER``
    becomes ``B-PER I-PER``, ``O B-PER`` or ``O O``, whichever the model finds more probable. Ties go
    to the lower label id.

    >>> labels = ["O", "B-PER", "I-PER"]
    >>> lp = np.log([[0.5, 0.4, 0.1], [0.2, 0.1, 0.7]])
    >>> [labels[i] for i in lp.argmax(1)]  # I-PER after O: no valid entity
    ['O', 'I-PER']
    >>> [labels[i] for i in viterbi_decode(lp, labels)]  # 0.4 * 0.7 beats O O (0.5 * 0.2)
    ['B-PER', 'I-PER']
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    n_labels = len(labels)
    if lp.ndim != 2 or lp.shape[1] != n_labels:
        raise ValueError(f"log_probs must be words x {n_labels} labels, got shape {lp.shape}")
    n = lp.shape[0]
    if n == 0:
        return []
    start_pen, trans_pen = _iob2_penalties(tuple(labels))
    score = lp[0] + start_pen
    back = np.zeros((n, n_labels), dtype=np.intp)
    cols = np.arange(n_labels)
    for t in range(1, n):
        cand = score[:, None] + trans_pen  # previous label x next label
        back[t] = cand.argmax(axis=0)
        score = cand[back[t], cols] + lp[t]
    if not np.isfinite(score.max()):
        raise ValueError(f"no IOB2-valid tag sequence has a finite score over labels {list(labels)}")
    path = [int(score.argmax())]
    for t in range(n - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]


def decode_log_probs(
    log_probs: Sequence[np.ndarray], labels: Sequence[str], *, decode: str
) -> tuple[list[list[str]], list[list[float]]]:
    """Tags per word per sentence, and the model's probability of each chosen tag.

    ``decode`` is ``viterbi`` (:func:`viterbi_decode`) or ``argmax``. Decoding is separate from the
    forward pass so one set of log-probabilities (:func:`word_log_probs`) can be decoded both ways.

    >>> lp = [np.log(np.array([[0.5, 0.4, 0.1], [0.2, 0.1, 0.7]], dtype=np.float32))]
    >>> tags, scores = decode_log_probs(lp, ["O", "B-PER", "I-PER"], decode="argmax")
    >>> tags, [round(s, 3) for s in scores[0]]
    ([['O', 'I-PER']], [0.5, 0.7])
    """
    check_decode(decode)
    tags: list[list[str]] = []
    scores: list[list[float]] = []
    for lp in log_probs:
        ids = viterbi_decode(lp, labels) if decode == "viterbi" else [int(i) for i in np.argmax(lp, axis=1)]
        tags.append([labels[i] for i in ids])
        scores.append([float(x) for x in np.exp(lp[np.arange(len(ids)), ids])])
    return tags, scores


def check_decode(decode: str) -> str:
    if decode not in DECODES:
        raise ConfigError(f"decode must be one of {', '.join(DECODES)}, got {decode!r}")
    return decode


# --------------------------------------------------------------------------- prediction


@dataclass
class LoadedModel:
    """A trained token-classification model ready to predict words."""

    model: Any
    tokenizer: Any
    labels: list[str]
    max_length: int
    stride: int
    device: Any = None
    precision: str = "fp32"
    decode: str = LEGACY_DECODE
    """How :func:`predict_words` decodes by default: what the model was trained (selected) with."""
    context_length: int = 0
    """Sub-tokens of document context per window (0: each sentence alone), as in training."""


def load_trained(
    model_dir: str | Path, *, device: str = "auto", precision: str = "auto", decode: str | None = None
) -> LoadedModel:
    """Load a model saved by :func:`finetune` (or any HF token-classification dir with id2label).

    ``decode`` overrides the decoding saved in ``nerbench_model.json``; a folder saved before that
    setting existed (or not by nerbench) decodes with ``argmax``, as it was evaluated. A folder that
    cannot be loaded (an interrupted save, an invalid ``config.json``, missing or truncated weights)
    is a :class:`ConfigError` naming the file, never a traceback from deep inside ``transformers``.
    """
    path = Path(model_dir)
    refuse_unfinished(path)
    if not (path / "config.json").is_file():
        raise ConfigError(f"{path}: not a trained model directory (no config.json)")
    read_json_object(path / "config.json", what="the model configuration")
    info: dict[str, Any] = {}
    if (path / MODEL_INFO_FILE).is_file():
        info = read_json_object(path / MODEL_INFO_FILE, what="the nerbench model description")
    check_weights(path)
    cfg = info.get("config", {})
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path / MODEL_INFO_FILE}: 'config' must be a JSON object")
    if decode is None:
        decode = cfg.get("decode")
        if decode is None:
            decode = LEGACY_DECODE
            log.warning(
                "%s: no decode setting in %s (saved before Viterbi decoding, or not by nerbench): "
                "decoding with %s, as it was evaluated",
                path,
                MODEL_INFO_FILE,
                LEGACY_DECODE,
            )
    check_decode(decode)
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    from safetensors import SafetensorError
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForTokenClassification.from_pretrained(path)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as exc:
        # what transformers raises for a folder it cannot use (an invalid or mismatched config.json,
        # damaged tokenizer files, weights that do not fit): one line naming the folder, not a traceback
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"{path}: cannot load the model: {first[:300]}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"{path}: the saved tokenizer is not a fast tokenizer")
    model = model.to(dev).eval()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    max_length = min(int(cfg.get("max_length", 512)), model_max_length(model, tokenizer))
    context_length = int(cfg.get("context_length", 0)) if cfg.get("context") == "document" else 0
    return LoadedModel(model, tokenizer, labels, max_length, int(cfg.get("stride", 128)), dev, prec, decode,
                       context_length)


def read_json_object(path: Path, *, what: str = "") -> dict[str, Any]:
    """A JSON object from a model folder, or a :class:`ConfigError` saying what is wrong with it.

    ``what`` names the file's role in the message ("the model configuration is not valid JSON");
    without it the path alone says which file.
    """
    subject = f"{what} " if what else ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {subject}{'is ' if what else ''}not UTF-8 text (byte offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: {subject}{'is ' if what else ''}not valid JSON: {exc.msg}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what or 'it'}: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {subject}must be a JSON object, got {type(data).__name__}")
    return data


WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
SAFETENSORS_INDEX = "model.safetensors.index.json"


def check_weights(path: Path) -> None:
    """The folder's weights are there and every ``.safetensors`` file is whole.

    A safetensors file is an 8-byte header length, a JSON header giving each tensor's byte range, and
    the data; a file shorter or longer than its header says was cut off (or is not one). Checked
    before ``transformers`` sees it, whose error for a truncated file is a bare ``SafetensorError``.
    """
    files = [path / n for n in WEIGHT_FILES if (path / n).is_file()]
    if (path / SAFETENSORS_INDEX).is_file():
        index = read_json_object(path / SAFETENSORS_INDEX, what="the weight index")
        shards = sorted(set((index.get("weight_map") or {}).values()))
        missing = [s for s in shards if not (path / s).is_file()]
        if missing:
            raise ConfigError(f"{path}: weight shard(s) {', '.join(missing)} named in {SAFETENSORS_INDEX} are missing")
        files += [path / s for s in shards]
    if not files:
        raise ConfigError(
            f"{path}: no model weights ({' or '.join(WEIGHT_FILES)}): an unfinished save, or not a model folder"
        )
    for f in files:
        if f.suffix == ".safetensors":
            _check_safetensors(f)


def _check_safetensors(file: Path) -> None:
    size = file.stat().st_size
    bad = f"{file}: truncated or damaged safetensors file ({size} bytes)"
    with file.open("rb") as fh:
        head = fh.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if n < 2 or 8 + n > size:
            raise ConfigError(f"{bad}: its header is incomplete; save or download the model again")
        try:
            header = json.loads(fh.read(n))
            end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            raise ConfigError(f"{bad}: its header is not valid; save or download the model again") from None
    if 8 + n + end != size:
        raise ConfigError(f"{bad}: its header describes {8 + n + end} bytes; save or download the model again")


def _log_probs_encoded(
    model: Any,
    encoded: Sequence[EncodedSentence],
    *,
    labels: Sequence[str],
    pad_id: int,
    batch_size: int,
    device: Any,
    precision: str,
    max_tokens: int = 0,
) -> list[np.ndarray]:
    """Word-level label log-probabilities per sentence (float32, words x labels).

    Windows are sorted by length and batched (``batch_size`` windows, at most ``max_tokens`` padded
    positions unless 0); a word's row is the log-softmax of the logits at its
    first sub-token in the window that owns it. A word without sub-tokens is always ``O``: its row
    is log 1 for ``O`` and -inf elsewhere (uniform when there is no ``O`` label).
    """
    import torch

    n_labels = len(labels)
    empty = np.full(n_labels, -np.inf, dtype=np.float32)
    if "O" in labels:
        empty[list(labels).index("O")] = 0.0
    else:
        empty[:] = -math.log(n_labels)
    out = [np.tile(empty, (e.n_words, 1)) for e in encoded]
    items = [
        (len(w), k, w)
        for k, e in enumerate(encoded)
        for w in e.windows
        if any(x is not None for x in w.word_ids)
    ]
    items.sort(key=lambda t: t[0])
    model.eval()
    with torch.inference_mode():
        for span in budget_batches([n for n, _, _ in items], batch_size=batch_size, max_tokens=max_tokens):
            chunk = items[span.start : span.stop]
            batch = collate([w.input_ids for _, _, w in chunk], None, pad_id=pad_id, device=device)
            with _autocast(device, precision):
                logits = model(**batch).logits
            rows: list[int] = []
            positions: list[int] = []
            targets: list[tuple[int, int]] = []
            for row, (_, k, w) in enumerate(chunk):
                for word, pos in first_subtoken_positions(w).items():
                    rows.append(row)
                    positions.append(pos)
                    targets.append((k, word))
            lp = torch.log_softmax(logits[rows, positions].float(), dim=-1).cpu().numpy()
            for m, (k, word) in enumerate(targets):
                out[k][word] = lp[m]
    return out


def _as_loaded(model_dir_or_loaded: str | Path | LoadedModel, device: str) -> LoadedModel:
    if isinstance(model_dir_or_loaded, LoadedModel):
        return model_dir_or_loaded
    return load_trained(model_dir_or_loaded, device=device)


def word_log_probs(
    model_dir_or_loaded: str | Path | LoadedModel,
    sentences: Sequence[Sentence | Sequence[str]],
    *,
    batch_size: int = 64,
    device: str = "auto",
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Word-level label log-probabilities (one float32 words x labels array per sentence, input
    order, columns in ``loaded.labels`` order) and forward-pass stats.

    The expensive part of prediction without the decoding, so a caller can run the model once and
    decode several ways (:func:`decode_log_probs`). Long sentences are windowed like in training;
    see :func:`_log_probs_encoded` for words without sub-tokens.
    """
    loaded = _as_loaded(model_dir_or_loaded, device)
    t0 = time.perf_counter()
    words = [list(_words(s)) for s in sentences]
    doc_ids = [s.doc_id if isinstance(s, Sentence) else None for s in sentences]
    encoded = encode_batch(loaded.tokenizer, words, max_length=loaded.max_length, stride=loaded.stride,
                           doc_ids=doc_ids, context_length=loaded.context_length)
    dev = loaded.device if loaded.device is not None else resolve_device(device)
    pad_id = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0
    log_probs = _log_probs_encoded(
        loaded.model,
        encoded,
        labels=loaded.labels,
        pad_id=pad_id,
        batch_size=batch_size,
        device=dev,
        precision=loaded.precision,
        max_tokens=max_batch_tokens,
    )
    seconds = time.perf_counter() - t0
    stats: dict[str, Any] = {
        **encoding_stats(encoded),
        "seconds": seconds,
        "sentences_per_second": len(sentences) / seconds if seconds > 0 else None,
        "device": str(dev),
        "precision": loaded.precision,
        "batch_size": batch_size,
        "max_batch_tokens": max_batch_tokens,
    }
    return log_probs, stats


def predict_words(
    model_dir_or_loaded: str | Path | LoadedModel,
    sentences: Sequence[Sentence | Sequence[str]],
    *,
    batch_size: int = 64,
    device: str = "auto",
    decode: str | None = None,
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
) -> tuple[list[list[str]], dict[str, Any], list[list[float]]]:
    """IOB2 tags for every word of every sentence (input order), prediction stats, and per word the
    model's probability of the chosen tag (softmax at the word's first sub-token).

    ``decode`` defaults to the model's own (``loaded.decode``: what it was selected with). Long
    sentences are windowed like in training; words with no sub-token are tagged ``O`` (score 1.0).
    ``stats["seconds"]`` covers the forward pass and the decoding.
    """
    loaded = _as_loaded(model_dir_or_loaded, device)
    decode = check_decode(decode or loaded.decode)
    t0 = time.perf_counter()
    log_probs, stats = word_log_probs(loaded, sentences, batch_size=batch_size, device=device,
                                      max_batch_tokens=max_batch_tokens)
    tags, scores = decode_log_probs(log_probs, loaded.labels, decode=decode)
    seconds = time.perf_counter() - t0
    stats.update(
        seconds=seconds,
        sentences_per_second=len(sentences) / seconds if seconds > 0 else None,
        decode=decode,
    )
    return tags, stats, scores


# --------------------------------------------------------------------------- training


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
    total_steps = steps_per_epoch * config.epochs
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
        config.epochs,
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
    for epoch in range(1, config.epochs + 1):
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
                    progress(epoch, step, total_steps, float(loss_acc) / n_batches)
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
        if dev:
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
            config.epochs,
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
            if epoch < config.epochs:  # the last epoch's weights are still in the model
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}
            else:
                best_state = None

    if config.select_best and best_state is not None and best_epoch != config.epochs:
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

    dev_sents_evaluated = len(dev) * config.epochs
    return FinetuneResult(
        model_dir=output_dir,
        best_epoch=best_epoch,
        best_dev_f1=best_f1,
        history=tuple(history),
        train_wall_seconds=time.perf_counter() - t_start,
        train_loop_seconds=loop_seconds,
        train_tokens_per_second=tokens_total / loop_seconds if loop_seconds > 0 else 0.0,
        train_samples_per_second=len(feats.inputs) * config.epochs / loop_seconds
        if loop_seconds > 0
        else 0.0,
        eval_sentences_per_second=dev_sents_evaluated / eval_seconds_total
        if dev and eval_seconds_total > 0
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
    )


PARTIAL_SUFFIX = ".partial"
_PARTIAL_RE = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.(?P<kind>partial|old)")


def refuse_unfinished(directory: Path) -> None:
    """A temporary folder of :func:`atomic_model_dir` is never loaded: its save may not have finished."""
    m = _PARTIAL_RE.fullmatch(directory.name)
    if m is not None and m["kind"] == "partial":
        raise ConfigError(
            f"{directory}: the temporary folder of an interrupted model save, not a model: "
            "use the folder it was saving to, or train again"
        )


MODEL_DIR_FILES = (
    "config.json", "generation_config.json", "model.safetensors", "model-*-of-*.safetensors", SAFETENSORS_INDEX,
    "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.txt", "vocab.json", "merges.txt", "*.model", "model.crfsuite", "feature_resources.json",
    MODEL_INFO_FILE + ".tmp",
)
"""What a model folder nerbench writes may hold (older versions left these without the marker when
killed): a folder of nothing else may be replaced by a new save."""


def check_model_dir_replaceable(target: Path, *, marker: str = MODEL_INFO_FILE) -> None:
    """``target`` is absent, empty, a nerbench model folder (has ``marker``) or holds only model files
    (an older, unfinished save): a model may replace it. Anything else -- a mistyped path to a folder
    of one's own files -- is refused. Cheap: call it before training too, so it fails before the work."""
    if not target.exists():
        return
    if not target.is_dir():
        raise ConfigError(f"{target}: exists and is not a folder: the model is not saved over it")
    names = sorted(p.name for p in target.iterdir())
    if marker in names:
        return
    others = [n for n in names if not any(fnmatch.fnmatchcase(n, pat) for pat in MODEL_DIR_FILES)]
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise ConfigError(
            f"{target}: exists and is not a saved nerbench model (no {marker}; holds {shown}): "
            "not replaced; remove it or choose another folder"
        )


@contextmanager
def atomic_model_dir(directory: str | Path, *, marker: str = MODEL_INFO_FILE) -> Iterator[Path]:
    """Write a model folder so that a kill at any moment never leaves one that looks complete.

    Yields a new hidden sibling folder (``.<name>.<pid>-<hex>.partial``); the caller writes every
    file into it, ``marker`` (``nerbench_model.json``) last. On success the folder is renamed onto
    ``directory``: an existing model there is moved aside first and deleted only after the new one
    is in place. On any error the temporary folder is removed and ``directory`` is left as it was.
    An existing ``directory`` that is neither empty nor a nerbench model folder is refused
    (:func:`check_model_dir_replaceable`), so a mistyped output path never deletes anything.
    Temporary folders of saves to the same place that were killed (their process is gone) are removed.
    """
    target = Path(directory)
    check_model_dir_replaceable(target, marker=marker)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(target)
    tmp = target.parent / f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}{PARTIAL_SUFFIX}"
    tmp.mkdir()
    try:
        yield tmp
        if not (tmp / marker).is_file():
            raise RuntimeError(f"{tmp}: {marker} was not written; the model is not saved")
        if target.exists():
            old = tmp.with_name(tmp.name.removesuffix(PARTIAL_SUFFIX) + ".old")
            os.rename(target, old)
            try:
                os.rename(tmp, target)
            except BaseException:
                os.rename(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _remove_stale_partials(target: Path) -> None:
    for p in target.parent.glob(f".{glob.escape(target.name)}.*"):
        m = _PARTIAL_RE.fullmatch(p.name)
        if m is None or m["name"] != target.name or not p.is_dir() or _pid_alive(int(m["pid"])):
            continue
        log.info("removing %s, left by an interrupted save", p)
        shutil.rmtree(p, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


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
