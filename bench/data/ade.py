"""ADE corpus v2 (``DRUG-AE.rel``): drug and adverse-effect mentions, deduplicated, split by PMID.

The corpus is one row per drug--effect *pair*, so a sentence appears once per pair. We merge the rows
of a sentence (same PMID and text) into one :class:`Sentence` holding every distinct mention.
Mention offsets in the file are relative to the whole abstract, which we do not have, so each
mention is located in its sentence by text; when the text occurs more than once the abstract
offsets decide: the sentence's own start in the abstract (``abs_start - local_pos``) must agree
across its mentions, and the occurrence agreeing with the majority wins (counted as
``offsets_disambiguated``; no agreeing occurrence -> first occurrence, counted as ``offsets_fallback``).

There is no official split: PMIDs are sorted, shuffled with ``random.Random(seed)`` and cut by
``fractions``, so one abstract never straddles splits; the notes record seed, method and a sha256
of each split's PMID list. Nested drug/effect spans: the longer one keeps the IOB2 tags, the other
stays in ``Sentence.entities`` (``bio_overlaps_dropped``).

:func:`build_ade_splits` is shared by the local reader and the Hugging Face loader
(:func:`row_from_hub`), so both produce the same sentences from the same rows. The rows of both
sources are read in :mod:`bench.data.ade_rows` (their names stay importable from here).
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data.ade_rows import N_FIELDS, AdeRow, Mention, parse_rel_line, read_rel_file, row_from_hub
from bench.data.bioview import BioView, entities_to_bio, split_tokens_at, tokenize
from bench.data.formats import register_format
from bench.data.types import Entity, Sentence, SplitData
from bench.errors import ConfigError, DataFormatError

__all__ = [
    "DEFAULT_SPLITS", "DEFAULT_TYPES", "EMPTY_SPLIT_HINT", "N_FIELDS", "AdeRow", "Mention", "Placed",
    "build_ade_splits", "occurrences", "parse_rel_line", "place_mentions", "read_ade", "read_rel_file", "row_from_hub",
]

log = logging.getLogger(__name__)

DEFAULT_TYPES = {"DRUG": "DRUG", "EFFECT": "EFFECT"}
DEFAULT_SPLITS = ("train", "dev", "test")


# ---------------------------------------------------------------------------------------------
# Rows -> sentences
# ---------------------------------------------------------------------------------------------


def occurrences(text: str, sub: str) -> list[int]:
    """Start of every (possibly overlapping) occurrence of ``sub`` in ``text``.

    >>> occurrences("aaa", "aa")
    [0, 1]
    """
    out = []
    pos = text.find(sub)
    while pos >= 0:
        out.append(pos)
        pos = text.find(sub, pos + 1)
    return out


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a mention ended up in its sentence and how it got there."""

    type: str
    text: str
    source: str
    start: int | None
    """Sentence-local start, ``None`` when the text is not in the sentence."""
    how: str
    """``unique``, ``unique_offsets_disagree``, ``disambiguated``, ``fallback``, ``no_offsets``
    or ``not_found``."""


def place_mentions(sentence: str, mentions: Sequence[tuple[str, Mention, str]]) -> list[Placed]:
    """Locate ``(type, mention, source)`` in ``sentence`` by text, using abstract offsets to pick occurrences.

    The sentence's start in the abstract implied by each mention is ``abs_start - local_pos``; the
    start agreeing with the most mentions is taken as the truth.

    >>> s = "rash after drug X; rash again"
    >>> [(p.start, p.how) for p in place_mentions(s, [
    ...     ("EFFECT", Mention("rash", 119, 123), "a"), ("DRUG", Mention("drug X", 111, 117), "b")])]
    [(19, 'disambiguated'), (11, 'unique')]
    """
    occ = [occurrences(sentence, m.text) for _, m, _ in mentions]
    votes: Counter[int] = Counter()
    for (_, m, _), positions in zip(mentions, occ, strict=True):
        if m.start is not None:
            votes.update({m.start - p for p in positions})
    best = max(votes.items(), key=lambda kv: (kv[1], -kv[0]))[0] if votes else None
    out = []
    for (etype, m, src), positions in zip(mentions, occ, strict=True):
        if not positions:
            out.append(Placed(etype, m.text, src, None, "not_found"))
        elif len(positions) == 1:
            agrees = m.start is None or best is None or m.start - positions[0] == best
            out.append(
                Placed(etype, m.text, src, positions[0], "unique" if agrees else "unique_offsets_disagree")
            )
        elif m.start is None:
            out.append(Placed(etype, m.text, src, positions[0], "no_offsets"))
        elif best is not None and m.start - best in positions:
            out.append(Placed(etype, m.text, src, m.start - best, "disambiguated"))
        else:
            out.append(Placed(etype, m.text, src, positions[0], "fallback"))
    return out


@dataclass(slots=True)
class _Group:
    pmid: str | None
    text: str
    source: str
    mentions: dict[tuple[str, str, int | None, int | None], tuple[str, Mention, str]]
    rows: int = 0


def _sentence_of(group: _Group, types: Mapping[str, str]) -> tuple[Sentence, list[Placed], BioView, int]:
    placed = place_mentions(group.text, list(group.mentions.values()))
    seen: dict[tuple[str, int, int], Entity] = {}
    for p in placed:
        if p.start is None:
            continue
        key = (types[p.type], p.start, p.start + len(p.text))
        if key not in seen:
            seen[key] = Entity(key[0], ((key[1], key[2]),), text=p.text, id=p.source)
    ents = tuple(sorted(seen.values(), key=lambda e: (e.start, e.end, e.type)))
    offsets, nsplit = split_tokens_at(tokenize(group.text), (b for e in ents for b in e.fragments[0]))
    view = entities_to_bio(group.text, offsets, ents, overlap="longest")
    sent = Sentence(
        tokens=tuple(group.text[s:e] for s, e in offsets),
        tags=view.tags,
        source=group.source,
        doc_id=group.pmid,
        text=group.text,
        offsets=tuple(offsets),
        entities=ents,
    )
    return sent, placed, view, nsplit


def _split_keys(groups: Sequence[_Group]) -> tuple[dict[int, str], int]:
    """Split unit of each sentence: its PMID, joined with any PMID sharing an identical sentence.

    Rows without a PMID use their sentence text. Returns ``(unit per group index, PMIDs joined)``.
    """
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_text: dict[str, str] = {}
    joined = 0
    for g in groups:
        key = g.pmid if g.pmid is not None else f"text:{g.text}"
        find(key)
        if g.text in by_text and find(by_text[g.text]) != find(key):
            a, b = sorted((find(by_text[g.text]), find(key)))
            parent[b] = a  # smallest key represents the unit: deterministic
            joined += 1
        by_text.setdefault(g.text, key)
    return {i: find(g.pmid if g.pmid is not None else f"text:{g.text}") for i, g in enumerate(groups)}, joined


def _cut(n: int, fractions: Sequence[float]) -> list[int]:
    """Boundaries that cut ``n`` shuffled units by cumulative fractions (rounded).

    >>> _cut(10, (0.8, 0.1, 0.1))
    [0, 8, 9, 10]
    """
    total = sum(fractions)
    acc, out = 0.0, [0]
    for f in fractions:
        acc += f
        out.append(round(n * acc / total))
    return out


def _sha(keys: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()

def build_ade_splits(
    rows: Sequence[AdeRow],
    *,
    seed: int,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    source_name: str,
    split_names: Sequence[str] = DEFAULT_SPLITS,
    types: Mapping[str, str] | None = None,
) -> dict[str, SplitData]:
    """Deduplicated sentences with merged mentions, split by PMID deterministically from ``seed``."""
    if len(split_names) != len(fractions):
        raise ConfigError(
            f"{len(split_names)} split names {list(split_names)} but {len(fractions)} fractions"
        )
    if any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ConfigError(f"fractions must be non-negative and not all zero, got {list(fractions)}")
    names = _types(types)
    if not rows:
        raise DataFormatError(source_name, None, "no rows")

    ordered = _group_rows(rows)
    unit_of, joined = _split_keys(ordered)
    units = sorted(set(unit_of.values()))
    random.Random(seed).shuffle(units)
    bounds = _cut(len(units), fractions)
    split_of_unit = {
        u: split_names[k] for k in range(len(split_names)) for u in units[bounds[k] : bounds[k + 1]]
    }

    out = {name: SplitData(name, []) for name in split_names}
    tallies = {name: _SplitTally() for name in split_names}
    for i, g in enumerate(ordered):
        name = split_of_unit[unit_of[i]]
        sent, placed, view, nsplit = _sentence_of(g, names)
        out[name].sentences.append(sent)
        tallies[name].add(g, unit_of[i], sent, placed, view, nsplit)

    header = _SplitHeader(
        seed=seed,
        fractions="/".join(f"{f:g}" for f in fractions),
        units=len(units),
        source_name=source_name,
        joined=joined,
        without_pmid=any(g.pmid is None for g in ordered),
    )
    for name in split_names:
        _finish_split(out[name], tallies[name], header)
    return out


def _group_rows(rows: Sequence[AdeRow]) -> list[_Group]:
    """The rows merged per sentence (same PMID and text), in first-seen order, each distinct mention once."""
    groups: dict[tuple[str | None, str], _Group] = {}
    for row in rows:
        g = groups.get((row.pmid, row.sentence))
        if g is None:
            g = groups[(row.pmid, row.sentence)] = _Group(row.pmid, row.sentence, row.source, {})
        g.rows += 1
        for etype, m in (("DRUG", row.drug), ("EFFECT", row.effect)):
            g.mentions.setdefault((etype, m.text, m.start, m.end), (etype, m, row.source))
    return list(groups.values())


def _placement_problem(p: Placed, st: Counter[str]) -> str | None:
    """Count how mention ``p`` was placed into ``st``; what to note about it, if anything."""
    if p.how == "not_found":
        st["mentions_not_found"] += 1
        return f"{p.source}: {p.type} {p.text!r} not found in its sentence"
    if p.how == "disambiguated":
        st["offsets_disambiguated"] += 1
    elif p.how == "unique_offsets_disagree":
        st["offsets_disagree"] += 1
        return (
            f"{p.source}: {p.type} {p.text!r} occurs once, but its abstract offsets disagree with "
            "the sentence's other mentions; placed at its one occurrence"
        )
    elif p.how in ("fallback", "no_offsets"):
        st[f"offsets_{p.how}"] += 1
        return f"{p.source}: {p.type} {p.text!r} occurs several times; placed at its first occurrence " + (
            "(no abstract offsets)" if p.how == "no_offsets" else "(abstract offsets agree with none)"
        )
    return None


@dataclass(slots=True)
class _SplitTally:
    """What one split gathers while its sentences are built: counts, problems to note, its PMIDs (or units)."""

    stats: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    pmids: set[str] = field(default_factory=set)

    def add(self, g: _Group, unit: str, sent: Sentence, placed: Sequence[Placed], view: BioView, nsplit: int) -> None:
        self.pmids.add(g.pmid if g.pmid is not None else unit)
        st = self.stats
        st["rows"] += g.rows
        st["mentions"] += len(placed)
        st["entities"] += len(sent.entities or ())
        for e in sent.entities or ():
            st[f"entities[{e.type}]"] += 1
        st["tokens_split"] += nsplit
        st["bio_overlaps_dropped"] += len(view.dropped)
        for p in placed:
            problem = _placement_problem(p, st)
            if problem is not None:
                self.problems.append(problem)
        for left, kept in view.dropped:
            self.problems.append(
                f"{left.id}: {left.type} {left.text!r} nested in {kept.type} {kept.text!r}; "
                "left out of the BIO tags (kept in Sentence.entities)"
            )


@dataclass(frozen=True, slots=True)
class _SplitHeader:
    """How the splits were cut, said in every split's notes."""

    seed: int
    fractions: str
    units: int
    source_name: str
    joined: int
    without_pmid: bool


_ZERO_STATS = (
    "mentions_not_found",
    "offsets_disambiguated",
    "offsets_fallback",
    "offsets_no_offsets",
    "offsets_disagree",
    "bio_overlaps_dropped",
    "tokens_split",
)
"""Stats every split reports, 0 when nothing was counted."""


def _finish_split(sd: SplitData, tally: _SplitTally, h: _SplitHeader) -> None:
    """Set the stats and notes of split ``sd`` from what was gathered while building it."""
    name, st, pmids = sd.name, tally.stats, tally.pmids
    st["sentences"] = len(sd.sentences)
    st["pmids"] = len(pmids)
    for key in _ZERO_STATS:
        st.setdefault(key, 0)
    sd.stats = dict(st)
    sd.notes = [
        f"{name}: split by PMID (sorted, shuffled with random.Random({h.seed}), cut {h.fractions} of "
        f"{h.units} units); seed={h.seed}; {len(pmids)} PMIDs, {len(sd.sentences)} sentences; "
        f"pmid_sha256={_sha(pmids)}",
        f"{name}: {st['rows']} rows of {h.source_name} merged into {len(sd.sentences)} unique sentences "
        f"(same PMID + text); {st['mentions']} distinct mentions -> {st['entities']} entities; "
        f"nested spans: longest keeps the BIO tags ({st['bio_overlaps_dropped']} left out of the tags)",
        *tally.problems,
    ]
    if h.joined:
        sd.notes.append(
            f"{name}: {h.joined} PMID(s) share an identical sentence with another; kept in one split"
        )
    if h.without_pmid:
        sd.notes.append(
            f"{name}: rows without PMID were grouped by sentence text (abstracts may straddle splits)"
        )
    if st["mentions_not_found"]:
        log.warning("%s: %d mention(s) not found in their sentence", name, st["mentions_not_found"])


def _types(types: Mapping[str, str] | None) -> dict[str, str]:
    if types is None:
        return dict(DEFAULT_TYPES)
    if not isinstance(types, Mapping):
        raise ConfigError(
            f'option \'types\' must be a table like {{ DRUG = "Drug", EFFECT = "AE" }}, not {types!r}'
        )
    out = dict(DEFAULT_TYPES)
    for key, value in types.items():
        k = str(key).upper()
        if k not in DEFAULT_TYPES:
            raise ConfigError(f"option 'types': unknown key {key!r} (use DRUG and/or EFFECT)")
        out[k] = str(value)
    if out["DRUG"] == out["EFFECT"]:
        raise ConfigError(f"option 'types': DRUG and EFFECT both renamed to {out['DRUG']!r}")
    return out


EMPTY_SPLIT_HINT = (
    "the seeded split by PMID gave it none: the file has too few PMIDs for option 'fractions' "
    "(default 0.8/0.1/0.1), or that split's fraction is 0"
)
"""Why an ADE split can come out empty: said in the error the loader raises for one."""


@register_format(
    "ade",
    options=("seed", "fractions", "file", "types"),
    description="ADE corpus v2 DRUG-AE.rel: unique sentences, drug/effect spans, seeded split by PMID",
    spans=True,
    empty_hint=EMPTY_SPLIT_HINT,
)
def read_ade(
    folder: Path, splits: Mapping[str, str], options: Mapping[str, Any], *, scheme: str = "spans", repair: bool = False
) -> dict[str, SplitData]:
    """Span annotations: the task's scheme is ``spans`` and there are no source tags to repair."""
    path = folder / str(options.get("file", "DRUG-AE.rel"))
    fractions = tuple(float(f) for f in options.get("fractions", (0.8, 0.1, 0.1)))
    names = tuple(splits) or DEFAULT_SPLITS
    out = build_ade_splits(
        read_rel_file(path),
        seed=int(options.get("seed", 13)),
        fractions=fractions,
        source_name=path.name,
        split_names=names,
        types=options.get("types"),
    )
    for sd in out.values():
        sd.files = [str(path)]
    return out
