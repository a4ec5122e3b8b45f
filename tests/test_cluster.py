"""A multi-node Ray cluster on one machine (``ray.cluster_utils.Cluster``: three raylets, each a node with its
own CPU slot and a custom resource) and ``nerbench run --executor ray --ray-address <it>`` driven from here, as a
user's driver connects to a cluster started with ``ray start``.

Checked across the nodes: cells land on the nodes their resources name, results are identical to the local
executor's, the driver's settings reach every node's cells (set here after the nodes started, so only Ray's
runtime environment can have carried them), models come back to the driver's models dir so ``nerbench predict``
finds them, a cell pinned to a resource no node has fails by ``--ray-wait-deadline``, and a killed worker's
re-run is recorded as a second attempt on the node it was pinned to.
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import main
from bench.results import iter_results

from .conftest import CONLL_TINY, TINY_TASK
from .test_executors import SLOW_TASK, busy_worker, synthetic_conll, wait_for
from .test_ray_worker import _NoMarker

pytestmark = pytest.mark.slow

PINNED_SUITE = """\
name = "nodes"
tasks = ["TASK"]
systems = ["crf-a", "crf-b", "lookup-c", "crf-nowhere"]
seeds = [1]

[system.crf-a]
kind = "crf"
params = { max_iterations = ITER }
resources = { num_cpus = 1, node_a = 1 }

[system.crf-b]
kind = "crf"
params = { max_iterations = ITER, c1 = 0.0 }
resources = { num_cpus = 1, node_b = 1 }

[system.lookup-c]
kind = "lookup"
params = {}
resources = { num_cpus = 1, node_c = 1 }

[system.crf-nowhere]
kind = "crf"
params = { max_iterations = ITER }
resources = { num_cpus = 1, no_such_node = 1 }
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str], Path]]:
    """Three Ray nodes on this machine (``node_a`` is the head); yields the cluster, ``{resource: node id}`` and
    the staging root its workers use (this module's own, so that no other nerbench on the machine matters)."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    staging = tmp_path_factory.mktemp("staging")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NERBENCH_STAGING_DIR", str(staging))  # the raylets' environment, so every node's workers'
        mp.delenv("NERBENCH_CACHE", raising=False)
        cl = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"node_a": 1}})
        try:
            nodes = {"node_a": cl.head_node.node_id}
            for name in ("node_b", "node_c"):
                nodes[name] = cl.add_node(num_cpus=1, resources={name: 1}).node_id
            cl.wait_for_nodes()
            yield cl, nodes, staging
        finally:
            cl.shutdown()


def _setup(tmp_path: Path, *, slow: bool = False) -> dict[str, Path]:
    data = tmp_path / "data"
    task = "slow" if slow else "tiny"
    (data / task).mkdir(parents=True)
    if slow:  # a CRF that trains for about 5 s: a kill 3 s after its process started lands mid-training
        (data / task / "train.txt").write_text(synthetic_conll(1500, seed=1))
        for split in ("dev", "test"):
            (data / task / f"{split}.txt").write_text(synthetic_conll(200, seed=2))
    else:
        for name in ("train.txt", "dev.txt", "test.txt"):
            (data / task / name).write_text(CONLL_TINY, encoding="utf-8")
    (tmp_path / f"{task}.toml").write_text(SLOW_TASK if slow else TINY_TASK)
    (tmp_path / "nodes.toml").write_text(PINNED_SUITE.replace("TASK", task).replace("ITER", "150" if slow else "20"))
    return {"task": tmp_path / f"{task}.toml", "suite": tmp_path / "nodes.toml", "data": data, "out": tmp_path / "out"}


def _cli(setup: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ["run", "--suite", str(setup["suite"]), "--task-file", str(setup["task"]), "--data-dir", str(setup["data"]),
            "--results-dir", str(out / "raw"), "--models-dir", str(out / "models"), "--log-file", str(out / "run.log"),
            "--bootstrap", "20", *extra]


def _by_cell(raw: Path) -> dict[tuple[str, str], Any]:
    return {(r["system"]["name"], r["split"]): (r["metrics"], r["predictions"]["sha256"]) for _, r in iter_results(raw)}


def test_a_suite_runs_across_the_nodes_as_it_runs_locally(cluster: tuple[Any, dict[str, str], Path], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    cl, nodes, staging = cluster
    setup = _setup(tmp_path)
    systems = ["--system", "crf-a", "--system", "crf-b", "--system", "lookup-c"]
    assert main(_cli(setup, tmp_path / "local", *systems)) == 0
    # set after the nodes started: only the task's runtime environment can bring it to their workers
    cache = tmp_path / "driver-cache"
    monkeypatch.setenv("NERBENCH_CACHE", str(cache))
    # this machine's models dir is every node's too: pretend the nodes cannot see it, so the models travel back
    monkeypatch.setattr("bench.executors.ray_models.SharedMarker", _NoMarker)
    out = tmp_path / "ray"
    assert main(_cli(setup, out, *systems, "--executor", "ray", "--ray-address", cl.address)) == 0
    err = capsys.readouterr().err
    results = [r for _, r in iter_results(out / "raw")]
    assert len(results) == 6  # three cells, dev and test
    # each cell ran once, on the node its resources name, and says so
    landed = {r["system"]["name"]: [(a["attempt"], a["outcome"], a["node_id"]) for a in r["run"]["attempts"]]
              for r in results}
    assert landed == {"crf-a": [(1, "finished", nodes["node_a"])], "crf-b": [(1, "finished", nodes["node_b"])],
                      "lookup-c": [(1, "finished", nodes["node_c"])]}
    # identical to the local executor's metrics and saved predictions
    assert _by_cell(out / "raw") == _by_cell(tmp_path / "local" / "raw")
    # the driver's setting reached every node's cell process (recorded by the process itself)
    digest = hashlib.sha256(str(cache).encode()).hexdigest()[:12]  # a path is recorded as its digest
    assert {r["environment"]["settings"]["NERBENCH_CACHE"] for r in results} == {f"set, sha256 {digest}"}
    assert {r["environment"]["settings"]["NERBENCH_CACHE"] for _, r in iter_results(tmp_path / "local" / "raw")} == {None}
    # every trained model came back, checked, and `nerbench predict` on the driver finds it
    assert "trained models: 3 brought back from the Ray workers into" in err
    for r in results:
        loc = r["system"]["model_location"]
        assert loc["brought_back"] is True and loc["path"] == f"tiny/{r['system']['name']}/seed1"
    test_file = setup["data"] / "tiny" / "test.txt"
    for system in ("crf-b", "lookup-c"):
        assert main(["predict", "--model", str(out / "models" / "tiny" / system / "seed1"), "--input", str(test_file),
                     "--format", "conll", "--output-columns", "word,pred"]) == 0
        assert capsys.readouterr().out.splitlines()[0].split("\t")[0] == "EU"
    assert not list(staging.glob("cell-*"))  # no staging folder left on any node


def test_a_cell_pinned_to_a_resource_no_node_has_fails_by_its_deadline(cluster: tuple[Any, dict[str, str], Path],
                                                                      tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    cl, _, _ = cluster
    setup = _setup(tmp_path)
    out = tmp_path / "ray"
    t0 = time.perf_counter()
    rc = main(_cli(setup, out, "--system", "crf-nowhere", "--system", "crf-b", "--executor", "ray",
                   "--ray-address", cl.address, "--ray-wait-deadline", "3"))
    took = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert rc == 1 and took < 120, err
    assert "failed tiny × crf-nowhere × seed 1" in err and "no_such_node" in err and "--ray-wait-deadline" in err
    assert "done 1, already finished 0, failed 1" in err  # the feasible cell still ran
    assert {r["system"]["name"] for _, r in iter_results(out / "raw")} == {"crf-b"}


def test_a_killed_worker_on_another_node_is_recorded_as_a_second_attempt(cluster: tuple[Any, dict[str, str], Path],
                                                                         tmp_path: Path) -> None:
    """SIGKILL of the Ray worker that runs a cell pinned to ``node_b`` (not the head): Ray runs the task again on
    that node; the result lists both attempts and the cell's log has a header for each."""
    import psutil

    cl, nodes, _ = cluster
    setup = _setup(tmp_path, slow=True)
    out = tmp_path / "ray"
    logging.getLogger("bench").setLevel(logging.INFO)
    rc: list[int] = []
    runner = threading.Thread(target=lambda: rc.append(main(_cli(
        setup, out, "--system", "crf-b", "--executor", "ray", "--ray-address", cl.address))))
    runner.start()
    # this cluster's raylets only: a worker of another Ray on the machine is never touched
    raylets = [psutil.Process(node.all_processes["raylet"][0].process.pid) for node in cl.list_all_nodes()]

    worker, _ = wait_for(lambda: busy_worker(raylets), timeout=180, what="a Ray worker running the cell in training")
    killed = worker.pid
    worker.send_signal(signal.SIGKILL)
    runner.join(timeout=600)
    assert rc == [0]
    for _, r in iter_results(out / "raw"):
        first, second = r["run"]["attempts"]
        assert (first["attempt"], first["outcome"], first["worker_pid"]) == (1, "worker_lost", killed)
        assert (second["attempt"], second["outcome"], second["node_id"]) == (2, "finished", nodes["node_b"])
    cell_log = (out / "run" / "slow.crf-b.seed1.log").read_text()
    assert f"(worker pid {killed}): worker lost" in cell_log and "attempt 2, Ray task on" in cell_log
    assert json.loads(json.dumps(r["run"]["attempts"]))  # plain JSON
