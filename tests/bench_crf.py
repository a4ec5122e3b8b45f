"""Micro-benchmark: CRF feature extraction over ~2000 synthetic sentences (output asserted).

Run: ``pytest tests/bench_crf.py --benchmark-only`` (``--benchmark-disable`` runs it once as a test).
"""

from __future__ import annotations

import random

import pytest

from baselines.crf import FeatureResources, Gazetteer, case_lexicon, sent2features

N_SENTENCES = 2000
WORDS = ["the", "said", "in", "of", "on", "to", "a", "and", "for", "with", "by", "was", "at", "from"]
NAMES = ["Peter", "Blackburn", "Paris", "EU", "Reuters", "German", "U.S.", "McDonald", "JAPAN", "Anna"]
OTHER = ["1996-08-22", "3-1", ",", ".", "(", ")", "--", "10,000", "percent", "pre-season"]
POS = ["NNP", "NN", "VBD", "IN", "DT", ",", "CD", "JJ"]


def synthetic_corpus(n: int, *, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """Deterministic sentences of 5-30 tokens mixing lower-case words, names and odd tokens."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        length = rng.randint(5, 30)
        toks = [rng.choice(rng.choice((WORDS, WORDS, NAMES, OTHER))) for _ in range(length)]
        out.append((toks, [rng.choice(POS) for _ in toks]))
    return out


@pytest.fixture(scope="module")
def corpus() -> list[tuple[list[str], list[str]]]:
    return synthetic_corpus(N_SENTENCES)


@pytest.fixture(scope="module")
def resources(corpus: list[tuple[list[str], list[str]]]) -> FeatureResources:
    gaz = Gazetteer(
        {("peter", "blackburn"): "PER", ("paris",): "LOC", ("eu",): "ORG"}, words={"peter": "PER"}
    )
    return FeatureResources(lexicon=case_lexicon([t for t, _ in corpus]), gazetteer=gaz)


def extract_all(corpus: list[tuple[list[str], list[str]]], resources: FeatureResources) -> int:
    """Total number of features over the corpus (the asserted output)."""
    return sum(len(f) for toks, pos in corpus for f in sent2features(toks, pos=pos, resources=resources))


def test_bench_sent2features(benchmark, corpus, resources) -> None:  # type: ignore[no-untyped-def]
    total = benchmark(extract_all, corpus, resources)
    tokens = sum(len(t) for t, _ in corpus)
    assert tokens == 35_413
    assert total == 998_037
