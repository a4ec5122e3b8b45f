"""What a loaded task is (:class:`TaskData`) and the steps every source shares to make one: the scheme
check, the digest of the sentences themselves, the label check and the combined fingerprint.

Both :mod:`bench.data.load` (local folders) and :mod:`bench.data.hub` (Hugging Face datasets) build
on it; neither imports the other for it. Its names stay importable from :mod:`bench.data.load`.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.data.schemes import tags_to_spans
from bench.data.types import Sentence, SplitData
from bench.errors import ConfigError, DataFormatError
from bench.spec import TaskSpec

log = logging.getLogger("bench.data.load")
"""The loader's logger: the label warnings are logged under the name they always had."""


@dataclass
class TaskData:
    """One task's splits as loaded, with their fingerprints, the warnings results carry and where they came from."""

    task: TaskSpec
    splits: dict[str, SplitData]
    source: str
    """``local:<folder relative to the data dir>`` or ``hub:<dataset>@<revision>``."""
    fingerprint: str
    split_fingerprints: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    """What every result carries as ``data_warnings``: repaired tags, types unseen in train."""
    provenance: dict[str, Any] = field(default_factory=dict)
    """Local: ``{"kind": "local", "folder", "files": {path relative to the data dir: sha256},
    "reader_options"}``; hub: ``{"kind": "hub", "dataset", "revision", "config"}``."""

    @property
    def labels(self) -> list[str]:
        """IOB2 label list in a fixed order: O, then B-/I- per entity type in task order."""
        types = list(self.task.entity_types)
        return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]

    def sentences(self, split: str) -> list[Sentence]:
        try:
            return self.splits[split].sentences
        except KeyError:
            raise ConfigError(f"task {self.task.name} has no '{split}' split (has: {', '.join(self.splits)})") from None


def content_digest(sentences: list[Sentence]) -> str:
    """sha256 of the words and tags themselves, for data that did not come from files (hub)."""
    h = hashlib.sha256()
    for s in sentences:
        h.update("\x1f".join(s.tokens).encode())
        h.update(b"\x1e")
        h.update("\x1f".join(s.tags).encode())
        h.update(b"\x1d")
    return h.hexdigest()


def check_scheme(task: TaskSpec, format_name: str, schemes: frozenset[str]) -> None:
    """The task's declared scheme must be one its format reads (``spans`` for span formats)."""
    if task.scheme not in schemes:
        raise ConfigError(
            f"{task.origin or task.name}: scheme '{task.scheme}' does not fit format '{format_name}' "
            f"(it reads {', '.join(sorted(schemes))})"
        )


def finish_task_data(
    task: TaskSpec,
    splits: dict[str, SplitData],
    source: str,
    split_fps: dict[str, str],
    provenance: dict[str, Any],
) -> TaskData:
    """The task data of ``splits`` as read from ``source``: the combined fingerprint over the split
    fingerprints, the label check (its warnings logged) and every warning a result must carry."""
    combined = hashlib.sha256("".join(f"{k}={split_fps[k]};" for k in sorted(split_fps)).encode()).hexdigest()
    data = TaskData(task, splits, source, combined, split_fps, provenance=provenance)
    # Split warnings were logged by the readers; check_labels' are logged here.
    label_warnings = check_labels(data)
    for w in label_warnings:
        log.warning(w)
    data.warnings = [w for sd in splits.values() for w in sd.warnings] + label_warnings
    return data


def check_labels(data: TaskData) -> list[str]:
    """Entity types outside the task's list are an error; types unseen in train are a warning, counted."""
    declared = set(data.task.entity_types)
    seen: dict[str, Counter[str]] = {}
    for name, sd in data.splits.items():
        c: Counter[str] = Counter()
        for s in sd.sentences:
            for etype, _, _ in tags_to_spans(s.tags):
                if etype not in declared:
                    raise DataFormatError.at(
                        s.source,
                        f"entity type '{etype}' is not one of the task's entity_types "
                        f"({', '.join(data.task.entity_types)})",
                    )
                c[etype] += 1
        seen[name] = c
    warnings = []
    train = seen.get("train", Counter())
    for name, c in seen.items():
        if name == "train":
            continue
        for etype, n in sorted(c.items()):
            if etype not in train:
                warnings.append(f"task {data.task.name}: type '{etype}' occurs {n} time(s) in {name} but never in train")
    return warnings
