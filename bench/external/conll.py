"""CoNLL predictions (``--format conll``; the rules are in :mod:`bench.external`'s doc): token lines read,
lined up with the gold tokens of the split, and their tags' scheme detected and converted to IOB2."""

from __future__ import annotations

import difflib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data.conll import split_columns
from bench.data.schemes import TagError, split_tag, to_iob2, violations
from bench.data.textio import read_utf8
from bench.data.types import Sentence
from bench.errors import ConfigError, DataFormatError
from bench.external.common import EXAMPLES, ExternalPredictions, _check_type, sha256_bytes

log = logging.getLogger("bench.external")

DOCSTART = "-DOCSTART-"
MAX_SUBSTITUTION_RUN = 8
"""Longest run of consecutive differing tokens still read as substitutions (a row of URLs)."""
MAX_SUBSTITUTED_SHARE = 0.5
"""Beyond this share of differing tokens a file is not read as predictions for this split."""


@dataclass(frozen=True, slots=True)
class _Tok:
    line: int
    token: str
    tag: str


def _conll_tokens(path: Path, text: str, types: Sequence[str]) -> tuple[list[_Tok], dict[str, int]]:
    """Token lines of a predictions file; blank and ``-DOCSTART-`` lines are only counted."""
    out: list[_Tok] = []
    counts: Counter[str] = Counter()
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        counts["crlf_lines"] += raw.endswith("\r")
        if not line.strip(" \t"):
            counts["blank_lines"] += 1
            continue
        # As the corpus reader: only ASCII spaces and tabs separate columns (a no-break space is a token).
        if "\t" in line:
            counts["tab_lines"] += 1
            cols = [c.strip(" ") for c in split_columns(line.strip(" \t"), "tab")]
        else:
            counts["space_lines"] += 1
            cols = split_columns(line, "whitespace")
        if cols[0] == DOCSTART:
            counts["docstart_lines"] += 1
            continue
        if len(cols) < 2:
            raise DataFormatError(path, lineno, f"found {len(cols)} column(s), need at least 2 (token ... predicted tag)")
        tag = cols[-1]
        try:
            _, etype = split_tag(tag)
        except TagError as exc:
            raise DataFormatError(path, lineno, f"bad tag {tag!r}: {str(exc).split(': ', 1)[1]}") from None
        if etype:
            _check_type(etype, types, path, lineno)
        out.append(_Tok(lineno, cols[0], tag))
    return out, dict(counts)


def _gold_where(sentences: Sequence[Sentence], flat: Sequence[tuple[int, int]], k: int, *, gold_is_conll: bool) -> str:
    """Where gold token ``k`` (of the whole split) is: ``file:line`` for CoNLL gold, else sentence + word."""
    if k >= len(flat):
        return "after the last gold token"
    si, wi = flat[k]
    src = sentences[si].source
    path, _, line = src.rpartition(":")
    if gold_is_conll and path and line.isdigit():
        return f"gold {path}:{int(line) + wi}"
    return f"gold sentence {src or si + 1}, word {wi + 1}"


def align_tokens(
    gold: Sequence[str], pred: Sequence[str], *, exact: bool = False
) -> tuple[list[int], tuple[int, int] | None]:
    """Line predicted tokens up with gold tokens; returns ``(substituted positions, first misalignment)``.

    With as many tokens as the gold, the file is in step: a token that differs is a substitution,
    unless more than :data:`MAX_SUBSTITUTION_RUN` consecutive tokens differ or more than
    :data:`MAX_SUBSTITUTED_SHARE` of them do (then the file is out of step where that starts).
    With another number of tokens, :class:`difflib.SequenceMatcher` finds where tokens were added
    or dropped (same-length replacements before that are substitutions). A misalignment is given as
    ``(gold index, pred index)`` of its first token; with ``exact`` every difference is one.

    >>> align_tokens(["I", "m", "in", "NYC", "now"], ["I", "am", "in", "NYC", "now"])
    ([1], None)
    >>> align_tokens(["a", "b", "c", "d", "e"], ["a", "c", "d", "e"])
    ([], (1, 1))
    >>> align_tokens(["a", "b"], ["a", "b", "c"])
    ([], (2, 2))
    """
    if len(gold) == len(pred):
        subs = [i for i, (g, p) in enumerate(zip(gold, pred, strict=True)) if g != p]
        if not subs:
            return [], None
        if exact:
            return [], (subs[0], subs[0])
        run_start, prev = subs[0], subs[0] - 1
        for i in subs:
            if i != prev + 1:
                run_start = i
            prev = i
            if i - run_start + 1 > MAX_SUBSTITUTION_RUN:
                return [k for k in subs if k < run_start], (run_start, run_start)
        if len(subs) > MAX_SUBSTITUTED_SHARE * len(gold):
            return [], (subs[0], subs[0])
        return subs, None
    matcher = difflib.SequenceMatcher(None, list(gold), list(pred), autojunk=False)
    subs = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        if op == "replace" and i2 - i1 == j2 - j1 and not exact:
            subs.extend(range(i1, i2))
            continue
        return subs, (i1, j1)
    raise AssertionError("sequences of different lengths always differ")


def read_conll_predictions(
    path: Path,
    sentences: Sequence[Sentence],
    *,
    entity_types: Sequence[str],
    exact_tokens: bool = False,
    scheme: str = "auto",
    gold_is_conll: bool = True,
) -> ExternalPredictions:
    """Read a CoNLL predictions file and line its tokens up with ``sentences`` (see the module doc)."""
    text = read_utf8(path).removeprefix("\ufeff")
    raw = path.read_bytes()
    toks, counts = _conll_tokens(path, text, entity_types)
    gold = [w for s in sentences for w in s.tokens]
    flat = [(si, wi) for si, s in enumerate(sentences) for wi in range(len(s.tokens))]
    subs, bad = align_tokens(gold, [t.token for t in toks], exact=exact_tokens)
    if bad is not None:
        gi, pj = bad
        where = _gold_where(sentences, flat, gi, gold_is_conll=gold_is_conll)
        hint = ("" if exact_tokens else
                "; tokens must be the gold's, in order (a system may change single tokens, not add, drop, split "
                "or merge them)")
        if pj >= len(toks):
            last = toks[-1].line if toks else None
            raise DataFormatError(
                path, last,
                f"the predictions end after {len(toks)} tokens but the gold has {len(gold)}: "
                f"next expected gold token {gold[gi]!r} ({where})",
            )
        if gi >= len(gold):
            raise DataFormatError(
                path, toks[pj].line,
                f"token {toks[pj].token!r} is past the end of the gold ({len(gold)} tokens; the predictions "
                f"have {len(toks)})",
            )
        raise DataFormatError(
            path, toks[pj].line,
            f"token {toks[pj].token!r} does not line up with the gold: expected {gold[gi]!r} ({where}){hint}",
        )
    tags_flat = [t.tag for t in toks]
    per_sentence: list[list[str]] = []
    k = 0
    for s in sentences:
        per_sentence.append(tags_flat[k:k + len(s.tokens)])
        k += len(s.tokens)
    iob2, reading = predictions_to_iob2(per_sentence, scheme=scheme)
    notes: list[str] = []
    if subs:
        examples = ", ".join(
            f"line {toks[i].line}: {toks[i].token!r} for {gold[i]!r}" for i in subs[:EXAMPLES]
        )
        notes.append(f"{path.name}: {len(subs)} of {len(gold)} tokens differ from the gold but line up "
                     f"(scored as the gold tokens): {examples}{' …' if len(subs) > EXAMPLES else ''}")
    notes.extend(reading.pop("notes"))
    stats: dict[str, Any] = {
        "tokens_aligned": len(toks), "gold_tokens": len(gold), "substituted_tokens": len(subs),
        "sentences": len(sentences), **counts, **reading,
    }
    for n in notes:
        log.info(n)
    return ExternalPredictions("conll", path, sha256_bytes(raw), iob2, None, notes, stats)


SCHEMES = ("auto", "IOB1", "IOB2", "BIOES", "BILOU")
"""What ``--scheme`` accepts for CoNLL predictions; ``auto`` looks at the tags (see :func:`guess_scheme`)."""


def guess_scheme(seqs: Sequence[Sequence[str]]) -> str:
    """The scheme predicted tags are written in: ``BIOES``/``BILOU`` when any ``E-``/``S-`` (``L-``/``U-``)
    occurs, ``IOB1`` when ``I-`` opens entities and no ``B-`` does, else ``IOB2``.

    Unlike a corpus, a predictions file declares nothing, and an IOB2 tagger's stray ``I-`` must stay
    an error of the system: so IOB1 needs *every* opening tag to be ``I-``.

    >>> guess_scheme([["I-PER", "I-PER", "B-PER", "O"]]), guess_scheme([["B-PER", "O", "I-PER"]])
    ('IOB1', 'IOB2')
    """
    opening_b = opening_i = 0
    for seq in seqs:
        prev_p, prev_t = "O", ""
        for i, tag in enumerate(seq):
            p, t = split_tag(tag, i)
            if p in ("E", "S"):
                return "BIOES"
            if p in ("L", "U"):
                return "BILOU"
            if prev_p == "O" or prev_t != t:
                opening_b += p == "B"
                opening_i += p == "I"
            prev_p, prev_t = p, t
    return "IOB1" if opening_i and not opening_b else "IOB2"


def predictions_to_iob2(
    seqs: Sequence[Sequence[str]], *, scheme: str = "auto"
) -> tuple[list[list[str]], dict[str, Any]]:
    """IOB2 tags from predicted tags, and a record of what was done.

    IOB1, BIOES and BILOU are converted (:func:`bench.data.schemes.to_iob2`; a sequence the scheme
    does not allow is read the conlleval way and counted). IOB2 is kept as written: its stray
    ``I-`` tags are counted, not repaired, so the strict score can still ignore them.

    >>> tags, info = predictions_to_iob2([["I-PER", "I-PER", "O", "I-LOC"]])
    >>> tags, info["scheme"], info["tags_changed"]
    ([['B-PER', 'I-PER', 'O', 'B-LOC']], 'IOB1', 2)
    >>> predictions_to_iob2([["B-PER", "O", "I-PER"]])[1]["scheme_violations"]
    1
    """
    if scheme not in SCHEMES:
        raise ConfigError(f"unknown scheme {scheme!r} for predictions (use {', '.join(SCHEMES)})")
    used = guess_scheme(seqs) if scheme == "auto" else scheme
    invalid = sum(len(violations(s, used)) for s in seqs)
    out = [list(s) for s in seqs] if used == "IOB2" else [to_iob2(s) for s in seqs]
    changed = sum(a != b for s, o in zip(seqs, out, strict=True) for a, b in zip(s, o, strict=True))
    how = "detected" if scheme == "auto" else "given"
    notes: list[str] = []
    if used != "IOB2":
        notes.append(f"predicted tags are {used} ({how}); converted to IOB2 ({changed} tags changed"
                     + (f", {invalid} tags invalid under {used} read the conlleval way)" if invalid else ")"))
    elif invalid:
        notes.append(f"{invalid} predicted entities start with an I- tag that continues nothing (kept as "
                     "written: the conlleval main score reads an entity there, the strict score none)")
    return out, {"scheme": used, "scheme_source": how, "tags_changed": changed, "scheme_violations": invalid,
                 "notes": notes}
