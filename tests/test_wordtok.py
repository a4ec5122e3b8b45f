"""Raw text is cut into the words the model was trained on (``bench.data.wordtok``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.data.conll import read_conll_file
from bench.data.wordtok import WORD_TOKENIZERS, conll, get_word_tokenizer, simple
from bench.errors import ConfigError

NO_SPACE_BEFORE = {",", ".", ":", ";", "?", "!", ")", "]", "%", "'s", "n't", "'re", "'ve", "'ll", "'d", "'m"}
NO_SPACE_AFTER = {"(", "[", "$"}


def detokenize(tokens: list[str]) -> str:
    """Words back to ordinary text: no space before closing punctuation and clitics, none after ``(``."""
    out = ""
    for i, t in enumerate(tokens):
        if i and t not in NO_SPACE_BEFORE and tokens[i - 1] not in NO_SPACE_AFTER:
            out += " "
        out += t
    return out


def words(tokenize, text: str) -> list[str]:  # noqa: ANN001
    return [text[s:e] for s, e in tokenize(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("U.S. officials said on Monday.", ["U.S.", "officials", "said", "on", "Monday", "."]),
        ("The U.N. and Mr. Smith met Corp. heads.", ["The", "U.N.", "and", "Mr.", "Smith", "met", "Corp.", "heads", "."]),
        ("It doesn't matter, Clinton's aides said.", ["It", "does", "n't", "matter", ",", "Clinton", "'s", "aides", "said", "."]),
        ("1. Pete Sampras (U.S.) 1,000.5 points", ["1.", "Pete", "Sampras", "(", "U.S.", ")", "1,000.5", "points"]),
        ("Anglo-Dutch O'Neill beat a 26-year-old on 1996-08-22 at 12:30, won 4-1/2", [
            "Anglo-Dutch", "O'Neill", "beat", "a", "26-year-old", "on", "1996-08-22", "at", "12:30", ",", "won", "4-1/2"]),
        ("J. Smith hit .596 -- ranked 31st...", ["J.", "Smith", "hit", ".596", "--", "ranked", "31st", "..."]),
        ("S.AFRICA: gold", ["S.AFRICA", ":", "gold"]),
        ("Señor Müller's café", ["Señor", "Müller", "'s", "café"]),
    ],
)
def test_conll_tokenizer_cuts_like_the_treebank(text: str, expected: list[str]) -> None:
    assert words(conll, text) == expected


def test_offsets_cover_the_text_and_simple_keeps_the_brat_rule() -> None:
    text = "  U.S. troops,\tand\u00a0Jan. 3  "
    spans = conll(text)
    assert all(text[s:e].strip() == text[s:e] and text[s:e] for s, e in spans)
    assert "".join(text[s:e] for s, e in spans) == "".join(text.split())  # every non-space character once
    assert words(simple, "U.S. troops") == ["U", ".", "S", ".", "troops"]


def test_registry_names_and_unknown_name() -> None:
    assert set(WORD_TOKENIZERS) >= {"simple", "conll"}
    assert get_word_tokenizer(None) is simple
    with pytest.raises(ConfigError, match="word tokenizer"):
        get_word_tokenizer("nltk")


@pytest.mark.parametrize(("split", "minimum"), [("eng.testa", 0.98), ("eng.testb", 0.975)])
def test_conll2003_text_gets_its_own_words_back(data_dir: Path, split: str, minimum: float) -> None:
    """Real CoNLL-2003 sentences written as ordinary text come back as their own words; the BRAT
    rule (``U . S .``) gets fewer than 60% of them right, so the check can fail."""
    sentences, _ = read_conll_file(data_dir / "conll2003" / split)
    texts = [(list(s.tokens), detokenize(list(s.tokens))) for s in sentences]
    ok = sum(words(conll, text) == toks for toks, text in texts) / len(texts)
    ok_simple = sum(words(simple, text) == toks for toks, text in texts) / len(texts)
    assert ok >= minimum
    assert ok_simple < 0.6
