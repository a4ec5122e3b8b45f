"""BRAT predictions (``--format brat``; the rules are in :mod:`bench.external`'s doc): a ``.ann`` read the way
the official eHealth-KD 2020 scorer reads it, its lines paired with the gold sentences."""

from __future__ import annotations

import bisect
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data.brat import entities_to_bio, other_line_kind
from bench.data.textio import read_utf8
from bench.data.types import Entity, Sentence
from bench.errors import DataFormatError
from bench.external.common import EXAMPLES, ExternalPredictions, _bio_notes, _BioTally, _check_type, digest_files

log = logging.getLogger("bench.external")

_T_LINE = re.compile(r"(T[^\t]*)\t(\S+)[ \t]+(\d+\s+\d+(?:\s*;\s*\d+\s+\d+)*)(?:\t(.*))?")


def _portable(source: str) -> str:
    """``path:line`` as ``name:line``: notes go into result files, which hold no machine paths."""
    path, sep, line = source.rpartition(":")
    return f"{Path(path).name}{sep}{line}" if sep else Path(source).name


def _normalise(text: str) -> str:
    """Letters and digits, lower-cased: how the official scorer pairs sentences."""
    return "".join(c.lower() for c in text if c.isalnum())


def official_sentences(text: str) -> tuple[list[str], list[int]]:
    """Sentences and their start offsets as the official eHealth-KD scorer sees a ``.txt``.

    Universal newlines (``\\r\\n`` is one character), blank lines dropped, each line stripped; the
    ``.ann`` offsets count characters of the sentences joined by ``\\n``.

    >>> official_sentences("Uno dos.\\r\\n\\r\\n Tres.\\n")
    (['Uno dos.', 'Tres.'], [0, 9])
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").removeprefix("\ufeff")
    sents = [s.strip() for s in text.splitlines() if s]
    starts, pos = [], 0
    for s in sents:
        starts.append(pos)
        pos += len(s) + 1
    return sents, starts


def _find_ann(path: Path, ann_name: str) -> Path:
    if path.is_file():
        if path.suffix != ".ann":
            raise DataFormatError(path, None, "a BRAT prediction is a folder or an .ann file")
        return path
    if not path.is_dir():
        raise DataFormatError(path, None, "predictions folder not found")
    ann = path / ann_name
    if ann.is_file():
        return ann
    found = sorted(path.glob("*.ann"))
    if len(found) == 1:
        return found[0]
    raise DataFormatError(
        path, None,
        f"no {ann_name} here (the task's annotation file)"
        + (f"; found {', '.join(p.name for p in found)}" if found else "; no .ann file at all"),
    )


@dataclass
class _AnnEntities:
    """A predicted ``.ann`` as read: its entities per predicted sentence, in offsets of that sentence."""

    per_sentence: list[list[Entity]]
    counts: Counter[str] = field(default_factory=Counter)
    text_mismatch: list[str] = field(default_factory=list)
    """The first few entity texts that differ from the ``.txt``."""


def _read_ann(
    ann: Path, txt_path: Path, pred_sents: Sequence[str], starts: Sequence[int], entity_types: Sequence[str]
) -> _AnnEntities:
    """The entity lines of ``ann``, each put in the predicted sentence the official loader puts it in;
    other lines are counted."""
    ends = [s + len(t) for s, t in zip(starts, pred_sents, strict=True)]
    out = _AnnEntities([[] for _ in pred_sents])
    counts = out.counts
    joined = "\n".join(pred_sents)
    for lineno, raw in enumerate(read_utf8(ann).removeprefix("\ufeff").split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if line[0] != "T":
            counts[f"{other_line_kind(line, ann, lineno)}_ignored"] += 1  # shape checked: a wrapped text line is an error
            continue
        m = _T_LINE.fullmatch(line)
        if m is None:
            raise DataFormatError(ann, lineno, f"malformed entity line {line[:60]!r}: expected "
                                  "'T<n><TAB><Type> <start> <end>[;<start> <end>...]<TAB><text>'")
        eid, etype, offs, written = m.groups()
        _check_type(etype, entity_types, ann, lineno, where=eid)
        frags = [(int(a), int(b)) for a, b in (p.split() for p in offs.split(";"))]
        for s, e in frags:
            if s >= e:
                raise DataFormatError(ann, lineno, f"empty or reversed fragment {s}-{e}", where=eid)
            if e > len(joined):
                raise DataFormatError(ann, lineno, f"offsets {s}-{e} out of range: {txt_path.name} has "
                                      f"{len(joined)} characters as the official scorer reads it", where=eid)
        # The official loader: the sentence whose end (its newline) lies beyond the first fragment's start.
        si = min(bisect.bisect_right(ends, frags[0][0]), len(pred_sents) - 1)
        if any(s < starts[si] or e > ends[si] for s, e in frags):
            counts["entities_outside_their_sentence"] += 1
        rel = tuple(sorted((s - starts[si], e - starts[si]) for s, e in frags))
        surface = " ".join(joined[s:e] for s, e in frags)
        if written is not None and written != surface:
            counts["entity_texts_differing"] += 1
            if len(out.text_mismatch) < EXAMPLES:
                out.text_mismatch.append(f"line {lineno} ({eid}) {written!r} vs {surface!r}")
        out.per_sentence[si].append(Entity(etype, rel, text=surface, id=eid))
        counts["entities"] += 1
    return out


@dataclass
class _Paired:
    """Gold sentences with the predicted entities of their lines, as spans and as word tags."""

    spans: list[list[Entity]] = field(default_factory=list)
    tags: list[list[str]] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    """Gold sentences (their sources) that no predicted line matches."""
    matched: int = 0
    """Predicted lines paired with a gold sentence: always the first ones, as pairing keeps the order."""
    bio: _BioTally = field(default_factory=_BioTally)


def _pair_with_gold(
    sentences: Sequence[Sentence], pred_sents: Sequence[str], per_pred: Sequence[Sequence[Entity]],
    bio: Mapping[str, Any],
) -> _Paired:
    """Pair predicted lines with gold sentences by their letters and digits, in order, as the official scorer
    does; a paired line's entities move to the gold text's offsets and tag its words."""
    out = _Paired()
    j = 0
    for s in sentences:
        text = s.text or " ".join(s.tokens)
        if j < len(pred_sents) and _normalise(text) == _normalise(pred_sents[j]):
            lead = len(text) - len(text.lstrip())
            ents = [Entity(e.type, tuple((a + lead, b + lead) for a, b in e.fragments), e.text, e.id)
                    for e in per_pred[j]]
            j += 1
        else:
            ents = []
            out.unmatched.append(_portable(s.source))
        assert s.offsets is not None, "BRAT gold sentences carry word offsets"
        out.tags.append(out.bio.tags(entities_to_bio(text, s.offsets, ents, **bio)))
        out.spans.append(ents)
    out.matched = j
    return out


def read_brat_predictions(
    path: Path,
    sentences: Sequence[Sentence],
    *,
    gold_txt: Path,
    ann_file: str = "scenario.ann",
    entity_types: Sequence[str],
    bio: Mapping[str, Any] | None = None,
) -> ExternalPredictions:
    """Read a BRAT ``.ann`` (folder or file) the way the official eHealth-KD 2020 scorer does."""
    bio = dict(bio or {"discontinuous": "fragments", "overlap": "longest", "join_gaps": True})
    ann = _find_ann(Path(path), ann_file)
    own_txt = ann.with_suffix(".txt")
    txt_path = own_txt if own_txt.is_file() else gold_txt
    notes: list[str] = []
    if txt_path is gold_txt:
        notes.append(f"{ann.name}: no {own_txt.name} beside it; offsets read against the gold {gold_txt.name}")
    pred_sents, starts = official_sentences(read_utf8(txt_path))
    if not pred_sents:
        raise DataFormatError(txt_path, None, "no sentences (only blank lines)")
    read = _read_ann(ann, txt_path, pred_sents, starts, entity_types)
    counts = read.counts
    if read.text_mismatch:
        notes.append(f"{ann.name}: {counts['entity_texts_differing']} entity texts differ from the .txt "
                     f"(ignored, as the official scorer does): {'; '.join(read.text_mismatch)}")
    paired = _pair_with_gold(sentences, pred_sents, read.per_sentence, bio)
    unmatched, tally = paired.unmatched, paired.bio
    leftover = len(pred_sents) - paired.matched
    if unmatched:
        notes.append(f"{len(unmatched)} gold sentences have no matching line in {txt_path.name} (scored as "
                     f"predicting nothing, as the official scorer does); first: {unmatched[0]}")
    if leftover:
        notes.append(f"{leftover} lines of {txt_path.name} match no gold sentence and are ignored")
    if tally.dropped:
        notes.append(f"{tally.dropped} predicted entities overlap others and are left out of the word tags "
                     f"(overlap={bio['overlap']}); the span scorer sees them all")
    notes.extend(_bio_notes(tally.inexact, tally.wordless))
    stats: dict[str, Any] = {
        **dict(counts), "sentences": len(sentences), "gold_sentences_unmatched": len(unmatched),
        "predicted_lines_ignored": leftover, "bio_overlaps_dropped": tally.dropped,
        "entities_inside_words": tally.inexact, "entities_without_words": tally.wordless,
        "multi_fragment_entities": sum(len(e.fragments) > 1 for s in paired.spans for e in s),
        "text_file": txt_path.name, "ann_file": ann.name,
    }
    stats.setdefault("entity_texts_differing", 0)
    sha = digest_files([ann, txt_path])
    for n in notes:
        log.info(n)
    return ExternalPredictions("brat", Path(path), sha, paired.tags, paired.spans, notes, stats)
