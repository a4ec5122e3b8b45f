"""JSONL predictions (``--format jsonl``; the rules are in :mod:`bench.external`'s doc): one object of entities
in character offsets per gold sentence, turned into the gold words' tags (and spans on span-scored tasks)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.data.brat import entities_to_bio
from bench.data.textio import read_utf8
from bench.data.types import Entity, Sentence
from bench.errors import DataFormatError
from bench.external.common import ExternalPredictions, _bio_notes, _BioTally, _check_type, sha256_bytes

log = logging.getLogger("bench.external")


def _word_offsets(text: str, words: Sequence[str]) -> list[tuple[int, int]] | None:
    """Offsets of ``words`` in ``text`` when ``text`` is exactly those words with whitespace between.

    >>> _word_offsets("EU  rejects\\tGerman", ["EU", "rejects", "German"])
    [(0, 2), (4, 11), (12, 18)]
    >>> _word_offsets("EU rejects", ["EU", "accepts"]) is None
    True
    """
    out = []
    pos = 0
    for w in words:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if not text.startswith(w, pos):
            return None
        out.append((pos, pos + len(w)))
        pos += len(w)
    return out if not text[pos:].strip() else None


def _first_difference(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def _gold_text(s: Sentence) -> tuple[str, list[tuple[int, int]]]:
    if s.text is not None and s.offsets is not None:
        return s.text, list(s.offsets)
    offsets, at = [], 0
    for w in s.tokens:
        offsets.append((at, at + len(w)))
        at += len(w) + 1
    return " ".join(s.tokens), offsets


def _entity(obj: Any, n: int, text: str, types: Sequence[str], path: Path, line: int) -> Entity:
    where = f"entity {n + 1}"
    if not isinstance(obj, dict):
        raise DataFormatError(path, line, f"{where}: expected an object with start, end and type", where=None)
    etype = obj.get("type")
    if not isinstance(etype, str):
        raise DataFormatError(path, line, f"{where}: no string 'type'")
    _check_type(etype, types, path, line, where=where)
    if "fragments" in obj:
        raw = obj["fragments"]
        if not isinstance(raw, list) or not raw or not all(isinstance(f, list) and len(f) == 2 for f in raw):
            raise DataFormatError(path, line, f"{where}: 'fragments' must be a non-empty list of [start, end]")
        frags = [tuple(f) for f in raw]
    else:
        frags = [(obj.get("start"), obj.get("end"))]
    for s, e in frags:
        if not (isinstance(s, int) and isinstance(e, int)) or isinstance(s, bool) or isinstance(e, bool):
            raise DataFormatError(path, line, f"{where}: start and end must be integers, got {s!r} and {e!r}")
        if not 0 <= s < e <= len(text):
            raise DataFormatError(path, line, f"{where}: offsets {s}-{e} outside the text (0-{len(text)}) or empty")
    fr = tuple(sorted((int(s), int(e)) for s, e in frags))
    return Entity(etype, fr, text=" ".join(text[s:e] for s, e in fr))


def _read_objects(path: Path, text: str, n_sentences: int) -> tuple[dict[int, tuple[int, dict[str, Any]]], bool]:
    """The file's objects by the index of their gold sentence, each with its line, and whether they were paired
    by a ``sentence`` index (else in order)."""
    assigned: dict[int, tuple[int, dict[str, Any]]] = {}
    indexed: bool | None = None
    n_objects = 0
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(path, lineno, f"not valid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise DataFormatError(path, lineno, "expected a JSON object with 'entities'")
        has_index = "sentence" in obj
        if indexed is None:
            indexed = has_index
        elif indexed != has_index:
            raise DataFormatError(path, lineno, "either every object has 'sentence' (its index in the split) or none does")
        if has_index:
            idx = obj["sentence"]
            if not isinstance(idx, int) or isinstance(idx, bool) or not 0 <= idx < n_sentences:
                raise DataFormatError(path, lineno, f"'sentence' must be an index 0-{n_sentences - 1}, got {idx!r}")
            if idx in assigned:
                raise DataFormatError(path, lineno, f"sentence {idx} already given on line {assigned[idx][0]}")
        else:
            idx = n_objects
            if idx >= n_sentences:
                raise DataFormatError(path, lineno, f"more objects than the split has sentences ({n_sentences})")
        assigned[idx] = (lineno, obj)
        n_objects += 1
    if not indexed and n_objects != n_sentences:
        raise DataFormatError(path, None, f"{n_objects} objects but the split has {n_sentences} sentences "
                              "(objects pair with sentences in order; or give each a 'sentence' index)")
    return assigned, bool(indexed)


def _text_offsets(
    path: Path, lineno: int, s: Sentence, otext: Any, gtext: str, goffs: list[tuple[int, int]], *,
    span_task: bool,
) -> list[tuple[int, int]]:
    """The gold words' offsets in an object's ``text`` (``otext``), checked against the gold sentence."""
    if not isinstance(otext, str):
        raise DataFormatError(path, lineno, "'text' must be a string")
    if otext == gtext:
        offs = goffs
    elif span_task:
        k = _first_difference(otext, gtext)
        raise DataFormatError(path, lineno, f"'text' differs from the gold sentence ({s.source}) at character "
                              f"{k}: {otext[k:k + 20]!r} vs {gtext[k:k + 20]!r}; offsets must count characters "
                              "of the gold text on a span-scored task")
    else:
        found = _word_offsets(otext, s.tokens)
        if found is None:
            raise DataFormatError(path, lineno, f"'text' is not the gold words of sentence {s.source} in order "
                                  f"(expected {' '.join(s.tokens)[:60]!r})")
        offs = found
    return offs


def read_jsonl_predictions(
    path: Path,
    sentences: Sequence[Sentence],
    *,
    entity_types: Sequence[str],
    span_task: bool = False,
    bio: Mapping[str, Any] | None = None,
) -> ExternalPredictions:
    """Read JSONL entity predictions (see the module doc) into word tags (and spans on span tasks)."""
    bio = dict(bio or {"discontinuous": "fragments", "overlap": "longest", "join_gaps": True})
    text = read_utf8(path).removeprefix("\ufeff")
    raw = path.read_bytes()
    assigned, indexed = _read_objects(path, text, len(sentences))
    n_objects = len(assigned)
    tags: list[list[str]] = []
    spans: list[list[Entity]] = []
    tally = _BioTally()
    missing = n_ent = 0
    for si, s in enumerate(sentences):
        gtext, goffs = _gold_text(s)
        if si not in assigned:
            missing += 1
            tags.append(["O"] * len(s.tokens))
            spans.append([])
            continue
        lineno, obj = assigned[si]
        otext = obj.get("text", gtext)
        offs = _text_offsets(path, lineno, s, otext, gtext, goffs, span_task=span_task)
        ents_raw = obj.get("entities", [])
        if not isinstance(ents_raw, list):
            raise DataFormatError(path, lineno, "'entities' must be a list")
        ents = [_entity(e, n, otext, entity_types, path, lineno) for n, e in enumerate(ents_raw)]
        n_ent += len(ents)
        tags.append(tally.tags(entities_to_bio(otext, offs, ents, **bio)))
        spans.append(ents if otext == gtext else [])
    notes: list[str] = []
    if missing:
        notes.append(f"{missing} sentences have no object in {path.name} (scored as predicting nothing)")
    if tally.dropped:
        notes.append(f"{tally.dropped} predicted entities overlap others and are left out of the word tags "
                     f"(overlap={bio['overlap']})")
    notes.extend(_bio_notes(tally.inexact, tally.wordless))
    stats: dict[str, Any] = {"objects": n_objects, "sentences": len(sentences), "sentences_without_object": missing,
                             "entities": n_ent, "bio_overlaps_dropped": tally.dropped,
                             "entities_inside_words": tally.inexact, "entities_without_words": tally.wordless,
                             "paired_by": "sentence index" if indexed else "order"}
    for n in notes:
        log.info(n)
    return ExternalPredictions("jsonl", path, sha256_bytes(raw), tags, spans if span_task else None, notes, stats)
