"""Optimisation: AdamW parameter groups, the linear warm-up/decay schedule, and the optimizer itself."""

from __future__ import annotations

from typing import Any

from bench.finetune.config import FinetuneConfig


def parameter_groups(model: Any, *, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: decay on weights, none on biases and normalisation parameters."""
    import torch

    no_decay: set[str] = set()
    for mod_name, module in model.named_modules():
        is_norm = (
            isinstance(module, torch.nn.LayerNorm | torch.nn.GroupNorm)
            or "norm" in type(module).__name__.lower()
        )
        for p_name, _ in module.named_parameters(recurse=False):
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            if is_norm or p_name == "bias":
                no_decay.add(full)
    decay, rest = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (rest if name in no_decay else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def linear_warmup_schedule(step: int, *, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier: linear 0 -> 1 over warm-up, then linear 1 -> 0 at ``total_steps``.

    >>> [round(linear_warmup_schedule(s, warmup_steps=2, total_steps=6), 2) for s in range(7)]
    [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]
    """
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def _make_optimizer(model: Any, config: FinetuneConfig, device: Any) -> Any:
    import torch

    groups = parameter_groups(model, weight_decay=config.weight_decay)
    kwargs: dict[str, Any] = {"lr": config.learning_rate, "eps": config.adam_epsilon}
    try:  # one fused kernel instead of a Python loop over ~100 tensors per step
        return torch.optim.AdamW(groups, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, foreach=device.type == "cuda", **kwargs)
