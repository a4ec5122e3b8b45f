"""Task words and tags <-> spaCy: gold IOB2 as BILUO (:func:`iob2_to_biluo`), words as a ``Doc`` (never
through spaCy's tokenizer), a ``Doc``'s entities as IOB2, and the blank pipeline of a language."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from baselines.spacy_ner.install import SpacyError
from bench.data.schemes import tags_to_spans
from bench.errors import DataFormatError

log = logging.getLogger("baselines.spacy_ner")  # the package's name, as in every cell log written so far


def iob2_to_biluo(tags: Sequence[str]) -> list[str]:
    """BILUO tags of the entities nerbench's chunker reads in ``tags`` (a stray ``I-`` opens one).

    >>> iob2_to_biluo(["B-PER", "I-PER", "O", "B-LOC", "I-ORG", "I-ORG", "I-ORG"])
    ['B-PER', 'L-PER', 'O', 'U-LOC', 'B-ORG', 'I-ORG', 'L-ORG']
    """
    out = ["O"] * len(tags)
    for etype, start, end in tags_to_spans(tags):
        if end - start == 1:
            out[start] = f"U-{etype}"
            continue
        out[start] = f"B-{etype}"
        out[start + 1 : end - 1] = [f"I-{etype}"] * (end - start - 2)
        out[end - 1] = f"L-{etype}"
    return out


def check_words(words: Sequence[str], where: str) -> None:
    for k, w in enumerate(words):
        if not isinstance(w, str) or not w:
            raise DataFormatError.at(where, f"word {k + 1} is {w!r}: spaCy cannot hold an empty or non-text word")


def make_doc(vocab: Any, words: Sequence[str], where: str) -> Any:
    from spacy.tokens import Doc

    check_words(words, where)
    return Doc(vocab, words=list(words))


def doc_tags(doc: Any) -> list[str]:
    """IOB2 tags of a Doc's entities (spaCy's ``ent_iob_`` is ``B`` at every entity's first token)."""
    return [f"{t.ent_iob_}-{t.ent_type_}" if t.ent_iob_ in ("B", "I") else "O" for t in doc]


def blank_pipeline(spacy: ModuleType, lang: str) -> tuple[Any, str]:
    """``spacy.blank(lang)``; a language spaCy has no class for (or whose class needs another package)
    falls back to ``xx`` with a warning, and the language used is returned and recorded."""
    try:
        return spacy.blank(lang), lang
    except (ImportError, ValueError, KeyError, OSError) as exc:
        if lang == "xx":
            raise SpacyError(f"spaCy cannot create a blank 'xx' pipeline: {exc}") from None
        log.warning(
            "spaCy has no usable language class for %r (%s); using 'xx' (multi-language)",
            lang,
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
        return spacy.blank("xx"), "xx"

