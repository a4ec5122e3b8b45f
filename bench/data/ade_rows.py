"""ADE corpus v2 rows from its two sources: the ``DRUG-AE.rel`` file and the Hugging Face config.

Each row is one drug--effect pair in one sentence (:class:`AdeRow`); :mod:`bench.data.ade` merges
them into sentences and splits them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data.textio import read_utf8
from bench.errors import DataFormatError

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
    unknown and :func:`bench.data.ade.build_ade_splits` places the mention by text (and counts it).

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

