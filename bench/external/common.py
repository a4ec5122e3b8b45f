"""What every predictions reader of :mod:`bench.external` shares: the result it builds, file digests,
the entity-type check and the notes on predicted entities that word tags can only approximate."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data.brat import BioView
from bench.data.types import Entity
from bench.errors import DataFormatError

EXAMPLES = 5
"""Examples kept per kind of reading note."""


@dataclass
class ExternalPredictions:
    """External predictions lined up with one split's gold sentences."""

    format: str
    path: Path
    sha256: str
    """Of the file read; for a BRAT folder, of the files used (see :func:`digest_files`)."""
    tags: list[list[str]]
    """IOB2 word tags, one list per gold sentence (the gold's words)."""
    spans: list[list[Entity]] | None = None
    """Predicted entities in character offsets of each gold sentence's text (span-based tasks)."""
    notes: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """What the result file records about the reading (its ``prediction`` block)."""
        return {"format": self.format, "file": self.path.name, "sha256": self.sha256,
                "reading": dict(sorted(self.stats.items())), "notes": list(self.notes)}


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_files(files: Sequence[Path]) -> str:
    """sha256 over ``name<TAB>sha256`` lines of ``files`` in the given order (a folder's fingerprint)."""
    lines = "".join(f"{p.name}\t{sha256_bytes(p.read_bytes())}\n" for p in files)
    return sha256_bytes(lines.encode())


def _check_type(etype: str, types: Sequence[str], path: Path, line: int, where: str | None = None) -> None:
    if etype not in types:
        raise DataFormatError(
            path, line, f"entity type {etype!r} is not one of the task's entity types ({', '.join(types)})",
            where=where,
        )


def _bio_notes(inexact: int, wordless: int) -> list[str]:
    """Notes on predicted entities that word tags can only approximate."""
    out = []
    if inexact:
        out.append(f"{inexact} predicted entities start or end inside a word; their words are tagged whole")
    if wordless:
        out.append(f"{wordless} predicted entities cover no word (only spaces) and are not in the word tags")
    return out


@dataclass
class _BioTally:
    """Predicted entities that a file's word tags could not hold exactly, counted over its sentences."""

    dropped: int = 0
    """Left out of the word tags: they overlap others."""
    inexact: int = 0
    """Start or end inside a word (their words are tagged whole)."""
    wordless: int = 0
    """Cover no word."""

    def tags(self, view: BioView) -> list[str]:
        """The view's word tags, with what they could not hold counted."""
        self.dropped += len(view.dropped)
        self.inexact += len(view.inexact)
        self.wordless += len(view.untokenised)
        return list(view.tags)
