"""The word-level IOB2 view of character-offset entities, both ways, and the words it is built on.

Span-annotated corpora (BRAT, ADE) keep their gold entities as character fragments; taggers need
word-level IOB2 tags, so the tags are a *view* built by two explicit policies:

* ``discontinuous`` -- ``fragments`` (default: each fragment its own B-/I- run), ``span`` (min start
  to max end as one run) or ``first`` (only the first fragment). Fragments separated only by
  whitespace are joined first (``join_whitespace_gaps``, default on): eHealth-KD writes one fragment
  per word, so ``leucemia linfocítica crónica`` is three fragments of one contiguous entity.
* ``overlap`` -- ``longest`` (default: the entity covering more characters keeps its tags, the
  other stays in ``Sentence.entities`` only and is counted), ``first`` (earlier start wins) or
  ``error``.

Words come from :func:`tokenize`; a word that an entity boundary cuts is split at the boundary
(:func:`split_tokens_at`) so every gold span is representable exactly. :func:`bio_to_entities` turns
word tags back into character spans (what the scorer compares with the original fragments).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bench.data.schemes import tags_to_spans
from bench.data.types import Entity
from bench.errors import ConfigError

DISCONTINUOUS_POLICIES = ("fragments", "span", "first")
OVERLAP_POLICIES = ("longest", "first", "error")

TOKEN_RE = re.compile(r"[^\W_]+|\S")
"""A run of letters/digits (any script, accents included) or one other non-space character."""

Span = tuple[int, int]


def tokenize(text: str) -> list[Span]:
    """Character offsets of the words of ``text``.

    Offsets rather than strings so that gold character spans can be mapped onto words exactly.

    >>> text = "¿El TEPT-2 comienza, señor?"
    >>> [text[s:e] for s, e in tokenize(text)]
    ['¿', 'El', 'TEPT', '-', '2', 'comienza', ',', 'señor', '?']
    >>> tokenize("a_b")
    [(0, 1), (1, 2), (2, 3)]
    """
    return [m.span() for m in TOKEN_RE.finditer(text)]


def split_tokens_at(offsets: Sequence[Span], boundaries: Iterable[int]) -> tuple[list[Span], int]:
    """Split every token that a boundary falls strictly inside; returns ``(offsets, splits made)``.

    An entity that starts or ends inside a word (``anti`` in ``antiinflamatorio``) would otherwise
    be unrepresentable in a word-level tag sequence.

    >>> split_tokens_at([(0, 16), (17, 20)], [4, 17, 20])
    ([(0, 4), (4, 16), (17, 20)], 1)
    """
    cuts = sorted(set(boundaries))
    out: list[Span] = []
    n = 0
    for start, end in offsets:
        lo = bisect.bisect_right(cuts, start)
        hi = bisect.bisect_left(cuts, end)
        pos = start
        for cut in cuts[lo:hi]:
            out.append((pos, cut))
            pos = cut
            n += 1
        out.append((pos, end))
    return out, n


def join_whitespace_gaps(fragments: Iterable[Span], text: str) -> tuple[Span, ...]:
    """Sort fragments and merge neighbours that touch, overlap or are separated only by whitespace.

    >>> join_whitespace_gaps([(9, 19), (0, 8)], "artritis reumatoide")
    ((0, 19),)
    >>> join_whitespace_gaps([(0, 3), (7, 10)], "dos de tres")
    ((0, 3), (7, 10))
    """
    out: list[list[int]] = []
    for start, end in sorted(fragments):
        if out and (start <= out[-1][1] or not text[out[-1][1] : start].strip()):
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return tuple((s, e) for s, e in out)


def bio_fragments(
    entity: Entity, text: str, *, discontinuous: str = "fragments", join_gaps: bool = True
) -> tuple[Span, ...]:
    """The character spans ``entity`` occupies in the BIO view under the ``discontinuous`` policy.

    >>> e = Entity("Concept", ((0, 3), (7, 10)))
    >>> bio_fragments(e, "dos de tres")
    ((0, 3), (7, 10))
    >>> bio_fragments(e, "dos de tres", discontinuous="span")
    ((0, 10),)
    >>> bio_fragments(e, "dos de tres", discontinuous="first")
    ((0, 3),)
    """
    if discontinuous not in DISCONTINUOUS_POLICIES:
        raise ConfigError(
            f"unknown discontinuous policy {discontinuous!r} (use {', '.join(DISCONTINUOUS_POLICIES)})"
        )
    frags = join_whitespace_gaps(entity.fragments, text) if join_gaps else tuple(sorted(entity.fragments))
    if discontinuous == "span":
        return ((frags[0][0], max(e for _, e in frags)),)
    if discontinuous == "first":
        return frags[:1]
    return frags


class OverlapError(ValueError):
    """Two entities share words and the overlap policy is ``error``."""

    def __init__(self, a: Entity, b: Entity) -> None:
        self.entities = (a, b)
        super().__init__(
            f"entities {a.id or a.text!r} ({a.type}) and {b.id or b.text!r} ({b.type}) share words; "
            "the IOB2 view cannot hold both (choose overlap = 'longest' or 'first')"
        )


@dataclass(frozen=True, slots=True)
class BioView:
    """IOB2 tags for one sentence plus the entities the tags could not hold."""

    tags: tuple[str, ...]
    dropped: tuple[tuple[Entity, Entity], ...] = ()
    """``(left_out, kept)`` pairs: entities left out of the tags because they share words with ``kept``."""
    untokenised: tuple[Entity, ...] = ()
    """Entities that cover no word at all (only whitespace): nothing to tag."""
    inexact: tuple[Entity, ...] = ()
    """Tagged entities whose words do not start/end exactly at their fragments (edge whitespace)."""


def entities_to_bio(
    text: str,
    offsets: Sequence[Span],
    entities: Sequence[Entity],
    *,
    discontinuous: str = "fragments",
    overlap: str = "longest",
    join_gaps: bool = True,
) -> BioView:
    """IOB2 tags over the words at ``offsets`` for character-offset ``entities``.

    Words are expected to be split at entity boundaries (:func:`split_tokens_at`); a word belongs
    to an entity run when it overlaps one of the entity's BIO fragments.

    >>> text = "cáncer de pulmón"
    >>> view = entities_to_bio(text, tokenize(text), [
    ...     Entity("Concept", ((0, 6), (10, 16)), id="T1"), Entity("Concept", ((10, 16),), id="T2")])
    >>> view.tags
    ('B-Concept', 'O', 'B-Concept')
    >>> [(left.id, kept.id) for left, kept in view.dropped]
    [('T2', 'T1')]
    """
    if overlap not in OVERLAP_POLICIES:
        raise ConfigError(f"unknown overlap policy {overlap!r} (use {', '.join(OVERLAP_POLICIES)})")
    starts = [s for s, _ in offsets]
    ends = [e for _, e in offsets]
    candidates: list[tuple[int, int, int, Entity, list[range]]] = []
    untokenised: list[Entity] = []
    inexact: list[Entity] = []
    for order, ent in enumerate(entities):
        runs: list[range] = []
        exact = True
        for fs, fe in bio_fragments(ent, text, discontinuous=discontinuous, join_gaps=join_gaps):
            lo = bisect.bisect_right(ends, fs)  # first word ending after fs
            hi = bisect.bisect_left(starts, fe)  # words starting before fe
            if lo < hi:
                runs.append(range(lo, hi))
                exact = exact and offsets[lo][0] == fs and offsets[hi - 1][1] == fe
        if not runs:
            untokenised.append(ent)
            continue
        if not exact:
            inexact.append(ent)
        length = sum(offsets[r[-1]][1] - offsets[r[0]][0] for r in runs)
        first = offsets[runs[0][0]][0]
        key = (-length, first, order) if overlap == "longest" else (first, -length, order)
        candidates.append((*key, ent, runs))

    tags = ["O"] * len(offsets)
    owner: list[Entity | None] = [None] * len(offsets)
    dropped: list[tuple[Entity, Entity]] = []
    for *_, ent, runs in sorted(candidates, key=lambda c: c[:3]):
        clash = next((owner[i] for r in runs for i in r if owner[i] is not None), None)
        if clash is not None:
            if overlap == "error":
                raise OverlapError(clash, ent)
            dropped.append((ent, clash))
            continue
        for r in runs:
            tags[r[0]] = f"B-{ent.type}"
            for i in r[1:]:
                tags[i] = f"I-{ent.type}"
            for i in r:
                owner[i] = ent
    inexact = [e for e in inexact if all(e is not d for d, _ in dropped)]
    return BioView(tuple(tags), tuple(dropped), tuple(untokenised), tuple(inexact))


def bio_to_entities(offsets: Sequence[Span], tags: Sequence[str], text: str) -> list[Entity]:
    """Contiguous entities of an IOB2 sequence, in character offsets of ``text``.

    >>> text = "El virus de las paperas"
    >>> offs = tokenize(text)
    >>> [(e.type, e.fragments, e.text) for e in bio_to_entities(offs, ["O", "B-C", "O", "O", "B-C"], text)]
    [('C', ((3, 8),), 'virus'), ('C', ((16, 23),), 'paperas')]
    """
    out = []
    for etype, i, j in tags_to_spans(tags):
        start, end = offsets[i][0], offsets[j - 1][1]
        out.append(Entity(etype, ((start, end),), text=text[start:end]))
    return out
