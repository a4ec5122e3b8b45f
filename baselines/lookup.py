"""The ``lookup`` baseline: the CoNLL-2003 shared task's baseline, a memorised list of training entities.

Tjong Kim Sang and De Meulder (2003) computed their baseline with "a system which only identified
entities which had a unique class in the training data. If a phrase was part of more than one
entity, the system would select the longest one." This is that system, on any task's words:

* train: every entity of the train split (its exact word sequence) with its type; a phrase seen
  with more than one type is dropped (it has no unique class), and so is one seen fewer than
  ``min_count`` times;
* predict: left to right, the longest phrase of the list that starts at the current word is tagged
  (``B-`` then ``I-``) and skipped over; otherwise the word is ``O``. Matching is exact, or
  case-folded with ``case_sensitive = false``.

It answers "how much of the F1 is recognising what was in the training data?": it finds no unseen
mention by construction, so the report's seen/unseen columns set every other system against it.
It trains in seconds and is deterministic. It is also the example of the README's "Adding a system":
this model module, its system kind (:mod:`bench.systems.lookup`, about 60 lines) and one line in
:func:`bench.systems._register` are all it took.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.data.schemes import tags_to_spans
from bench.errors import ConfigError, NerbenchError
from bench.modeldir import MODEL_INFO_FILE

LEXICON_FILE = "lexicon.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class LookupConfig:
    case_sensitive: bool = True
    """Match the words exactly (the published baseline); false case-folds both sides."""
    min_count: int = 1
    """Keep a phrase seen at least this often in train (with its one type)."""
    seed: int = 0
    """Unused (the lookup is deterministic); accepted so every kind takes a seed."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def config_from_params(params: Mapping[str, Any], *, seed: int | None = None) -> LookupConfig:
    from baselines.crf import config_of

    config = config_of(LookupConfig, params, seed=seed, what="lookup")
    if config.min_count < 1:
        raise ConfigError(f"lookup parameter min_count must be >= 1, got {config.min_count}")
    return config


class LookupModelError(NerbenchError):
    """A lookup model folder that cannot be read."""


def _phrase(words: Sequence[str], *, case_sensitive: bool) -> tuple[str, ...]:
    return tuple(words) if case_sensitive else tuple(w.casefold() for w in words)


class LookupModel:
    """The unique-class phrase list and the longest-match tagger over it."""

    def __init__(self, phrases: dict[tuple[str, ...], str], *, config: LookupConfig, labels: Sequence[str],
                 stats: dict[str, Any] | None = None) -> None:
        self.phrases = phrases
        self.config = config
        self.labels = list(labels)
        self.stats = stats or {}
        self.longest = max((len(p) for p in phrases), default=0)


    @classmethod
    def train(cls, sentences: Sequence[Any], *, config: LookupConfig, labels: Sequence[str]) -> LookupModel:
        """``sentences``: objects with ``tokens`` and IOB2 ``tags`` (the task's train split).

        >>> from bench.data.types import Sentence
        >>> s = [Sentence(("New", "York", "Times"), ("B-ORG", "I-ORG", "I-ORG")),
        ...      Sentence(("New", "York", "is", "big"), ("B-LOC", "I-LOC", "O", "O")),
        ...      Sentence(("Washington", "spoke"), ("B-PER", "O")), Sentence(("Washington",), ("B-LOC",))]
        >>> m = LookupModel.train(s, config=LookupConfig(), labels=["O"])
        >>> sorted(m.phrases.items()), m.stats["ambiguous_phrases"]
        ([(('New', 'York'), 'LOC'), (('New', 'York', 'Times'), 'ORG')], 1)
        >>> m.tag(["The", "New", "York", "Times", "in", "New", "York", ",", "Washington"])
        ['O', 'B-ORG', 'I-ORG', 'I-ORG', 'O', 'B-LOC', 'I-LOC', 'O', 'O']
        """
        t0 = time.perf_counter()
        seen: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
        words = 0
        for s in sentences:
            words += len(s.tokens)
            for etype, start, end in tags_to_spans(s.tags):
                seen[_phrase(s.tokens[start:end], case_sensitive=config.case_sensitive)][etype] += 1
        phrases = {p: next(iter(c)) for p, c in seen.items() if len(c) == 1 and sum(c.values()) >= config.min_count}
        stats = {
            "train_seconds": time.perf_counter() - t0, "train_tokens": words, "train_sentences": len(sentences),
            "phrases": len(phrases), "ambiguous_phrases": sum(len(c) > 1 for c in seen.values()),
            "rare_phrases": sum(len(c) == 1 and sum(c.values()) < config.min_count for c in seen.values()),
        }
        return cls(phrases, config=config, labels=labels, stats=stats)

    def tag(self, words: Sequence[str]) -> list[str]:
        keys = _phrase(words, case_sensitive=self.config.case_sensitive)
        out = ["O"] * len(words)
        i = 0
        while i < len(keys):
            for n in range(min(self.longest, len(keys) - i), 0, -1):
                etype = self.phrases.get(keys[i:i + n])
                if etype is not None:
                    out[i] = f"B-{etype}"
                    out[i + 1:i + n] = [f"I-{etype}"] * (n - 1)
                    i += n
                    break
            else:
                i += 1
        return out

    # ------------------------------------------------------------------ folder
    def save(self, directory: Path) -> None:
        """``lexicon.json`` (phrases, sorted) and ``nerbench_model.json`` (its sha256, labels, config),
        atomically (:func:`bench.modeldir.atomic_model_dir`)."""
        from bench.modeldir import atomic_model_dir

        lexicon = json.dumps(sorted([list(p), t] for p, t in self.phrases.items()), ensure_ascii=False)
        with atomic_model_dir(directory, marker=MODEL_INFO_FILE) as tmp:
            (tmp / LEXICON_FILE).write_text(lexicon, encoding="utf-8")
            meta = {"kind": "lookup", "format_version": FORMAT_VERSION, "labels": self.labels,
                    "config": self.config.to_dict(), "lexicon_file": LEXICON_FILE,
                    "lexicon_sha256": hashlib.sha256(lexicon.encode("utf-8")).hexdigest(), "stats": self.stats}
            (tmp / MODEL_INFO_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> LookupModel:
        from bench.modeldir import read_json_object, refuse_unfinished

        refuse_unfinished(directory)
        meta = read_json_object(directory / MODEL_INFO_FILE, what="the lookup model description")
        if meta.get("kind") != "lookup" or meta.get("format_version") != FORMAT_VERSION:
            raise LookupModelError(f"{directory / MODEL_INFO_FILE}: not a lookup model of format {FORMAT_VERSION}")
        path = directory / LEXICON_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise LookupModelError(f"{path}: cannot read: {exc.strerror}; the model folder is incomplete") from None
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != meta.get("lexicon_sha256"):
            raise LookupModelError(f"{path}: checksum differs from {MODEL_INFO_FILE} (file changed)")
        phrases = {tuple(p): t for p, t in json.loads(text)}
        return cls(phrases, config=config_from_params(meta["config"]), labels=meta["labels"],
                   stats=meta.get("stats"))
