"""Label alignment and windowing: every word gets exactly one prediction slot, nothing is dropped."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.align import (
    IGNORE_INDEX,
    align_labels,
    assign_owners,
    b_to_i_map,
    encode_batch,
    encode_words,
    first_subtoken_positions,
    plan_windows,
    special_tokens,
    subtoken_ids,
    window_labels,
)

pytest.importorskip("transformers")

CHARS = "abcdefghij"


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    """A tiny WordPiece tokenizer built offline: a few whole words, then single characters."""
    from transformers import BertTokenizer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = specials + ["abc", "de", "##ij"] + list(CHARS) + ["##" + c for c in CHARS]
    return BertTokenizer(vocab={w: i for i, w in enumerate(vocab)})


# --------------------------------------------------------------------------- align_labels


def test_first_subtoken_gets_label_rest_ignored() -> None:
    assert align_labels([None, 0, 0, 0, 1, 2, 2, None], [1, 0, 3]) == [
        IGNORE_INDEX,
        1,
        IGNORE_INDEX,
        IGNORE_INDEX,
        0,
        3,
        IGNORE_INDEX,
        IGNORE_INDEX,
    ]


def test_label_all_tokens_continues_b_as_i() -> None:
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    b2i = b_to_i_map(labels)
    assert b2i == {1: 2, 3: 4}
    got = align_labels([None, 0, 0, 1, 1, 2, None], [1, 4, 0], label_all_tokens=True, b_to_i=b2i)
    assert got == [IGNORE_INDEX, 1, 2, 4, 4, 0, IGNORE_INDEX]
    # without a map the same label is repeated
    assert align_labels([0, 0], [1], label_all_tokens=True) == [1, 1]


def test_b_without_matching_i_label_is_kept() -> None:
    assert b_to_i_map(["O", "B-X"]) == {}
    assert align_labels([0, 0], [1], label_all_tokens=True, b_to_i={}) == [1, 1]


# --------------------------------------------------------------------------- windows


def test_special_tokens_read_from_tokenizer(tokenizer) -> None:  # type: ignore[no-untyped-def]
    sp = special_tokens(tokenizer)
    assert sp.prefix == (tokenizer.cls_token_id,) and sp.suffix == (tokenizer.sep_token_id,) and sp.count == 2


def test_short_sentence_is_one_window(tokenizer) -> None:  # type: ignore[no-untyped-def]
    enc = encode_words(tokenizer, ["abc", "dij", "a"], max_length=32, stride=4)
    assert not enc.was_split and len(enc.windows) == 1
    w = enc.windows[0]
    assert w.word_ids == (None, 0, 1, 1, 2, None)
    assert w.owned == (0, 1, 2)
    assert first_subtoken_positions(w) == {0: 1, 1: 2, 2: 4}
    assert window_labels(w, [1, 2, 0]) == [IGNORE_INDEX, 1, 2, IGNORE_INDEX, 0, IGNORE_INDEX]


def test_zero_subtoken_word_is_counted_and_has_no_slot(tokenizer) -> None:  # type: ignore[no-untyped-def]
    enc = encode_words(tokenizer, ["abc", "\u200b", "\x00", "a"], max_length=32, stride=4)
    assert enc.zero_subtoken_words == (1, 2)
    assert first_subtoken_positions(enc.windows[0]) == {0: 1, 3: 2}
    assert enc.windows[0].owned == (0, 1, 2, 3)


def test_long_sentence_is_split_without_cutting_words(tokenizer) -> None:  # type: ignore[no-untyped-def]
    words = ["abcd"] * 10  # 2 sub-tokens each: abc ##d
    enc = encode_words(tokenizer, words, max_length=8, stride=2)  # budget 6 = 3 words
    assert enc.was_split
    assert [w.span for w in enc.windows] == [(0, 3), (2, 5), (4, 7), (6, 9), (8, 10)]
    owners = [k for w in range(10) for k, win in enumerate(enc.windows) if w in win.owned]
    assert owners == [0, 0, 0, 1, 1, 2, 2, 3, 3, 4]  # a one-word overlap is a tie: earlier window
    for win in enc.windows:
        assert len(win) <= 8
        assert win.input_ids[0] == tokenizer.cls_token_id and win.input_ids[-1] == tokenizer.sep_token_id


def test_word_longer_than_window_is_truncated_not_dropped(tokenizer) -> None:  # type: ignore[no-untyped-def]
    enc = encode_words(tokenizer, ["a", "abcdefghij" * 2, "b"], max_length=6, stride=1)
    assert enc.truncated_words == (1,)
    slots = [w for win in enc.windows for w in first_subtoken_positions(win)]
    assert sorted(slots) == [0, 1, 2]
    assert all(len(win) <= 6 for win in enc.windows)


def test_empty_sentence(tokenizer) -> None:  # type: ignore[no-untyped-def]
    enc = encode_words(tokenizer, [], max_length=8, stride=2)
    assert enc.n_words == 0 and len(enc.windows) == 1 and enc.windows[0].owned == ()


def test_encode_batch_equals_one_by_one(tokenizer) -> None:  # type: ignore[no-untyped-def]
    sents = [["abc", "de"], ["\u200b"], ["abcdefghij", "a", "b", "c"]]
    batch = encode_batch(tokenizer, sents, max_length=6, stride=1)
    assert batch == [encode_words(tokenizer, s, max_length=6, stride=1) for s in sents]


def test_plan_windows_rejects_no_room() -> None:
    with pytest.raises(ValueError):
        plan_windows([1], budget=0, stride=0)


# --------------------------------------------------------------------------- properties

word = st.one_of(
    st.text(alphabet=CHARS, min_size=1, max_size=12),
    st.sampled_from(["\u200b", "\x00", "abc", "de", "dij", "X"]),
)


@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(word, min_size=0, max_size=40),
    max_length=st.integers(min_value=3, max_value=24),
    stride_frac=st.floats(min_value=0, max_value=0.9),
)
def test_every_word_gets_exactly_one_prediction_slot(tokenizer, words, max_length, stride_frac) -> None:  # type: ignore[no-untyped-def]
    stride = int(stride_frac * (max_length - 2))
    enc = encode_words(tokenizer, words, max_length=max_length, stride=stride)
    pieces = subtoken_ids(tokenizer, [words])[0] if words else []
    budget = max_length - 2
    # every word is owned by exactly one window
    owned = [w for win in enc.windows for w in win.owned]
    assert sorted(owned) == list(range(len(words)))
    # every word with sub-tokens has exactly one first-sub-token slot; the others are the zero ones
    slots = [w for win in enc.windows for w in first_subtoken_positions(win)]
    assert len(slots) == len(set(slots))
    assert set(slots) | set(enc.zero_subtoken_words) == set(range(len(words)))
    assert set(slots).isdisjoint(enc.zero_subtoken_words)
    assert list(enc.zero_subtoken_words) == [i for i, p in enumerate(pieces) if not p]
    if sum(map(len, pieces)) <= budget:
        assert not enc.was_split and not enc.truncated_words
    else:
        assert enc.was_split or enc.truncated_words
    assert list(enc.truncated_words) == [i for i, p in enumerate(pieces) if len(p) > budget]
    for win in enc.windows:
        assert len(win) <= max_length
        # windows hold whole words (a word alone longer than the window keeps its first pieces)
        s, e = win.span
        body = [t for p in pieces[s:e] for t in p[:budget]]
        assert list(win.input_ids[1:-1]) == body
        # each owned word's positions cover all of its (kept) sub-tokens, contiguously
        for w in win.owned:
            pos = [k for k, x in enumerate(win.word_ids) if x == w]
            assert len(pos) == min(len(pieces[w]), budget)
            assert pos == list(range(pos[0], pos[0] + len(pos))) if pos else True


@settings(max_examples=300, deadline=None)
@given(
    lengths=st.lists(st.integers(min_value=0, max_value=9), min_size=1, max_size=60),
    budget=st.integers(min_value=1, max_value=20),
    stride=st.integers(min_value=0, max_value=19),
)
def test_windows_cover_all_words_and_owner_is_most_central(lengths, budget, stride) -> None:  # type: ignore[no-untyped-def]
    spans = plan_windows(lengths, budget=budget, stride=stride)
    assert spans[0][0] == 0 and spans[-1][1] == len(lengths)
    for (s0, e0), (s1, e1) in zip(spans, spans[1:], strict=False):
        assert s0 < s1 <= e0 < e1  # overlapping or adjacent, always moving forward
    for s, e in spans:
        assert sum(lengths[s:e]) <= budget or e - s == 1
    owners = assign_owners(lengths, spans)

    def context(w: int, k: int) -> int:
        s, e = spans[k]
        return min(sum(lengths[s:w]), sum(lengths[w + 1 : e]))

    for w, k in enumerate(owners):
        s, e = spans[k]
        assert s <= w < e
        others = [j for j, (a, b) in enumerate(spans) if a <= w < b]
        assert context(w, k) == max(context(w, j) for j in others)
