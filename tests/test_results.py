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
    iter_results,
    read_result,
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


def test_write_read_round_trip_rounds_and_sorts(tmp_path: Path) -> None:
    path = write_result(tmp_path, minimal())
    assert path == tmp_path / "tiny" / "crf" / "seed1-test.json"
    text = path.read_text()
    assert json.loads(text)["metrics"]["main"]["value"] == 0.123457
    assert text == dumps(json.loads(text))  # canonical: keys sorted, stable
    assert read_result(path)["schema_version"] == SCHEMA_VERSION
    assert [p for p, _ in iter_results(tmp_path)] == [path]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_nan_becomes_null() -> None:
    assert json.loads(dumps({"x": float("nan")})) == {"x": None}


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
