"""BRAT standoff (eHealth-KD 2020): one sentence per line in ``.txt``, entities in ``.ann``.

Gold entities keep their original fragments in ``Sentence.entities`` so span scorers see what the
annotators wrote; the word-level IOB2 tags are a *view* for taggers, built by two explicit policies:

* ``discontinuous`` -- ``fragments`` (default: each fragment its own B-/I- run), ``span`` (min start
  to max end as one run) or ``first`` (only the first fragment). Fragments separated only by
  whitespace are joined first (``join_whitespace_gaps``, default on): eHealth-KD writes one fragment
  per word, so ``leucemia linfocítica crónica`` is three fragments of one contiguous entity.
* ``overlap`` -- ``longest`` (default: the entity covering more characters keeps its tags, the
  other stays in ``Sentence.entities`` only and is counted), ``first`` (earlier start wins) or
  ``error``.

Words come from :func:`tokenize`; a word that an entity boundary cuts is split at the boundary so
every gold span is representable exactly (counted as ``tokens_split``).

Where each part lives: the words and the BIO view (both ways) in :mod:`bench.data.bioview`, the
``.ann`` parsing in :mod:`bench.data.brat_ann`; this module reads a split folder into sentences and
registers the ``brat`` format. Their public names stay importable from here.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data.bioview import (
    DISCONTINUOUS_POLICIES,
    OVERLAP_POLICIES,
    TOKEN_RE,
    BioView,
    OverlapError,
    Span,
    bio_fragments,
    bio_to_entities,
    entities_to_bio,
    join_whitespace_gaps,
    split_tokens_at,
    tokenize,
)
from bench.data.brat_ann import AnnEntity, TextLine, other_line_kind, parse_ann, text_lines
from bench.data.formats import register_format
from bench.data.textio import read_utf8
from bench.data.types import Entity, Sentence, SplitData
from bench.errors import ConfigError, DataFormatError

__all__ = [
    "DISCONTINUOUS_POLICIES", "OVERLAP_POLICIES", "TOKEN_RE", "BioView", "OverlapError", "Span", "bio_fragments",
    "bio_to_entities", "entities_to_bio", "join_whitespace_gaps", "other_line_kind", "parse_ann", "read_brat",
    "read_brat_folder", "split_tokens_at", "tokenize",
]

log = logging.getLogger(__name__)


def _types_option(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return {str(t): str(t) for t in value}
    raise ConfigError(f"option 'types' must be a list of type names or a table old -> new, not {value!r}")


_ZERO_STATS = (
    "blank_lines",
    "multi_fragment_entities",
    "discontinuous_entities",
    "bio_overlaps_dropped",
    "tokens_split",
    "entities_without_words",
    "entities_inexact_in_bio",
)
"""Stats every split reports, 0 when nothing was counted."""


@dataclass(slots=True)
class _Tally:
    """What reading one split counts (``stats``) and says (``notes``; the overlaps left out of the BIO tags
    are collected apart in ``dropped`` and summed up in one note at the end)."""

    notes: list[str]
    stats: Counter[str] = field(default_factory=Counter)
    dropped: list[str] = field(default_factory=list)


def _check_policies(discontinuous: str, overlap: str) -> None:
    if discontinuous not in DISCONTINUOUS_POLICIES:
        raise ConfigError(
            f"unknown discontinuous policy {discontinuous!r} (use {', '.join(DISCONTINUOUS_POLICIES)})"
        )
    if overlap not in OVERLAP_POLICIES:
        raise ConfigError(f"unknown overlap policy {overlap!r} (use {', '.join(OVERLAP_POLICIES)})")


def read_brat_folder(
    folder: Path,
    *,
    name: str,
    text_file: str = "scenario.txt",
    ann_file: str = "scenario.ann",
    discontinuous: str = "fragments",
    overlap: str = "longest",
    join_gaps: bool = True,
    types: Mapping[str, str] | None = None,
) -> SplitData:
    """One split folder (``.txt`` + ``.ann``) as sentences, one per non-blank line."""
    _check_policies(discontinuous, overlap)
    txt_path, ann_path = folder / text_file, folder / ann_file
    txt = read_utf8(txt_path)
    ann = parse_ann(ann_path, txt, txt_name=text_file, types=types)
    per_line: dict[int, list[AnnEntity]] = {}
    for ae in ann.entities:
        per_line.setdefault(ae.text_line, []).append(ae)

    tally = _Tally(
        notes=[
            f"{name}: BIO view policies discontinuous={discontinuous}, overlap={overlap}, "
            f"join_whitespace_gaps={join_gaps}; Sentence.entities keep the original fragments"
        ]
    )
    sentences: list[Sentence] = []
    for ln in text_lines(txt):
        if not ln.text.strip():
            tally.stats["blank_lines"] += 1
            tally.notes.append(f"{txt_path}:{ln.number}: blank line skipped")
            continue
        sentences.append(
            _line_sentence(
                ln,
                per_line.get(ln.number, []),
                tally,
                txt_path=txt_path,
                ann_path=ann_path,
                discontinuous=discontinuous,
                overlap=overlap,
                join_gaps=join_gaps,
            )
        )
    if not sentences:
        raise DataFormatError(txt_path, None, "no sentences (only blank lines)")
    _close(tally, name=name, overlap=overlap, ignored=ann.ignored, n_sentences=len(sentences))
    for note in tally.notes[1:]:
        log.info(note)
    return SplitData(
        name, sentences, files=[str(txt_path), str(ann_path)], notes=tally.notes, stats=dict(tally.stats)
    )


def _line_sentence(
    ln: TextLine,
    anns: Sequence[AnnEntity],
    tally: _Tally,
    *,
    txt_path: Path,
    ann_path: Path,
    discontinuous: str,
    overlap: str,
    join_gaps: bool,
) -> Sentence:
    """One non-blank ``.txt`` line as a sentence: its entities in line offsets, its words split at their
    boundaries, and the BIO view; what was split, found and left out is counted into ``tally``."""
    ents = _line_entities(anns, ln.start)
    line_of = {a.entity.id: a.line for a in anns}
    offsets, nsplit = split_tokens_at(tokenize(ln.text), (b for e in ents for f in e.fragments for b in f))
    view = _bio_or_error(
        ln.text,
        offsets,
        ents,
        discontinuous=discontinuous,
        overlap=overlap,
        join_gaps=join_gaps,
        ann_path=ann_path,
        line_of=line_of,
    )
    tally.stats["tokens_split"] += nsplit
    _count_entities(tally.stats, ents, ln.text)
    _note_view(tally, view, ann_path, line_of)
    return Sentence(
        tokens=tuple(ln.text[s:e] for s, e in offsets),
        tags=view.tags,
        source=f"{txt_path}:{ln.number}",
        doc_id=None,
        text=ln.text,
        offsets=tuple(offsets),
        entities=ents,
    )


def _line_entities(anns: Sequence[AnnEntity], start: int) -> tuple[Entity, ...]:
    """The entities of one line, their fragments moved from ``.txt`` offsets to offsets in the line."""
    return tuple(
        Entity(
            a.entity.type,
            tuple((s - start, e - start) for s, e in a.entity.fragments),
            text=a.entity.text,
            id=a.entity.id,
        )
        for a in anns
    )


def _count_entities(stats: Counter[str], ents: Sequence[Entity], text: str) -> None:
    stats["entities"] += len(ents)
    for e in ents:
        stats[f"entities[{e.type}]"] += 1
        if e.is_discontinuous:
            stats["multi_fragment_entities"] += 1
            if len(join_whitespace_gaps(e.fragments, text)) > 1:
                stats["discontinuous_entities"] += 1


def _note_view(tally: _Tally, view: BioView, ann_path: Path, line_of: Mapping[str, int]) -> None:
    """Count and note the entities the BIO view of one sentence left out or holds inexactly."""
    tally.stats["bio_overlaps_dropped"] += len(view.dropped)
    for left, kept in view.dropped:
        tally.dropped.append(
            f"{ann_path}:{line_of[left.id]} ({left.id} {left.type} {left.text!r}) overlaps "
            f"{kept.id} {kept.type} {kept.text!r}"
        )
    for e in view.untokenised:
        tally.stats["entities_without_words"] += 1
        tally.notes.append(f"{ann_path}:{line_of[e.id]} ({e.id}): covers no word, left out of the BIO tags")
    for e in view.inexact:
        tally.stats["entities_inexact_in_bio"] += 1
        tally.notes.append(
            f"{ann_path}:{line_of[e.id]} ({e.id}): fragment edges are whitespace; BIO span differs"
        )


def _close(tally: _Tally, *, name: str, overlap: str, ignored: Mapping[str, int], n_sentences: int) -> None:
    """The split-level notes and stats, once every line is read."""
    if tally.dropped:
        tally.notes.append(
            f"{name}: {len(tally.dropped)} overlapping entities left out of the BIO tags by "
            f"overlap={overlap} (still in Sentence.entities): " + "; ".join(tally.dropped)
        )
    if tally.stats["tokens_split"]:
        tally.notes.append(f"{name}: {tally.stats['tokens_split']} words split at entity boundaries")
    for kind, n in sorted(ignored.items()):
        tally.stats[f"{kind}_ignored"] = n
    tally.stats["sentences"] = n_sentences
    for key in _ZERO_STATS:
        tally.stats.setdefault(key, 0)


def _bio_or_error(
    text: str,
    offsets: Sequence[Span],
    entities: Sequence[Entity],
    *,
    discontinuous: str,
    overlap: str,
    join_gaps: bool,
    ann_path: Path,
    line_of: Mapping[str, int],
) -> BioView:
    """:func:`entities_to_bio`, with an ``error`` overlap reported at the ``.ann`` line."""
    try:
        return entities_to_bio(
            text, offsets, entities, discontinuous=discontinuous, overlap=overlap, join_gaps=join_gaps
        )
    except OverlapError as exc:
        kept, other = exc.entities
        raise DataFormatError(ann_path, line_of.get(other.id), str(exc), where=other.id) from None


@register_format(
    "brat",
    options=("text_file", "ann_file", "discontinuous", "overlap", "types", "join_whitespace_gaps"),
    description="BRAT standoff: one sentence per line in .txt, T lines in .ann, discontinuous spans",
    spans=True,
)
def read_brat(
    folder: Path, splits: Mapping[str, str], options: Mapping[str, Any], *, scheme: str = "spans", repair: bool = False
) -> dict[str, SplitData]:
    """Span annotations: the task's scheme is ``spans`` and there are no source tags to repair."""
    types = _types_option(options.get("types"))
    out: dict[str, SplitData] = {}
    for split, sub in splits.items():
        out[split] = read_brat_folder(
            folder / sub,
            name=split,
            text_file=str(options.get("text_file", "scenario.txt")),
            ann_file=str(options.get("ann_file", "scenario.ann")),
            discontinuous=str(options.get("discontinuous", "fragments")),
            overlap=str(options.get("overlap", "longest")),
            join_gaps=bool(options.get("join_whitespace_gaps", True)),
            types=types,
        )
    return out
