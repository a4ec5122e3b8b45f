"""Training features: sentences encoded into labelled sub-token windows (:mod:`bench.align`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.align import IGNORE_INDEX, EncodedSentence, b_to_i_map, encode_batch, window_labels
from bench.data.types import Sentence
from bench.errors import ConfigError


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
