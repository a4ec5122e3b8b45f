"""Fine-tuning configuration (:class:`FinetuneConfig`), the batch-cost model it refers to, and results.

Torch-free: the suite loader imports :class:`FinetuneConfig` in processes that never train.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ConfigError, range_problem

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DECODES = ("viterbi", "argmax")
CONTEXTS = ("sentence", "document")
MAX_EPOCHS = 1000
MAX_MIN_STEPS = 10**7
MAX_BATCH = 65536
"""Upper bound of ``batch_size``, ``eval_batch_size``, ``grad_accumulation`` and ``mega_batch_factor``."""
MAX_WINDOW = 65536
"""Upper bound of ``max_length`` and ``context_length`` (sub-tokens per window)."""
MAX_THREADS = 1024
LEGACY_DECODE = "argmax"
"""How a model folder saved before ``decode`` existed is decoded: the way it was evaluated."""


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
    """Peak AdamW learning rate, reached after the warm-up, then decayed linearly to 0."""
    weight_decay: float = 0.01
    """AdamW weight decay on weights (not on biases and normalisation parameters)."""
    warmup_ratio: float = 0.1
    """Share of the optimiser steps over which the learning rate rises linearly from 0."""
    epochs: int = 3
    """Passes over the training set (raised by ``min_steps``)."""
    batch_size: int = 16
    """Training windows per optimiser step (per rank, before ``grad_accumulation``)."""
    eval_batch_size: int = 64
    """Windows per forward pass when predicting (dev selection, evaluation)."""
    max_length: int = 512
    """Sub-tokens per window, capped by the model's own limit."""
    stride: int = 128
    """Sub-tokens of context shared by consecutive windows of a long sentence."""
    label_all_tokens: bool = False
    """Train on every sub-token of a word (a ``B-X`` word's later pieces as ``I-X``); else on its first only."""
    seed: int = 42
    """Seed of initialisation, shuffling and dropout; the runner sets each cell's seed."""
    device: str = "auto"
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``."""
    precision: str = "auto"
    """``auto``: bf16 autocast on GPUs that support it, else fp16 + GradScaler; fp32 on CPU."""
    deterministic: bool = False
    """Ask torch for deterministic kernels (slower; warns where none exists)."""
    grad_accumulation: int = 1
    """Batches whose gradients add up to one optimiser step."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm (0: no clipping)."""
    max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS
    """Padded positions (windows x the longest window, :func:`batch_cost`) one forward pass may hold. A batch over it is
    run as several micro-batches whose gradients add up to the batch's (each loss weighted by its
    share of the batch's labelled words), so the recipe is unchanged and memory stays bounded when a
    corpus has a huge "sentence" (a missing sentence break gives full 512-sub-token windows batched
    at full batch size). Prediction batches respect it too. 0 = no limit."""
    group_by_length: bool = True
    """Batch windows of similar length (less padding); see ``mega_batch_factor``."""
    mega_batch_factor: int = 50
    """Length grouping sorts windows inside random chunks of ``mega_batch_factor * batch_size``."""
    select_best: bool = True
    """Keep the epoch with the best dev strict F1, evaluating dev after every epoch; else keep the last
    epoch and do not evaluate dev at all (nothing would be selected with it)."""
    min_steps: int = 0
    """Train at least this many optimiser steps: on a small training set (a learning curve's first points)
    the epochs are raised until epochs x steps per epoch reaches it (:meth:`epochs_for`); 0: ``epochs`` as given."""
    max_train_sentences: int | None = None
    """Train on the first N training sentences only (a quick run)."""
    torch_threads: int | None = None
    """CPU threads for torch (0 or unset: torch's default); under Ray, CPU slots a cell asks for."""
    adam_epsilon: float = 1e-8
    """AdamW epsilon."""
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
        ranges = [
            range_problem("learning_rate", self.learning_rate, 0, 1, low_open=True),
            range_problem("weight_decay", self.weight_decay, 0.0, 1.0),
            range_problem("warmup_ratio", self.warmup_ratio, 0, 1, high_open=True),
            range_problem("adam_epsilon", self.adam_epsilon, 0, 1, low_open=True),
            range_problem("max_grad_norm", self.max_grad_norm, 0, note=" (0: no clipping)"),
            range_problem("epochs", self.epochs, 1, MAX_EPOCHS),
            range_problem("min_steps", self.min_steps, 0, MAX_MIN_STEPS, note=" (0: epochs as given)"),
            range_problem("batch_size", self.batch_size, 1, MAX_BATCH),
            range_problem("eval_batch_size", self.eval_batch_size, 1, MAX_BATCH),
            range_problem("grad_accumulation", self.grad_accumulation, 1, MAX_BATCH),
            range_problem("mega_batch_factor", self.mega_batch_factor, 1, MAX_BATCH),
            range_problem("max_length", self.max_length, 8, MAX_WINDOW),
            range_problem("context_length", self.context_length, 8, MAX_WINDOW),
            range_problem("max_batch_tokens", self.max_batch_tokens, 0, 2**40, note=" (0: no limit)"),
        ]
        if self.torch_threads is not None:
            ranges.append(range_problem("torch_threads", self.torch_threads, 0, MAX_THREADS,
                                        note=" (0 or unset: torch's default)"))
        problems.extend(p for p in ranges if p)
        if not 0 <= self.stride < self.max_length // 2:
            problems.append(f"stride must be in [0, max_length/2), got {self.stride}")
        if self.max_train_sentences is not None and self.max_train_sentences < 1:
            problems.append(f"max_train_sentences must be >= 1, got {self.max_train_sentences}")
        if self.context not in CONTEXTS:
            problems.append(f"context must be one of {', '.join(CONTEXTS)}, got {self.context!r}")
        if self.decode not in DECODES:
            problems.append(f"decode must be one of {', '.join(DECODES)}, got {self.decode!r}")
        if problems:
            raise ConfigError("finetune config: " + "; ".join(problems))

    def epochs_for(self, steps_per_epoch: int) -> int:
        """The epochs to run for ``steps_per_epoch`` optimiser steps per epoch: ``epochs``, raised to reach
        ``min_steps`` (and at most :data:`MAX_EPOCHS`).

        >>> FinetuneConfig(epochs=3, min_steps=100).epochs_for(4), FinetuneConfig(epochs=3, min_steps=100).epochs_for(63)
        (25, 3)
        """
        if self.min_steps and steps_per_epoch > 0:
            return min(MAX_EPOCHS, max(self.epochs, math.ceil(self.min_steps / steps_per_epoch)))
        return self.epochs

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
    kernels: dict[str, Any] = field(default_factory=dict)
    """What the passes ran on: attention implementation (``sdpa``), optimiser (fused AdamW or not),
    autocast precision, pinned host batches (CUDA)."""

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model_dir"] = str(self.model_dir)
        d["history"] = [dataclasses.asdict(h) for h in self.history]
        return d
