"""Fine-tune a transformer encoder for word-level NER, and predict word tags with it.

A plain PyTorch loop rather than ``transformers.Trainer``: not for speed (on a CPU the Trainer with
length grouping trains as fast, ``results/benchmarks/trainer_vs_nerbench.json``), but for what NER
needs and the Trainer does not do: windows that keep every word of a long sentence, a token budget
per forward pass, document context, and dev selection on word-level F1 under constrained decoding.
Windows are tokenized once, batches are grouped by sub-token length (seeded), padded only to their
own longest window, and the attention mask is dropped when a batch has no padding. Everything else
follows the classic recipe (AdamW, no decay on bias/LayerNorm, linear warm-up/decay, gradient
clipping) and is set in :class:`FinetuneConfig`.

Evaluation is always on *words*: a word's label log-probabilities are the log-softmax of the logits
at its first sub-token in the one window that owns it (:mod:`bench.align`). Tags are decoded from
them with constrained Viterbi by default (:func:`viterbi_decode`: the likeliest *valid* IOB2
sequence, so no ``I-X`` continues nothing) or per-word argmax (``decode = "argmax"``). Dev strict F1
(seqeval ``mode="strict"``, IOB2) under the configured decoding chooses the epoch whose weights are
saved, and the decoding is saved with the model so prediction decodes the same way.

The same code runs under ``torchrun``/``accelerate launch``: when ``WORLD_SIZE > 1`` it joins the
process group (gloo on CPU, nccl on CUDA), wraps the model in DDP, gives each rank its share of
the length-grouped batches, gathers dev predictions and metrics, and only rank 0 writes files.

The package, in the order a run uses it (importing it loads neither torch nor transformers; each
function imports them when called):

- :mod:`bench.finetune.config`: :class:`FinetuneConfig`, :func:`batch_cost`, :class:`EpochStats`, :class:`FinetuneResult`;
- :mod:`bench.finetune.runtime`: device, precision, autocast, seeding, the DDP process group;
- :mod:`bench.finetune.batching`: length-grouped batches, rank shards, token-budget micro-batches, padding;
- :mod:`bench.finetune.features`: labelled training windows;
- :mod:`bench.finetune.optim`: AdamW parameter groups and the warm-up/decay schedule;
- :mod:`bench.finetune.decoding`: constrained IOB2 Viterbi and argmax decoding;
- :mod:`bench.finetune.predict`: loading a model folder, word log-probabilities, word tags;
- :mod:`bench.finetune.loop`: the epoch loop: micro-batched steps, dev evaluation, dev selection;
- :mod:`bench.finetune.train`: the training run around it (checks, windows, optimizer, schedule) and saving.

Model-folder helpers shared with the other system kinds (:func:`~bench.modeldir.atomic_model_dir`,
:func:`~bench.modeldir.read_json_object`, ...) live in :mod:`bench.modeldir`.
"""

from __future__ import annotations

from bench.finetune.batching import budget_batches, collate, length_grouped_batches, shard_batches, split_by_tokens
from bench.finetune.config import (
    ATTENTION_WIDTH,
    CONTEXTS,
    DECODES,
    DEFAULT_MAX_BATCH_TOKENS,
    DEVICES,
    LEGACY_DECODE,
    PRECISIONS,
    EpochStats,
    FinetuneConfig,
    FinetuneResult,
    batch_cost,
)
from bench.finetune.decoding import check_decode, decode_log_probs, iob2_constraints, viterbi_decode
from bench.finetune.features import Features, build_features, encoding_stats
from bench.finetune.loop import _evaluate_dev as _evaluate_dev
from bench.finetune.optim import _make_optimizer as _make_optimizer
from bench.finetune.optim import linear_warmup_schedule, parameter_groups
from bench.finetune.predict import (
    WEIGHT_FILES,
    LoadedModel,
    check_weights,
    load_trained,
    predict_words,
    word_log_probs,
)
from bench.finetune.runtime import (
    DistContext,
    init_distributed,
    local_rank_from_env,
    resolve_device,
    resolve_precision,
    seed_everything,
)
from bench.finetune.train import ProgressFn, finetune
from bench.finetune.train import _save as _save

__all__ = [
    "ATTENTION_WIDTH",
    "CONTEXTS",
    "DECODES",
    "DEFAULT_MAX_BATCH_TOKENS",
    "DEVICES",
    "LEGACY_DECODE",
    "PRECISIONS",
    "WEIGHT_FILES",
    "DistContext",
    "EpochStats",
    "Features",
    "FinetuneConfig",
    "FinetuneResult",
    "LoadedModel",
    "ProgressFn",
    "batch_cost",
    "budget_batches",
    "build_features",
    "check_decode",
    "check_weights",
    "collate",
    "decode_log_probs",
    "encoding_stats",
    "finetune",
    "init_distributed",
    "iob2_constraints",
    "length_grouped_batches",
    "linear_warmup_schedule",
    "load_trained",
    "local_rank_from_env",
    "parameter_groups",
    "predict_words",
    "resolve_device",
    "resolve_precision",
    "seed_everything",
    "shard_batches",
    "split_by_tokens",
    "viterbi_decode",
    "word_log_probs",
]
