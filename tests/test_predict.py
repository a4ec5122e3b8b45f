"""`nerbench predict`: offsets that slice the input exactly, pipeline agreement, the CRF path, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.data.types import Sentence
from bench.errors import ConfigError
from bench.predict import doc_from_text, entities, load_predictor, predict_docs, read_input

from .test_finetune import FAST, make_sentences, tiny_model_dir  # noqa: F401  (fixture)

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@pytest.fixture(scope="module")
def trained_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    from bench.finetune import FinetuneConfig, finetune
    from bench.models import resolve_model

    out = tmp_path_factory.mktemp("trained")
    cfg = FinetuneConfig.from_params({**FAST, "epochs": 12})
    finetune(make_sentences(24), make_sentences(6), labels=LABELS, model=resolve_model(str(tiny_model_dir)),
             config=cfg, output_dir=out)
    return out


def test_read_input_reports_bad_lines_and_keeps_going() -> None:
    lines = [b"Anna went to Paris .", b"", "caf\u00e9".encode("latin-1"), b"x" * 5000, b"John saw Berlin"]
    rep = read_input(lines, "text")
    assert [d.line for d in rep.docs] == [1, 4, 5]
    assert rep.skipped == [(2, "empty line"), (3, "not valid UTF-8 (byte 0xe9 at column 4)")]
    js = read_input([b'{"text": "Anna", "id": 7}', b"{oops", b'{"txt": 1}'], "jsonl")
    assert js.docs[0].meta == {"id": 7} and [s[0] for s in js.skipped] == [2, 3]
    conll = read_input([b"-DOCSTART- -X- O", b"", b"Anna NNP", b"ran VBD", b"", b"Bo NNP"], "conll", pos_column=1)
    assert [d.words for d in conll.docs] == [["Anna", "ran"], ["Bo"]] and conll.docs[0].pos == ["NNP", "VBD"]
    with pytest.raises(ConfigError, match="unknown input format"):
        read_input([], "xml")


def test_entities_merge_words_and_offsets_slice_the_input() -> None:
    d = doc_from_text("  Dr.  Anna-Maria Smith visited New  York.")
    tags = ["O"] * len(d.words)
    i = d.words.index("Anna")
    tags[i : i + 4] = ["B-PER", "I-PER", "I-PER", "I-PER"]  # Anna - Maria Smith
    j = d.words.index("New")
    tags[j : j + 2] = ["I-LOC", "I-LOC"]  # stray I- opens an entity, as aggregation "simple" reads it
    ents = entities(d, tags, [0.5] * len(tags))
    assert [(e["text"], e["type"]) for e in ents] == [("Anna-Maria Smith", "PER"), ("New  York", "LOC")]
    for e in ents:
        assert d.text[e["start"] : e["end"]] == e["text"]


def test_transformer_predict_agrees_with_pipeline(trained_dir: Path) -> None:
    from transformers import pipeline

    predictor = load_predictor(trained_dir, device="cpu")
    # Words the tiny vocabulary holds whole: there the pipeline's sub-token groups are words too, so
    # the two must agree exactly. ("Blackburn" splits into pieces: see the next test.)
    texts = [" ".join(s.tokens) for s in make_sentences(12) if not {"Blackburn", "Lisbon"} & set(s.tokens)]
    docs = [doc_from_text(t, k + 1) for k, t in enumerate(texts)]
    _, ours, _ = predict_docs(predictor, docs)
    nlp = pipeline("token-classification", model=str(trained_dir), aggregation_strategy="simple", device=-1)
    theirs = nlp(texts)
    for text, a, b in zip(texts, ours, theirs, strict=False):
        for e in a:
            assert text[e["start"] : e["end"]] == e["text"]
        assert sorted((e["type"], e["start"], e["end"]) for e in a) == sorted(
            (e["entity_group"], e["start"], e["end"]) for e in b
        ), text
    assert any(a for a in ours), "the tiny model should find entities"


def test_multi_piece_words_come_out_whole(trained_dir: Path) -> None:
    predictor = load_predictor(trained_dir, device="cpu")
    tok = predictor.loaded.tokenizer  # type: ignore[attr-defined]
    assert len(tok.tokenize("Blackburn")) > 1
    d = doc_from_text("Peter Blackburn went to Paris .")
    _, (ents,), _ = predict_docs(predictor, [d])
    assert {"start": 0, "end": 15, "text": "Peter Blackburn", "type": "PER"}.items() <= ents[0].items()


def test_long_input_is_windowed_not_truncated(trained_dir: Path) -> None:
    predictor = load_predictor(trained_dir, device="cpu")  # tiny model window: 48 sub-tokens
    words = ("Anna went to Paris and saw a city in the man went to Berlin .".split()) * 12
    (tags, scores), = predictor.tag([words])
    assert len(tags) == len(words) and all(s is not None for s in scores)
    assert tags[-2] == "B-LOC"  # Berlin, far past the first window


def test_crf_model_dir_predicts_through_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from baselines.crf import CrfConfig, train_crf

    train = [Sentence(s.tokens, s.tags) for s in make_sentences(30)]
    model = train_crf(train, config=CrfConfig(max_iterations=30, feature_set="local-v1"))
    model.save(tmp_path / "crf")
    src = tmp_path / "in.txt"
    src.write_bytes(b"Maria went to Berlin .\n\n\xff\nJohn Smith saw Paris\n")
    out = tmp_path / "out.jsonl"
    assert main(["predict", "--model", str(tmp_path / "crf"), "--input", str(src), "--output", str(out)]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["line"] for r in rows] == [1, 4]
    assert ("Berlin", "LOC") in {(e["text"], e["type"]) for e in rows[0]["entities"]}
    assert all(0 < e["score"] <= 1 for r in rows for e in r["entities"])
    err = capsys.readouterr().err
    assert "in.txt:2: skipped: empty line" in err and "in.txt:3: skipped: not valid UTF-8" in err
    assert "2 document(s)" in err and "2 line(s) skipped" in err


def test_model_dir_without_labels_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "m"
    d.mkdir()
    (d / "nerbench_model.json").write_text(json.dumps({"kind": "crf"}))
    assert main(["predict", "--model", str(d), "--input", str(d / "nerbench_model.json")]) == 2
    assert "has no labels" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path / "nope")]) == 2
