"""BRAT ``.ann`` files: entity (``T``) lines parsed and checked against the ``.txt`` they annotate;
every other line shape-checked and counted (https://brat.nlplab.org/standoff.html)."""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.data.bioview import Span
from bench.data.textio import read_utf8
from bench.data.types import Entity
from bench.errors import DataFormatError, all_problems

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


@dataclass(frozen=True, slots=True)
class TextLine:
    number: int
    start: int
    end: int
    text: str


def text_lines(text: str) -> list[TextLine]:
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
        lines.append(TextLine(number, start, end, text[start:end]))
    return lines


@dataclass(slots=True)
class AnnEntity:
    entity: Entity  # offsets into the whole .txt
    line: int  # line in the .ann
    text_line: int  # line (sentence) of the .txt it lies on


@dataclass(slots=True)
class AnnFile:
    entities: list[AnnEntity] = field(default_factory=list)
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
    ann: Path, lineno: int, eid: str, frags: Sequence[Span], lines: Sequence[TextLine], txt_name: str
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


def parse_ann(ann: Path, txt: str, *, txt_name: str, types: Mapping[str, str] | None = None) -> AnnFile:
    """Entity lines of one ``.ann`` checked against the ``.txt`` text; other lines shape-checked and counted.
    Every bad line of the file is named in one error (:func:`bench.errors.all_problems`)."""
    out = AnnFile()
    lines = text_lines(txt)
    seen: dict[str, int] = {}
    bad: list[DataFormatError] = []
    for lineno, raw in enumerate(read_utf8(ann).lstrip("\ufeff").split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        try:
            if line[0] != "T":
                out.ignored[other_line_kind(line, ann, lineno)] += 1
                continue
            out.entities.append(_entity_line(line, ann, lineno, seen, types=types, txt=txt, lines=lines,
                                             txt_name=txt_name))
        except DataFormatError as exc:
            bad.append(exc)
    if bad:
        raise all_problems(bad)
    if not out.entities and not sum(out.ignored.values()):
        raise DataFormatError(ann, None, "file is empty (no annotation lines)")
    return out


def _entity_line(line: str, ann: Path, lineno: int, seen: dict[str, int], *, types: Mapping[str, str] | None,
                 txt: str, lines: Sequence[TextLine], txt_name: str) -> AnnEntity:
    """One ``T`` line, checked: its shape, its id (new), its type, its offsets and text against the ``.txt``."""
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
    return AnnEntity(Entity(etype, frags, text=written, id=eid), lineno, text_line)
