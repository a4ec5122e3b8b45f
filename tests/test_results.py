from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.results import (
    SCHEMA_VERSION,
    ResultError,
    atomic_write_text,
    dumps,
    encode_predictions,
    iter_results,
    read_predictions,
    read_result,
    write_predictions,
    write_result,
)


def minimal(**over: object) -> dict:
    r = {
        "task": {"name": "tiny", "version": "1", "fingerprint": "abc"},
        "system": {"name": "crf"},
        "seed": 1,
        "split": "test",
        "metrics": {"main": {"name": "strict_f1", "value": 0.123456789}},
        "cost": {},
        "environment": {},
        "cell_key": {"seed": 1},
    }
    r.update(over)
    return r


def test_write_read_round_trip_keeps_values_exact_and_sorts(tmp_path: Path) -> None:
    path = write_result(tmp_path, minimal(system={"name": "crf", "config": {"adam_epsilon": 1e-8, "lr": 3e-7}}))
    assert path == tmp_path / "tiny" / "crf" / "seed1-test.json"
    text = path.read_text()
    back = json.loads(text)
    assert back["metrics"]["main"]["value"] == 0.123456789
    assert back["system"]["config"] == {"adam_epsilon": 1e-8, "lr": 3e-7}
    assert text == dumps(json.loads(text))  # canonical: keys sorted, stable
    assert read_result(path)["schema_version"] == SCHEMA_VERSION
    assert [p for p, _ in iter_results(tmp_path)] == [path]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_nan_and_infinity_become_null() -> None:
    assert json.loads(dumps({"x": float("nan"), "y": float("inf"), "z": [float("-inf"), 0.1]})) == \
        {"x": None, "y": None, "z": [None, 0.1]}


def test_predictions_round_trip_are_deterministic_and_checked(tmp_path: Path) -> None:
    rows = [{"id": 0, "source": "a.txt:1", "tags": ["B-PER", "O"], "scores": [0.9, 0.75]},
            {"id": 1, "source": "a.txt:4", "tags": []}]
    ref = write_predictions(tmp_path / "seed1-test.predictions.jsonl.gz", rows)
    assert encode_predictions(rows) == (tmp_path / ref["file"]).read_bytes()  # no timestamp in the gzip header
    result = {"predictions": ref}
    assert read_predictions(tmp_path / "seed1-test.json", result) == rows
    (tmp_path / ref["file"]).write_bytes(encode_predictions(rows[:1]))
    with pytest.raises(ResultError, match="sha256 differs"):
        read_predictions(tmp_path / "seed1-test.json", result)
    with pytest.raises(ResultError, match="1 sentences, the result says 2"):
        read_predictions(tmp_path / "seed1-test.json", {"predictions": {**ref, "sha256": None}})
    with pytest.raises(ResultError, match="has no saved predictions"):
        read_predictions(tmp_path / "seed1-test.json", {})


def test_wrong_shape_and_binary_results_are_clear_errors(tmp_path: Path) -> None:
    p = tmp_path / "r.json"
    p.write_text(json.dumps({**minimal(), "schema_version": SCHEMA_VERSION, "metrics": "oops"}))
    with pytest.raises(ResultError, match=r"r.json: metrics must be a JSON object, got str"):
        read_result(p)
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ResultError, match=r"r.json: not UTF-8"):
        read_result(p)


def test_unknown_schema_version_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "r.json"
    p.write_text(json.dumps({**minimal(), "schema_version": 99}))
    with pytest.raises(ResultError, match=r"r.json: schema_version 99 is not supported"):
        read_result(p)


def test_invalid_json_and_missing_keys(tmp_path: Path) -> None:
    p = tmp_path / "r.json"
    p.write_text("{\n  oops")
    with pytest.raises(ResultError, match=r"r.json:2: not valid JSON"):
        read_result(p)
    bad = minimal()
    del bad["metrics"]
    with pytest.raises(ResultError, match="missing key"):
        write_result(tmp_path, bad)


def test_failed_write_is_loud_and_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "a.json"
    atomic_write_text(target, "old")

    def boom(*_a: object, **_k: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(ResultError, match="No space left on device"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
