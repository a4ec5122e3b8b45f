"""Documents for token files that have none: read PubTator files and align tokens to their text.

Some CoNLL conversions (BC5CDR's) drop document boundaries, but the corpus' official PubTator
release has every document's title and abstract. :func:`align_documents` walks the tokens of a
split in file order and finds, at each document boundary, the one document whose text continues
there; every token must match the document text exactly (whitespace aside), every sentence must
lie inside one document and every document must be used. Anything else is an error naming the
token file and line, so a document id is never a guess.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.data.textio import read_utf8
from bench.errors import DataFormatError

_TEXT_LINE = re.compile(r"^([^|\t]+)\|([ta])\|(.*)$")

_KEY = 24
"""Characters of a document's text (whitespace removed) used to find candidates at a boundary."""


@dataclass(frozen=True)
class Document:
    """One document's id and text; ``line`` is where it starts in ``path``."""

    id: str
    text: str
    path: str
    line: int


def read_pubtator(path: Path) -> list[Document]:
    """Documents of a PubTator file, in file order; text is ``title + " " + abstract``.

    Mention and relation lines (``PMID<TAB>...``) must belong to the document above them; the
    annotations themselves are not needed here.
    """
    text = read_utf8(path).removeprefix("\ufeff")
    docs: list[Document] = []
    pmid: str | None = None
    title: tuple[int, str] | None = None
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip(" \t"):
            if title is not None:
                raise DataFormatError(path, title[0], f"document {pmid} has a title line but no abstract line (|a|)")
            pmid = None
            continue
        m = _TEXT_LINE.match(line)
        if m and m.group(2) == "t":
            if title is not None:
                raise DataFormatError(path, lineno, f"title of {m.group(1)} follows the title of {pmid} without an abstract line")
            pmid, title = m.group(1), (lineno, m.group(3))
        elif m:
            if title is None or m.group(1) != pmid:
                raise DataFormatError(path, lineno, f"abstract line of {m.group(1)} without its title line (|t|) above it")
            docs.append(Document(pmid, f"{title[1]} {m.group(3)}", str(path), title[0]))
            title = None
        elif pmid is None or not line.startswith(f"{pmid}\t"):
            raise DataFormatError(
                path, lineno,
                f"expected 'PMID|t|title', 'PMID|a|abstract' or an annotation line of the document above, got {line[:60]!r}",
            )
    if title is not None:
        raise DataFormatError(path, title[0], f"document {pmid} has a title line but no abstract line (|a|)")
    if not docs:
        raise DataFormatError(path, None, "no documents (no 'PMID|t|title' / 'PMID|a|abstract' lines)")
    return docs


def _compact(text: str) -> tuple[str, list[int]]:
    """``text`` without whitespace, and each kept character's offset in ``text``."""
    keep = [i for i, c in enumerate(text) if not c.isspace()]
    return "".join(text[i] for i in keep), keep


def align_documents(
    sentences: Sequence[Sequence[str]],
    docs: Sequence[Document],
    *,
    path: str | Path,
    first_lines: Sequence[int],
) -> list[str]:
    """The document id of each sentence, from aligning the tokens in order to the documents' text.

    ``sentences`` are the token sequences of one file (``path``), ``first_lines[i]`` the line of
    sentence ``i``'s first token (tokens are on consecutive lines). Documents may come in any order
    but each is used once; identical documents with the same id may repeat.

    >>> docs = [Document("2", "Aspirin works.", "p", 1), Document("1", "Rash. Again rash.", "p", 4)]
    >>> align_documents([["Rash", "."], ["Again", "rash", "."], ["Aspirin", "works", "."]], docs,
    ...                 path="f.tsv", first_lines=[1, 4, 8])
    ['1', '1', '2']
    """
    ts = _TokenStream.of(sentences, first_lines)
    compact = [_compact(d.text) for d in docs]
    for i, (c, _) in enumerate(compact):
        if not c:
            raise DataFormatError(docs[i].path, docs[i].line, f"document {docs[i].id} has no text")
    bounds, doc_of = _walk(ts, docs, compact, path)
    _check_tokens_inside_words(ts, docs, compact, bounds, doc_of, path)
    return _sentence_documents(ts, sentences, first_lines, docs, bounds, doc_of, path)


@dataclass(frozen=True)
class _TokenStream:
    """The tokens of a file in order, whitespace removed, joined into one ``stream`` to align with documents."""

    tokens: list[str]
    tok_line: list[int]
    """The line of each token in the token file."""
    compact_toks: list[str]
    starts: list[int]
    """Where each (compacted) token starts in ``stream``."""
    stream: str
    sent_start: list[int]
    """The index of each sentence's first token."""

    @classmethod
    def of(cls, sentences: Sequence[Sequence[str]], first_lines: Sequence[int]) -> _TokenStream:
        tokens = [t for s in sentences for t in s]
        tok_line = [first_lines[i] + k for i, s in enumerate(sentences) for k in range(len(s))]
        compact_toks = ["".join(c for c in t if not c.isspace()) for t in tokens]
        starts: list[int] = []
        pos = 0
        for t in compact_toks:
            starts.append(pos)
            pos += len(t)
        sent_start = []
        k = 0
        for s in sentences:
            sent_start.append(k)
            k += len(s)
        return cls(tokens, tok_line, compact_toks, starts, "".join(compact_toks), sent_start)

    def token_at(self, offset: int) -> int:
        return max(bisect.bisect_right(self.starts, offset) - 1, 0)


def _walk(
    ts: _TokenStream, docs: Sequence[Document], compact: Sequence[tuple[str, list[int]]], path: str | Path
) -> tuple[list[int], list[int]]:
    """Walk the stream document by document: ``(stream offset where each aligned document ends, its index
    in docs)``; a boundary no unused document continues, an ambiguous one or an unused document is an error."""
    key = min(_KEY, *(len(c) for c, _ in compact))
    by_key: dict[str, list[int]] = {}
    for i, (c, _) in enumerate(compact):
        by_key.setdefault(c[:key], []).append(i)

    stream = ts.stream
    used: set[int] = set()
    bounds: list[int] = []  # stream offset where each aligned document ends
    doc_of: list[int] = []
    p = 0
    while p < len(stream):
        cands = [i for i in by_key.get(stream[p : p + key], []) if i not in used]
        full = [i for i in cands if stream.startswith(compact[i][0], p)]
        if not full:
            raise _no_document_here(ts, p, cands, docs, compact, path)
        if len({docs[i].id for i in full}) > 1 or len({compact[i][0] for i in full}) > 1:
            raise DataFormatError(
                path, ts.tok_line[ts.token_at(p)],
                "ambiguous: documents " + ", ".join(f"{docs[i].id} (line {docs[i].line})" for i in full)
                + " all match the text from here",
            )
        d = full[0]
        used.add(d)
        p += len(compact[d][0])
        bounds.append(p)
        doc_of.append(d)

    unused = [i for i in range(len(docs)) if i not in used and docs[i].id not in {docs[j].id for j in used}]
    if unused:
        d = docs[unused[0]]
        raise DataFormatError(
            d.path, d.line,
            f"document {d.id} has no tokens in {Path(path).name} ({len(unused)} of {len(docs)} documents unmatched)",
        )
    return bounds, doc_of


def _no_document_here(
    ts: _TokenStream,
    p: int,
    cands: Sequence[int],
    docs: Sequence[Document],
    compact: Sequence[tuple[str, list[int]]],
    path: str | Path,
) -> DataFormatError:
    """The error for stream offset ``p``, where no unused document's whole text continues the tokens."""
    stream = ts.stream
    ti = ts.token_at(p)
    if cands:  # a document starts here but the tokens leave its text: say where
        d = cands[0]
        c, offs = compact[d]
        n = 0
        while p + n < len(stream) and n < len(c) and stream[p + n] == c[n]:
            n += 1
        ti = ts.token_at(p + n)
        at = offs[n] if n < len(offs) else len(docs[d].text)
        return DataFormatError(
            path, ts.tok_line[ti],
            f"token {ts.tokens[ti]!r} does not match document {docs[d].id} ({Path(docs[d].path).name}:"
            f"{docs[d].line}) at character {at}, whose text there is {docs[d].text[at : at + 30]!r}",
        )
    return DataFormatError(
        path, ts.tok_line[ti],
        f"no unused document of {Path(docs[0].path).name} starts with the text from token {ts.tokens[ti]!r} "
        f"on ({stream[p : p + 40]!r})",
    )


def _check_tokens_inside_words(
    ts: _TokenStream,
    docs: Sequence[Document],
    compact: Sequence[tuple[str, list[int]]],
    bounds: Sequence[int],
    doc_of: Sequence[int],
    path: str | Path,
) -> None:
    """Each token must be one stretch of its document's text, with no whitespace inside."""
    seg_start = [0, *bounds[:-1]]
    for ti, (a, t) in enumerate(zip(ts.starts, ts.compact_toks, strict=True)):
        if len(t) < 2:
            continue
        k = bisect.bisect_right(bounds, a)
        offs = compact[doc_of[k]][1]
        lo = a - seg_start[k]
        if offs[lo + len(t) - 1] - offs[lo] != len(t) - 1:
            raise DataFormatError(
                path, ts.tok_line[ti],
                f"token {ts.tokens[ti]!r} spans whitespace in document {docs[doc_of[k]].id}: "
                f"{docs[doc_of[k]].text[offs[lo] : offs[lo + len(t) - 1] + 1]!r}",
            )


def _sentence_documents(
    ts: _TokenStream,
    sentences: Sequence[Sequence[str]],
    first_lines: Sequence[int],
    docs: Sequence[Document],
    bounds: Sequence[int],
    doc_of: Sequence[int],
    path: str | Path,
) -> list[str]:
    """The document id of each sentence; a sentence running from one document into the next is an error."""
    out: list[str] = []
    for si, s in enumerate(sentences):
        first = ts.starts[ts.sent_start[si]] if s else 0
        last = first + sum(len(ts.compact_toks[ts.sent_start[si] + j]) for j in range(len(s)))
        k = bisect.bisect_right(bounds, first)
        if last > bounds[k]:
            k2 = bisect.bisect_left(bounds, last)
            crossing = ts.token_at(bounds[k])
            raise DataFormatError(
                path, ts.tok_line[crossing],
                f"the sentence starting at line {first_lines[si]} runs from document {docs[doc_of[k]].id} "
                f"into document {docs[doc_of[k2]].id} here (no blank line between them)",
            )
        out.append(docs[doc_of[k]].id)
    return out
