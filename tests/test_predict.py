"""`nerbench predict`: offsets that slice the input exactly, pipeline agreement, the CRF path, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import main
from bench.data.schemes import invalid_iob2
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

    # The pipeline takes the argmax at each sub-token, so compare with argmax decoding.
    predictor = load_predictor(trained_dir, device="cpu", decode="argmax")
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


def test_raw_text_is_cut_the_way_the_training_task_cut_its_words(trained_dir: Path, tmp_path: Path) -> None:
    """The model folder names its task's word tokenizer; predict reads raw text with it; an unknown
    name in a folder is a clear error."""
    import json
    import shutil

    folder = tmp_path / "conll-style"
    shutil.copytree(trained_dir, folder)
    assert load_predictor(folder, device="cpu").word_tokenizer == "simple"  # a folder that does not say
    info_path = folder / "nerbench_model.json"
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**info, "word_tokenizer": "conll"}))
    predictor = load_predictor(folder, device="cpu")
    assert predictor.word_tokenizer == "conll"
    text = b"U.S. officials didn't meet Anna in Paris."
    assert read_input([text], "text", word_tokenizer=predictor.word_tokenizer).docs[0].words == [
        "U.S.", "officials", "did", "n't", "meet", "Anna", "in", "Paris", "."]
    assert read_input([text], "text").docs[0].words[:4] == ["U", ".", "S", "."]
    info_path.write_text(json.dumps({**info, "word_tokenizer": "whitespace"}))
    with pytest.raises(ConfigError, match="unknown word_tokenizer 'whitespace'"):
        load_predictor(folder, device="cpu")
    with pytest.raises(ConfigError, match="unknown word tokenizer"):
        read_input([text], "text", word_tokenizer="whitespace")


def test_transformer_predictor_decodes_as_saved(trained_dir: Path) -> None:
    """Viterbi (saved with the model) gives valid IOB2, and the argmax answer wherever that is valid."""
    viterbi = load_predictor(trained_dir, device="cpu")
    argmax = load_predictor(trained_dir, device="cpu", decode="argmax")
    assert viterbi.loaded.decode == "viterbi" and argmax.loaded.decode == "argmax"  # type: ignore[attr-defined]
    words = [list(s.tokens) for s in make_sentences(12)] + [["went", "Smith", "York", "Paris", "New", "."]]
    v_tagged, a_tagged = viterbi.tag(words), argmax.tag(words)
    for (vt, vs), (at, as_), w in zip(v_tagged, a_tagged, words, strict=True):
        assert len(vt) == len(vs) == len(w) and invalid_iob2(vt) is None
        assert all(isinstance(x, float) and 0 < x <= 1 for x in vs)
        if invalid_iob2(at) is None:
            assert vt == at and vs == pytest.approx(as_)
    with pytest.raises(ConfigError, match="decode must be one of"):
        load_predictor(trained_dir, device="cpu", decode="greedy")


TWO_TYPE_TASK = """\
name = "tinyner"
version = "1"
language = "en"
domain = "test"
entity_types = ["PER", "LOC"]
scheme = "IOB2"
licence = "written by the tests"

[local]
folder = "tinyner"
format = "conll"
splits = { train = "train.txt", dev = "dev.txt", test = "test.txt" }
"""


@pytest.fixture(scope="module")
def untrained_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """The tiny BERT with a random 5-label head and no nerbench metadata: argmax emits many invalid tags."""
    import shutil

    import torch
    from transformers import AutoModelForTokenClassification

    out = tmp_path_factory.mktemp("untrained")
    for f in tiny_model_dir.iterdir():
        if "tokenizer" in f.name or "vocab" in f.name or "special_tokens" in f.name:
            shutil.copy(f, out / f.name)
    torch.manual_seed(1)
    model = AutoModelForTokenClassification.from_pretrained(
        tiny_model_dir, num_labels=5, id2label=dict(enumerate(LABELS)),
        label2id={t: i for i, t in enumerate(LABELS)}, ignore_mismatched_sizes=True,
    )
    model.save_pretrained(out)
    return out


def test_decode_benchmark_end_to_end(untrained_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    from bench.data.load import sha256_file
    from bench.metrics import invalid_tags

    spec = importlib.util.spec_from_file_location(
        "decode_bench", Path(__file__).resolve().parent.parent / "benchmarks" / "decode_viterbi_vs_argmax.py"
    )
    assert spec is not None and spec.loader is not None
    bench_mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_mod)

    folder = tmp_path / "data" / "tinyner"
    folder.mkdir(parents=True)
    for split, sents in (("train", make_sentences(4)), ("dev", make_sentences(9)), ("test", make_sentences(7))):
        text = "\n\n".join("\n".join(f"{w} {t}" for w, t in zip(s.tokens, s.tags, strict=True)) for s in sents)
        (folder / f"{split}.txt").write_text(text + "\n", encoding="utf-8")
    task_file = tmp_path / "tinyner.toml"
    task_file.write_text(TWO_TYPE_TASK, encoding="utf-8")
    out = tmp_path / "res" / "decode.json"
    argv = ["--task", str(task_file), "--model", str(untrained_dir), "--data-dir", str(tmp_path / "data"),
            "--device", "cpu", "--n-resamples", "50", "--out", str(out)]
    assert bench_mod.main(argv) == 0

    report = json.loads(out.read_text())
    assert "python benchmarks/decode_viterbi_vs_argmax.py --task " in report["command"]  # after HF_HUB_OFFLINE=1
    assert "--data-dir $NERBENCH_DATA_DIR" in report["command"] and str(tmp_path) not in report["command"]
    assert report["environment"]["packages"]["torch"] and report["environment"]["cpu"]
    (entry,) = report["tasks"]
    assert entry["task"] == "tinyner" and entry["model"]["sha256"] == sha256_file(untrained_dir / "model.safetensors")
    assert entry["model"]["trained_decode"] is None  # no nerbench metadata
    assert list(entry["splits"]) == ["dev", "test"]
    dev = entry["splits"]["dev"]
    assert dev["sentences"] == 9 and dev["words"] == sum(len(s.tokens) for s in make_sentences(9))
    assert dev["viterbi"]["invalid_pred_tags"] == 0 and dev["argmax"]["invalid_pred_tags"] > 0
    assert dev["words_changed"] > 0 and dev["viterbi"]["conlleval"]["f1"] == dev["viterbi"]["strict"]["f1"]
    pb = dev["paired_bootstrap_conlleval_f1"]
    assert pb["delta"] == pytest.approx(dev["viterbi"]["conlleval"]["f1"] - dev["argmax"]["conlleval"]["f1"])
    assert pb["n_resamples"] == 50 and dev["bootstrap_unit"] == "sentence"

    # The argmax column is exactly what `nerbench predict`-style argmax decoding gives.
    from bench.finetune import predict_words

    tags, _, _ = predict_words(untrained_dir, make_sentences(9), device="cpu", decode="argmax")
    assert sum(invalid_tags(t) for t in tags) == dev["argmax"]["invalid_pred_tags"]

    table = capsys.readouterr().out
    assert table == out.with_suffix(".md").read_text() == report["markdown"]
    rows = [line for line in table.splitlines() if line.startswith("| tinyner |")]
    assert len(rows) == 2 and f"| {dev['argmax']['invalid_pred_tags']} → 0 |" in rows[0]


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


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "config.json").write_text("{oops"), "config.json:1: the model configuration is not valid JSON"),
        (lambda d: (d / "model.safetensors").unlink(), "no model weights"),
        (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:4096]),
         "model.safetensors: truncated or damaged safetensors file (4096 bytes)"),
    ],
)
def test_predict_with_a_damaged_transformer_folder_is_one_clear_error(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: Any, message: str  # noqa: F811
) -> None:
    from .test_finetune import save_untrained

    d = tmp_path / "m"
    save_untrained(tiny_model_dir, d)
    damage(d)
    src = tmp_path / "in.txt"
    src.write_text("Anna went to Paris .\n", encoding="utf-8")
    assert main(["predict", "--model", str(d), "--input", str(src), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {d}") and message in err and "Traceback" not in err, err
