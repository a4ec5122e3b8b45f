"""Inference with a trained system: text in, entity spans out, for transformers, the CRF and spaCy alike.

Input is raw text (one document per line), JSONL with a ``text`` field, or pre-tokenised CoNLL
(one word per line, first column). Raw text is split into words with character offsets; the model
predicts one tag per *word* (sub-tokens are never exposed; transformers decode the way the model
folder says, constrained Viterbi by default, so the tags are valid IOB2), and consecutive words of one
entity become one span with offsets into the input line — ``prucalopride``, not
``pr ##uc ##alo ##pri ##de``. Tags that are not valid IOB2 (an ``argmax`` model, a CRF) are read the
way ``aggregation_strategy="simple"`` reads them: a stray ``I-X`` opens an entity. A spaCy model tags
the same words (its Doc is built from them, spaCy's tokenizer never runs) and gives no scores.

Bad lines (not UTF-8, control bytes, not JSON, no ``text``) are reported with their line number and
skipped; the rest of the input is still processed. Input from which nothing at all could be read is
an error (:class:`NothingReadError`), never "0 documents" and success.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data.conll import DOCSTART, DocstartRule, split_columns
from bench.data.schemes import tags_to_spans
from bench.data.wordtok import DEFAULT_WORD_TOKENIZER, WORD_TOKENIZERS, get_word_tokenizer
from bench.errors import ConfigError, NerbenchError
from bench.modeldir import MODEL_INFO_FILE, read_json_object, refuse_unfinished
from bench.systems.base import Predictor

log = logging.getLogger(__name__)

FORMATS = ("text", "jsonl", "conll")
_BINARY = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
"""C0 control characters other than tab, vertical tab and form feed (and DEL): no text line holds them."""


@dataclass
class Doc:
    """One input unit: its line number, text and words with their character offsets."""

    line: int
    text: str
    words: list[str]
    offsets: list[tuple[int, int]]
    meta: dict[str, Any] = field(default_factory=dict)
    pos: list[str] | None = None


@dataclass
class ConllLayout:
    """Every line of a CoNLL input as read, in order: its text (line 1 without a BOM, no line end, U+FFFD for
    bytes that are not UTF-8) and its kind (``blank``, ``marker`` for ``-DOCSTART-``, ``token``), and the
    sentences and documents the lines hold, counted by the task reader's rule (:class:`DocstartRule`)."""

    texts: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    sentences: int = 0
    documents: int = 0

    def add(self, kind: str, text: str) -> None:
        self.kinds.append(kind)
        self.texts.append(text)


@dataclass
class ReadReport:
    docs: list[Doc]
    skipped: list[tuple[int, str]]
    """``(line, reason)`` of every input line that could not be used."""
    conll: ConllLayout | None = None
    """CoNLL input: its lines and what they hold (:mod:`bench.predict_conll` writes output that lines up)."""


def _decode(raw: bytes, line: int, skipped: list[tuple[int, str]]) -> str | None:
    """The line as text, or ``None`` with the reason recorded; control characters mean binary, not text."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        skipped.append((line, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"))
        return None
    m = _BINARY.search(text)
    if m is not None:
        skipped.append((line, f"control character U+{ord(m[0]):04X} at column {m.start() + 1} (binary input?)"))
        return None
    return text


def doc_from_text(
    text: str, line: int = 1, meta: dict[str, Any] | None = None, *, word_tokenizer: str | None = None
) -> Doc:
    """One document from raw text, cut into words by ``word_tokenizer`` (:mod:`bench.data.wordtok`; the
    model's own, from its folder, when predicting; default ``simple``)."""
    offsets = get_word_tokenizer(word_tokenizer)(text)
    return Doc(line, text, [text[s:e] for s, e in offsets], offsets, meta or {})


MAX_SKIPS_SHOWN = 3
"""Skipped lines quoted in a :class:`NothingReadError` (the CLI prints none when nothing was read)."""


class NothingReadError(NerbenchError):
    """Not one document could be read from the input (empty, binary, wrong encoding, wrong format)."""

    def __init__(self, source: str, skipped: Sequence[tuple[int, str]], *, lines: int) -> None:
        self.skipped = list(skipped)
        if not lines:
            why = "the input is empty"
        elif not skipped:
            why = f"its {lines} line(s) hold no words (only blank or -DOCSTART- lines)"
        else:
            shown = "; ".join(f"line {n}: {r}" for n, r in skipped[:MAX_SKIPS_SHOWN])
            more = f"; ... {len(skipped) - MAX_SKIPS_SHOWN} more" if len(skipped) > MAX_SKIPS_SHOWN else ""
            why = f"{len(skipped)} line(s) skipped ({shown}{more})"
        super().__init__(f"{source}: nothing to predict: 0 documents read, {why}")


def read_input(
    lines: Iterable[bytes],
    fmt: str,
    *,
    pos_column: int | None = None,
    source: str = "input",
    word_tokenizer: str | None = None,
) -> ReadReport:
    """Parse raw input lines (bytes, so one bad line cannot stop the rest) into documents.

    For CoNLL input, ``pos_column`` names the column holding POS tags (for CRFs trained with POS).
    CoNLL columns are separated by ASCII spaces or tabs only, as the data reader does
    (:func:`bench.data.conll.split_columns`): a word made of a no-break space, a zero-width space or a
    BOM is still a word, and only a line of ASCII blanks ends a sentence. A token line that cannot be
    read (not UTF-8, no POS column) leaves its whole sentence out, reported, so every sentence that is
    predicted has exactly its input words. A leading BOM on line 1 is the file's, not a word.

    Reading nothing at all (an empty, binary or wrongly encoded input) raises :class:`NothingReadError`
    naming ``source``, so a command never succeeds on "0 documents". Text and JSONL are cut into words
    by ``word_tokenizer`` (see :func:`doc_from_text`); CoNLL input is already words. A ``-DOCSTART-``
    line stands between sentences, the task reader's rule (:class:`bench.data.conll.DocstartRule`):
    one inside a sentence is a :class:`bench.errors.DataFormatError` naming ``source``
    and the line, not a sentence split in two.
    """
    get_word_tokenizer(word_tokenizer)  # an unknown name fails before any line is read
    if fmt not in FORMATS:
        raise ConfigError(f"unknown input format {fmt!r} (use {', '.join(FORMATS)})")
    docs: list[Doc] = []
    skipped: list[tuple[int, str]] = []
    conll = _ConllSentences(docs, skipped, pos_column=pos_column, source=source)
    nlines = 0
    for lineno, raw in enumerate(lines, start=1):
        nlines = lineno
        raw = raw.rstrip(b"\r\n")
        if lineno == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        if fmt == "conll":
            conll.line(lineno, raw)
            continue
        doc = _line_doc(raw, lineno, fmt, skipped, word_tokenizer=word_tokenizer)
        if doc is not None:
            docs.append(doc)
    if fmt == "conll":
        conll.end_sentence()
    if not docs:
        raise NothingReadError(source, skipped, lines=nlines)
    return ReadReport(docs, skipped, conll.layout if fmt == "conll" else None)


def _line_doc(
    raw: bytes, lineno: int, fmt: str, skipped: list[tuple[int, str]], *, word_tokenizer: str | None
) -> Doc | None:
    """The document on one line of text or JSONL input, or ``None`` with the reason recorded in ``skipped``."""
    text = _decode(raw, lineno, skipped)
    if text is None:
        return None
    if not text.strip():
        skipped.append((lineno, "empty line"))
        return None
    if fmt == "text":
        return doc_from_text(text, lineno, word_tokenizer=word_tokenizer)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        skipped.append((lineno, f"not valid JSON: {exc.msg}"))
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        skipped.append((lineno, "no string field 'text'"))
        return None
    return doc_from_text(obj["text"], lineno, {k: v for k, v in obj.items() if k != "text"},
                         word_tokenizer=word_tokenizer)


class _ConllSentences:
    """CoNLL input fed line by line (:meth:`line`), its sentences appended to ``docs`` as they end. A
    sentence with an unreadable token line is left out, each such line reported in ``skipped``."""

    def __init__(
        self, docs: list[Doc], skipped: list[tuple[int, str]], *, pos_column: int | None, source: str
    ) -> None:
        self.docs, self.skipped, self.pos_column = docs, skipped, pos_column
        self.words: list[str] = []
        self.pos: list[str] = []
        self.bad: list[tuple[int, str]] = []  # unreadable token lines of the current sentence
        self.start = self.last = 0  # the current sentence's first and last line
        self.markers = DocstartRule(source)  # the task reader's rule for -DOCSTART- lines, with its error
        self.layout = ConllLayout()

    def line(self, lineno: int, raw: bytes) -> None:
        if not raw.strip(b" \t"):
            self.markers.blank()
            self.layout.add("blank", "")
            self.end_sentence()
            return
        opens = not self.words and not self.bad  # this line would open a sentence
        text = _decode(raw, lineno, self.bad)
        cols = split_columns(text) if text is not None else None
        if cols is not None and cols[0] == DOCSTART:
            self.markers.marker(lineno)  # between sentences, as the task reader has it
            self.layout.add("marker", text or "")
            self.end_sentence()  # a document marker is never a word
            return
        self.layout.sentences += self.markers.token(lineno)  # an unreadable line is a token line too
        self.layout.documents = self.markers.documents
        self.layout.add("token", text if text is not None else raw.decode("utf-8", errors="replace"))
        if opens:
            self.start = lineno
        self.last = lineno
        if cols is None:
            return
        if self.pos_column is not None and len(cols) <= self.pos_column:
            self.bad.append((lineno, f"no POS column {self.pos_column} (found {len(cols)} columns)"))
            return
        self.words.append(cols[0])
        if self.pos_column is not None:
            self.pos.append(cols[self.pos_column])

    def end_sentence(self) -> None:
        if self.bad:
            start, last = self.start, self.last
            span = f"lines {start}-{last}" if last > start else f"line {start}"
            self.skipped.extend((n, f"{why}; its sentence ({span}) is left out") for n, why in self.bad)
        elif self.words:
            self.docs.append(_conll_doc(self.words, self.start, self.pos if self.pos_column is not None else None))
        self.words, self.pos, self.bad = [], [], []


def _conll_doc(words: list[str], line: int, pos: list[str] | None = None) -> Doc:
    """Pre-tokenised words joined by single spaces, so offsets still slice the text exactly."""
    offsets, at = [], 0
    for w in words:
        offsets.append((at, at + len(w)))
        at += len(w) + 1
    return Doc(line, " ".join(words), list(words), offsets, pos=list(pos) if pos is not None else None)


def entities(doc: Doc, tags: Sequence[str], scores: Sequence[float | None]) -> list[dict[str, Any]]:
    """Merge word tags into entity spans; the score is the mean of the entity's word scores.

    >>> d = doc_from_text("Take prucalopride daily")
    >>> entities(d, ["O", "B-DRUG", "O"], [0.9, 0.8, 0.99])
    [{'text': 'prucalopride', 'type': 'DRUG', 'start': 5, 'end': 17, 'score': 0.8}]
    """
    out = []
    for etype, i, j in tags_to_spans(tags):
        start, end = doc.offsets[i][0], doc.offsets[j - 1][1]
        vals = [s for s in scores[i:j] if s is not None]
        score = round(sum(vals) / len(vals), 6) if vals else None
        out.append({"text": doc.text[start:end], "type": etype, "start": start, "end": end, "score": score})
    return out


# --------------------------------------------------------------------------- predictors


def load_predictor(
    model_dir: str | Path, *, device: str = "auto", batch_size: int = 64, decode: str | None = None
) -> Predictor:
    """A predictor for a model folder written by nerbench; its ``nerbench_model.json`` says which kind.

    ``decode`` (transformers only) overrides the decoding saved with the model.
    """
    path = Path(model_dir)
    if not path.is_dir():
        raise ConfigError(f"{path}: model directory not found")
    refuse_unfinished(path)
    info_file = path / MODEL_INFO_FILE
    if not info_file.is_file():
        if (path / "config.json").is_file():  # a Hugging Face folder saved by something else
            from bench.systems.transformer import TransformerPredictor

            return TransformerPredictor(path, device=device, batch_size=batch_size, decode=decode)
        from baselines.crf import CrfModel

        CrfModel.load(path)  # no nerbench_model.json: says whether this is an unfinished CRF save
        raise ConfigError(f"{path}: no {MODEL_INFO_FILE} and no config.json: not a model saved by nerbench")
    info = read_json_object(info_file)
    kind = info.get("kind")
    if not info.get("labels"):
        raise ConfigError(f"{info_file}: the model directory has no labels (expected a 'labels' list)")
    word_tokenizer = info.get("word_tokenizer") or DEFAULT_WORD_TOKENIZER
    if not isinstance(word_tokenizer, str) or word_tokenizer not in WORD_TOKENIZERS:
        raise ConfigError(f"{info_file}: unknown word_tokenizer {word_tokenizer!r} "
                          f"(this nerbench has {', '.join(WORD_TOKENIZERS)})")
    from bench.systems import get_kind, spelled_kinds, trainable_kinds

    if not isinstance(kind, str) or kind not in trainable_kinds():
        raise ConfigError(f"{info_file}: unknown model kind {kind!r} (expected {spelled_kinds()})")
    predictor = get_kind(kind).load(path, device=device, batch_size=batch_size, decode=decode)
    predictor.word_tokenizer = word_tokenizer
    return predictor


def predict_docs(
    predictor: Predictor, docs: Sequence[Doc]
) -> tuple[list[list[str]], list[list[dict[str, Any]]], float]:
    """Word tags and entity spans for every document, plus the seconds it took."""
    t0 = time.perf_counter()
    tagged = predictor.tag([d.words for d in docs], pos=[d.pos for d in docs]) if docs else []
    if len(tagged) != len(docs):
        raise RuntimeError(f"{predictor.kind} predictor returned {len(tagged)} tag sequences for {len(docs)} documents")
    for d, (t, s) in zip(docs, tagged, strict=True):
        if not len(t) == len(s) == len(d.words):
            raise RuntimeError(
                f"{predictor.kind} predictor returned {len(t)} tags and {len(s)} scores for the "
                f"{len(d.words)} words of input line {d.line}: one tag per word is the contract"
            )
    ents = [entities(d, t, s) for d, (t, s) in zip(docs, tagged, strict=True)]
    return [t for t, _ in tagged], ents, time.perf_counter() - t0


def format_output(
    docs: Sequence[Doc], tags: Sequence[list[str]], ents: Sequence[list[dict[str, Any]]], fmt: str
) -> Iterable[str]:
    """JSONL (one object per input document, entities in character offsets) or CoNLL (word, tag; for CoNLL
    output that keeps the input's lines and columns see :mod:`bench.predict_conll`)."""
    if fmt == "conll":
        for d, t in zip(docs, tags, strict=True):
            for w, tag in zip(d.words, t, strict=True):
                yield f"{w}\t{tag}\n"
            yield "\n"
        return
    for d, e in zip(docs, ents, strict=True):
        yield json.dumps({**d.meta, "line": d.line, "text": d.text, "entities": e}, ensure_ascii=False) + "\n"
