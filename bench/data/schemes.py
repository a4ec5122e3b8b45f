"""Tagging schemes: parse, detect, convert to IOB2, validate.

Everything inside nerbench is IOB2 (``B-`` starts every entity). Readers call :func:`to_iob2`
on what they read, which detects IOB1 and BIOES/IOBES and converts, and rejects malformed tags
(``B-``, ``X-PER``) with the file and line.
"""

from __future__ import annotations

from collections.abc import Sequence

PREFIXES = frozenset("BIOES") | {"L", "U"}


class TagError(ValueError):
    """A tag that no scheme allows; ``index`` is the token position in its sentence."""

    def __init__(self, index: int, tag: str, problem: str) -> None:
        self.index = index
        self.tag = tag
        super().__init__(f"tag {tag!r} at token {index + 1}: {problem}")


def split_tag(tag: str, index: int = 0) -> tuple[str, str]:
    """Split ``B-PER`` into ``("B", "PER")``; ``O`` into ``("O", "")``.

    >>> split_tag("I-ORG")
    ('I', 'ORG')
    >>> split_tag("B-")
    Traceback (most recent call last):
    ...
    bench.data.schemes.TagError: tag 'B-' at token 1: entity type is empty
    """
    if tag == "O":
        return "O", ""
    prefix, sep, etype = tag.partition("-")
    if not sep:
        raise TagError(index, tag, "expected 'O' or PREFIX-TYPE such as 'B-PER'")
    if prefix not in PREFIXES or prefix == "O":
        raise TagError(index, tag, f"unknown prefix {prefix!r} (allowed: B, I, E, S, L, U)")
    if not etype:
        raise TagError(index, tag, "entity type is empty")
    return prefix, etype


def detect_scheme(sequences: Sequence[Sequence[str]]) -> str:
    """Guess the scheme of a corpus: ``BIOES``, ``IOB1`` or ``IOB2``.

    IOB1 is recognised by an ``I-X`` that opens an entity (after ``O``, at sentence start, or after
    another type); BIOES by any ``E-``/``S-``/``L-``/``U-`` prefix.

    >>> detect_scheme([["I-PER", "O", "B-LOC"]])
    'IOB1'
    >>> detect_scheme([["B-PER", "I-PER", "O"]])
    'IOB2'
    >>> detect_scheme([["S-PER", "B-LOC", "E-LOC"]])
    'BIOES'
    """
    iob1 = False
    for seq in sequences:
        prev_p, prev_t = "O", ""
        for i, tag in enumerate(seq):
            p, t = split_tag(tag, i)
            if p in {"E", "S", "L", "U"}:
                return "BIOES"
            if p == "I" and (prev_p == "O" or prev_t != t):
                iob1 = True
            prev_p, prev_t = p, t
    return "IOB1" if iob1 else "IOB2"


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """``I-`` that opens an entity becomes ``B-``.

    >>> iob1_to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"])
    ['B-PER', 'I-PER', 'O', 'B-LOC', 'B-LOC']
    """
    out: list[str] = []
    prev_p, prev_t = "O", ""
    for i, tag in enumerate(tags):
        p, t = split_tag(tag, i)
        if p == "I" and (prev_p == "O" or prev_t != t):
            p = "B"
        out.append("O" if p == "O" else f"{p}-{t}")
        prev_p, prev_t = p, t
    return out


def bioes_to_iob2(tags: Sequence[str]) -> list[str]:
    """``S-``/``U-`` -> ``B-``, ``E-``/``L-`` -> ``I-``.

    >>> bioes_to_iob2(["S-PER", "B-LOC", "E-LOC"])
    ['B-PER', 'B-LOC', 'I-LOC']
    """
    mapping = {"S": "B", "U": "B", "E": "I", "L": "I", "B": "B", "I": "I"}
    out = []
    for i, tag in enumerate(tags):
        p, t = split_tag(tag, i)
        out.append("O" if p == "O" else f"{mapping[p]}-{t}")
    return out


def invalid_iob2(tags: Sequence[str]) -> int | None:
    """Index of the first tag that breaks IOB2 (an ``I-X`` not continuing an ``X``), else ``None``."""
    prev_p, prev_t = "O", ""
    for i, tag in enumerate(tags):
        p, t = split_tag(tag, i)
        if p not in {"B", "I", "O"}:
            return i
        if p == "I" and (prev_p == "O" or prev_t != t):
            return i
        prev_p, prev_t = p, t
    return None


def to_iob2(sequences: Sequence[Sequence[str]], *, scheme: str = "auto") -> tuple[list[list[str]], str]:
    """Convert sequences to IOB2; returns ``(converted, detected_or_given_scheme)``."""
    scheme = scheme.upper()
    if scheme == "AUTO":
        scheme = detect_scheme(sequences)
    if scheme == "IOB2":
        return [list(s) for s in sequences], scheme
    if scheme == "IOB1":
        return [iob1_to_iob2(s) for s in sequences], scheme
    if scheme in {"BIOES", "IOBES", "BILOU"}:
        return [bioes_to_iob2(s) for s in sequences], "BIOES"
    raise ValueError(f"unknown tagging scheme {scheme!r} (use IOB1, IOB2, BIOES or auto)")


def tags_to_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entities of an IOB2 sequence as ``(type, start, end)`` token spans, end exclusive.

    A stray ``I-`` (invalid IOB2) starts a new entity, as the lenient conlleval reading does; use
    :func:`invalid_iob2` first where that matters.

    >>> tags_to_spans(["B-PER", "I-PER", "O", "B-LOC", "I-ORG"])
    [('PER', 0, 2), ('LOC', 3, 4), ('ORG', 4, 5)]
    """
    spans: list[tuple[str, int, int]] = []
    cur: list = []
    for i, tag in enumerate(tags):
        p, t = split_tag(tag, i)
        if p == "I" and cur and cur[0] == t:
            cur[2] = i + 1
            continue
        if cur:
            spans.append(tuple(cur))  # type: ignore[arg-type]
            cur = []
        if p != "O":
            cur = [t, i, i + 1]
    if cur:
        spans.append(tuple(cur))  # type: ignore[arg-type]
    return spans


def spans_to_tags(n: int, spans: Sequence[tuple[str, int, int]]) -> list[str]:
    """IOB2 tags for ``n`` tokens from non-overlapping ``(type, start, end)`` token spans.

    >>> spans_to_tags(4, [("PER", 0, 2), ("LOC", 3, 4)])
    ['B-PER', 'I-PER', 'O', 'B-LOC']
    """
    tags = ["O"] * n
    for etype, start, end in spans:
        if not 0 <= start < end <= n:
            raise ValueError(f"span {etype} {start}:{end} outside 0:{n}")
        if any(t != "O" for t in tags[start:end]):
            raise ValueError(f"span {etype} {start}:{end} overlaps another span")
        tags[start] = f"B-{etype}"
        for k in range(start + 1, end):
            tags[k] = f"I-{etype}"
    return tags
