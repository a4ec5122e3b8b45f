"""Prediction: load a trained model folder (checked before ``transformers`` sees it), run it over sentences
(word-level log-probabilities), and decode word tags."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.align import EncodedSentence, encode_batch, first_subtoken_positions
from bench.data.types import Sentence
from bench.errors import ConfigError
from bench.finetune.batching import budget_batches, collate
from bench.finetune.config import DEFAULT_MAX_BATCH_TOKENS, LEGACY_DECODE
from bench.finetune.decoding import check_decode, decode_log_probs
from bench.finetune.features import encoding_stats
from bench.finetune.runtime import _autocast, resolve_device, resolve_precision
from bench.modeldir import MODEL_INFO_FILE, SAFETENSORS_INDEX, read_json_object, refuse_unfinished
from bench.models import model_max_length

# One logger for the whole package, as when it was one module: log lines keep their "bench.finetune" name.
log = logging.getLogger("bench.finetune")


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


WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


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


def _words(s: Sentence | Sequence[str]) -> Sequence[str]:
    return s.tokens if isinstance(s, Sentence) else s


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
