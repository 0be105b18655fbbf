"""Mixed precision: bf16/fp16 autocast, a GradScaler only for fp16, TF32 on Ampere+ GPUs."""

from __future__ import annotations

import warnings
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Literal

import torch

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class AmpPolicy:
    precision: Precision
    device: torch.device

    @classmethod
    def create(cls, precision: str, device: torch.device) -> AmpPolicy:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
        if precision == "fp16" and device.type != "cuda":
            # fp16 autocast on CPU is slow and poorly supported: keep the fp16 code path (scaler included) but run bf16.
            warnings.warn(
                f"--precision fp16 runs as bf16 on {device.type} (fp16 autocast is for CUDA)", stacklevel=2
            )
            return cls("bf16", device)
        return cls(precision, device)  # type: ignore[arg-type]

    @property
    def dtype(self) -> torch.dtype | None:
        return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[self.precision]

    def autocast(self) -> AbstractContextManager[object]:
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def grad_scaler(self, requested: str | None = None) -> torch.amp.GradScaler:
        """A scaler that is active for fp16 only (a disabled scaler is a transparent pass-through)."""
        enabled = (requested or self.precision) == "fp16"
        return torch.amp.GradScaler(self.device.type, enabled=enabled)


def enable_tf32() -> None:
    """Allow TF32 matmuls/convolutions on Ampere+ GPUs (no effect on CPU)."""
    if torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
