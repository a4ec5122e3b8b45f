"""Word <-> sub-token alignment for token classification, and windows for long sentences.

Scoring is per *word*, models see *sub-tokens*. Two things must never happen silently:

* a word dropped because its sentence is longer than the model window (``run_ner.py`` truncates, so
  entities past ``max_length`` vanish from gold *and* prediction). Here a long sentence becomes
  several overlapping windows; every word is labelled and predicted in exactly one window, the one
  where it has the most context on both sides, and windows never cut a word's sub-tokens;
* a word that tokenizes to nothing (``'\\u200b'``, control characters) losing its slot. It gets
  no sub-token, is predicted ``O`` and is counted.

The functions are pure: they take a tokenizer (for its ids) and word lists, and return plain data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

IGNORE_INDEX = -100
"""Label id that ``torch.nn.CrossEntropyLoss`` ignores: special tokens, context words, continuations."""


def align_labels(
    word_ids: Sequence[int | None],
    tags: Sequence[int],
    *,
    label_all_tokens: bool = False,
    b_to_i: Mapping[int, int] | None = None,
) -> list[int]:
    """Label ids per sub-token from label ids per word.

    The first sub-token of a word gets the word's label; ``None`` positions (special tokens, or
    words another window owns) get :data:`IGNORE_INDEX`. Continuation sub-tokens get
    ``IGNORE_INDEX`` too, or with ``label_all_tokens`` the word's label mapped through ``b_to_i``
    (a ``B-X`` word continues as ``I-X``, which keeps the sub-token sequence valid IOB2).

    >>> align_labels([None, 0, 0, 1, None], [3, 0])
    [-100, 3, -100, 0, -100]
    >>> align_labels([None, 0, 0, 1, None], [3, 0], label_all_tokens=True, b_to_i={3: 4})
    [-100, 3, 4, 0, -100]
    """
    out: list[int] = []
    previous: int | None = None
    for wid in word_ids:
        if wid is None:
            out.append(IGNORE_INDEX)
        elif wid != previous:
            out.append(tags[wid])
        elif label_all_tokens:
            label = tags[wid]
            out.append(b_to_i.get(label, label) if b_to_i else label)
        else:
            out.append(IGNORE_INDEX)
        previous = wid
    return out


def b_to_i_map(labels: Sequence[str]) -> dict[int, int]:
    """``{id(B-X): id(I-X)}`` for every ``B-X`` whose ``I-X`` is in ``labels``.

    >>> b_to_i_map(["O", "B-PER", "I-PER", "B-LOC"])
    {1: 2}
    """
    index = {label: i for i, label in enumerate(labels)}
    return {
        i: index["I-" + lab[2:]]
        for lab, i in index.items()
        if lab.startswith("B-") and "I-" + lab[2:] in index
    }


@dataclass(frozen=True, slots=True)
class Window:
    """One model input: sub-token ids with special tokens, and which word each position predicts.

    ``word_ids[k]`` is the sentence-level index of the word whose sub-token sits at position ``k``
    when this window *owns* that word, else ``None`` (special tokens and context-only words).
    ``span`` is the ``[start, end)`` range of words present; ``owned`` the words this window
    predicts (words without sub-tokens included, so ownership covers every word).
    """

    input_ids: tuple[int, ...]
    word_ids: tuple[int | None, ...]
    span: tuple[int, int]
    owned: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True, slots=True)
class EncodedSentence:
    """The windows of one sentence plus what had to be done to fit it."""

    windows: tuple[Window, ...]
    n_words: int
    zero_subtoken_words: tuple[int, ...] = ()
    """Indices of words that produced no sub-token: predicted ``O``, never trained on."""
    truncated_words: tuple[int, ...] = ()
    """Words longer than a whole window on their own: their first sub-tokens are kept."""

    @property
    def was_split(self) -> bool:
        return len(self.windows) > 1


@dataclass(frozen=True, slots=True)
class SpecialTokens:
    """The ids a tokenizer puts before and after one sequence (``[CLS]`` / ``[SEP]``, ``<s>`` / ``</s>``)."""

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.prefix) + len(self.suffix)


def special_tokens(tokenizer: Any) -> SpecialTokens:
    """Read the single-sequence template off the tokenizer itself instead of assuming BERT's."""
    enc = tokenizer(["a"], is_split_into_words=True, add_special_tokens=True)
    ids, wids = enc["input_ids"], enc.word_ids()
    inner = [k for k, w in enumerate(wids) if w is not None]
    if not inner:
        return SpecialTokens(tuple(ids), ())
    return SpecialTokens(tuple(ids[: inner[0]]), tuple(ids[inner[-1] + 1 :]))


def subtoken_ids(tokenizer: Any, sentences: Sequence[Sequence[str]]) -> list[list[list[int]]]:
    """Sub-token ids per word per sentence, from one batched (fast) tokenizer call."""
    if not sentences:
        return []
    enc = tokenizer([list(s) for s in sentences], is_split_into_words=True, add_special_tokens=False)
    out: list[list[list[int]]] = []
    for k, words in enumerate(sentences):
        per_word: list[list[int]] = [[] for _ in words]
        for tid, wid in zip(enc["input_ids"][k], enc.word_ids(k), strict=True):
            if wid is not None:
                per_word[wid].append(tid)
        out.append(per_word)
    return out


def plan_windows(lengths: Sequence[int], *, budget: int, stride: int) -> list[tuple[int, int]]:
    """Word spans ``[start, end)`` covering all words, each holding at most ``budget`` sub-tokens.

    Consecutive windows share up to ``stride`` sub-tokens of context (whole words only). A word
    longer than ``budget`` gets a window of its own (its caller truncates it).

    >>> plan_windows([1, 1, 1], budget=5, stride=2)
    [(0, 3)]
    >>> plan_windows([2, 2, 2, 2, 2], budget=4, stride=2)
    [(0, 2), (1, 3), (2, 4), (3, 5)]
    >>> plan_windows([2, 2, 2, 2, 2], budget=6, stride=0)
    [(0, 3), (3, 5)]
    """
    if budget < 1:
        raise ValueError(f"window budget must be >= 1 sub-token, got {budget}")
    n = len(lengths)
    spans: list[tuple[int, int]] = []
    start = 0
    while start < n:
        end, used = start, 0
        while end < n and (used + lengths[end] <= budget or end == start):
            used += lengths[end]
            end += 1
        spans.append((start, end))
        if end >= n:
            break
        # Next window starts as far left as the overlap allows while still fitting the next new
        # word, and always moves forward.
        limit = min(stride, budget - lengths[end])
        nxt, overlap = end, 0
        while nxt - 1 > start and overlap + lengths[nxt - 1] <= limit:
            overlap += lengths[nxt - 1]
            nxt -= 1
        start = nxt
    return spans


def assign_owners(lengths: Sequence[int], spans: Sequence[tuple[int, int]]) -> list[int]:
    """For each word, the index of the span where it is most central (most context on its short side).

    Ties go to the earlier window. Every word gets exactly one owner.

    >>> assign_owners([1, 1, 1, 1], [(0, 3), (1, 4)])
    [0, 0, 1, 1]
    """
    prefix = [0]
    for n in lengths:
        prefix.append(prefix[-1] + n)
    owner = [-1] * len(lengths)
    best = [-1] * len(lengths)
    for k, (s, e) in enumerate(spans):
        for w in range(s, e):
            left = prefix[w] - prefix[s]
            right = prefix[e] - prefix[w + 1]
            score = min(left, right)
            if score > best[w]:
                best[w], owner[w] = score, k
    return owner


def encode_words(
    tokenizer: Any,
    words: Sequence[str],
    *,
    max_length: int,
    stride: int,
    special: SpecialTokens | None = None,
    pieces: Sequence[Sequence[int]] | None = None,
) -> EncodedSentence:
    """Windows for one sentence; see the module docstring for the guarantees.

    ``special`` and ``pieces`` (sub-token ids per word) may be passed in by callers that encode
    many sentences at once (:func:`encode_batch`); otherwise they are computed here.
    """
    special = special or special_tokens(tokenizer)
    if pieces is None:
        pieces = subtoken_ids(tokenizer, [words])[0]
    budget = max_length - special.count
    if budget < 1:
        raise ValueError(f"max_length {max_length} leaves no room next to {special.count} special tokens")
    lengths = [len(p) for p in pieces]
    zero = tuple(i for i, n in enumerate(lengths) if n == 0)
    truncated = tuple(i for i, n in enumerate(lengths) if n > budget)
    spans = plan_windows(lengths, budget=budget, stride=max(0, stride)) if words else [(0, 0)]
    owners = assign_owners(lengths, spans)
    windows = []
    for k, (s, e) in enumerate(spans):
        ids: list[int] = list(special.prefix)
        wids: list[int | None] = [None] * len(special.prefix)
        for w in range(s, e):
            piece = list(pieces[w])[:budget]
            ids.extend(piece)
            wids.extend([w if owners[w] == k else None] * len(piece))
        ids.extend(special.suffix)
        wids.extend([None] * len(special.suffix))
        own = tuple(w for w in range(s, e) if owners[w] == k)
        windows.append(Window(tuple(ids), tuple(wids), (s, e), own))
    return EncodedSentence(tuple(windows), len(words), zero, truncated)


def encode_batch(
    tokenizer: Any,
    sentences: Sequence[Sequence[str]],
    *,
    max_length: int,
    stride: int,
    doc_ids: Sequence[str | None] | None = None,
    context_length: int = 0,
) -> list[EncodedSentence]:
    """:func:`encode_words` for many sentences with one batched tokenizer call.

    With ``context_length`` and ``doc_ids`` (one per sentence, in document order), every sentence
    that fits one window is encoded with the words of its neighbouring sentences of the same
    document around it, up to ``context_length`` sub-tokens (:func:`add_document_context`)."""
    special = special_tokens(tokenizer)
    all_pieces = subtoken_ids(tokenizer, sentences)
    encoded = [
        encode_words(tokenizer, words, max_length=max_length, stride=stride, special=special, pieces=pieces)
        for words, pieces in zip(sentences, all_pieces, strict=True)
    ]
    if context_length and doc_ids is not None:
        encoded = add_document_context(encoded, all_pieces, doc_ids, special=special,
                                       context_length=min(context_length, max_length))
    return encoded


def add_document_context(
    encoded: Sequence[EncodedSentence],
    pieces: Sequence[Sequence[Sequence[int]]],
    doc_ids: Sequence[str | None],
    *,
    special: SpecialTokens,
    context_length: int,
) -> list[EncodedSentence]:
    """Each one-window sentence with whole words of its neighbours in the same document around it.

    Words are added nearest first, alternately after and before the sentence, while the window stays
    within ``context_length`` sub-tokens; a side stops at the document's edge or at the first word
    that does not fit. Context words have ``None`` word ids: they are never labelled, trained on or
    predicted, so loss and predictions still cover exactly the sentence's own words. A sentence split
    into several windows, or without a document id, is left as it was. Neighbours are the previous
    and next sentences in the given order, which must be document order.

    >>> sp = SpecialTokens((101,), (102,))
    >>> enc = [encode_words(None, w, max_length=16, stride=0, special=sp, pieces=p)
    ...        for w, p in ((["a"], [[1]]), (["b", "c"], [[2], [3]]), (["d"], [[4]]), (["e"], [[5]]))]
    >>> out = add_document_context(enc, [[[1]], [[2], [3]], [[4]], [[5]]], ["x", "x", "x", "y"],
    ...                            special=sp, context_length=6)
    >>> out[1].windows[0].input_ids, out[1].windows[0].word_ids
    ((101, 1, 2, 3, 4, 102), (None, None, 0, 1, None, None))
    >>> out[3].windows[0].input_ids  # alone in its document
    (101, 5, 102)
    """
    out: list[EncodedSentence] = []
    n = len(encoded)
    for i, enc in enumerate(encoded):
        doc = doc_ids[i]
        if doc is None or len(enc.windows) != 1:
            out.append(enc)
            continue
        window = enc.windows[0]
        room = context_length - len(window)
        left: list[Sequence[int]] = []
        right: list[Sequence[int]] = []
        # cursors: (sentence, word) of the next word to take on each side
        ls, lw = i - 1, len(pieces[i - 1]) - 1 if i > 0 else -1
        rs, rw = i + 1, 0
        left_open = right_open = True
        while room > 0 and (left_open or right_open):
            if right_open:
                while rs < n and doc_ids[rs] == doc and rw >= len(pieces[rs]):
                    rs, rw = rs + 1, 0
                if rs >= n or doc_ids[rs] != doc or len(pieces[rs][rw]) > room:
                    right_open = False
                else:
                    right.append(pieces[rs][rw])
                    room -= len(pieces[rs][rw])
                    rw += 1
            if left_open and room > 0:
                while ls >= 0 and doc_ids[ls] == doc and lw < 0:
                    ls -= 1
                    lw = len(pieces[ls]) - 1 if ls >= 0 else -1
                if ls < 0 or doc_ids[ls] != doc or len(pieces[ls][lw]) > room:
                    left_open = False
                else:
                    left.append(pieces[ls][lw])
                    room -= len(pieces[ls][lw])
                    lw -= 1
            elif room <= 0:
                break
        if not left and not right:
            out.append(enc)
            continue
        before = [t for p in reversed(left) for t in p]
        after = [t for p in right for t in p]
        k, m = len(special.prefix), len(window.input_ids) - len(special.suffix)
        ids = (*window.input_ids[:k], *before, *window.input_ids[k:m], *after, *window.input_ids[m:])
        wids = (*window.word_ids[:k], *([None] * len(before)), *window.word_ids[k:m], *([None] * len(after)),
                *window.word_ids[m:])
        out.append(EncodedSentence((Window(ids, wids, window.span, window.owned),), enc.n_words,
                                   enc.zero_subtoken_words, enc.truncated_words))
    return out


def window_labels(
    window: Window,
    tags: Sequence[int],
    *,
    label_all_tokens: bool = False,
    b_to_i: Mapping[int, int] | None = None,
) -> list[int]:
    """Training labels of one window (``tags`` are the sentence's label ids per word)."""
    return align_labels(window.word_ids, tags, label_all_tokens=label_all_tokens, b_to_i=b_to_i)


def first_subtoken_positions(window: Window) -> dict[int, int]:
    """``{word index: position of its first sub-token}`` for the words this window owns."""
    out: dict[int, int] = {}
    for pos, wid in enumerate(window.word_ids):
        if wid is not None and wid not in out:
            out[wid] = pos
    return out
