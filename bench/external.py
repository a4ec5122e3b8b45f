"""External predictions: read what a system nerbench did not train wrote, line it up with a task's gold.

``nerbench score`` turns such a file into word-level IOB2 tags per gold sentence (and, for span-scored
tasks, character-offset entities per gold sentence), so it is scored exactly like the CRF and the
transformers. Every reading decision (a scheme converted, tokens that differ, lines ignored) is
recorded in :attr:`ExternalPredictions.notes` and :attr:`ExternalPredictions.stats`, which go into
the result file.

Formats
-------
``conll``
    One token per line, the token in the first column and the **predicted tag in the last column**
    (other columns, e.g. a gold column, are ignored). Columns are separated by tabs when the line
    has a tab, else by runs of ASCII spaces (other Unicode spaces belong to the token). CRLF or LF
    line ends, an optional UTF-8 BOM; ``-DOCSTART-`` lines are skipped. Blank lines are *not* used:
    the tokens of the whole file are lined up with the gold tokens of the split in order, so a file
    may put its sentence breaks anywhere. The predicted tokens must be the gold tokens, in order. A system may have rewritten single tokens
    (``u`` as ``you``, URLs as ``url``): with one token line per gold token such tokens are
    *substitutions*, scored as the gold tokens and counted (``--exact-tokens`` makes any an error;
    more than 8 differing in a row, or half of all, mean the file is out of step). A token added,
    dropped, split or merged is an error naming the line of the predictions file and the gold
    token expected there. Tags are ``O`` or ``B-``/``I-``/``E-``/``S-``/``L-``/``U-`` + a type of
    the task (another type is an error naming the line). The file's scheme is looked at
    (:func:`guess_scheme`) unless ``--scheme`` declares it: IOB1, BIOES and BILOU are converted to
    IOB2 and the conversion recorded; IOB2 is kept as written, so a stray ``I-`` stays the system's
    error (the conlleval main score reads an entity there, as conlleval did for published numbers;
    the strict score reads none).
``brat``
    A folder holding the task's ``.ann`` file (``scenario.ann`` for eHealth-KD), or the ``.ann``
    file itself. Offsets count characters of the ``.txt`` beside it (the gold ``.txt`` if there is
    none), read the way the official eHealth-KD 2020 scorer reads it: universal newlines (CRLF
    counts as one character), blank lines dropped, lines stripped; an entity belongs to the line
    its first fragment starts on. Predicted lines are paired with gold sentences by their
    letters and digits (lower-cased), in order, as the official scorer does. Discontinuous
    entities keep their fragments; the text column is not checked against the ``.txt`` (the
    official scorer ignores it; differences are counted). Relation, attribute, event, note and
    comment lines are ignored and counted. Span-scored tasks are scored on these entities by the
    official rule; word tags for the token-level metrics come from the task's BIO-view policies.
``jsonl``
    One JSON object per line (blank lines skipped), one object per gold sentence::

        {"text": "EU rejects German call", "entities": [{"start": 0, "end": 2, "type": "ORG"}]}
        {"sentence": 7, "entities": [{"fragments": [[0, 5], [12, 18]], "type": "Concept"}]}

    Objects pair with gold sentences in file order, or by ``"sentence"`` (the 0-based position of
    the sentence in the split; then every object must have it, each at most once, and a sentence
    without an object has no entities). ``entities`` holds ``start``/``end`` character offsets
    (``end`` exclusive) or ``fragments`` (a list of ``[start, end]``, for discontinuous entities)
    and a ``type`` of the task; other keys (``text``, ``score``) are ignored. Offsets count
    characters of the object's ``text``; without ``text``, of the gold sentence text (span-based
    tasks: the sentence; CoNLL tasks: the words joined by single spaces). On a span-scored task
    ``text`` must equal the gold sentence text; otherwise it must consist of the gold words in
    order, with any whitespace (or none) between them. A word belongs to an entity that covers any
    of its characters (boundaries inside a word are counted). ``nerbench predict`` output is
    accepted as is.
"""

from __future__ import annotations

import bisect
import difflib
import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.data.brat import OVERLAP_POLICIES, entities_to_bio, other_line_kind
from bench.data.conll import split_columns
from bench.data.schemes import TagError, split_tag, to_iob2, violations
from bench.data.textio import read_utf8
from bench.data.types import Entity, Sentence
from bench.errors import ConfigError, DataFormatError

if TYPE_CHECKING:
    from bench.data.load import TaskData

log = logging.getLogger(__name__)

FORMATS = ("conll", "brat", "jsonl")
DOCSTART = "-DOCSTART-"
MAX_SUBSTITUTION_RUN = 8
"""Longest run of consecutive differing tokens still read as substitutions (a row of URLs)."""
MAX_SUBSTITUTED_SHARE = 0.5
"""Beyond this share of differing tokens a file is not read as predictions for this split."""
EXAMPLES = 5
"""Examples kept per kind of reading note."""


@dataclass
class ExternalPredictions:
    """External predictions lined up with one split's gold sentences."""

    format: str
    path: Path
    sha256: str
    """Of the file read; for a BRAT folder, of the files used (see :func:`digest_files`)."""
    tags: list[list[str]]
    """IOB2 word tags, one list per gold sentence (the gold's words)."""
    spans: list[list[Entity]] | None = None
    """Predicted entities in character offsets of each gold sentence's text (span-based tasks)."""
    notes: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """What the result file records about the reading (its ``prediction`` block)."""
        return {"format": self.format, "file": self.path.name, "sha256": self.sha256,
                "reading": dict(sorted(self.stats.items())), "notes": list(self.notes)}


# --------------------------------------------------------------------------- entry points


def detect_format(path: Path) -> str:
    """``brat`` for a folder or ``.ann`` file, ``jsonl`` for ``.jsonl``/``.json`` or a first line
    starting with ``{``, else ``conll``."""
    path = Path(path)
    if path.is_dir() or path.suffix == ".ann":
        return "brat"
    if path.suffix in (".jsonl", ".json"):
        return "jsonl"
    if not path.is_file():
        raise DataFormatError(path, None, "predictions file not found")
    with path.open("rb") as fh:
        for raw in fh:
            line = raw.decode("utf-8", errors="replace").removeprefix("\ufeff").strip()
            if line:
                return "jsonl" if line.startswith("{") else "conll"
    raise DataFormatError(path, None, "file is empty")


def read_predictions(
    path: str | Path,
    data: TaskData,
    split: str,
    *,
    format: str | None = None,
    exact_tokens: bool = False,
    scheme: str = "auto",
) -> ExternalPredictions:
    """Read ``path`` against split ``split`` of ``data`` (a :class:`bench.data.load.TaskData`).

    ``format`` defaults to :func:`detect_format`; ``exact_tokens`` and ``scheme`` concern CoNLL files.
    """
    path = Path(path)
    fmt = format or detect_format(path)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown predictions format {fmt!r} (use {', '.join(FORMATS)})")
    if fmt != "conll" and (exact_tokens or scheme != "auto"):
        raise ConfigError(f"--exact-tokens and --scheme apply to conll predictions, not {fmt}")
    task = data.task
    sentences = data.sentences(split)
    if fmt == "conll":
        return read_conll_predictions(path, sentences, entity_types=task.entity_types, exact_tokens=exact_tokens,
                                      scheme=scheme, gold_is_conll=_task_format(task) == "conll")
    options = dict(task.local.options) if task.local is not None else {}
    if fmt == "brat":
        if _task_format(task) != "brat":
            raise ConfigError(
                f"task {task.name} is not a BRAT task (its data are {_task_format(task) or 'from the hub'}); "
                "give its predictions as conll or jsonl"
            )
        gold_txt, gold_ann = (Path(f) for f in data.splits[split].files[:2])
        out = read_brat_predictions(
            path, sentences, gold_txt=gold_txt, ann_file=gold_ann.name,
            entity_types=task.entity_types, bio=_bio_options(options),
        )
        if not task.span_scoring:
            out.spans = None  # no span scorer: the word tags carry the predictions
        return out
    return read_jsonl_predictions(path, sentences, entity_types=task.entity_types,
                                  span_task=bool(task.span_scoring), bio=_bio_options(options))


def _task_format(task: Any) -> str | None:
    return task.local.format if task.local is not None else None


def _bio_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The task's BIO-view policies, used for predicted entities too (``error`` cannot stop a score)."""
    overlap = str(options.get("overlap", "longest"))
    return {
        "discontinuous": str(options.get("discontinuous", "fragments")),
        "overlap": overlap if overlap in OVERLAP_POLICIES and overlap != "error" else "longest",
        "join_gaps": bool(options.get("join_whitespace_gaps", True)),
    }


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_files(files: Sequence[Path]) -> str:
    """sha256 over ``name<TAB>sha256`` lines of ``files`` in the given order (a folder's fingerprint)."""
    lines = "".join(f"{p.name}\t{sha256_bytes(p.read_bytes())}\n" for p in files)
    return sha256_bytes(lines.encode())


def _check_type(etype: str, types: Sequence[str], path: Path, line: int, where: str | None = None) -> None:
    if etype not in types:
        raise DataFormatError(
            path, line, f"entity type {etype!r} is not one of the task's entity types ({', '.join(types)})",
            where=where,
        )


# --------------------------------------------------------------------------- CoNLL


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


# --------------------------------------------------------------------------- BRAT

_T_LINE = re.compile(r"(T[^\t]*)\t(\S+)[ \t]+(\d+\s+\d+(?:\s*;\s*\d+\s+\d+)*)(?:\t(.*))?")


def _bio_notes(inexact: int, wordless: int) -> list[str]:
    """Notes on predicted entities that word tags can only approximate."""
    out = []
    if inexact:
        out.append(f"{inexact} predicted entities start or end inside a word; their words are tagged whole")
    if wordless:
        out.append(f"{wordless} predicted entities cover no word (only spaces) and are not in the word tags")
    return out


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
    ends = [s + len(t) for s, t in zip(starts, pred_sents, strict=True)]
    per_pred: list[list[Entity]] = [[] for _ in pred_sents]
    counts: Counter[str] = Counter()
    text_mismatch: list[str] = []
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
            if len(text_mismatch) < EXAMPLES:
                text_mismatch.append(f"line {lineno} ({eid}) {written!r} vs {surface!r}")
        per_pred[si].append(Entity(etype, rel, text=surface, id=eid))
        counts["entities"] += 1
    if text_mismatch:
        notes.append(f"{ann.name}: {counts['entity_texts_differing']} entity texts differ from the .txt "
                     f"(ignored, as the official scorer does): {'; '.join(text_mismatch)}")

    spans: list[list[Entity]] = []
    tags: list[list[str]] = []
    j = 0
    unmatched: list[str] = []
    dropped = inexact = wordless = 0
    for s in sentences:
        text = s.text or " ".join(s.tokens)
        if j < len(pred_sents) and _normalise(text) == _normalise(pred_sents[j]):
            lead = len(text) - len(text.lstrip())
            ents = [Entity(e.type, tuple((a + lead, b + lead) for a, b in e.fragments), e.text, e.id)
                    for e in per_pred[j]]
            j += 1
        else:
            ents = []
            unmatched.append(_portable(s.source))
        assert s.offsets is not None, "BRAT gold sentences carry word offsets"
        view = entities_to_bio(text, s.offsets, ents, **bio)
        dropped += len(view.dropped)
        inexact += len(view.inexact)
        wordless += len(view.untokenised)
        spans.append(ents)
        tags.append(list(view.tags))
    leftover = len(pred_sents) - j
    if unmatched:
        notes.append(f"{len(unmatched)} gold sentences have no matching line in {txt_path.name} (scored as "
                     f"predicting nothing, as the official scorer does); first: {unmatched[0]}")
    if leftover:
        notes.append(f"{leftover} lines of {txt_path.name} match no gold sentence and are ignored")
    if dropped:
        notes.append(f"{dropped} predicted entities overlap others and are left out of the word tags "
                     f"(overlap={bio['overlap']}); the span scorer sees them all")
    notes.extend(_bio_notes(inexact, wordless))
    stats: dict[str, Any] = {
        **dict(counts), "sentences": len(sentences), "gold_sentences_unmatched": len(unmatched),
        "predicted_lines_ignored": leftover, "bio_overlaps_dropped": dropped, "entities_inside_words": inexact,
        "entities_without_words": wordless,
        "multi_fragment_entities": sum(len(e.fragments) > 1 for s in spans for e in s),
        "text_file": txt_path.name, "ann_file": ann.name,
    }
    stats.setdefault("entity_texts_differing", 0)
    sha = digest_files([ann, txt_path])
    for n in notes:
        log.info(n)
    return ExternalPredictions("brat", Path(path), sha, tags, spans, notes, stats)


# --------------------------------------------------------------------------- JSONL


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
            if not isinstance(idx, int) or isinstance(idx, bool) or not 0 <= idx < len(sentences):
                raise DataFormatError(path, lineno, f"'sentence' must be an index 0-{len(sentences) - 1}, got {idx!r}")
            if idx in assigned:
                raise DataFormatError(path, lineno, f"sentence {idx} already given on line {assigned[idx][0]}")
        else:
            idx = n_objects
            if idx >= len(sentences):
                raise DataFormatError(path, lineno, f"more objects than the split has sentences ({len(sentences)})")
        assigned[idx] = (lineno, obj)
        n_objects += 1
    if not indexed and n_objects != len(sentences):
        raise DataFormatError(path, None, f"{n_objects} objects but the split has {len(sentences)} sentences "
                              "(objects pair with sentences in order; or give each a 'sentence' index)")

    tags: list[list[str]] = []
    spans: list[list[Entity]] = []
    missing = dropped = inexact = wordless = n_ent = 0
    for si, s in enumerate(sentences):
        gtext, goffs = _gold_text(s)
        if si not in assigned:
            missing += 1
            tags.append(["O"] * len(s.tokens))
            spans.append([])
            continue
        lineno, obj = assigned[si]
        otext = obj.get("text", gtext)
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
        ents_raw = obj.get("entities", [])
        if not isinstance(ents_raw, list):
            raise DataFormatError(path, lineno, "'entities' must be a list")
        ents = [_entity(e, n, otext, entity_types, path, lineno) for n, e in enumerate(ents_raw)]
        n_ent += len(ents)
        view = entities_to_bio(otext, offs, ents, **bio)
        dropped += len(view.dropped)
        inexact += len(view.inexact)
        wordless += len(view.untokenised)
        tags.append(list(view.tags))
        spans.append(ents if otext == gtext else [])
    notes: list[str] = []
    if missing:
        notes.append(f"{missing} sentences have no object in {path.name} (scored as predicting nothing)")
    if dropped:
        notes.append(f"{dropped} predicted entities overlap others and are left out of the word tags "
                     f"(overlap={bio['overlap']})")
    notes.extend(_bio_notes(inexact, wordless))
    stats: dict[str, Any] = {"objects": n_objects, "sentences": len(sentences), "sentences_without_object": missing,
                             "entities": n_ent, "bio_overlaps_dropped": dropped, "entities_inside_words": inexact,
                             "entities_without_words": wordless, "paired_by": "sentence index" if indexed else "order"}
    for n in notes:
        log.info(n)
    return ExternalPredictions("jsonl", path, sha256_bytes(raw), tags, spans if span_task else None, notes, stats)
