"""Training subsets for learning curves: nested, seeded, and whole documents where the task has them.

For seed ``k`` every unit of the train split (a document when every training sentence names its
document, else a sentence) gets a rank, ``sha256("<k>\\0<unit key>")``; a subset of size ``n`` takes
units in rank order until it holds at least ``n`` sentences. The same ranking serves every size of a
seed, so the subsets of one seed are nested (the 250 contain the 100); the ranking depends on the
seed and on the units' own keys (document ids, or sentence positions), not on a library's random
generator, so any machine and any Python draws the same subset. The chosen sentences keep the
split's order. A subset is identified by the sha256 of its sorted sentence indices, recorded with the
numbers of sentences, tokens, entity mentions and documents it actually holds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from bench.data.types import Sentence
from bench.errors import ConfigError

SUBSET_VERSION = 1
"""Bumped when the drawing rule changes: it is part of a sized cell's key, so old results go stale."""


@dataclass(frozen=True)
class TrainSubset:
    size: int
    """The number of sentences asked for (the subset holds at least this many)."""
    seed: int
    unit: str
    """``"document"`` or ``"sentence"``: what was drawn whole."""
    indices: tuple[int, ...]
    """Positions in the train split, ascending."""
    sentences: list[Sentence]
    documents: int | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(list(self.indices)).encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        """The ``train_subset`` block of a result."""
        return {
            "size": self.size, "seed": self.seed, "unit": self.unit, "version": SUBSET_VERSION,
            "sentences": len(self.sentences), "tokens": sum(len(s.tokens) for s in self.sentences),
            "entities": sum(t.startswith("B-") for s in self.sentences for t in s.tags),
            "documents": self.documents, "sha256": self.sha256,
        }


def units(train: list[Sentence]) -> tuple[str, list[tuple[str, list[int]]]]:
    """``(unit, [(key, sentence indices)])``: documents in first-appearance order when every sentence
    names its document, else one unit per sentence (its position is its key)."""
    if train and all(s.doc_id for s in train):
        docs: dict[str, list[int]] = {}
        for i, s in enumerate(train):
            docs.setdefault(str(s.doc_id), []).append(i)
        return "document", list(docs.items())
    return "sentence", [(str(i), [i]) for i in range(len(train))]


def _rank(seed: int, key: str) -> bytes:
    return hashlib.sha256(f"{seed}\0{key}".encode()).digest()


def draw_train_subset(train: list[Sentence], size: int, seed: int, *, task: str = "") -> TrainSubset:
    """The subset of ``train`` of at least ``size`` sentences for ``seed`` (see the module docs)."""
    where = f"task {task}: " if task else ""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"{where}a training size must be a positive number of sentences, got {size!r}")
    why = check_train_size(size, len(train), task=task or "?")
    if why:
        raise ConfigError(why)
    unit, found = units(train)
    chosen: list[int] = []
    n_units = 0
    for _, members in sorted(found, key=lambda kv: _rank(seed, kv[0])):
        if len(chosen) >= size:
            break
        chosen.extend(members)
        n_units += 1
    indices = tuple(sorted(chosen))
    return TrainSubset(size=size, seed=seed, unit=unit, indices=indices, sentences=[train[i] for i in indices],
                       documents=n_units if unit == "document" else None)


def check_train_size(size: int, n_train: int, *, task: str) -> str | None:
    """Why ``size`` cannot be drawn from a train split of ``n_train`` sentences, or ``None``."""
    if size > n_train:
        return (f"task {task}: training size {size} is more than the {n_train} sentences of its train split "
                "(use \"all\" for the whole split)")
    return None
