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
    }
