"""The learning-curve section of the report: points per size, the paired test against the CRF at each size
with Holm over the sizes, the crossover sentence, and the section in Markdown, JSON, plots and HTML; all
from results the test builds with the real scorer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.data.subsets import SUBSET_VERSION
from bench.data.types import Sentence
from bench.report.curves import comparisons, crossover_index, curve_lines
from bench.scoring import score_split
from bench.spec import LocalSource, TaskSpec
from bench.versions import SCORER_VERSION, system_version

SPEC = TaskSpec(name="toy", version="1", language="en", domain="tests", entity_types=("PER", "LOC"), scheme="IOB2",
                licence="x", description="A toy task.", hub=None,
                local=LocalSource(folder="toy", format="conll", splits={"train": "a", "test": "b"}))
GOLD = ("B-PER", "O", "B-LOC")
TEST = [Sentence(("a", "b", "c"), GOLD, doc_id=f"d{i // 2}") for i in range(60)]  # 30 documents
SPLIT_SENTENCES = 2000


def result(system: str, kind: str, seed: int, size: int | None, right: int) -> dict[str, Any]:
    """A test-split result whose system gets the first ``right`` sentences right and finds nothing in the rest."""
    pred = [list(GOLD) if i < right else ["O"] * 3 for i in range(len(TEST))]
    metrics, unit_counts = score_split(SPEC, TEST, pred, n_resamples=50, seed=seed)
    key = {"task": "toy", "task_version": "1", "data_fingerprint": "f00d", "system": system,
           "system_config_hash": f"cfg-{system}", "seed": seed, "scorer_version": SCORER_VERSION,
           "system_version": system_version(kind)}
    r: dict[str, Any] = {
        "schema_version": 2, "task": {"name": "toy", "version": "1", "fingerprint": "f00d"},
        "system": {"name": system, "kind": kind, "model": None, "config_hash": f"cfg-{system}",
                   "deterministic": kind == "crf"},
        "seed": seed, "split": "test", "metrics": metrics, "unit_counts": unit_counts,
        "cost": {"train_wall_seconds": (size or SPLIT_SENTENCES) / (100 if kind == "crf" else 10)},
        "prediction": {"sentences_per_second": 100.0}, "environment": {"git": {"sha": "abc", "dirty": False}},
        "data": {"train_sentences": size + seed if size else SPLIT_SENTENCES},
        "cell_key": key,
    }
    if size is not None:
        r["cell_key"] = {**key, "train_size": size, "subset_version": SUBSET_VERSION}
        r["train_subset"] = {"size": size, "seed": seed, "unit": "document", "version": SUBSET_VERSION,
                             "sentences": size + seed, "tokens": 3 * (size + seed), "entities": 2 * (size + seed),
                             "documents": size // 10, "sha256": f"{seed}-{size}"}
    return r


SIZES = (100, 300, 1000, None)


def curve(crf: tuple[int, ...], other: tuple[int, ...]) -> list[dict[str, Any]]:
    """The CRF (deterministic: one seed on the whole split, three seeds on subsets) and a transformer with three
    seeds, at :data:`SIZES`; ``crf``/``other`` are the sentences each gets right at each size (seeds ±1)."""
    out = []
    for size, c, o in zip(SIZES, crf, other, strict=True):
        for seed in (1, 2, 3) if size is not None else (1,):
            out.append(result("crf", "crf", seed, size, c))
        for seed in (1, 2, 3):
            out.append(result("minilm", "transformer", seed, size, o + seed - 2))
    out.append(result("lookup", "lookup", 1, 100, 10))
    return out


def verdict(results: list[dict[str, Any]]) -> Any:
    (lines,) = curve_lines(results).values()
    (comp,) = comparisons(lines)
    return comp


def test_a_crossover_is_the_first_size_of_a_significant_lead_that_holds() -> None:
    comp = verdict(curve(crf=(30, 35, 40, 42), other=(12, 36, 55, 58)))
    assert [r["size"] for r in comp.rows] == [100, 300, 1000, None]
    signs = [(r["delta"] > 0, r["significant"]) for r in comp.rows]
    assert signs == [(False, True), (True, False), (True, True), (True, True)]
    assert comp.verdict == "crossover" and comp.crossover == 1000
    assert comp.text.startswith("minilm beats crf from 1,000 training sentences on (Δ +")
    assert "below that crf is ahead (significantly at 100)" in comp.text
    # Holm over the four sizes of this pair
    from bench.metrics import holm

    assert [r["p_holm"] for r in comp.rows] == holm([r["p"] for r in comp.rows])


def test_no_crossover_when_the_lead_does_not_hold_or_is_not_significant() -> None:
    comp = verdict(curve(crf=(30, 35, 40, 42), other=(31, 36, 41, 43)))
    assert comp.verdict == "no_difference" and comp.crossover is None
    assert comp.text.startswith("minilm does not beat crf significantly from any size on, up to all (2,000)")
    # a significant lead at one size that does not hold at the next is no crossover either
    assert crossover_index([{"delta": 0.1, "significant": True}, {"delta": 0.1, "significant": False}]) is None


def test_the_crf_staying_ahead_is_said_so() -> None:
    comp = verdict(curve(crf=(40, 45, 50, 55), other=(20, 25, 30, 35)))
    assert comp.verdict == "crf_ahead" and comp.crossover is None
    assert comp.text.startswith("crf stays ahead of minilm up to all (2,000) training sentences")
    assert "significantly at 100, 300, 1,000, all (2,000)" in comp.text


def test_points_are_per_size_with_the_whole_split_last_and_the_lookup_not_compared() -> None:
    results = curve(crf=(30, 35, 40, 42), other=(12, 36, 55, 58))
    (lines,) = curve_lines(results).values()
    assert [ln.system for ln in lines] == ["crf", "minilm", "lookup"]
    crf = lines[0]
    assert [(p.size, p.group.n) for p in crf.points] == [(100, 3), (300, 3), (1000, 3), (None, 1)]
    assert crf.points[0].sentences == 102 and crf.points[-1].x == SPLIT_SENTENCES
    assert len(comparisons(lines)) == 1  # minilm vs crf; the lookup is a floor, not compared


def test_the_section_in_markdown_json_plots_and_html(tmp_path: Path) -> None:
    results = curve(crf=(30, 35, 40, 42), other=(12, 36, 55, 58))
    md = report.render(results, plots="plots")
    assert "## Learning curves" in md and "### toy: learning curve" in md
    assert "- minilm beats crf from 1,000 training sentences on" in md
    assert "![toy: F1 and training time against training sentences](plots/toy-learning-curve.png)" in md
    assert "| all (2,000) | minilm |" in md
    # the whole-split leaderboard holds only whole-split results: one crf seed, three minilm seeds
    rows = report.json_rows(results)
    assert {(r["system"], r["n_seeds"]) for r in rows} == {("crf", 1), ("minilm", 3)}
    curve_rows = report.curve_json_rows(results)
    cross = [r for r in curve_rows if r["row"] == "crossover"]
    assert len(cross) == 1 and cross[0]["crossover_size"] == 1000 and cross[0]["verdict"] == "crossover"
    points = [r for r in curve_rows if r["row"] == "curve"]
    assert len(points) == 4 + 4 + 1
    at_1000 = next(r for r in points if r["system"] == "minilm" and r["train_size"] == 1000)
    assert at_1000["vs_crf"]["significant"] and at_1000["train_sentences_used"] == 1002
    written = report.plot(results, tmp_path / "plots")
    assert tmp_path / "plots" / "toy-learning-curve.svg" in written
    page = report.render_html(results)
    assert 'id="learning-curves"' in page and "minilm beats crf from 1,000 training sentences on" in page
    assert page.count("<svg") >= 1


def test_curve_results_alone_make_a_report() -> None:
    results = [r for r in curve(crf=(30, 35, 40, 42), other=(12, 36, 55, 58)) if "train_subset" in r]
    md = report.render(results)
    assert "## Learning curves" in md and "No results yet" not in md


@pytest.mark.parametrize("size", [None, 100])
def test_a_copied_result_of_a_curve_point_is_refused(size: int | None, tmp_path: Path) -> None:
    from bench.errors import ConfigError

    r = result("crf", "crf", 1, size, 30)
    with pytest.raises(ConfigError, match="results of the same cell"):
        report.check_one_file_per_cell([(tmp_path / "a.json", r), (tmp_path / "b.json", r)])
    other = result("crf", "crf", 1, 300, 30)
    report.check_one_file_per_cell([(tmp_path / "a.json", r), (tmp_path / "b.json", other)])
