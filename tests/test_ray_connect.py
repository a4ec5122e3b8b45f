"""``--executor ray`` against clusters: connecting to a cluster with token authentication (a real
``ray start --head`` in a subprocess), the driver's settings reaching the tasks, the GPU rule (a fake GPU
node), and cells no node can run failing after ``--ray-wait-deadline`` (a 2-node ``ray.cluster_utils.Cluster``)
while cells queued behind busy ones still run."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench.env import worker_env_record
from bench.executors.ray_connect import auth_advice, forwarded_env, is_auth_failure
from bench.executors.ray_resources import InfeasibleWatch, cell_resources, place_on_cluster
from bench.plan import Cell
from bench.runner import CellJob, RunConfig
from bench.spec import SystemSpec

from .conftest import REPO, TINY_TASK

ray = pytest.importorskip("ray")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without any Ray setting (an earlier ray.init in this process sets RAY_AUTH_MODE)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    return {**env, **extra}


def _stop_mine(proc: subprocess.Popen, marker: str) -> None:
    """Stop a ``ray start --block`` this module started, and every process of its session (their command
    lines name its own temp dir, ``marker``): nothing else on the machine."""
    import psutil

    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # --block: Ray stops its node's processes
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session (start_new_session)
            proc.wait(timeout=30)
    for p in psutil.process_iter(["cmdline"]):
        try:
            if marker in " ".join(p.info["cmdline"] or []):
                p.kill()
        except psutil.Error:
            pass


@pytest.fixture(scope="module")
def token_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``ray start --head`` as a user starts it on a node that has a token (``~/.ray/auth_token``, here in
    a home of its own): Ray 2.60 turns token authentication on."""
    home = tmp_path_factory.mktemp("head-home")
    (home / ".ray").mkdir()
    token = secrets.token_hex(32)
    (home / ".ray" / "auth_token").write_text(token)
    temp = tempfile.mkdtemp(prefix="nbr-", dir="/tmp")  # short: Ray's socket paths have a length limit
    port = _free_port()
    log_path = Path(temp) / "head.out"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--port", str(port),
             "--temp-dir", temp, "--num-cpus", "1", "--include-dashboard=false", "--disable-usage-stats"],
            env=_clean_env(HOME=str(home)), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"ray start --head did not start: {log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)
        yield {"address": f"127.0.0.1:{port}", "token": token,
               "home": tmp_path_factory.mktemp("driver-home")}  # a driver's home without the token
    finally:
        _stop_mine(proc, temp)
        subprocess.run(["rm", "-rf", temp], check=False)


DRIVER = """\
import json, os, sys, time
import ray
from bench.errors import ConfigError
from bench.executors.ray_connect import connect, task_runtime_env
t0 = time.monotonic()
try:
    connect(ray, sys.argv[1])
except ConfigError as exc:
    print(json.dumps({"error": str(exc), "seconds": time.monotonic() - t0}))
    sys.exit(0)
os.environ["NERBENCH_CACHE"] = "/driver/cache"  # set after connecting: only the task's runtime env carries it
probe = ray.remote(lambda: os.environ.get("NERBENCH_CACHE"))
print(json.dumps({"forwarded": ray.get(probe.options(**task_runtime_env()).remote()),
                  "plain": ray.get(probe.remote())}))
"""


def _drive(head: dict[str, Any], **env: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", DRIVER, head["address"]], capture_output=True, text=True,
                          timeout=180, cwd=REPO, env=_clean_env(HOME=str(head["home"]), **env))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_cluster_with_token_auth_refuses_a_driver_without_its_token_at_once_and_says_what_to_do(
        token_head: dict[str, Any]) -> None:
    out = _drive(token_head)
    assert "requires token authentication and this driver sent no token" in out["error"]
    assert "RAY_AUTH_MODE=token" in out["error"] and "ray get-auth-token" in out["error"]
    assert "RAY_AUTH_MODE=disabled" in out["error"]
    assert out["seconds"] < 10  # not Ray's 20 s of retries
    wrong = _drive(token_head, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * 64)
    assert "refused the token from $RAY_AUTH_TOKEN" in wrong["error"] and wrong["seconds"] < 10
    assert token_head["token"] not in wrong["error"]


def test_with_the_token_the_driver_connects_and_its_settings_reach_the_tasks(token_head: dict[str, Any]) -> None:
    """The node's raylet started its workers without the driver's settings: only the runtime env brings them."""
    out = _drive(token_head, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token_head["token"])
    assert out == {"forwarded": "/driver/cache", "plain": None}


def test_the_cli_fails_with_the_advice_and_no_traceback(token_head: dict[str, Any], tmp_path: Path,
                                                        conll_dir: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY_TASK)
    (tmp_path / "s.toml").write_text('name = "s"\ntasks = ["tiny"]\nsystems = ["crf"]\nseeds = [1]\n\n'
                                     '[system.crf]\nkind = "crf"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "run", "--suite", str(tmp_path / "s.toml"), "--task-file",
         str(tmp_path / "tiny.toml"), "--data-dir", str(conll_dir.parent), "--results-dir", str(tmp_path / "raw"),
         "--models-dir", str(tmp_path / "models"), "--log-file", str(tmp_path / "run.log"), "--executor", "ray",
         "--ray-address", token_head["address"]],
        capture_output=True, text=True, timeout=180, cwd=REPO, env=_clean_env(HOME=str(token_head["home"])))
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "requires token authentication" in proc.stderr and "Traceback" not in proc.stderr


def test_auth_failure_is_recognised_in_what_ray_init_raises() -> None:
    """What ray.init raised on this machine (Ray 2.60) after its retries: a ConnectionError whose cause's text
    holds the GCS client's AuthenticationError."""
    try:
        try:
            raise RuntimeError("Failed to connect to GCS. Last connection error: Traceback (most recent call last):\n"
                               "  ...\nray.exceptions.AuthenticationError: RPC error: InvalidAuthToken: "
                               "Authentication token is missing or incorrect.")
        except RuntimeError as inner:
            raise ConnectionError("Failed to connect to Ray cluster at 192.0.2.2:59119") from inner
    except ConnectionError as exc:
        assert is_auth_failure(exc)
    assert not is_auth_failure(ConnectionError("Could not find any running Ray instance."))
    assert "~/.ray/auth_token" in auth_advice("h:1", {"RAY_AUTH_MODE": "token"})
    assert forwarded_env({"HF_TOKEN": "x", "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "0"}) == {"HF_HUB_OFFLINE": "1"}


# --------------------------------------------------------------------------- device rule


def _job(cell: Any, device: str = "auto") -> tuple[Any, Any]:
    return CellJob(cell, ("test",), RunConfig(device=device), key={}), None


def test_the_gpu_rule(caplog: pytest.LogCaptureFixture) -> None:
    tf = SystemSpec("transformer", "minilm-l6")
    auto = Cell("t", "minilm", 1, tf, {"torch_threads": 2})
    cpu = Cell("t", "on-cpu", 1, tf, {"device": "cpu"})
    crf = Cell("t", "crf", 1, SystemSpec("crf"), {})
    declared = Cell("t", "big", 1, SimpleNamespace(kind="transformer", model="m", resources={"num_gpus": 1}), {})
    with caplog.at_level(logging.INFO, logger="bench.executors.ray_resources"):
        placed = place_on_cluster([_job(auto), _job(cpu), _job(crf), _job(declared)], cluster_gpus=2)
    cells = [job.cell for job, _ in placed]
    assert [c.params.get("device") for c in cells] == ["cuda", "cpu", None, "cuda"]
    assert [cell_resources(c) for c in cells] == [{"num_cpus": 2, "num_gpus": 1}, {"num_cpus": 1}, {"num_cpus": 1},
                                                  {"num_gpus": 1}]
    said = [r.getMessage() for r in caplog.records]
    assert any("minilm trains on device cuda (--device auto: the cluster has 2 GPU(s))" in m for m in said), said
    assert not any("crf" in m or "on-cpu" in m for m in said)

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bench.executors.ray_resources"):
        (job, _), = place_on_cluster([_job(auto)], cluster_gpus=0)
    assert job.cell.params["device"] == "cpu" and cell_resources(job.cell) == {"num_cpus": 2}
    assert "the cluster has no GPU" in caplog.text
    (job, _), = place_on_cluster([_job(Cell("t", "m", 1, tf, {}), device="cuda")], cluster_gpus=0)
    assert cell_resources(job.cell) == {"num_cpus": 1, "num_gpus": 1}  # --device cuda: asks, even where none is

    from bench.transfer import TransferCell

    transfer = TransferCell(auto, "other", (("PER", "PER"),))
    (job, _), = place_on_cluster([_job(transfer)], cluster_gpus=1)
    assert job.cell.params["device"] == "cuda" and job.cell.source.params["device"] == "cuda"
    assert auto.params == {"torch_threads": 2}  # the planned cell is left as it was


def test_a_cell_waits_for_a_node_only_while_none_can_run_it() -> None:
    nodes = [{"CPU": 2.0}]
    fake = SimpleNamespace(nodes=lambda: [{"Alive": True, "Resources": n} for n in nodes])
    now = [0.0]
    watch = InfeasibleWatch(fake, 10.0, clock=lambda: now[0])
    waiting = {"queued": {"CPU": 2}, "pinned": {"CPU": 1, "A100": 1}}
    assert watch.overdue(lambda: waiting) == []
    now[0] = 6.0
    nodes.append({"CPU": 8.0, "A100": 1.0})  # a node joins: the clock of the pinned cell stops
    assert watch.overdue(lambda: waiting) == []
    nodes.pop()
    now[0] = 12.0
    assert watch.overdue(lambda: waiting) == []  # it left again: the clock starts again
    now[0] = 22.5
    (key, why), = watch.overdue(lambda: waiting)
    assert key == "pinned" and "'A100': 0" in why and "--ray-wait-deadline" in why
    assert InfeasibleWatch(fake, 0, clock=lambda: 1e9).overdue(lambda: waiting) == []  # 0: forever


# --------------------------------------------------------------------------- a 2-node cluster


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[Any]:
    """A head with 1 CPU and a node with 1 CPU and 1 (fake) GPU, in a Ray temp dir of its own (Ray's test
    cluster writes its address where ``ray.init()`` of other processes on this machine would find it)."""
    from ray.cluster_utils import Cluster

    temp = tempfile.mkdtemp(prefix="nbc-", dir="/tmp")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_TMPDIR", temp)
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        try:
            gpu_node = cluster.add_node(num_cpus=1, num_gpus=1)
            ray.init(address=cluster.address, log_to_driver=False, include_dashboard=False,
                     logging_level=logging.WARNING)
            yield SimpleNamespace(cluster=cluster, gpu_node_id=gpu_node.node_id)
        finally:
            ray.shutdown()
            cluster.shutdown()
            subprocess.run(["rm", "-rf", temp], check=False)


def test_an_auto_transformer_reserves_the_gpu_and_lands_on_its_node(two_nodes: Any) -> None:
    from bench.executors.ray_resources import alive_nodes, cluster_gpus

    (job, _), = place_on_cluster([_job(Cell("t", "minilm", 1, SystemSpec("transformer", "minilm-l6"), {}))],
                                 cluster_gpus=cluster_gpus(alive_nodes(ray)))
    options = cell_resources(job.cell)
    assert job.cell.params["device"] == "cuda" and options == {"num_cpus": 1, "num_gpus": 1}

    @ray.remote
    def where() -> dict[str, Any]:
        return {"node": ray.get_runtime_context().get_node_id(), "cuda": os.environ.get("CUDA_VISIBLE_DEVICES")}

    assert ray.get(where.options(**options).remote(), timeout=120) == {"node": two_nodes.gpu_node_id, "cuda": "0"}


DEADLINE_SUITE = """\
name = "deadline"
tasks = ["tiny"]
systems = ["crf", "crf-strong", "crf-pinned"]
seeds = [1]

[system.crf]
kind = "crf"
params = { max_iterations = 20 }

[system.crf-strong]
kind = "crf"
params = { max_iterations = 20, c1 = 0.0 }

[system.crf-pinned]
kind = "crf"
params = { max_iterations = 20 }
resources = { missing_thing = 1 }
"""


def test_a_cell_no_node_can_run_fails_at_the_deadline_while_queued_cells_run_with_the_drivers_settings(
        two_nodes: Any, tmp_path: Path, conll_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both CPU slots are busy for longer than the deadline: the CRF cells queue behind them past it and still
    run; the cell pinned to a resource no node has fails after the deadline. The driver's settings, made after
    the cluster started, are in the results as the cells' processes had them."""
    from bench.data.load import load_task_data
    from bench.executors.ray_cluster import RayExecutor
    from bench.plan import plan
    from bench.results import iter_results
    from bench.runner import run_cells
    from bench.spec import load_suite_file, load_task_file

    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    monkeypatch.setenv("NERBENCH_CACHE", str(tmp_path / "driver-cache"))
    (tmp_path / "tiny.toml").write_text(TINY_TASK)
    (tmp_path / "s.toml").write_text(DEADLINE_SUITE)
    suite = load_suite_file(tmp_path / "s.toml")
    data = load_task_data(load_task_file(tmp_path / "tiny.toml"), data_dir=conll_dir.parent)
    config = RunConfig(results_dir=tmp_path / "raw", models_dir=tmp_path / "models", bootstrap_resamples=20)

    @ray.remote(num_cpus=1)
    def hold(seconds: float) -> None:
        time.sleep(seconds)

    busy = [hold.remote(6.0) for _ in range(2)]
    events: list[tuple[str, str, float, Any]] = []
    t0 = time.monotonic()

    def progress(event: str, info: dict[str, Any]) -> None:
        if event in ("cell_start", "cell_done"):
            events.append((event, info["cell"], time.monotonic() - t0, info.get("failed")))

    deadline = 1.0
    outcome = run_cells(plan(suite), suite, config, load=lambda _: data, progress=progress,
                        executor=RayExecutor(log_dir=tmp_path / "logs", ray_wait_deadline=deadline))
    ray.get(busy)
    (label, why), = outcome.failed
    assert label == "tiny × crf-pinned × seed 1", outcome.failed
    assert "asks Ray for {'missing_thing': 1}" in why and "'missing_thing': 0" in why and "--ray-wait-deadline" in why
    done_at = {cell: t for event, cell, t, _ in events if event == "cell_done"}
    assert done_at[label] < deadline + 8, events
    started = {cell: t for event, cell, t, _ in events if event == "cell_start"}
    assert sorted(outcome.done) == ["tiny × crf × seed 1", "tiny × crf-strong × seed 1"]
    assert all(started[c] > deadline for c in outcome.done), events  # queued past the deadline, not failed
    for _, r in iter_results(tmp_path / "raw"):
        settings = r["environment"]["settings"]
        assert settings["TOKENIZERS_PARALLELISM"] == "false"
        assert settings["NERBENCH_CACHE"] == worker_env_record({"NERBENCH_CACHE": str(tmp_path / "driver-cache")})[
            "NERBENCH_CACHE"]  # a path: its digest
        if not os.environ.get("OMP_NUM_THREADS"):
            assert settings["OMP_NUM_THREADS"] == "1"  # Ray's, from the task's one CPU slot


def test_the_deadline_flag_is_for_ray_and_not_negative() -> None:
    from bench.errors import ConfigError
    from bench.executors import make_executor

    with pytest.raises(ConfigError, match="--ray-wait-deadline needs --executor ray"):
        make_executor("local", ray_wait_deadline=5.0)
    with pytest.raises(ConfigError, match="--ray-wait-deadline must be 0"):
        make_executor("ray", ray_wait_deadline=-1.0)
    assert make_executor("ray", ray_wait_deadline=0.0).wait_deadline == 0
    assert make_executor("ray").wait_deadline == 600
