"""What a result was produced on: versions, git state, CPU and GPU. Never fails, never probes at import."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

PACKAGES = (
    "nerbench", "torch", "transformers", "tokenizers", "datasets", "accelerate", "sklearn-crfsuite",
    "python-crfsuite", "scikit-learn", "seqeval", "nervaluate", "numpy", "nvidia-ml-py",
)


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for n in names:
        try:
            out[n] = importlib.metadata.version(n)
        except importlib.metadata.PackageNotFoundError:
            out[n] = None
    return out


def git_state(cwd: Path | None = None) -> dict[str, Any]:
    """``{"sha": ..., "dirty": bool}`` of the checkout nerbench runs from, or nulls outside git.

    ``dirty`` means a tracked file differs from the commit, *outside* ``results/``: result files are
    what a run writes (re-running a committed cell rewrites its tracked file), not code, so a run on a
    clean checkout stays clean while it replaces committed results.
    """
    cwd = cwd or Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":/", ":(exclude,top)results/"],
            cwd=cwd, capture_output=True, text=True, timeout=10, check=True,
        ).stdout
        return {"sha": sha, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(*, gpu: dict[str, Any] | None = None, git: dict[str, Any] | None = None) -> dict[str, Any]:
    """The environment block of a result; ``gpu`` comes from the sampler that measured the run and
    ``git`` from when the run started (the checkout may move while a long run goes on)."""
    # Only a process that used torch describes it: importing torch costs a CRF cell's process about
    # 1.5 s for nothing (its version is in "packages" either way).
    torch_info: dict[str, Any] = {}
    torch = sys.modules.get("torch")
    if torch is not None:
        torch_info = {
            "cuda_available": torch.cuda.is_available(),
            "cuda_version": torch.version.cuda,
            "num_threads": torch.get_num_threads(),
        }
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "packages": package_versions(),
        "git": git if git is not None else git_state(),
        "torch": torch_info,
        "gpu": gpu,
        "settings": worker_env_record(),
    }


WORKER_ENV = (
    "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT",
    "HF_HOME", "HF_HUB_CACHE", "HF_DATASETS_CACHE", "NERBENCH_DATA_DIR", "NERBENCH_CACHE",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TOKENIZERS_PARALLELISM", "CUBLAS_WORKSPACE_CONFIG",
)
"""The environment settings a cell's process depends on (hub access, caches, where the data is, threads,
cuBLAS determinism): every result records them as its process had them (``environment.settings``), and
``--executor ray`` sends the driver's to the cells' tasks. Never a secret (no token)."""


OPAQUE_ENV = ("HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HF_DATASETS_CACHE", "NERBENCH_DATA_DIR", "NERBENCH_CACHE")
"""Settings recorded as a digest: machine paths and an endpoint (which may carry credentials) stay out of
results, while two processes that had the same value still record the same text."""


def worker_env_record(environ: dict[str, str] | None = None) -> dict[str, str | None]:
    """:data:`WORKER_ENV` as this process has them (``None``: not set); those of :data:`OPAQUE_ENV` as
    ``set, sha256 <first 12 hex digits of the value>`` (compare with ``printf %s "$VAR" | sha256sum``).

    >>> rec = worker_env_record({"HF_HUB_OFFLINE": "1", "HOME": "/root", "NERBENCH_CACHE": "/data/c"})
    >>> rec["HF_HUB_OFFLINE"], rec["NERBENCH_CACHE"], rec["HF_HOME"]
    ('1', 'set, sha256 1620217f6fb8', None)
    """
    import hashlib

    environ = os.environ if environ is None else environ
    out: dict[str, str | None] = {}
    for name in WORKER_ENV:
        value = environ.get(name)
        if value is not None and name in OPAQUE_ENV:
            value = f"set, sha256 {hashlib.sha256(value.encode()).hexdigest()[:12]}"
        out[name] = value
    return out


RECORDED_ENV = ("HF_HUB_OFFLINE",)
"""Environment settings a recorded benchmark command starts with when they were set."""
DATA_DIR_VAR = "$NERBENCH_DATA_DIR"


def benchmark_command(
    script: str | Path,
    argv: list[str] | None = None,
    *,
    data_dir: str | Path | None = None,
    environ: dict[str, str] | None = None,
) -> str:
    """The command that ran a benchmark script, as its JSON records it: ``python benchmarks/<name>.py``
    and the arguments it was given (``argv``, default ``sys.argv[1:]``), never a fixed string.

    No path of this machine is recorded: the data dir (``data_dir``, else ``$NERBENCH_DATA_DIR``; and
    whatever follows ``--data-dir``) is written ``$NERBENCH_DATA_DIR``, a path inside it
    ``$NERBENCH_DATA_DIR/...``, any other absolute path relative to the working folder when it is
    inside it, else as ``<its name>``. The settings of :data:`RECORDED_ENV` that were set come first.

    >>> benchmark_command("/x/benchmarks/b.py", ["--data-dir", "/d", "--model=/d/m", "--out", "r.json"],
    ...                   data_dir="/d", environ={"HF_HUB_OFFLINE": "1"})
    'HF_HUB_OFFLINE=1 python benchmarks/b.py --data-dir $NERBENCH_DATA_DIR --model=$NERBENCH_DATA_DIR/m --out r.json'
    """
    import shlex

    environ = dict(os.environ) if environ is None else environ
    args = list(sys.argv[1:] if argv is None else argv)
    root_text = str(data_dir) if data_dir else environ.get("NERBENCH_DATA_DIR")
    root = Path(root_text).expanduser().resolve() if root_text else None
    cwd = Path.cwd().resolve()

    def portable(value: str, *, is_data_dir: bool = False) -> str:
        if is_data_dir or value == DATA_DIR_VAR:
            return DATA_DIR_VAR
        pathlike = value.startswith(("/", "~")) or (root_text is not None and value == root_text)
        if not pathlike and root is not None and ("/" in value or value.startswith(".")):
            pathlike = True  # a relative path: maybe inside the data dir
        if not pathlike:
            return shlex.quote(value)
        p = Path(value).expanduser().resolve()
        if root is not None and (p == root or p.is_relative_to(root)):
            rel = p.relative_to(root).as_posix()
            return DATA_DIR_VAR if rel == "." else f"{DATA_DIR_VAR}/{shlex.quote(rel)}"
        if not value.startswith(("/", "~")):
            return shlex.quote(value)  # relative, outside the data dir: as typed
        return shlex.quote(p.relative_to(cwd).as_posix() if p.is_relative_to(cwd) else f"<{p.name}>")

    words: list[str] = []
    after_data_dir = False
    for arg in args:
        if after_data_dir:
            words.append(portable(arg, is_data_dir=True))
            after_data_dir = False
        elif arg == "--data-dir":
            words.append(arg)
            after_data_dir = True
        elif arg.startswith("--") and "=" in arg:
            name, _, value = arg.partition("=")
            words.append(f"{name}={portable(value, is_data_dir=name == '--data-dir')}")
        else:
            words.append(portable(arg))
    prefix = [f"{k}={shlex.quote(environ[k])}" for k in RECORDED_ENV if environ.get(k)]
    return " ".join([*prefix, "python", f"benchmarks/{Path(script).name}", *words])
