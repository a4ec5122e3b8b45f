"""System adapter behaviour that needs no GPU: the out-of-memory retry keeps the effective batch."""

from __future__ import annotations

import pytest
import torch

from bench.errors import ConfigError
from bench.finetune import FinetuneConfig
from bench.systems.transformer import result_config_eval_batch, with_oom_retry


def test_oom_retry_halves_batch_and_doubles_accumulation() -> None:
    seen: list[tuple[int, int]] = []

    def run(cfg: FinetuneConfig) -> str:
        seen.append((cfg.batch_size, cfg.grad_accumulation))
        if cfg.batch_size > 8:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return "trained"

    out, retries = with_oom_retry(run, FinetuneConfig(batch_size=32, eval_batch_size=64))
    assert out == "trained"
    assert seen == [(32, 1), (16, 2), (8, 4)]  # batch x accumulation stays 32
    assert [r["to_batch_size"] for r in retries] == [16, 8]
    assert result_config_eval_batch(FinetuneConfig(eval_batch_size=64), retries) == 16


def test_oom_retry_gives_up_with_a_clear_error() -> None:
    def run(cfg: FinetuneConfig) -> str:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory.")

    with pytest.raises(ConfigError, match="out of memory even at batch size 2"):
        with_oom_retry(run, FinetuneConfig(batch_size=16), max_retries=3)
