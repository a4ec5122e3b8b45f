"""No test leakage through the real runner: the test split's tags never reach what a system learns.

Each system is trained twice through :func:`bench.runner.run_cell` on in-memory data, once as is and
once with *every* tag of the test split replaced by a different one. The learned-parameter files it
saves must be byte-identical. As a control (so the comparison can fail), one changed *train* tag must
change them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.data.load import TaskData, check_labels, content_digest
from bench.data.types import Sentence, SplitData
from bench.plan import Cell
from bench.runner import RunConfig, run_cell
from bench.spec import LocalSource, SystemSpec, TaskSpec

TYPES = ("PER", "LOC", "MISC")
NAMES = [["Peter", "Blackburn"], ["Anna"], ["John", "Smith"], ["Maria"], ["Paul"]]
PLACES = [["Paris"], ["New", "York"], ["Berlin"], ["Rome"]]
FILLER = ["the", "man", "went", "to", "and", "saw", "a", "city", "in"]

# Every test tag becomes a different valid tag: the test gold is wholly different, the words are not.
SWAP = {"O": "B-MISC", "B-PER": "B-LOC", "I-PER": "I-LOC", "B-LOC": "B-PER", "I-LOC": "I-PER"}

# What a CRF learns: the crfsuite weights and the lexicon/gazetteer built from train. Its
# nerbench_model.json also holds training times and peak memory, so it is compared without "stats".
CRF_LEARNED = ("model.crfsuite", "feature_resources.json")
# What a transformer learns: the weights and the config that names the label ids.
TRANSFORMER_LEARNED = ("model.safetensors", "config.json")


def make_sentences(n: int, *, offset: int = 0, split: str) -> list[Sentence]:
    out = []
    for k in range(offset, offset + n):
        name, place = NAMES[k % len(NAMES)], PLACES[(k // 2) % len(PLACES)]
        toks = [*name, "went", "to", *place, *FILLER[: k % 4], "."]
        tags = ["B-PER"] + ["I-PER"] * (len(name) - 1) + ["O", "O", "B-LOC"] + ["I-LOC"] * (len(place) - 1)
        tags += ["O"] * (len(toks) - len(tags))
        out.append(Sentence(tuple(toks), tuple(tags), source=f"{split}:{k}"))
    return out


def task_data(splits: dict[str, list[Sentence]]) -> TaskData:
    """A TaskData as the loader builds it (per-split content fingerprints), from sentences in memory."""
    task = TaskSpec(
        name="leak", version="1", language="en", domain="test", entity_types=TYPES, scheme="IOB2",
        licence="written by the tests",
        local=LocalSource(folder="leak", format="conll", splits={k: f"{k}.txt" for k in splits}),
    )
    fps = {k: content_digest(v) for k, v in splits.items()}
    combined = hashlib.sha256("".join(f"{k}={fps[k]};" for k in sorted(fps)).encode()).hexdigest()
    data = TaskData(task, {k: SplitData(k, v) for k, v in splits.items()}, "memory", combined, fps)
    data.warnings = check_labels(data)  # as the loader does: raises on a tag outside the task's types
    return data


@pytest.fixture(scope="module")
def original() -> dict[str, list[Sentence]]:
    return {
        "train": make_sentences(8, split="train"),
        "dev": make_sentences(4, offset=8, split="dev"),
        "test": make_sentences(4, offset=12, split="test"),
    }


@pytest.fixture(scope="module")
def test_tags_replaced(original: dict[str, list[Sentence]]) -> dict[str, list[Sentence]]:
    test = [replace(s, tags=tuple(SWAP[t] for t in s.tags)) for s in original["test"]]
    assert all(a != b for s, r in zip(original["test"], test, strict=True) for a, b in zip(s.tags, r.tags, strict=True))
    return {**original, "test": test}


@pytest.fixture(scope="module")
def one_train_tag_changed(original: dict[str, list[Sentence]]) -> dict[str, list[Sentence]]:
    train = list(original["train"])
    first = train[0]
    assert first.tags[-1] == "O"
    train[0] = replace(first, tags=(*first.tags[:-1], "B-MISC"))  # the final "." becomes an entity
    return {**original, "train": train}


def run(tmp: Path, spec: SystemSpec, params: dict[str, Any], splits: dict[str, list[Sentence]]) -> dict[str, Any]:
    """One cell through the runner; the saved model folder and the written results by split."""
    config = RunConfig(results_dir=tmp / "raw", models_dir=tmp / "models", device="cpu", bootstrap_resamples=10)
    cell = Cell("leak", "sys", 7, spec, params)
    written = run_cell(cell, task_data(splits), config, splits=("dev", "test"))
    results = {r["split"]: r for r in (json.loads(p.read_text(encoding="utf-8")) for p in written)}
    assert set(results) == {"dev", "test"}
    return {"model_dir": tmp / "models" / "leak" / "sys" / "seed7", "results": results}


def learned_bytes(model_dir: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    return {n: (model_dir / n).read_bytes() for n in names}


def main_f1(out: dict[str, Any], split: str) -> float:
    return float(out["results"][split]["metrics"]["main"]["value"])


# --------------------------------------------------------------------------- CRF


CRF = SystemSpec(kind="crf")
CRF_PARAMS = {"max_iterations": 20, "resource_folds": 2}


def test_crf_model_files_ignore_test_tags(
    tmp_path: Path,
    original: dict[str, list[Sentence]],
    test_tags_replaced: dict[str, list[Sentence]],
    one_train_tag_changed: dict[str, list[Sentence]],
) -> None:
    a = run(tmp_path / "a", CRF, CRF_PARAMS, original)
    b = run(tmp_path / "b", CRF, CRF_PARAMS, test_tags_replaced)
    assert learned_bytes(a["model_dir"], CRF_LEARNED) == learned_bytes(b["model_dir"], CRF_LEARNED)
    meta_a, meta_b = (json.loads((x["model_dir"] / "nerbench_model.json").read_text()) for x in (a, b))
    assert {k: v for k, v in meta_a.items() if k != "stats"} == {k: v for k, v in meta_b.items() if k != "stats"}
    assert meta_a["stats"]["dev_f1"] == meta_b["stats"]["dev_f1"]
    # the runner did see the new test gold: same predictions, scored against different tags
    assert main_f1(a, "dev") == main_f1(b, "dev")
    assert main_f1(a, "test") > 0 and main_f1(b, "test") == 0.0

    # control: a single changed training tag does change the model file
    c = run(tmp_path / "c", CRF, CRF_PARAMS, one_train_tag_changed)
    assert (c["model_dir"] / "model.crfsuite").read_bytes() != (a["model_dir"] / "model.crfsuite").read_bytes()


# --------------------------------------------------------------------------- transformer


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory, original: dict[str, list[Sentence]]) -> Path:
    """A 2-layer, 32-dim random BERT and a WordPiece tokenizer over the corpus words and letters."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    d = tmp_path_factory.mktemp("leak-bert")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = sorted({w.lower() for part in original.values() for s in part for w in s.tokens})
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = specials + words + [c for c in chars if c not in words] + ["##" + c for c in chars]
    transformers.BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, model_max_length=32).save_pretrained(d)
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=32,
    )
    transformers.BertForTokenClassification(config).save_pretrained(d)
    return d


@pytest.fixture
def keep_torch_threads() -> Iterator[None]:
    """``torch_threads=1`` below sets torch's process-wide thread count; put it back afterwards."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_transformer_weights_ignore_test_tags(
    tmp_path: Path,
    tiny_bert: Path,
    keep_torch_threads: None,
    original: dict[str, list[Sentence]],
    test_tags_replaced: dict[str, list[Sentence]],
    one_train_tag_changed: dict[str, list[Sentence]],
) -> None:
    spec = SystemSpec(kind="transformer", model=str(tiny_bert))
    # 2 epochs x 2 steps on the CPU, one thread: deterministic; 2 epochs so dev picks the epoch
    params = {"epochs": 2, "batch_size": 4, "learning_rate": 5e-3, "device": "cpu", "torch_threads": 1}
    a = run(tmp_path / "a", spec, params, original)
    b = run(tmp_path / "b", spec, params, test_tags_replaced)
    assert learned_bytes(a["model_dir"], TRANSFORMER_LEARNED) == learned_bytes(b["model_dir"], TRANSFORMER_LEARNED)
    info_a, info_b = (json.loads((x["model_dir"] / "nerbench_model.json").read_text()) for x in (a, b))
    assert (info_a["best_epoch"], info_a["best_dev_strict_f1"]) == (info_b["best_epoch"], info_b["best_dev_strict_f1"])
    assert main_f1(a, "dev") == main_f1(b, "dev")
    assert a["results"]["test"]["metrics"] != b["results"]["test"]["metrics"]  # the new test gold was scored

    # control: a single changed training tag does change the weights
    c = run(tmp_path / "c", spec, params, one_train_tag_changed)
    assert (c["model_dir"] / "model.safetensors").read_bytes() != (a["model_dir"] / "model.safetensors").read_bytes()
