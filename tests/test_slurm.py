"""The Slurm recipes of docs/slurm/, run with bash on this machine: stub ``srun`` and ``scontrol`` on PATH and
the environment ``sbatch`` gives (a fake two-node allocation on localhost), ``nerbench`` running two real
lookup cells of the default suite.

* ``array.sbatch``: two array tasks started at once, one shard each: their own results dirs and run-log
  folders, the same partition (plan fingerprint) in both, every cell run exactly once.
* ``ray-in-allocation.sbatch``: a real Ray head and a real Ray worker node (their own ports and temp dirs,
  token authentication), the cells run on the worker node (the head has no CPU), and every Ray process
  the script started is gone afterwards.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from .conftest import REPO, real_data_dir

SLURM = REPO / "docs" / "slurm"
TASKS = ("wnut17", "ehealthkd2020")
RUN_ARGS = "--system lookup --task wnut17 --task ehealthkd2020 --bootstrap 20"

SRUN = r"""#!/bin/bash
# fake srun (tests/test_slurm.py): runs the step's command here, as node -w NAME, and logs the call
node=
while [ $# -gt 0 ]; do
    case "$1" in
        -w) node=$2; shift 2 ;;
        -*) shift ;;  # every other option is given as --name=value
        *) break ;;
    esac
done
printf '%s\t%s\n' "$node" "$*" >> "$FAKE_SLURM_LOG"
# a real `ray stop` ends every Ray process of this user on the machine, other tests' and runs' too
if [ "$1" = ray ] && [ "${2:-}" = stop ]; then exit 0; fi
export SLURMD_NODENAME=$node RAY_TMPDIR=$FAKE_RAY_TMP/$node
mkdir -p "$RAY_TMPDIR"
exec "$@"
"""
NERBENCH = r"""#!/bin/bash
# the driver's nerbench (tests/test_slurm.py): notes what it sees of the job's Ray token, then runs nerbench
printf '%s %s %s\n' "$RAY_AUTH_MODE" "$RAY_AUTH_TOKEN_PATH" "$(stat -c %a "$RAY_AUTH_TOKEN_PATH")" > "$FAKE_SLURM_LOG.token"
exec python -m bench "$@"
"""
SCONTROL = r"""#!/bin/bash
# fake scontrol (tests/test_slurm.py): only `scontrol show hostnames a,b,c`
[ "$1 $2" = "show hostnames" ] && tr ',' '\n' <<< "$3"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def allocation(tmp_path: Path) -> dict:
    """A submit dir, the stubs on PATH, and the environment of a two-node job; ``marker`` tags every process
    started under it (found in /proc/<pid>/environ afterwards)."""
    data = real_data_dir()
    if data is None:
        pytest.skip("real data not available (set NERBENCH_DATA_DIR)")
    if not all((data / t).is_dir() for t in ("wnut17", "ehealthkd2020")):
        pytest.skip("the wnut17 and ehealthkd2020 data are needed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("srun", SRUN), ("scontrol", SCONTROL), ("nerbench-seeing-ray", NERBENCH)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    submit = tmp_path / "submit"
    submit.mkdir()
    ray_tmp = Path(f"/tmp/nbslurm-{uuid.uuid4().hex[:8]}")  # short: Ray's socket paths must fit 107 bytes
    ray_tmp.mkdir()
    marker = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "RAY_", "NERBENCH_"))}
    env.update({
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}",
        "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "NERBENCH_DATA_DIR": str(data),
        "NERBENCH": f"{sys.executable} -m bench", "NERBENCH_SUITE": "default", "NERBENCH_RUN_ARGS": RUN_ARGS,
        "NERBENCH_MODELS_DIR": str(tmp_path / "models"), "SLURM_SUBMIT_DIR": str(submit),
        "FAKE_SLURM_LOG": str(tmp_path / "srun.log"), "FAKE_RAY_TMP": str(ray_tmp),
        "RAY_TMPDIR": str(ray_tmp / "driver"), "NERBENCH_STAGING_DIR": str(tmp_path / "staging"), "NERBENCH_TEST_MARKER": marker,
    })
    yield {"env": env, "submit": submit, "log": tmp_path / "srun.log", "marker": marker}
    leftover = _marked(marker)
    for pid in leftover:  # only processes carrying this test's marker: started under it
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    subprocess.run(["rm", "-rf", str(ray_tmp)], check=False)


def _marked(marker: str) -> list[int]:
    """Live processes whose environment carries ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if f"NERBENCH_TEST_MARKER={marker}".encode() in (entry / "environ").read_bytes():
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def _bash(script: str, env: dict, *, timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(["bash", str(SLURM / script)], cwd=env["SLURM_SUBMIT_DIR"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        pytest.fail(f"{script} ran past {timeout} s:\n{out[-4000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")


def _results(raw: Path) -> set[tuple[str, str]]:
    return {(p.parts[-3], p.parts[-2]) for p in raw.rglob("*.json")}


def test_array_tasks_run_one_shard_each(allocation: dict) -> None:
    env, submit = allocation["env"], allocation["submit"]
    common = {"SLURM_ARRAY_JOB_ID": "4242", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "0",
              "SLURM_ARRAY_TASK_MAX": "1", "SLURM_JOB_NODELIST": "nbnode1"}
    procs = [subprocess.Popen(["bash", str(SLURM / "array.sbatch")], cwd=submit, text=True,
                              env={**env, **common, "SLURM_ARRAY_TASK_ID": str(i), "SLURM_JOB_ID": str(4243 + i)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for i in (0, 1)]  # at once: the same second, the same suite
    outs = [p.communicate(timeout=240)[0] for p in procs]
    for p, out in zip(procs, outs, strict=True):
        assert p.returncode == 0, out[-4000:]
    shards = {k: _results(submit / "results" / "shards" / f"default-{k}-of-2" / "raw") for k in (1, 2)}
    assert shards[1] and shards[2] and not shards[1] & shards[2]
    assert shards[1] | shards[2] == {(t, "lookup") for t in TASKS}  # every cell exactly once
    runs = sorted(p.name for p in (submit / "runs").iterdir())
    stamp = r"default-\d{8}T\d{6}"
    assert len(runs) == 4 and [re.fullmatch(pattern, name) is not None for pattern, name in zip(
        [rf"{stamp}-shard1-of-2-slurm4242_0", rf"{stamp}-shard1-of-2-slurm4242_0\.log",
         rf"{stamp}-shard2-of-2-slurm4242_1", rf"{stamp}-shard2-of-2-slurm4242_1\.log"], runs, strict=True)] == [True] * 4
    plans = {re.search(r"shard \d/2 of plan (\w+)", (submit / "runs" / name).read_text()).group(1)
             for name in runs if name.endswith(".log")}
    assert len(plans) == 1  # both tasks computed the same partition


def test_the_array_script_says_where_the_data_must_be(allocation: dict) -> None:
    env = {k: v for k, v in allocation["env"].items() if k != "NERBENCH_DATA_DIR"}
    env.update({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_ARRAY_TASK_MIN": "0",
                "SLURM_ARRAY_TASK_MAX": "1"})
    done = _bash("array.sbatch", env, timeout=30)
    assert done.returncode != 0 and "storage every node sees" in done.stdout
    env["NERBENCH_DATA_DIR"] = "/nonexistent/nerbench-data"
    done = _bash("array.sbatch", env, timeout=30)
    assert done.returncode == 2 and "is not a folder on node" in done.stdout


def test_one_task_of_an_earlier_array_reruns_its_own_shard(allocation: dict) -> None:
    """``NERBENCH_SHARDS=8 sbatch --array=5``: shard 6/8 (an array of one task alone would be shard 1/1, the whole
    suite); a task id outside the N shards is refused."""
    env = dict(allocation["env"])
    env.update({"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "1", "SLURM_ARRAY_TASK_MIN": "5",
                "SLURM_ARRAY_TASK_MAX": "5", "NERBENCH_SHARDS": "8", "NERBENCH": "echo nerbench"})
    done = _bash("array.sbatch", env, timeout=30)
    assert done.returncode == 0, done.stdout
    assert "--shard 6/8" in done.stdout and "results/shards/default-6-of-8/raw" in done.stdout
    env["SLURM_ARRAY_TASK_ID"] = "8"
    done = _bash("array.sbatch", env, timeout=30)
    assert done.returncode == 2 and "is no shard of NERBENCH_SHARDS=8" in done.stdout


def test_ray_in_an_allocation_starts_runs_and_stops_everything(allocation: dict) -> None:
    env, submit = dict(allocation["env"]), allocation["submit"]
    port, agent_head, agent_worker = (_free_port() for _ in range(3))
    env.update({
        "SLURM_JOB_ID": "5150", "SLURM_JOB_NODELIST": "nbnode1,nbnode2", "SLURM_CPUS_PER_TASK": "1",
        "RAY_PORT": str(port), "RAY_JOIN_TIMEOUT": "120", "NERBENCH": "nerbench-seeing-ray",
        # two Ray nodes on one machine need their own ports; no CPU on the head: the cells run on the worker
        "RAY_HEAD_ARGS": f"--num-cpus=0 --dashboard-agent-listen-port={agent_head}",
        "RAY_WORKER_ARGS": f"--dashboard-agent-listen-port={agent_worker}",
    })
    done = _bash("ray-in-allocation.sbatch", env, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:]
    out = done.stdout
    print(out)  # shown with -rP, or when the test fails
    assert "RAY_AUTH_MODE=token" in out and "ray: 2 of 2 nodes joined, 1 CPUs" in out
    assert _results(submit / "results" / "raw") == {(t, "lookup") for t in TASKS}
    runs = sorted(p.name for p in (submit / "runs").iterdir())
    assert len(runs) == 2 and re.fullmatch(r"default-\d{8}T\d{6}-slurm5150", runs[0]) and runs[1] == f"{runs[0]}.log"
    assert len(list((submit / "runs" / runs[0]).glob("*.log"))) == 2  # each cell's log came back
    token = Path(f"{allocation['log']}.token").read_text().split()
    assert token == ["token", str(submit / ".ray-auth-token-5150"), "600"]  # the driver used the job's own token
    assert not list(submit.glob(".ray-auth-token-*"))  # which is removed at the end
    calls = [line.split("\t") for line in allocation["log"].read_text().splitlines()]
    starts = [(node, cmd.split()[:3]) for node, cmd in calls if cmd.startswith("ray start")]
    assert starts == [("nbnode1", ["ray", "start", "--head"]), ("nbnode2", ["ray", "start", f"--address=127.0.0.1:{port}"])]
    assert sorted(node for node, cmd in calls if cmd == "ray stop") == ["nbnode1", "nbnode2"]
    deadline = time.monotonic() + 30
    while (left := _marked(allocation["marker"])) and time.monotonic() < deadline:
        time.sleep(1)
    assert not left, f"Ray processes left behind: {left}"
    session = json.dumps(sorted(p.name for p in Path(env["FAKE_RAY_TMP"]).rglob("session_*")))
    assert "session_" in session  # each node ran in the temp dir it was given
