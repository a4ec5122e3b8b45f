"""Hub loading without the hub: label mapping by name on rows shaped like `datasets` output."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bench.data import hub
from bench.data.hub import label_names_of, rows_to_split
from bench.data.load import load_task_data
from bench.errors import ConfigError, DataFormatError, DataNotFoundError
from bench.spec import HubSource, TaskSpec


def source(**over: object) -> HubSource:
    base = dict(dataset="someone/ner", revision="abc123", splits={"train": "train", "test": "test"})
    base.update(over)
    return HubSource(**base)  # type: ignore[arg-type]


def test_labels_mapped_by_name_not_position() -> None:
    # The dataset orders its labels differently from nerbench's own label list.
    features = {"ner_tags": SimpleNamespace(feature=SimpleNamespace(names=["O", "B-LOC", "B-PER", "I-PER", "I-LOC"]))}
    names = label_names_of(features, source())
    rows = [{"tokens": ["Peter", "Parker", "in", "Paris"], "ner_tags": [2, 3, 0, 1]}]
    (s,) = rows_to_split(rows, names=names, source=source(), split="train").sentences
    assert s.tags == ("B-PER", "I-PER", "O", "B-LOC")
    assert s.source == "hub:someone/ner@abc123/train:1"


def test_label_names_from_options_and_missing() -> None:
    src = source(options={"label_names": ["O", "B-X", "I-X"]})
    assert label_names_of(None, src) == ["O", "B-X", "I-X"]
    with pytest.raises(ConfigError, match="no ClassLabel names"):
        label_names_of({"ner_tags": SimpleNamespace()}, source())


def test_bad_rows_are_named() -> None:
    with pytest.raises(DataFormatError, match=r"train:2 \(row\): 2 tokens but 1 tags"):
        rows_to_split(
            [{"tokens": ["a"], "ner_tags": [0]}, {"tokens": ["a", "b"], "ner_tags": [0]}],
            names=["O"], source=source(), split="train",
        )
    with pytest.raises(DataFormatError, match="tag id 7 at token 1 has no name"):
        rows_to_split([{"tokens": ["a"], "ner_tags": [7]}], names=["O"], source=source(), split="train")


def test_hub_tags_are_read_under_the_declared_scheme() -> None:
    rows = [{"tokens": ["Peter", "Parker"], "ner_tags": [1, 1]}]
    sd = rows_to_split(rows, names=["O", "I-PER"], source=source(), split="train", scheme="IOB1")
    assert sd.sentences[0].tags == ("B-PER", "I-PER") and not sd.warnings
    assert "read as IOB1" in sd.notes[0]
    # the same rows under a declared IOB2: an error naming the row, not a silent conversion
    with pytest.raises(DataFormatError, match=r"train:1 \(row\): tag sequence invalid under the task's scheme IOB2"):
        rows_to_split(rows, names=["O", "I-PER"], source=source(), split="train")
    sd = rows_to_split(rows, names=["O", "I-PER"], source=source(), split="train", repair=True)
    assert sd.sentences[0].tags == ("B-PER", "I-PER")
    assert sd.warnings == [
        "hub:someone/ner@abc123/train: 1 tag(s) invalid under the declared scheme IOB2 repaired the conlleval way "
        "(repair = true) at row 1"
    ]


@pytest.fixture
def hub_online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend the hub answers, so the loading path itself is exercised (the tests run offline)."""
    monkeypatch.setattr(hub, "hub_offline_reason", lambda *a, **k: None)


def test_offline_hub_is_skipped_at_once_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("the hub was tried offline"))
    monkeypatch.delenv("NERBENCH_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.hub_offline_reason.cache_clear()
    task = TaskSpec(
        name="hubonly", version="1", language="en", domain="x", entity_types=("PER",), scheme="IOB2",
        licence="x", hub=source(),
    )
    with pytest.raises(DataNotFoundError, match=r"hub someone/ner \(skipped: offline mode \(HF_HUB_OFFLINE=1\)\)"):
        load_task_data(task)
    hub.hub_offline_reason.cache_clear()


def test_hub_probe_reports_an_unreachable_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from huggingface_hub import constants

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", "https://hub.invalid")

    def refuse(*_a: object, **_k: object) -> None:
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    hub.hub_offline_reason.cache_clear()
    try:
        assert hub.hub_offline_reason() == "the hub (hub.invalid) cannot be reached: Network is unreachable"
    finally:
        hub.hub_offline_reason.cache_clear()


@pytest.mark.usefixtures("hub_online")
def test_unreachable_hub_is_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_a: object, **_k: object) -> None:
        raise ConnectionError("offline")

    import datasets

    monkeypatch.setattr(datasets, "load_dataset", fail)
    monkeypatch.delenv("NERBENCH_DATA_DIR", raising=False)
    task = TaskSpec(
        name="hubonly", version="1", language="en", domain="x", entity_types=("PER",), scheme="IOB2",
        licence="x", hub=source(),
    )
    with pytest.raises(DataNotFoundError) as err:
        load_task_data(task)
    msg = str(err.value)
    assert "task 'hubonly'" in msg and "someone/ner" in msg and "ConnectionError: offline" in msg


@pytest.mark.usefixtures("hub_online")
def test_hub_token_classification_end_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeDataset(list):
        features = {"ner_tags": SimpleNamespace(feature=SimpleNamespace(names=["O", "B-PER", "I-PER"]))}

    calls = []

    def fetch(src: HubSource, split: str) -> FakeDataset:
        calls.append(split)
        return FakeDataset([{"tokens": ["Ann", "Lee", "ran"], "ner_tags": [1, 2, 0]}])

    monkeypatch.setattr(hub, "_fetch", fetch)
    task = TaskSpec(
        name="hubonly", version="1", language="en", domain="x", entity_types=("PER",), scheme="IOB2",
        licence="x", hub=source(splits={"train": "train", "dev": "validation", "test": "test"}),
    )
    data = load_task_data(task, allow_hub=True)
    assert calls == ["train", "validation", "test"]
    assert data.source == "hub:someone/ner@abc123" and len(data.fingerprint) == 64
    assert data.provenance == {"kind": "hub", "dataset": "someone/ner", "revision": "abc123", "config": None}
    assert data.sentences("test")[0].tags == ("B-PER", "I-PER", "O")


@pytest.mark.usefixtures("hub_online")
def test_hub_task_scheme_must_fit_the_hub_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "_fetch", lambda *_a: pytest.fail("fetched before the scheme was checked"))
    task = TaskSpec(
        name="hubonly", version="1", language="en", domain="x", entity_types=("PER",), scheme="spans",
        licence="x", hub=source(),
    )
    with pytest.raises(ConfigError, match="scheme 'spans' does not fit format 'hub token_classification'"):
        load_task_data(task, allow_hub=True)
