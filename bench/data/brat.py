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
"""

from __future__ import annotations

import bisect
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data.formats import register_format
from bench.data.schemes import tags_to_spans
from bench.data.textio import read_utf8
from bench.data.types import Entity, Sentence, SplitData
from bench.errors import ConfigError, DataFormatError

log = logging.getLogger(__name__)

DISCONTINUOUS_POLICIES = ("fragments", "span", "first")
OVERLAP_POLICIES = ("longest", "first", "error")

TOKEN_RE = re.compile(r"[^\W_]+|\S")
"""A run of letters/digits (any script, accents included) or one other non-space character."""

_T_LINE = re.compile(r"(T\d+)\t(\S+) (\d+ \d+(?:;\d+ \d+)*)\t(.*)")
_ID = r"[A-Za-z]\d+"
_ARG = rf"[^\s:]+:{_ID}"
_TAIL = r"(?:\t.*)?"
_OTHER_LINES: dict[str, tuple[str, re.Pattern[str], str]] = {
    # head: (counted as, shape, the shape in words) -- https://brat.nlplab.org/standoff.html
    "R": ("relations", re.compile(rf"R\d+\t\S+ {_ARG} {_ARG}{_TAIL}"), "R<n><TAB><Type> <Role>:<id> <Role>:<id>"),
    "E": ("events", re.compile(rf"E\d+\t{_ARG}(?: {_ARG})*{_TAIL}"), "E<n><TAB><Type>:<id>[ <Role>:<id>...]"),
    "A": ("attributes", re.compile(rf"A\d+\t\S+ {_ID}(?: \S+)?{_TAIL}"), "A<n><TAB><Name> <id>[ <value>]"),
    "M": ("attributes", re.compile(rf"M\d+\t\S+ {_ID}(?: \S+)?{_TAIL}"), "M<n><TAB><Name> <id>[ <value>]"),
    "N": (
        "normalizations",
        re.compile(rf"N\d+\t\S+ {_ID} [^\s:]+:\S+{_TAIL}"),
        "N<n><TAB><Type> <id> <resource>:<entry>[<TAB><text>]",
    ),
    "#": ("comments", re.compile(rf"#\d*\t\S+ {_ID}{_TAIL}"), "#<n><TAB><Type> <id><TAB><note>"),
    "*": ("equivalences", re.compile(rf"\*\t\S+(?: {_ID}){{2,}}{_TAIL}"), "*<TAB><Type> <id> <id>[ <id>...]"),
}
"""Annotation lines other than entities: counted, not used, but their shape is checked so a stray text
line (``El asma ...`` wrapped into the ``.ann``) is an error rather than an "ignored event"."""

Span = tuple[int, int]


# ---------------------------------------------------------------------------------------------
# Pure helpers: tokens, fragments, BIO view
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    start: int
    end: int
    text: str


def _text_lines(text: str) -> list[_Line]:
    """Lines with their character start/end in the file (``\\r`` and a leading BOM excluded)."""
    lines = []
    pos = 0
    pieces = text.split("\n")
    if len(pieces) > 1 and pieces[-1] == "":
        pieces.pop()  # the newline ending the last line does not open another one
    for number, raw in enumerate(pieces, start=1):
        start, end = pos, pos + len(raw)
        pos = end + 1
        if number == 1 and raw.startswith("\ufeff"):
            start += 1
        if raw.endswith("\r"):
            end -= 1
        lines.append(_Line(number, start, end, text[start:end]))
    return lines


@dataclass(slots=True)
class _AnnEntity:
    entity: Entity  # offsets into the whole .txt
    line: int  # line in the .ann
    text_line: int  # line (sentence) of the .txt it lies on


@dataclass(slots=True)
class _AnnFile:
    entities: list[_AnnEntity] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)


def _check_text(
    ann: Path, lineno: int, eid: str, frags: Sequence[Span], written: str, txt: str, txt_name: str
) -> None:
    """The ``.ann`` text must equal the ``.txt`` slices joined by one space, fragment by fragment."""
    pos = 0
    for k, (s, e) in enumerate(frags, start=1):
        want = txt[s:e]
        got = written[pos : pos + len(want)]
        sep_ok = k == len(frags) or written[pos + len(want) : pos + len(want) + 1] == " "
        if got != want or not sep_ok:
            which = f" (fragment {k} of {len(frags)})" if len(frags) > 1 else ""
            raise DataFormatError(
                ann,
                lineno,
                f"entity text {written!r} does not match {txt_name}[{s}:{e}] = {want!r}{which}",
                where=eid,
            )
        pos += len(want) + 1
    if pos - 1 != len(written):
        raise DataFormatError(
            ann,
            lineno,
            f"entity text {written!r} is longer than its fragments {frags} in {txt_name}",
            where=eid,
        )


def _line_of(
    ann: Path, lineno: int, eid: str, frags: Sequence[Span], lines: Sequence[_Line], txt_name: str
) -> int:
    """The one ``.txt`` line all fragments lie on; an entity crossing lines is an error."""
    starts = [ln.start for ln in lines]
    found: set[int] = set()
    for s, e in frags:
        first = lines[max(bisect.bisect_right(starts, s) - 1, 0)]
        last = lines[max(bisect.bisect_right(starts, e - 1) - 1, 0)]
        if first is not last or s < first.start or e > first.end:
            raise DataFormatError(
                ann,
                lineno,
                f"entity crosses a sentence boundary: fragment {s}-{e} runs from line {first.number} "
                f"to line {max(last.number, first.number + 1)} of {txt_name}",
                where=eid,
            )
        found.add(first.number)
    if len(found) > 1:
        raise DataFormatError(
            ann,
            lineno,
            f"entity crosses a sentence boundary: its fragments lie on lines "
            f"{', '.join(map(str, sorted(found)))} of {txt_name}",
            where=eid,
        )
    number = found.pop()
    if not lines[number - 1].text.strip():
        raise DataFormatError(ann, lineno, f"entity lies on blank line {number} of {txt_name}", where=eid)
    return number


def other_line_kind(line: str, ann: Path, lineno: int) -> str:
    """What a non-entity ``.ann`` line is (``relations``, ``events``, ...) once its shape is checked.

    Any other line (a text line wrapped into the file, a free-form comment) is an error naming
    ``ann:lineno`` rather than an "ignored event": nothing in an ``.ann`` is skipped unread.

    >>> other_line_kind("R1\\tis-a Arg1:T1 Arg2:T2", Path("x.ann"), 3)
    'relations'
    >>> other_line_kind("El asma", Path("x.ann"), 4)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    bench.errors.DataFormatError: x.ann:4: malformed annotation line 'El asma': a line starting with 'E' must read ...
    """
    head = line[:1]
    if head not in _OTHER_LINES:
        raise DataFormatError(
            ann, lineno, f"unrecognised annotation line {line[:40]!r} (expected T, R, A, M, E, N, # or *)"
        )
    kind, shape, expected = _OTHER_LINES[head]
    if shape.fullmatch(line) is None:
        raise DataFormatError(
            ann,
            lineno,
            f"malformed annotation line {line[:60]!r}: a line starting with {head!r} must read "
            f"'{expected}' (a wrapped text line?)",
        )
    return kind


def parse_ann(ann: Path, txt: str, *, txt_name: str, types: Mapping[str, str] | None = None) -> _AnnFile:
    """Entity lines of one ``.ann`` checked against the ``.txt`` text; other lines shape-checked and counted."""
    out = _AnnFile()
    lines = _text_lines(txt)
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(read_utf8(ann).lstrip("\ufeff").split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if line[0] != "T":
            out.ignored[other_line_kind(line, ann, lineno)] += 1
            continue
        m = _T_LINE.fullmatch(line)
        if m is None:
            eid = line.split("\t", 1)[0] if "\t" in line else None
            raise DataFormatError(
                ann,
                lineno,
                f"malformed entity line {line[:60]!r}: expected "
                "'T<n><TAB><Type> <start> <end>[;<start> <end>...]<TAB><text>'",
                where=eid,
            )
        eid, etype, offs, written = m.groups()
        if eid in seen:
            raise DataFormatError(ann, lineno, f"entity id {eid} already used on line {seen[eid]}", where=eid)
        seen[eid] = lineno
        if types is not None:
            if etype not in types:
                raise DataFormatError(
                    ann, lineno, f"unknown entity type {etype!r} (allowed: {', '.join(types)})", where=eid
                )
            etype = types[etype]
        frags = tuple((int(a), int(b)) for a, b in (p.split() for p in offs.split(";")))
        for s, e in frags:
            if s >= e:
                raise DataFormatError(ann, lineno, f"empty or reversed fragment {s}-{e}", where=eid)
            if e > len(txt):
                raise DataFormatError(
                    ann,
                    lineno,
                    f"offsets {s}-{e} out of range: {txt_name} has {len(txt)} characters",
                    where=eid,
                )
        text_line = _line_of(ann, lineno, eid, frags, lines, txt_name)
        _check_text(ann, lineno, eid, frags, written, txt, txt_name)
        out.entities.append(_AnnEntity(Entity(etype, frags, text=written, id=eid), lineno, text_line))
    if not out.entities and not sum(out.ignored.values()):
        raise DataFormatError(ann, None, "file is empty (no annotation lines)")
    return out


def _types_option(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return {str(t): str(t) for t in value}
    raise ConfigError(f"option 'types' must be a list of type names or a table old -> new, not {value!r}")


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
    if discontinuous not in DISCONTINUOUS_POLICIES:
        raise ConfigError(
            f"unknown discontinuous policy {discontinuous!r} (use {', '.join(DISCONTINUOUS_POLICIES)})"
        )
    if overlap not in OVERLAP_POLICIES:
        raise ConfigError(f"unknown overlap policy {overlap!r} (use {', '.join(OVERLAP_POLICIES)})")
    txt_path, ann_path = folder / text_file, folder / ann_file
    txt = read_utf8(txt_path)
    ann = parse_ann(ann_path, txt, txt_name=text_file, types=types)
    lines = _text_lines(txt)
    per_line: dict[int, list[_AnnEntity]] = {}
    for ae in ann.entities:
        per_line.setdefault(ae.text_line, []).append(ae)

    stats: Counter[str] = Counter()
    notes: list[str] = [
        f"{name}: BIO view policies discontinuous={discontinuous}, overlap={overlap}, "
        f"join_whitespace_gaps={join_gaps}; Sentence.entities keep the original fragments"
    ]
    dropped_notes: list[str] = []
    sentences: list[Sentence] = []
    for ln in lines:
        if not ln.text.strip():
            stats["blank_lines"] += 1
            notes.append(f"{txt_path}:{ln.number}: blank line skipped")
            continue
        anns = per_line.get(ln.number, [])
        ents = tuple(
            Entity(
                a.entity.type,
                tuple((s - ln.start, e - ln.start) for s, e in a.entity.fragments),
                text=a.entity.text,
                id=a.entity.id,
            )
            for a in anns
        )
        line_of = {a.entity.id: a.line for a in anns}
        offsets, nsplit = split_tokens_at(
            tokenize(ln.text), (b for e in ents for f in e.fragments for b in f)
        )
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
        stats["tokens_split"] += nsplit
        stats["entities"] += len(ents)
        for e in ents:
            stats[f"entities[{e.type}]"] += 1
            if e.is_discontinuous:
                stats["multi_fragment_entities"] += 1
                if len(join_whitespace_gaps(e.fragments, ln.text)) > 1:
                    stats["discontinuous_entities"] += 1
        stats["bio_overlaps_dropped"] += len(view.dropped)
        for left, kept in view.dropped:
            dropped_notes.append(
                f"{ann_path}:{line_of[left.id]} ({left.id} {left.type} {left.text!r}) overlaps "
                f"{kept.id} {kept.type} {kept.text!r}"
            )
        for e in view.untokenised:
            stats["entities_without_words"] += 1
            notes.append(f"{ann_path}:{line_of[e.id]} ({e.id}): covers no word, left out of the BIO tags")
        for e in view.inexact:
            stats["entities_inexact_in_bio"] += 1
            notes.append(
                f"{ann_path}:{line_of[e.id]} ({e.id}): fragment edges are whitespace; BIO span differs"
            )
        sentences.append(
            Sentence(
                tokens=tuple(ln.text[s:e] for s, e in offsets),
                tags=view.tags,
                source=f"{txt_path}:{ln.number}",
                doc_id=None,
                text=ln.text,
                offsets=tuple(offsets),
                entities=ents,
            )
        )
    if not sentences:
        raise DataFormatError(txt_path, None, "no sentences (only blank lines)")
    if dropped_notes:
        notes.append(
            f"{name}: {len(dropped_notes)} overlapping entities left out of the BIO tags by "
            f"overlap={overlap} (still in Sentence.entities): " + "; ".join(dropped_notes)
        )
    if stats["tokens_split"]:
        notes.append(f"{name}: {stats['tokens_split']} words split at entity boundaries")
    for kind, n in sorted(ann.ignored.items()):
        stats[f"{kind}_ignored"] = n
    stats["sentences"] = len(sentences)
    for key in (
        "blank_lines",
        "multi_fragment_entities",
        "discontinuous_entities",
        "bio_overlaps_dropped",
        "tokens_split",
        "entities_without_words",
        "entities_inexact_in_bio",
    ):
        stats.setdefault(key, 0)
    for note in notes[1:]:
        log.info(note)
    return SplitData(name, sentences, files=[str(txt_path), str(ann_path)], notes=notes, stats=dict(stats))


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
