from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import main
from bench.compare import compare, has_regression, render
from bench.results import write_result
from bench.versions import SCORER_VERSION, system_version


def result(system: str = "crf", *, kind: str = "crf", f1: float = 0.80, seed: int = 1, fp: str = "fp1",
           cfg: str = "c1", split: str = "test", scorer: int | None = SCORER_VERSION) -> dict:
    return {
        "task": {"name": "tiny", "version": "1", "fingerprint": fp},
        "system": {"name": system, "kind": kind, "deterministic": kind == "crf"},
        "seed": seed,
        "split": split,
        "metrics": {"main": {"name": "conlleval_f1", "value": f1}, "strict": {"micro": {"f1": f1 + 0.01}}},
        "cost": {},
        "environment": {},
        "cell_key": {"task": "tiny", "task_version": "1", "data_fingerprint": fp, "system": system,
                     "system_config_hash": cfg, "seed": seed, "scorer_version": scorer,
                     "system_version": system_version(kind)},
    }


def test_results_without_the_deterministic_mark_use_the_callers_kinds() -> None:
    old = result(f1=0.80)
    del old["system"]["deterministic"]
    assert compare([old], [result(f1=0.797)], deterministic_kinds={"crf"})[0].tolerance == pytest.approx(0.002)
    assert compare([old], [result(f1=0.797)])[0].tolerance == pytest.approx(0.005)


def test_crf_tolerance_is_tight() -> None:
    assert compare([result(f1=0.80)], [result(f1=0.7985)])[0].status == "ok"
    worse = compare([result(f1=0.80)], [result(f1=0.797)])
    assert worse[0].status == "regression" and has_regression(worse)
    assert compare([result(f1=0.80)], [result(f1=0.81)])[0].status == "improvement"


def test_transformer_tolerance_uses_seed_spread() -> None:
    ref = [result("m", kind="transformer", f1=f, seed=s) for s, f in ((1, 0.80), (2, 0.82), (3, 0.84))]
    # std = 0.02 -> tolerance 0.04 around the mean 0.82
    assert compare(ref, [result("m", kind="transformer", f1=0.79)])[0].status == "ok"
    assert compare(ref, [result("m", kind="transformer", f1=0.77)])[0].status == "regression"
    single = [result("m", kind="transformer", f1=0.80)]
    assert compare(single, [result("m", kind="transformer", f1=0.796)])[0].tolerance == pytest.approx(0.005)


def test_main_score_and_strict_are_both_compared_under_their_names() -> None:
    findings = compare([result(f1=0.80)], [result(f1=0.80)])
    assert [(f.metric, f.status, f.reference) for f in findings] == [
        ("conlleval_f1", "ok", 0.80), ("strict_f1", "ok", pytest.approx(0.81))]


def test_other_scorer_version_is_incomparable() -> None:
    # the same runs scored by another metric definition: no verdict, even though the numbers differ a lot
    (f,) = compare([result(scorer=1, f1=0.95)], [result(f1=0.70)])
    assert f.status == "incomparable" and f"scorer version 1 -> {SCORER_VERSION}" in f.detail
    assert not has_regression([f])
    (g,) = compare([result(scorer=None)], [result()])  # a result from before scorer versions existed
    assert g.status == "incomparable" and "scorer version None" in g.detail


def test_changed_data_or_config_is_incomparable_not_pass_or_fail() -> None:
    (f,) = compare([result(fp="fp1")], [result(fp="fp2", f1=0.1)])
    assert f.status == "incomparable" and "data fingerprint" in f.detail
    (g,) = compare([result(cfg="a")], [result(cfg="b")])
    assert g.status == "incomparable" and "system config" in g.detail
    (h,) = compare([result()], [])
    assert h.status == "missing"
    assert not has_regression([f, g, h])
    assert "incomparable" in render([f])


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, cur = tmp_path / "ref", tmp_path / "cur"
    write_result(ref, result(f1=0.80))
    write_result(cur, result(f1=0.80))
    assert main(["compare", "--reference", str(ref), "--current", str(cur), "--require-match"]) == 0
    write_result(cur, result(f1=0.70))  # deliberately worsened
    assert main(["compare", "--reference", str(ref), "--current", str(cur)]) == 1
    assert "regression" in capsys.readouterr().out
    other = tmp_path / "other"
    write_result(other, result(fp="zzz"))
    assert main(["compare", "--reference", str(ref), "--current", str(other)]) == 0
    assert main(["compare", "--reference", str(ref), "--current", str(other), "--require-match"]) == 3
    assert main(["compare", "--reference", str(tmp_path / "nope"), "--current", str(cur)]) == 2
