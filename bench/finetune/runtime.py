"""Runtime helpers: device and precision resolution, autocast, seeding, and joining a DDP process group."""

from __future__ import annotations

import logging
import os
import random
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.errors import ConfigError

# One logger for the whole package, as when it was one module: log lines keep their "bench.finetune" name.
log = logging.getLogger("bench.finetune")


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str, *, local_rank: int = 0) -> Any:
    """``torch.device`` for a config device name; ``cuda`` under DDP means this rank's GPU."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {name!r} requested but torch sees no CUDA GPU (torch {torch.__version__})"
            )
        if name == "cuda":
            name = f"cuda:{local_rank}"
        torch.cuda.set_device(torch.device(name))
    return torch.device(name)


def resolve_precision(name: str, device: Any) -> str:
    """``fp32``/``bf16``/``fp16`` for a config precision on a device."""
    import torch

    if name == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if name == "fp16" and device.type != "cuda":
        raise ConfigError("precision fp16 needs a CUDA device (use fp32 or bf16 on CPU)")
    return name


def _autocast(device: Any, precision: str) -> AbstractContextManager[Any]:
    import torch

    if precision == "fp32":
        return nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int, *, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally force deterministic kernels."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def local_rank_from_env() -> int:
    """This process's GPU slot under torchrun/accelerate (``LOCAL_RANK``), 0 otherwise."""
    return int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))


def init_distributed(device: Any) -> DistContext:
    """Join the process group described by torchrun/accelerate env vars when ``WORLD_SIZE > 1``.

    ``device`` is this rank's resolved device (set before NCCL starts): gloo on CPU, nccl on CUDA.
    A group the caller already initialised is reused and left alone.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    import torch.distributed as dist

    owns = False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
        owns = True
        log.info("joined process group: rank %d/%d (%s)", dist.get_rank(), world, backend)
    return DistContext(
        rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank_from_env(), owns_group=owns
    )
