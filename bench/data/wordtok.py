"""Word tokenizers for raw text: the same words the model was trained on.

A task's words come from its corpus (CoNLL columns) or from the BRAT reader's regex. When
``nerbench predict`` gets raw text, it must cut it the way the training words were cut, or the model
sees words it never saw in training (``U . S .`` for a model trained on ``U.S.``). A task names its
tokenizer (``word_tokenizer`` in its TOML, default ``simple``); training records it in the model
folder; predict uses it.

* ``simple``: a run of letters/digits, or one other non-space character — the BRAT reader's rule
  (:data:`bench.data.bioview.TOKEN_RE`), right for corpora that were cut that way (eHealth-KD, ADE).
* ``conll``: Penn-Treebank-like, as in CoNLL-2003's Reuters text: ``U.S.``, ``S.AFRICA``, ``Jan.``
  and ``Corp.`` keep their periods, ``1,000.5``, ``12:30`` and ``1996-08-22`` are one word,
  hyphenated words (``Anglo-Dutch``) stay whole, clitics split (``Clinton 's``, ``do n't``), other
  punctuation is a word of its own (``...`` and ``--`` whole).

Each tokenizer returns character offsets, so entity spans map back onto the input text exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bench.data.bioview import TOKEN_RE
from bench.registry import Registry

Span = tuple[int, int]

ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof gen col lt sgt capt rep sen gov pres st jr sr co corp inc ltd bros plc
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun
    no vs etc approx dept est fig govt mt ft ave blvd rd univ assn""".split()
)
"""Words whose trailing period belongs to them (lower-cased, without the period)."""

_CONLL_RE = re.compile(
    r"""
      (?P<url>https?://\S+|www\.\S+)
    | (?P<num>[-+]?\.?\d+(?:[-.,:/]?[^\W_]+)*%?)                # 1,000.5 12:30 1996-08-22 .596 31st 4-1/2 26-year-old
    | (?P<dotted>(?:[^\W\d_]\.){2,}|[^\W\d_]\.[^\W\d_]{2,}\b)      # U.S.  U.N.  S.AFRICA
    | (?P<clitic>n't\b|N'T\b|'(?:s|re|ve|ll|d|m|S|RE|VE|LL|D|M)\b) # 's  n't  're
    | (?P<word>[^\W_]+?(?=n't\b|N'T\b)                            # do|n't  (the word before n't)
             |[^\W_]+(?:-[^\W_]+|['’](?!(?:s|re|ve|ll|d|m|t|S|RE|VE|LL|D|M|T)\b)[^\W_]+)*)
                                                                 # Anglo-Dutch  O'Neill  ninety-nine
    | (?P<dots>\.\.\.+|--+)
    | (?P<other>\S)
    """,
    re.VERBOSE,
)


def simple(text: str) -> list[Span]:
    """Letters/digits runs and single other characters (the BRAT reader's words).

    >>> text = "U.S. troops, 1,000 of them."
    >>> [text[s:e] for s, e in simple(text)]
    ['U', '.', 'S', '.', 'troops', ',', '1', ',', '000', 'of', 'them', '.']
    """
    return [m.span() for m in TOKEN_RE.finditer(text)]


def conll(text: str) -> list[Span]:
    """Penn-Treebank-like words, as CoNLL-2003 has them.

    >>> text = "U.S. Corp. said on Jan. 3 it doesn't sell 1,000.5 tons to Anglo-Dutch Shell's unit."
    >>> [text[s:e] for s, e in conll(text)]  # doctest: +NORMALIZE_WHITESPACE
    ['U.S.', 'Corp.', 'said', 'on', 'Jan.', '3', 'it', 'does', "n't", 'sell', '1,000.5', 'tons', 'to',
     'Anglo-Dutch', 'Shell', "'s", 'unit', '.']
    >>> text = "S.AFRICA: ( Reuters ) -- 12:30 GMT..."
    >>> [text[s:e] for s, e in conll(text)]
    ['S.AFRICA', ':', '(', 'Reuters', ')', '--', '12:30', 'GMT', '...']
    """
    out: list[Span] = []
    for m in _CONLL_RE.finditer(text):
        start, end = m.span()
        word = text[start:end]
        if m.lastgroup == "word" and end < len(text) and text[end] == "." and (
            word.lower() in ABBREVIATIONS or (len(word) == 1 and word.isupper())
        ):
            end += 1  # Jan.  Corp.  Mr.  J. (an initial)
        elif (m.lastgroup == "num" and not text[:start].strip() and text[end : end + 2] in (". ", ".")
              and word.isdigit()):
            end += 1  # "1. Ivanisevic" (a ranked list item)
        if out and start < out[-1][1]:
            continue  # the period was taken by the abbreviation before it
        out.append((start, end))
    return out


WORD_TOKENIZERS: Registry[Callable[[str], list[Span]]] = Registry("word tokenizer")
WORD_TOKENIZERS.register("simple", simple)
WORD_TOKENIZERS.register("conll", conll)

DEFAULT_WORD_TOKENIZER = "simple"


def get_word_tokenizer(name: str | None) -> Callable[[str], list[Span]]:
    """The tokenizer called ``name`` (``None``: the default, ``simple``); unknown names are a ConfigError."""
    return WORD_TOKENIZERS.get(name or DEFAULT_WORD_TOKENIZER)
