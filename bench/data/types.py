"""The one in-memory shape every reader produces and every system consumes.

Systems (CRF, transformers) see words and word-level IOB2 tags; span-scored tasks (BRAT) also
carry the sentence text, each word's character offsets and the *original* gold entities, so the
scorer can compare against what the annotators wrote rather than what survived BIO encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Entity:
    """A gold or predicted entity in character offsets of its sentence text.

    ``fragments`` holds one ``(start, end)`` pair for a contiguous entity and several for a
    discontinuous one (BRAT ``T1 Concept 0 5;9 14``). ``id`` is the annotation id (``T12``) or
    empty for predictions.
    """

    type: str
    fragments: tuple[tuple[int, int], ...]
    text: str = ""
    id: str = ""

    @property
    def start(self) -> int:
        return min(s for s, _ in self.fragments)

    @property
    def end(self) -> int:
        return max(e for _, e in self.fragments)

    @property
    def is_discontinuous(self) -> bool:
        return len(self.fragments) > 1


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence: words, IOB2 tags and where it came from.

    ``source`` is ``"path:line"`` of the sentence's first line, used in every message about it.
    ``pos`` is the POS column when the format has one (a CRF feature), else ``None``.
    ``text``/``offsets``/``entities`` are set by span-based readers (BRAT, ADE): ``offsets[i]`` is
    the ``(start, end)`` of ``tokens[i]`` in ``text``; ``entities`` are the original annotations.
    """

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    source: str = ""
    doc_id: str | None = None
    pos: tuple[str, ...] | None = None
    text: str | None = None
    offsets: tuple[tuple[int, int], ...] | None = None
    entities: tuple[Entity, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.tags):
            raise ValueError(f"{self.source}: {len(self.tokens)} tokens but {len(self.tags)} tags")
        if self.pos is not None and len(self.pos) != len(self.tokens):
            raise ValueError(f"{self.source}: {len(self.tokens)} tokens but {len(self.pos)} POS tags")
        if self.offsets is not None and len(self.offsets) != len(self.tokens):
            raise ValueError(f"{self.source}: {len(self.tokens)} tokens but {len(self.offsets)} offsets")


@dataclass(slots=True)
class SplitData:
    """The sentences of one split plus what the reader had to say about them."""

    name: str
    sentences: list[Sentence]
    files: list[str] = field(default_factory=list)
    """Every file read for this split (paths as opened; the loader records them relative to the data dir)."""
    notes: list[str] = field(default_factory=list)
    """Human-readable facts about the conversion (``converted IOB1 -> IOB2``, policies applied)."""
    warnings: list[str] = field(default_factory=list)
    """What a result must carry (``data_warnings``): the data was changed to be read (tags repaired)."""
    stats: dict[str, int] = field(default_factory=dict)
    """Counters a reader keeps (e.g. ``discontinuous_entities``, ``mentions_not_found``)."""
