"""CoNLL column files: one token per line, blank line between sentences, ``-DOCSTART-`` documents.

Columns are separated by ASCII spaces or tabs (``separator = "whitespace"``, the default) or by tabs
only (``separator = "tab"``); any other character, a no-break space or a zero-width space included,
belongs to a column, so a token made only of such a character keeps its word. Lines end at ``\\n``
(and an optional ``\\r``), never at other Unicode line separators. The tag column is configurable
(default: last), the word column is 0, and a POS column can be named so the CRF can use it.

Tags are read under the task's declared scheme (:func:`bench.data.schemes.apply_scheme`): IOB1 and
BIOES are converted to IOB2, a sequence the scheme does not allow is an error naming the line unless
the task sets ``repair = true``. Documents come from ``-DOCSTART-`` lines, which stand between sentences
(between blank lines, or directly before the first sentence of their document: :class:`DocstartRule`),
or from ``doc_files``: one PubTator file per split, aligned token by token
(``doc_format = "pubtator"``), or one CoNLL copy of the same sentences with ``-DOCSTART-`` lines, aligned
sentence by sentence (``doc_format = "conll"``: CoNLL-2003's IOB2 files get the documents of its
original files).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data.formats import register_format
from bench.data.pubtator import align_documents, read_pubtator
from bench.data.schemes import TagError, apply_scheme, repair_warning, split_tag
from bench.data.textio import read_utf8
from bench.data.types import Sentence, SplitData
from bench.errors import ConfigError, DataFormatError, all_problems

log = logging.getLogger(__name__)

DOCSTART = "-DOCSTART-"
SEPARATORS = ("whitespace", "tab")
DOC_FORMATS = ("pubtator", "conll")
"""Where ``doc_files`` documents come from: a PubTator release (aligned by text) or a CoNLL copy of the
same sentences with ``-DOCSTART-`` lines (aligned sentence by sentence)."""

_ASCII_BLANKS = re.compile(r"[ \t]+")


def read_text(path: Path) -> str:
    """A UTF-8 file's text without its leading BOM; missing, empty or undecodable files are errors."""
    return read_utf8(path).removeprefix("\ufeff")


def split_columns(line: str, separator: str = "whitespace") -> list[str]:
    """Columns of one token line; only ASCII spaces and tabs (or only tabs) separate them.

    >>> split_columns("\\u00a0 NN O")
    ['\\xa0', 'NN', 'O']
    >>> split_columns("a b\\tB-X", "tab")
    ['a b', 'B-X']
    """
    if separator == "tab":
        return line.split("\t")
    return _ASCII_BLANKS.split(line.strip(" \t"))


def _is_blank(line: str) -> bool:
    return not line.strip(" \t")


class DocstartRule:
    """Where a ``-DOCSTART-`` line may stand, and how many documents the lines hold.

    One rule for every CoNLL reader (the task reader here and ``nerbench predict``'s input,
    :func:`bench.predict.read_input`): feed it each line in order as :meth:`blank`, :meth:`marker` or
    :meth:`token` (any other non-blank line). A marker stands between sentences: between blank lines, at
    the start or end of the file, or directly before the first sentence of its document with no blank
    line after it (the layout of some standard distributions, e.g. CoNLL-2002's), where it is a document
    boundary that is also a sentence boundary. A marker right after a token line (inside a sentence)
    raises :class:`DataFormatError` naming ``path`` and the line.

    :attr:`documents` counts the documents that hold a sentence so far (the sentences before the first
    marker form one; markers with no sentence between them add none), and :attr:`markers` the markers.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self.documents = 0
        self.markers = 0
        self._token = False  # the previous line was a token line
        self._new_document = True  # the next sentence opens a document (start of input, or after a marker)

    def blank(self) -> None:
        self._token = False

    def marker(self, lineno: int) -> None:
        if self._token:
            raise DataFormatError(
                self.path, lineno,
                f"{DOCSTART} inside a sentence: line {lineno - 1} is a token line with no blank line "
                "between them (a document marker stands between sentences)",
            )
        self.markers += 1
        self._new_document = True

    def token(self, lineno: int) -> bool:
        """Record a token line; whether it opens a sentence."""
        opens = not self._token
        if opens and self._new_document:
            self.documents += 1
            self._new_document = False
        self._token = True
        return opens

    @property
    def document(self) -> int:
        """The index (from 0) of the document the current sentence belongs to."""
        return self.documents - 1


@dataclass
class _Raw:
    line: int
    tokens: list[str]
    tags: list[str]
    pos: list[str] | None
    doc: int


def _parse(
    path: Path, *, separator: str = "whitespace", tag_column: int = -1, pos_column: int | None = None
) -> tuple[list[_Raw], bool]:
    """The sentences of a CoNLL file as read (tags not yet checked against a scheme), and whether it
    has ``-DOCSTART-`` lines; each sentence's ``doc`` is its document's index (:class:`DocstartRule`)."""
    text = read_text(path)
    raws: list[_Raw] = []
    cur: _Raw | None = None
    ncols: int | None = None
    markers = DocstartRule(path)
    bad: list[DataFormatError] = []

    for lineno, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.removesuffix("\r")
        if _is_blank(line):
            if cur is not None:
                raws.append(cur)
                cur = None
            markers.blank()
            continue
        cols = split_columns(line, separator)
        if cols[0] == DOCSTART:
            markers.marker(lineno)
            continue
        markers.token(lineno)
        if ncols is None:
            ncols = len(cols)
            needed = max(tag_column if tag_column >= 0 else -tag_column - 1, pos_column or 0) + 1
            if ncols < max(needed, 2):
                raise DataFormatError(path, lineno, f"found {ncols} column(s), need at least {max(needed, 2)} (word ... tag)")
        elif len(cols) != ncols:
            bad.append(DataFormatError(path, lineno, f"found {len(cols)} columns, expected {ncols} like the first token line"))
            continue
        tag = cols[tag_column]
        try:
            split_tag(tag)
        except TagError as exc:
            bad.append(DataFormatError(path, lineno, f"bad tag {tag!r}: {str(exc).split(': ', 1)[1]}"))
            continue
        if cur is None:
            cur = _Raw(lineno, [], [], [] if pos_column is not None else None, markers.document)
        cur.tokens.append(cols[0])
        cur.tags.append(tag)
        if cur.pos is not None:
            cur.pos.append(cols[pos_column])  # type: ignore[index]
    if cur is not None:
        raws.append(cur)
    if bad:  # every bad line of the file in one error, not one per run
        raise all_problems(bad)
    if not raws:
        raise DataFormatError(path, None, "no sentences found (only blank or -DOCSTART- lines)")
    return raws, markers.markers > 0



def read_conll_split(
    path: Path,
    *,
    name: str = "",
    tag_column: int = -1,
    pos_column: int | None = None,
    separator: str = "whitespace",
    scheme: str = "IOB2",
    repair: bool = False,
    doc_file: Path | None = None,
    doc_format: str = "pubtator",
    display: str | None = None,
) -> SplitData:
    """Read one CoNLL file into a :class:`SplitData` of IOB2 sentences.

    Every line of a sentence must have the same number of columns as the file's first token line;
    a bad tag (``B-``, ``X-PER``) or a tag sequence the declared ``scheme`` does not allow is an
    error with its line number (the latter repaired and counted with ``repair``). ``display`` is
    the file's name in notes and warnings (no absolute path; default: the file name).
    """
    if separator not in SEPARATORS:
        raise ConfigError(f"option 'separator' must be one of {', '.join(SEPARATORS)}, got {separator!r}")
    display = display or path.name
    raws, docs_seen = _parse(path, separator=separator, tag_column=tag_column, pos_column=pos_column)

    result = apply_scheme(
        [r.tags for r in raws], scheme=scheme, repair=repair, locate=lambda si, ti: (path, raws[si].line + ti, None)
    )
    notes: list[str] = []
    warnings: list[str] = []
    if scheme != "IOB2":
        notes.append(f"{display}: tags read as {scheme} (the task's scheme); converted to IOB2 ({result.changed} tags changed)")
    if result.repaired:
        warnings.append(repair_warning(display, scheme, result.repaired))
        log.warning(warnings[-1])

    doc_ids: list[str | None]
    if doc_file is not None and docs_seen:
        raise DataFormatError(path, None, f"has {DOCSTART} lines and doc_files names {doc_file.name}: use one of them")
    if doc_file is not None and doc_format == "conll":
        doc_ids = conll_documents(raws, doc_file, path=path)
        notes.append(f"{display}: {len(set(doc_ids))} documents from the {DOCSTART} lines of {doc_file.name}, "
                     "every sentence's words identical to that file's")
    elif doc_file is not None:
        docs = read_pubtator(doc_file)
        doc_ids = list(
            align_documents([r.tokens for r in raws], docs, path=path, first_lines=[r.line for r in raws])
        )
        in_order = list(dict.fromkeys(doc_ids))
        file_order = [d.id for d in docs if d.id in set(in_order)]
        notes.append(
            f"{display}: {len(set(in_order))} documents from {doc_file.name}, every token aligned to its document's "
            "text" + ("" if in_order == list(dict.fromkeys(file_order)) else " (in another order than that file's)")
        )
    elif docs_seen:
        # documents numbered in order of appearance by the rule; markers with no sentence between them add none
        doc_ids = [f"doc{r.doc}" for r in raws]
        notes.append(f"{display}: {len(set(doc_ids))} documents from {DOCSTART} markers")
    else:
        doc_ids = [None] * len(raws)

    sents = [
        Sentence(
            tokens=tuple(r.tokens),
            tags=tuple(tags),
            source=f"{path}:{r.line}",
            doc_id=doc,
            pos=tuple(r.pos) if r.pos is not None else None,
        )
        for r, tags, doc in zip(raws, result.tags, doc_ids, strict=True)
    ]
    files = [str(path)] + ([str(doc_file)] if doc_file is not None else [])
    stats = {"tags_changed": result.changed, "tags_repaired": len(result.repaired)}
    return SplitData(name or path.name, sents, files=files, notes=notes, warnings=warnings, stats=stats)


def conll_documents(raws: list[_Raw], doc_file: Path, *, path: Path) -> list[str]:
    """Document ids for the sentences of ``path`` from a copy of the same sentences with ``-DOCSTART-``
    lines (``doc_format = "conll"``): sentence ``i`` of both files must have the same words, and the two
    files the same number of sentences; anything else is an error naming both places. Documents are
    numbered like ``-DOCSTART-`` documents of a file read directly (``doc0``, ``doc1``, ...)."""
    other, docs_seen = _parse(doc_file)
    if not docs_seen:
        raise DataFormatError(doc_file, None, f"has no {DOCSTART} lines, so it gives {path.name} no documents")
    for i, (mine, theirs) in enumerate(zip(raws, other, strict=False)):
        if mine.tokens != theirs.tokens:
            k = next((j for j, (a, b) in enumerate(zip(mine.tokens, theirs.tokens, strict=False)) if a != b),
                     min(len(mine.tokens), len(theirs.tokens)))
            raise DataFormatError(
                path, mine.line + min(k, len(mine.tokens) - 1),
                f"sentence {i + 1} differs from {doc_file.name} line {theirs.line + min(k, len(theirs.tokens) - 1)} "
                f"(word {k + 1}: {_word(mine.tokens, k)} here, {_word(theirs.tokens, k)} there); the document "
                "file must hold the same sentences",
            )
    if len(raws) != len(other):
        raise DataFormatError(path, None, f"has {len(raws)} sentences, its document file {doc_file.name} has "
                              f"{len(other)}; the document file must hold the same sentences")
    return [f"doc{r.doc}" for r in other]


def _word(tokens: list[str], k: int) -> str:
    return repr(tokens[k]) if k < len(tokens) else "end of sentence"


def read_conll_file(
    path: Path,
    *,
    tag_column: int = -1,
    pos_column: int | None = None,
    separator: str = "whitespace",
    scheme: str = "IOB2",
    repair: bool = False,
) -> tuple[list[Sentence], list[str]]:
    """Read one CoNLL file into sentences with IOB2 tags; returns ``(sentences, notes)`` (warnings included)."""
    sd = read_conll_split(
        path, tag_column=tag_column, pos_column=pos_column, separator=separator, scheme=scheme, repair=repair
    )
    return sd.sentences, sd.notes + sd.warnings


def _doc_files(options: Mapping[str, Any], splits: Mapping[str, str]) -> dict[str, str]:
    files = options.get("doc_files")
    fmt = options.get("doc_format", "pubtator")
    if files is None:
        if "doc_format" in options:
            raise ConfigError("option 'doc_format' needs 'doc_files' (one document file per split)")
        return {}
    if fmt not in DOC_FORMATS:
        raise ConfigError(f"option 'doc_format' must be one of {', '.join(DOC_FORMATS)}, got {fmt!r}")
    if not isinstance(files, Mapping) or set(files) != set(splits):
        got = ", ".join(files) if isinstance(files, Mapping) else repr(files)
        raise ConfigError(f"option 'doc_files' must name one file per split ({', '.join(splits)}); got {got}")
    return {k: str(v) for k, v in files.items()}


@register_format(
    "conll",
    options={
        "tag_column": "The column of the tags, from 0 (negative: from the end; -1 is the last).",
        "pos_column": "The column of POS tags, for a CRF's POS features (recorded in its model folder, where "
                      "`nerbench predict` reads it).",
        "separator": "What separates columns: `whitespace` (ASCII spaces and tabs) or `tab` (tabs only, so a "
                     "word may hold spaces).",
        "doc_files": "Documents from other files, one per split: a table `{ train = \"...\", ... }` of paths "
                     "under the task's folder (instead of `-DOCSTART-` lines).",
        "doc_format": "What `doc_files` are: `pubtator` (a PubTator release, aligned token by token) or `conll` "
                      "(a CoNLL copy of the same sentences with `-DOCSTART-` lines, aligned sentence by sentence).",
    },
    description="CoNLL columns: word first, tag column configurable, -DOCSTART-, PubTator or CoNLL-copy documents",
)
def read_conll(
    folder: Path, splits: Mapping[str, str], options: Mapping[str, Any], *, scheme: str = "IOB2", repair: bool = False
) -> dict[str, SplitData]:
    doc_files = _doc_files(options, splits)
    out: dict[str, SplitData] = {}
    for split, rel in splits.items():
        out[split] = read_conll_split(
            folder / rel,
            name=split,
            tag_column=int(options.get("tag_column", -1)),
            pos_column=options.get("pos_column"),
            separator=str(options.get("separator", "whitespace")),
            scheme=scheme,
            repair=repair,
            doc_file=folder / doc_files[split] if doc_files else None,
            doc_format=str(options.get("doc_format", "pubtator")),
            display=rel,
        )
    return out
