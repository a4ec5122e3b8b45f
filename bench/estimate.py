"""How long a transformer cell will take on this CPU, said before it starts.

A base-size model on two cores trains for tens of minutes per task; a user should know that before
the cell starts, not after. The estimate counts the floating-point work of the cell and divides it by
what this machine's matrix multiplies reach right now:

* work: ``6 N`` per training sub-token (forward + backward through the ``N`` weights of the encoder's
  linear layers) plus attention's ``12 L d w`` for a window of width ``w`` (with document context, a
  window is as wide as ``context_length``), for every epoch; ``2 N``
  (+ ``4 L d w``) per sub-token for each epoch's dev pass and for the final predictions of the
  evaluated splits. Sub-tokens per word come from the model's tokenizer on a sample of the train split.
* speed: a probe of fp32 matrix multiplies shaped like the model's feed-forward layer (the median
  of ten 0.1 s timings after a warm-up, 1.2 s in all, at the cell's thread count), times an
  efficiency factor: the share of the probe's FLOP/s that full training reaches (optimiser, layer
  norms, softmax, data handling and smaller matrices cost the rest). :data:`EFFICIENCY` was fitted
  on this project's committed CPU runs (``benchmarks/estimate_accuracy.py`` re-estimates each of
  them; ``results/benchmarks/estimate_accuracy.json``).

It is an estimate, shown as such (``~ 24 min``); nothing depends on its seconds. Only CPUs are
estimated: a GPU's speed depends on far more than a probe can see. The work alone (:func:`count_work`)
is the same on every machine: ``nerbench run --shard K/N`` balances the shards by it
(:mod:`bench.shards`), so every array task of a cluster job computes the same partition.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

EFFICIENCY = 0.68
"""Training's FLOP/s as a share of the matmul probe's (CPU, fp32): about the median over the committed CPU
runs (benchmarks/estimate_accuracy.py; 0.52-0.83 run by run, mpnet-base highest)."""

SAMPLE_SENTENCES = 1000
PROBE_SECONDS = 1.0
WARMUP_SECONDS = 0.2


@dataclass(frozen=True)
class Shape:
    """What the work depends on: layers, hidden size, the linear layers' weights."""

    layers: int
    hidden: int
    intermediate: int

    @property
    def linear_params(self) -> int:
        """Weights of the encoder's linear layers: Q, K, V, output (4 d^2) and the feed-forward (2 d f)."""
        return self.layers * (4 * self.hidden * self.hidden + 2 * self.hidden * self.intermediate)

    @classmethod
    def from_config(cls, config: Any) -> Shape | None:
        layers = getattr(config, "num_hidden_layers", None)
        hidden = getattr(config, "hidden_size", None)
        inter = getattr(config, "intermediate_size", None) or (4 * hidden if isinstance(hidden, int) else None)
        if not all(isinstance(v, int) and v > 0 for v in (layers, hidden, inter)):
            return None
        return cls(layers, hidden, inter)


@dataclass(frozen=True)
class Widths:
    """Sub-token counts of a split's windows: their sum and the sum of their squares (attention)."""

    total: float
    squares: float

    @classmethod
    def sampled(cls, lengths: Sequence[int], n_sentences: int, *, max_length: int, context_width: int = 0) -> Widths:
        """Scale the sampled windows' widths (+ 2 specials) up to ``n_sentences``. With document context a
        window is filled with neighbouring words up to ``context_width`` sub-tokens."""
        if not lengths or n_sentences == 0:
            return cls(0.0, 0.0)
        widths = [max(min(max_length, n + 2), min(max_length, context_width)) for n in lengths]
        scale = n_sentences / len(lengths)
        return cls(sum(widths) * scale, sum(w * w for w in widths) * scale)


@dataclass(frozen=True)
class Estimate:
    seconds: float
    train_flops: float
    eval_flops: float
    probe_gflops: float
    efficiency: float
    subtokens_per_word: float
    threads: int
    method: str = "FLOP count / (fp32 matmul probe x efficiency); see bench/estimate.py"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["seconds"] = round(self.seconds, 1)
        d["probe_gflops"] = round(self.probe_gflops, 1)
        d["subtokens_per_word"] = round(self.subtokens_per_word, 3)
        return d

    def text(self) -> str:
        return (f"estimated {format_duration(self.seconds)} on {self.threads} CPU thread(s) "
                f"({(self.train_flops + self.eval_flops) / 1e15:.2f} PFLOP at {self.probe_gflops:.0f} GFLOP/s "
                f"x {self.efficiency:.2f})")


def format_duration(seconds: float) -> str:
    """``~ 45 s``, ``~ 12 min``, ``~ 2.4 h``.

    >>> format_duration(44.2), format_duration(725), format_duration(8600)
    ('~ 44 s', '~ 12 min', '~ 2.4 h')
    """
    if seconds < 90:
        return f"~ {seconds:.0f} s"
    if seconds < 5400:
        return f"~ {seconds / 60:.0f} min"
    return f"~ {seconds / 3600:.1f} h"


def work(shape: Shape, train: Widths, evals: Sequence[Widths], *, epochs: int) -> tuple[float, float]:
    """``(training FLOPs, evaluation FLOPs)``: every epoch's forward+backward over ``train``, and one
    forward pass over each of ``evals`` (each epoch's dev pass, the final predictions).

    >>> s = Shape(layers=1, hidden=2, intermediate=8)
    >>> s.linear_params
    48
    >>> work(s, Widths(10, 100), [Widths(5, 25)], epochs=2)
    (10560.0, 680.0)
    """
    n = shape.linear_params
    attn = shape.layers * shape.hidden
    train_flops = epochs * (6 * n * train.total + 12 * attn * train.squares)
    eval_flops = sum(2 * n * w.total + 4 * attn * w.squares for w in evals)
    return float(train_flops), float(eval_flops)


def matmul_probe_gflops(shape: Shape, *, threads: int, seconds: float = PROBE_SECONDS, trials: int = 10) -> float:
    """fp32 GFLOP/s of ``(1024 x d) @ (d x f)`` multiplies on ``threads`` threads: the median of
    ``trials`` timings of ``seconds / trials`` each, after :data:`WARMUP_SECONDS` of warm-up (in a fresh
    process the first multiplies are slow). On the 2-core machines here single 0.1 s timings range
    from 120 to 200 GFLOP/s within seconds, with occasional dips below 100: the median of ten keeps one
    dip from doubling an estimate."""
    import statistics

    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        a = torch.randn(1024, shape.hidden)
        b = torch.randn(shape.hidden, shape.intermediate)
        c = torch.empty(1024, shape.intermediate)  # no allocation (and page faults) per multiply
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < WARMUP_SECONDS:
            torch.matmul(a, b, out=c)
        rates = []
        for _ in range(trials):
            reps, t0 = 0, time.perf_counter()
            while True:
                torch.matmul(a, b, out=c)
                reps += 1
                elapsed = time.perf_counter() - t0
                if elapsed >= seconds / trials:
                    break
            rates.append(2 * 1024 * shape.hidden * shape.intermediate * reps / elapsed / 1e9)
        return statistics.median(rates)
    finally:
        torch.set_num_threads(before)


@functools.lru_cache(maxsize=8)
def _probe(shape: Shape, threads: int) -> float:
    """One probe per model shape and thread count in a process (``--dry-run`` estimates many cells)."""
    return matmul_probe_gflops(shape, threads=threads)


def sample_lengths(tokenizer: Any, sentences: Sequence[Sequence[str]], *, limit: int = SAMPLE_SENTENCES) -> tuple[list[int], float]:
    """Sub-tokens of up to ``limit`` evenly spaced sentences, and the sample's sub-tokens per word."""
    if not sentences:
        return [], 1.0
    step = max(1, math.ceil(len(sentences) / limit))
    sample = [list(s) for s in sentences[::step] if len(s)]
    if not sample:
        return [], 1.0
    enc = tokenizer(sample, is_split_into_words=True, add_special_tokens=False, truncation=False)
    lengths = [len(ids) for ids in enc["input_ids"]]
    words = sum(len(s) for s in sample)
    return lengths, (sum(lengths) / words if words else 1.0)


FALLBACK_SHAPE = Shape(layers=12, hidden=768, intermediate=3072)
"""The shape :func:`count_work` counts when a model's config cannot be read without the hub (shard balancing,
which never reads the hub or its cache): BERT-base, the size of every hub model the shipped suites name."""
FALLBACK_SUBTOKENS_PER_WORD = 1.4
"""Sub-tokens per word :func:`count_work` counts without the model's tokenizer: the middle of what MiniLM-L6's
WordPiece gives on the shipped tasks (1.23 on CoNLL-2003, 1.31 BC5CDR, 1.44 ADE, 1.6 WNUT-17, 1.83 eHealth-KD)."""


def count_work(
    *,
    shape: Shape,
    tokenizer: Any | None,
    train: Sequence[Sequence[str]],
    dev: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[Sequence[str]]],
    epochs: int,
    max_length: int,
    context_width: int,
    dev_passes: int | None = None,
) -> tuple[float, float, float]:
    """``(training FLOPs, evaluation FLOPs, sub-tokens per word)`` of one transformer cell: the work part of
    the estimate, the same on every machine (no probe, no thread count). ``tokenizer=None`` counts
    :data:`FALLBACK_SUBTOKENS_PER_WORD` sub-tokens per word.

    ``predicted``: the word lists of each split the cell predicts after training; ``context_width``:
    the window width document context fills up to (``context_length``; 0 without ``context = "document"``);
    ``dev_passes``: how often dev is evaluated (default: once per epoch).
    """
    if tokenizer is None:
        ratio = FALLBACK_SUBTOKENS_PER_WORD
        step = max(1, math.ceil(len(train) / SAMPLE_SENTENCES))
        lengths = [max(1, round(len(s) * ratio)) for s in train[::step] if len(s)]
    else:
        lengths, ratio = sample_lengths(tokenizer, train)

    def widths(words: Sequence[Sequence[str]]) -> Widths:
        if words is train:
            sampled = lengths
        else:  # the train split's sub-tokens per word, on this split's word counts
            step = max(1, math.ceil(len(words) / SAMPLE_SENTENCES))
            sampled = [max(1, round(len(s) * ratio)) for s in words[::step]]
        return Widths.sampled(sampled, len(words), max_length=max_length, context_width=context_width)

    dev_w = widths(dev)
    evals = [dev_w] * (epochs if dev_passes is None else dev_passes) + [widths(s) for s in predicted]
    train_flops, eval_flops = work(shape, widths(train), evals, epochs=epochs)
    return train_flops, eval_flops, ratio


def estimate_transformer(
    *,
    config: Any,
    tokenizer: Any,
    train: Sequence[Sequence[str]],
    dev: Sequence[Sequence[str]],
    predicted: Sequence[Sequence[Sequence[str]]],
    epochs: int,
    max_length: int,
    context_width: int,
    threads: int,
    dev_passes: int | None = None,
) -> Estimate | None:
    """The estimate for one transformer cell on the CPU, or None when the model's shape is unknown: the
    work of :func:`count_work` over this machine's probed speed (see :func:`count_work` for the arguments)."""
    shape = Shape.from_config(config)
    if shape is None:
        return None
    train_flops, eval_flops, ratio = count_work(
        shape=shape, tokenizer=tokenizer, train=train, dev=dev, predicted=predicted, epochs=epochs,
        max_length=max_length, context_width=context_width, dev_passes=dev_passes)
    gflops = _probe(shape, threads)
    seconds = (train_flops + eval_flops) / (gflops * 1e9 * EFFICIENCY)
    return Estimate(seconds, train_flops, eval_flops, gflops, EFFICIENCY, ratio, threads)
