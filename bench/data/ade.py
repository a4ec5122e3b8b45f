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
(:func:`row_from_hub`), so both produce the same sentences from the same rows.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data.brat import BioView, entities_to_bio, read_utf8, split_tokens_at, tokenize
from bench.data.formats import register_format
from bench.data.types import Entity, Sentence, SplitData
from bench.errors import ConfigError, DataFormatError

log = logging.getLogger(__name__)

DEFAULT_TYPES = {"DRUG": "DRUG", "EFFECT": "EFFECT"}
DEFAULT_SPLITS = ("train", "dev", "test")
N_FIELDS = 8


@dataclass(frozen=True, slots=True)
class Mention:
    """A mention's text and its ``[start, end)`` offsets in the abstract (``None`` when unknown)."""

    text: str
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True, slots=True)
class AdeRow:
    """One drug--effect pair in one sentence, whichever source it came from.

    ``pmid`` is ``None`` for sources without one (the Hugging Face config): such rows are grouped
    for splitting by their sentence text instead.
    """

    pmid: str | None
    sentence: str
    drug: Mention
    effect: Mention
    source: str
    """``"file:line"`` (or ``"hub:<dataset>:<row>"``), used in every message about the row."""


# ---------------------------------------------------------------------------------------------
# Rows from the two sources
# ---------------------------------------------------------------------------------------------


def parse_rel_line(line: str, *, source: str) -> AdeRow:
    """One ``PMID|sentence|effect|effect_start|effect_end|drug|drug_start|drug_end`` row.

    >>> parse_rel_line("1|Aspirin-induced rash.|rash|17|21|Aspirin|0|7", source="f.rel:1").drug
    Mention(text='Aspirin', start=0, end=7)
    """
    fields = line.split("|")
    if len(fields) != N_FIELDS:
        raise DataFormatError.at(
            source,
            f"found {len(fields)} '|'-separated fields, expected {N_FIELDS} "
            "(PMID|sentence|effect|effect_start|effect_end|drug|drug_start|drug_end)",
        )
    pmid, sentence, effect, e_start, e_end, drug, d_start, d_end = fields
    if not pmid.strip() or not sentence.strip():
        raise DataFormatError.at(source, "empty PMID or sentence field")

    def mention(kind: str, text: str, start: str, end: str) -> Mention:
        try:
            s, e = int(start), int(end)
        except ValueError:
            raise DataFormatError.at(
                source, f"{kind} offsets must be integers, found {start!r} and {end!r}"
            ) from None
        if not text:
            raise DataFormatError.at(source, f"{kind} text is empty")
        if not 0 <= s < e or e - s != len(text):
            raise DataFormatError.at(
                source, f"{kind} offsets {s}-{e} do not fit its text {text!r} ({len(text)} characters)"
            )
        return Mention(text, s, e)

    return AdeRow(
        pmid=pmid.strip(),
        sentence=sentence,
        drug=mention("drug", drug, d_start, d_end),
        effect=mention("effect", effect, e_start, e_end),
        source=source,
    )


def read_rel_file(path: Path) -> list[AdeRow]:
    """Every row of a ``DRUG-AE.rel`` file; blank lines are skipped, anything malformed is an error."""
    text = read_utf8(path).lstrip("\ufeff")
    rows = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        rows.append(parse_rel_line(line, source=f"{path}:{lineno}"))
    return rows


def row_from_hub(example: Mapping[str, Any], *, index: int, source_name: str) -> AdeRow:
    """A Hugging Face ``Ade_corpus_v2_drug_ade_relation`` row as an :class:`AdeRow`.

    The hub rows carry no PMID, and their ``indexes`` are the *sentence-local* matches of the
    mention text (every occurrence), so a sentence counts as starting at offset 0 of its
    "abstract". With exactly one checked match the offsets are kept; with none or several they are
    unknown and :func:`build_ade_splits` places the mention by text (and counts it).

    >>> row = row_from_hub({"text": "Aspirin-induced rash.", "drug": "Aspirin", "effect": "rash",
    ...     "indexes": {"drug": {"start_char": [0], "end_char": [7]},
    ...                 "effect": {"start_char": [16], "end_char": [20]}}}, index=0, source_name="hub:ade")
    >>> row.drug, row.effect, row.source
    (Mention(text='Aspirin', start=0, end=7), Mention(text='rash', start=16, end=20), 'hub:ade:0')
    """
    source = f"{source_name}:{index}"
    try:
        sentence, drug, effect = str(example["text"]), str(example["drug"]), str(example["effect"])
    except KeyError as exc:
        raise DataFormatError(
            source_name, None, f"hub row has no field {exc}", where=f"row {index}"
        ) from None
    indexes = example.get("indexes") or {}

    def mention(kind: str, text: str) -> Mention:
        spans = _hub_spans(indexes.get(kind))
        good = [(s, e) for s, e in spans if sentence[s:e] == text]
        if len(good) == 1:
            return Mention(text, *good[0])
        return Mention(text)

    return AdeRow(
        pmid=None,
        sentence=sentence,
        drug=mention("drug", drug),
        effect=mention("effect", effect),
        source=source,
    )


def _hub_spans(value: Any) -> list[tuple[int, int]]:
    """``{"start_char": [...], "end_char": [...]}`` or ``[{"start_char": s, "end_char": e}, ...]``."""
    if not value:
        return []
    if isinstance(value, Mapping):
        return [
            (int(s), int(e))
            for s, e in zip(value.get("start_char", []), value.get("end_char", []), strict=False)
        ]
    return [(int(v["start_char"]), int(v["end_char"])) for v in value]


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

    groups: dict[tuple[str | None, str], _Group] = {}
    for row in rows:
        g = groups.get((row.pmid, row.sentence))
        if g is None:
            g = groups[(row.pmid, row.sentence)] = _Group(row.pmid, row.sentence, row.source, {})
        g.rows += 1
        for etype, m in (("DRUG", row.drug), ("EFFECT", row.effect)):
            g.mentions.setdefault((etype, m.text, m.start, m.end), (etype, m, row.source))
    ordered = list(groups.values())
    unit_of, joined = _split_keys(ordered)

    units = sorted(set(unit_of.values()))
    random.Random(seed).shuffle(units)
    bounds = _cut(len(units), fractions)
    split_of_unit = {
        u: split_names[k] for k in range(len(split_names)) for u in units[bounds[k] : bounds[k + 1]]
    }

    out = {name: SplitData(name, []) for name in split_names}
    stats: dict[str, Counter[str]] = {name: Counter() for name in split_names}
    problems: dict[str, list[str]] = defaultdict(list)
    pmids: dict[str, set[str]] = {name: set() for name in split_names}
    for i, g in enumerate(ordered):
        name = split_of_unit[unit_of[i]]
        sent, placed, view, nsplit = _sentence_of(g, names)
        out[name].sentences.append(sent)
        pmids[name].add(g.pmid if g.pmid is not None else unit_of[i])
        st = stats[name]
        st["rows"] += g.rows
        st["mentions"] += len(placed)
        st["entities"] += len(sent.entities or ())
        for e in sent.entities or ():
            st[f"entities[{e.type}]"] += 1
        st["tokens_split"] += nsplit
        st["bio_overlaps_dropped"] += len(view.dropped)
        for p in placed:
            if p.how == "not_found":
                st["mentions_not_found"] += 1
                problems[name].append(f"{p.source}: {p.type} {p.text!r} not found in its sentence")
            elif p.how == "disambiguated":
                st["offsets_disambiguated"] += 1
            elif p.how == "unique_offsets_disagree":
                st["offsets_disagree"] += 1
                problems[name].append(
                    f"{p.source}: {p.type} {p.text!r} occurs once, but its abstract offsets disagree with "
                    "the sentence's other mentions; placed at its one occurrence"
                )
            elif p.how in ("fallback", "no_offsets"):
                st[f"offsets_{p.how}"] += 1
                problems[name].append(
                    f"{p.source}: {p.type} {p.text!r} occurs several times; placed at its first occurrence "
                    + (
                        "(no abstract offsets)"
                        if p.how == "no_offsets"
                        else "(abstract offsets agree with none)"
                    )
                )
        for left, kept in view.dropped:
            problems[name].append(
                f"{left.id}: {left.type} {left.text!r} nested in {kept.type} {kept.text!r}; "
                "left out of the BIO tags (kept in Sentence.entities)"
            )

    frac = "/".join(f"{f:g}" for f in fractions)
    for name in split_names:
        sd = out[name]
        st = stats[name]
        st["sentences"] = len(sd.sentences)
        st["pmids"] = len(pmids[name])
        for key in (
            "mentions_not_found",
            "offsets_disambiguated",
            "offsets_fallback",
            "offsets_no_offsets",
            "offsets_disagree",
            "bio_overlaps_dropped",
            "tokens_split",
        ):
            st.setdefault(key, 0)
        sd.stats = dict(st)
        sd.notes = [
            f"{name}: split by PMID (sorted, shuffled with random.Random({seed}), cut {frac} of "
            f"{len(units)} units); seed={seed}; {len(pmids[name])} PMIDs, {len(sd.sentences)} sentences; "
            f"pmid_sha256={_sha(pmids[name])}",
            f"{name}: {st['rows']} rows of {source_name} merged into {len(sd.sentences)} unique sentences "
            f"(same PMID + text); {st['mentions']} distinct mentions -> {st['entities']} entities; "
            f"nested spans: longest keeps the BIO tags ({st['bio_overlaps_dropped']} left out of the tags)",
            *problems[name],
        ]
        if joined:
            sd.notes.append(
                f"{name}: {joined} PMID(s) share an identical sentence with another; kept in one split"
            )
        if any(g.pmid is None for g in ordered):
            sd.notes.append(
                f"{name}: rows without PMID were grouped by sentence text (abstracts may straddle splits)"
            )
        if st["mentions_not_found"]:
            log.warning("%s: %d mention(s) not found in their sentence", name, st["mentions_not_found"])
    return out


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
