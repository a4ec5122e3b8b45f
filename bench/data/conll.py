"""CoNLL column files: one token per line, blank line between sentences, ``-DOCSTART-`` documents.

Columns are whitespace-separated (or tab-separated with ``separator = "tab"``). The tag column is
configurable (default: last), the word column is 0, and a POS column can be named so the CRF can
use it. Tags are checked, and IOB1/BIOES input is converted to IOB2 with a note saying so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.data.formats import register_format
from bench.data.schemes import TagError, split_tag, to_iob2
from bench.data.textio import read_utf8
from bench.data.types import Sentence, SplitData
from bench.errors import DataFormatError

log = logging.getLogger(__name__)

DOCSTART = "-DOCSTART-"


def read_text(path: Path) -> str:
    """A UTF-8 file's text without its BOM; missing, empty or undecodable files are errors."""
    return read_utf8(path).lstrip("\ufeff")


def read_conll_file(
    path: Path,
    *,
    tag_column: int = -1,
    pos_column: int | None = None,
    separator: str = "whitespace",
    scheme: str = "auto",
) -> tuple[list[Sentence], list[str]]:
    """Read one CoNLL file into sentences with IOB2 tags; returns ``(sentences, notes)``.

    Every line of a sentence must have the same number of columns as the file's first token line;
    a bad tag (``B-``, ``X-PER``) is an error with its line number.
    """
    text = read_text(path)
    split = (lambda s: s.split("\t")) if separator == "tab" else (lambda s: s.split())
    sentences_raw: list[tuple[int, list[str], list[str], list[str] | None, str | None]] = []
    tokens: list[str] = []
    tags: list[str] = []
    pos: list[str] = []
    start_line = 0
    ncols: int | None = None
    doc_index = 0
    docs_seen = False
    in_doc = 0  # sentences since the last -DOCSTART-

    def flush() -> None:
        nonlocal in_doc
        if tokens:
            doc = f"doc{doc_index}" if docs_seen else None
            sentences_raw.append((start_line, tokens.copy(), tags.copy(), pos.copy() if pos_column is not None else None, doc))
            in_doc += 1
            tokens.clear()
            tags.clear()
            pos.clear()

    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            flush()
            continue
        cols = split(line.rstrip("\n\r"))
        if cols[0] == DOCSTART:
            flush()
            if in_doc:
                doc_index += 1
                in_doc = 0
            if not docs_seen:
                # sentences before the first marker form the first document
                sentences_raw[:] = [(*s[:4], "doc0") for s in sentences_raw]
            docs_seen = True
            continue
        if ncols is None:
            ncols = len(cols)
            needed = max(tag_column if tag_column >= 0 else -tag_column - 1, pos_column or 0) + 1
            if ncols < max(needed, 2):
                raise DataFormatError(path, lineno, f"found {ncols} column(s), need at least {max(needed, 2)} (word ... tag)")
        elif len(cols) != ncols:
            raise DataFormatError(path, lineno, f"found {len(cols)} columns, expected {ncols} like the first token line")
        tag = cols[tag_column]
        try:
            split_tag(tag)
        except TagError as exc:
            raise DataFormatError(path, lineno, f"bad tag {tag!r}: {str(exc).split(': ', 1)[1]}") from None
        if not tokens:
            start_line = lineno
        tokens.append(cols[0])
        tags.append(tag)
        if pos_column is not None:
            pos.append(cols[pos_column])
    flush()
    if not sentences_raw:
        raise DataFormatError(path, None, "no sentences found (only blank or -DOCSTART- lines)")

    iob2, detected = to_iob2([s[2] for s in sentences_raw], scheme=scheme)
    notes: list[str] = []
    if detected != "IOB2":
        changed = sum(a != b for s, new in zip(sentences_raw, iob2, strict=False) for a, b in zip(s[2], new, strict=False))
        notes.append(f"{path.name}: tags are {detected}; converted to IOB2 ({changed} tags changed)")
        log.warning(notes[-1])
    if docs_seen:
        ndocs = len({s[4] for s in sentences_raw})
        notes.append(f"{path.name}: {ndocs} documents from -DOCSTART- markers")
    sents = [
        Sentence(
            tokens=tuple(toks),
            tags=tuple(new),
            source=f"{path}:{line}",
            doc_id=doc,
            pos=tuple(p) if p is not None else None,
        )
        for (line, toks, _, p, doc), new in zip(sentences_raw, iob2, strict=False)
    ]
    return sents, notes


@register_format(
    "conll",
    options=("tag_column", "pos_column", "separator", "scheme"),
    description="CoNLL columns: word first, tag column configurable, -DOCSTART- documents",
)
def read_conll(folder: Path, splits: Mapping[str, str], options: Mapping[str, Any]) -> dict[str, SplitData]:
    out: dict[str, SplitData] = {}
    for split, rel in splits.items():
        path = folder / rel
        sents, notes = read_conll_file(
            path,
            tag_column=int(options.get("tag_column", -1)),
            pos_column=options.get("pos_column"),
            separator=str(options.get("separator", "whitespace")),
            scheme=str(options.get("scheme", "auto")),
        )
        out[split] = SplitData(split, sents, files=[str(path)], notes=notes)
    return out
