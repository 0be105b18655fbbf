"""LoRA fine-tuning for any weight tensor (Linear, Conv1d, attention in_proj), merged back on export.

LoRA is attached as a parametrization, so the model's modules and parameter names stay those of the original
checkpoint: `W = W0 + (alpha / rank) · B @ A`, with A [rank, fan_in] random and B [fan_out, rank] zero at the start.
`merge_lora` folds the update into the plain weight and removes the parametrization, leaving an ordinary state dict.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize


@dataclass(frozen=True)
class LoRAConfig:
    rank: int = 16
    alpha: float = 32.0
    targets: tuple[str, ...] = (
        "*.linear1.weight",
        "*.linear2.weight",
        "*.out_proj.weight",
        "*.in_proj_weight",
    )

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {self.rank}")


class LoRADelta(nn.Module):
    """The parametrization: adds the low-rank update to the frozen base weight it receives."""

    def __init__(self, shape: torch.Size, rank: int, alpha: float) -> None:
        super().__init__()
        fan_in = math.prod(shape[1:])
        self.lora_A = nn.Parameter(torch.randn(rank, fan_in) / math.sqrt(fan_in))
        self.lora_B = nn.Parameter(torch.zeros(shape[0], rank))
        self.scale = alpha / rank

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        delta = (self.lora_B @ self.lora_A).reshape(weight.shape)
        return weight + self.scale * delta.to(weight.dtype)


def _targets(model: nn.Module, patterns: tuple[str, ...]) -> list[tuple[nn.Module, str]]:
    found = []
    for module_name, module in model.named_modules():
        for param_name, param in list(module.named_parameters(recurse=False)):
            full = f"{module_name}.{param_name}" if module_name else param_name
            if param.ndim >= 2 and any(fnmatch.fnmatch(full, p) for p in patterns):
                found.append((module, param_name))
    return found


def apply_lora(model: nn.Module, cfg: LoRAConfig) -> list[str]:
    """Freeze the model and attach LoRA to every matching weight; returns the names of the adapted tensors."""
    targets = _targets(model, cfg.targets)
    if not targets:
        raise ValueError(f"no weight in the model matches the LoRA targets {list(cfg.targets)}")
    for p in model.parameters():
        p.requires_grad_(False)
    names = []
    for module, param_name in targets:
        weight = getattr(module, param_name)
        delta = LoRADelta(weight.shape, cfg.rank, cfg.alpha).to(weight.device)
        parametrize.register_parametrization(module, param_name, delta)
        names.append(f"{type(module).__name__}.{param_name}")
    return names


def lora_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for n, p in model.named_parameters() if ".lora_A" in n or ".lora_B" in n]


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every LoRA update into its weight and remove the parametrizations (in place)."""
    for module in list(model.modules()):
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations.keys()):  # type: ignore[union-attr,operator]
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    for p in model.parameters():
        p.requires_grad_(True)
    return model
