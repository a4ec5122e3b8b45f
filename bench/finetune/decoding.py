"""Decoding word tags from word-level label log-probabilities: constrained IOB2 Viterbi or per-word argmax."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from bench.errors import ConfigError
from bench.finetune.config import DECODES


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
