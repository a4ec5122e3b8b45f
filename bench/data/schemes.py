"""Tagging schemes: parse, validate against the declared scheme, convert to IOB2.

Everything inside nerbench is IOB2 (``B-`` starts every entity). A task declares the scheme of its
source (``scheme = "IOB1"`` in the task TOML) and that declaration is the scheme: readers check
every sequence against it with :func:`violations` and convert with :func:`to_iob2`. Nothing is
guessed per file. A sequence that breaks the declared scheme is an error, unless the task sets
``repair = true``; then it is read the conlleval way (:func:`tags_to_spans`) and the repairs are
counted (:func:`apply_scheme`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.choices import ALL_SCHEMES, SPANS
from bench.errors import DataFormatError, all_problems

PREFIXES = frozenset("BIOES") | {"L", "U"}

TAG_SCHEMES: dict[str, frozenset[str]] = {
    "IOB1": frozenset("BIO"),
    "IOB2": frozenset("BIO"),
    "BIOES": frozenset("BIOES"),
    "BILOU": frozenset("BILOU"),
}
"""Tag schemes a task may declare, with the prefixes each allows (``O`` is the outside tag)."""

# SPANS (the scheme of span-annotated sources) and ALL_SCHEMES (the tag schemes, then SPANS): the names live in
# bench.choices, below the data layer, so bench.spec checks a task's scheme without importing this module.

_END = {"E": "E", "L": "E", "S": "S", "U": "S"}
"""BILOU's ``L``/``U`` read as BIOES's ``E``/``S``."""


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


def check_scheme_name(scheme: str) -> str:
    """``scheme`` if it is one a task may declare, else a ``ValueError`` listing them."""
    if scheme not in ALL_SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r} (use one of {', '.join(ALL_SCHEMES)})")
    return scheme


def violations(tags: Sequence[str], scheme: str) -> list[tuple[int, str]]:
    """Every tag of ``tags`` that breaks ``scheme``, as ``(index, problem)``; empty when valid.

    IOB2: ``I-X`` must follow ``B-X``/``I-X``. IOB1: ``B-X`` only directly after an ``X`` entity
    (it separates two adjacent entities of one type). BIOES/BILOU: ``B``/``I`` must be followed by
    ``I``/``E`` of their type, ``I``/``E`` must follow ``B``/``I`` of their type.

    >>> violations(["B-PER", "I-PER", "O", "I-LOC"], "IOB2")
    [(3, "'I-LOC' after 'O' does not continue a LOC entity (IOB2 starts every entity with B-)")]
    >>> violations(["I-PER", "B-PER", "O", "B-LOC"], "IOB1")
    [(3, "'B-LOC' after 'O': IOB1 uses B- only between two adjacent entities of one type")]
    >>> violations(["B-PER", "O"], "BIOES")
    [(0, "'B-PER' is not followed by I-PER or E-PER")]
    """
    allowed = TAG_SCHEMES[check_scheme_name(scheme)] if scheme != SPANS else frozenset()
    if not allowed:
        raise ValueError("scheme 'spans' has no tags to validate")
    parsed = [split_tag(t, i) for i, t in enumerate(tags)]
    out: list[tuple[int, str]] = []
    for i, (p, t) in enumerate(parsed):
        prev_tag = tags[i - 1] if i else "start of sentence"
        pp, pt = parsed[i - 1] if i else ("O", "")
        np_, nt = parsed[i + 1] if i + 1 < len(parsed) else ("O", "")
        if p not in allowed:
            out.append((i, f"prefix {p!r} of {tags[i]!r} is not part of {scheme} (it allows {', '.join(sorted(allowed))})"))
        elif p == "O":
            continue
        elif scheme == "IOB2":
            if p == "I" and not (pp in "BI" and pt == t):
                out.append((i, f"{tags[i]!r} after {prev_tag!r} does not continue a {t} entity (IOB2 starts every entity with B-)"))
        elif scheme == "IOB1":
            if p == "B" and not (pp in "BI" and pt == t):
                out.append((i, f"{tags[i]!r} after {prev_tag!r}: IOB1 uses B- only between two adjacent entities of one type"))
        else:  # BIOES / BILOU
            inside, last = ("I", "E") if scheme == "BIOES" else ("I", "L")
            if p in ("I", last) and not (pp in ("B", "I") and pt == t):
                out.append((i, f"{tags[i]!r} after {prev_tag!r} does not continue a {t} entity"))
            elif p in ("B", "I") and not (np_ in (inside, last) and nt == t):
                out.append((i, f"{tags[i]!r} is not followed by {inside}-{t} or {last}-{t}"))
    return out


def invalid_iob2(tags: Sequence[str]) -> int | None:
    """Index of the first tag that breaks IOB2 (an ``I-X`` not continuing an ``X``), else ``None``."""
    bad = violations(tags, "IOB2")
    return bad[0][0] if bad else None


def detect_scheme(sequences: Sequence[Sequence[str]]) -> str:
    """What the tags *look like*: ``BIOES``, ``IOB1`` or ``IOB2``; only for hints in error messages.

    The declared scheme decides how tags are read; this guess never does.

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
            if p in _END:
                return "BIOES"
            if p == "I" and (prev_p == "O" or prev_t != t):
                iob1 = True
            prev_p, prev_t = p, t
    return "IOB1" if iob1 else "IOB2"


def tags_to_spans(tags: Sequence[str], *, strict: bool = False) -> list[tuple[str, int, int]]:
    """Entities as ``(type, start, end)`` token spans (end exclusive), in order: nerbench's one chunker.

    Two readings, the two modes of :mod:`bench.metrics`:

    * lenient (default), the way conlleval (and seqeval's default mode) reads tags: a chunk starts at
      ``B``/``S``/``U``, or at an ``I``/``E``/``L`` that does not continue a chunk of its type; it
      ends after ``E``/``L``/``S``/``U``, before ``O`` or a new start. So a stray ``I-`` starts a
      new entity, and valid IOB1, IOB2, BIOES and BILOU all give their intended entities.
    * ``strict=True``, seqeval's strict IOB2 reading: an entity is ``B-X I-X*`` and nothing else. A
      stray ``I-`` (after ``O``, at the start, after another type), and the ``I-`` tags continuing
      it, are no entity. Any other prefix (``E``/``S``/``L``/``U``) ends the current entity and
      starts none: strict is for IOB2 tags (:func:`bench.metrics.check_tags` accepts nothing else).

    On IOB2 tags (``O``/``B-``/``I-``) strict keeps exactly the lenient entities that start with
    ``B-``, so the two differ only where a stray ``I-`` is, and agree on every valid IOB2 sequence.

    >>> tags_to_spans(["B-PER", "I-PER", "O", "B-LOC", "I-ORG"])
    [('PER', 0, 2), ('LOC', 3, 4), ('ORG', 4, 5)]
    >>> tags_to_spans(["B-PER", "I-PER", "O", "B-LOC", "I-ORG"], strict=True)
    [('PER', 0, 2), ('LOC', 3, 4)]
    >>> tags_to_spans(["I-PER", "I-PER", "B-PER", "S-LOC", "B-LOC", "E-LOC", "I-LOC"])
    [('PER', 0, 2), ('PER', 2, 3), ('LOC', 3, 4), ('LOC', 4, 6), ('LOC', 6, 7)]
    >>> valid = ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    >>> tags_to_spans(valid, strict=True) == tags_to_spans(valid)
    True
    """
    spans: list[tuple[str, int, int]] = []
    cur: list = []  # [type, start, end, closed]
    for i, tag in enumerate(tags):
        p, t = split_tag(tag, i)
        p = _END.get(p, p)
        if cur and not cur[3] and cur[0] == t and (p == "I" or (p == "E" and not strict)):
            cur[2] = i + 1
            cur[3] = p == "E"
            continue
        if cur:
            spans.append((cur[0], cur[1], cur[2]))
            cur = []
        if p == "B" or (p != "O" and not strict):
            cur = [t, i, i + 1, p in ("E", "S")]
    if cur:
        spans.append((cur[0], cur[1], cur[2]))
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


def to_iob2(tags: Sequence[str]) -> list[str]:
    """IOB2 tags with the entities conlleval reads in ``tags`` (any scheme, valid or not).

    >>> to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"])
    ['B-PER', 'I-PER', 'O', 'B-LOC', 'B-LOC']
    >>> to_iob2(["S-PER", "B-LOC", "E-LOC"])
    ['B-PER', 'B-LOC', 'I-LOC']
    """
    return spans_to_tags(len(tags), tags_to_spans(tags))


Locate = Callable[[int, int], tuple[str | Path, int | None, str | None]]
"""``(sentence index, token index) -> (file, line, where)`` for messages about a tag."""


@dataclass
class SchemeResult:
    """IOB2 tags of every sequence, plus what reading them under the declared scheme involved."""

    tags: list[list[str]]
    changed: int = 0
    """Tags whose IOB2 form differs from the source tag (conversion from IOB1/BIOES, repairs)."""
    repaired: list[int | None] = field(default_factory=list)
    """The line (as ``locate`` gives it) of each tag that broke the declared scheme and was read the conlleval way."""


def apply_scheme(
    sequences: Sequence[Sequence[str]], *, scheme: str, repair: bool, locate: Locate
) -> SchemeResult:
    """Validate ``sequences`` against the declared ``scheme`` and convert them to IOB2.

    Unless ``repair``, the tags that break the scheme are one :class:`DataFormatError` naming each of
    them at ``locate(sentence, token)`` (:func:`bench.errors.all_problems`: the first 20, then how many
    more); with ``repair`` each sequence is read as conlleval reads it and every such tag is listed in
    :attr:`SchemeResult.repaired`.
    """
    if scheme not in TAG_SCHEMES:
        raise ValueError(f"scheme {scheme!r} is not a tag scheme (use one of {', '.join(TAG_SCHEMES)})")
    out = SchemeResult(tags=[])
    invalid: list[DataFormatError] = []
    for si, seq in enumerate(sequences):
        bad = violations(seq, scheme)
        if bad and not repair:
            invalid += [DataFormatError(*locate(si, ti)[:2], f"tag sequence invalid under the task's scheme {scheme}: "
                                        f"{problem}", where=locate(si, ti)[2]) for ti, problem in bad]
            continue
        out.repaired.extend(locate(si, ti)[1] for ti, _ in bad)
        new = to_iob2(seq)
        out.changed += sum(a != b for a, b in zip(seq, new, strict=True))
        out.tags.append(new)
    if invalid:
        looks = detect_scheme(sequences)
        hint = f"the tags look like {looks}: check the task's scheme; " if looks != scheme else ""
        raise all_problems(invalid, advice=f"{hint}set repair = true in the task to read such tags the conlleval way")
    return out


def repair_warning(name: str, scheme: str, repaired: Sequence[int | None], *, unit: str = "line", show: int = 10) -> str:
    """The ``data_warnings`` line for the tags repaired in one file (``name`` carries no absolute path).

    >>> repair_warning("eng.train", "IOB1", [152426, 175434])
    'eng.train: 2 tag(s) invalid under the declared scheme IOB1 repaired the conlleval way (repair = true) at line 152426, 175434'
    """
    more = f" and {len(repaired) - show} more" if len(repaired) > show else ""
    return (
        f"{name}: {len(repaired)} tag(s) invalid under the declared scheme {scheme} repaired the conlleval way "
        f"(repair = true) at {unit} {', '.join(str(x) for x in repaired[:show])}{more}"
    )
