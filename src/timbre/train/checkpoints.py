"""Crash-safe training checkpoints: atomic writes, keep-last-K, resume from the newest valid one.

A training checkpoint holds everything needed to continue bit-for-bit: model(s), optimizer(s), scheduler(s), grad
scaler, the RNG states (python, numpy, torch, cuda) and the data-order position. Files are written to a temporary name in
the same folder and renamed into place, so a run killed at any moment leaves either the old file or the new one.
They are read back with `torch.load(weights_only=True)`: only tensors and plain containers, never code.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from timbre.files import atomic_path

_NAME = re.compile(r"^step-(\d{9})\.pt$")


def stage_checkpoints(training_dir: Path, stage: str) -> Path:
    """The folder of a training stage's checkpoints ("sovits", "gpt") inside a run's training folder."""
    return training_dir / "checkpoints" / stage


def step_of(path: Path) -> int:
    """The optimizer step a checkpoint file `step-000000123.pt` holds."""
    found = _NAME.match(path.name)
    if found is None:
        raise ValueError(f"{path.name} is not a checkpoint file name (step-NNNNNNNNN.pt)")
    return int(found.group(1))


def atomic_save(obj: Any, path: Path) -> None:
    """`torch.save` to a temp file beside `path`, fsync, then rename over `path`."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def rng_state() -> dict[str, Any]:
    """All random-number-generator states as tensors and plain containers (loadable with weights_only)."""
    _, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    state: dict[str, Any] = {
        "python": list(random.getstate()[1]) + [random.getstate()[2]],
        "python_version": random.getstate()[0],
        "numpy": {
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((state["python_version"], tuple(int(x) for x in py[:-1]), py[-1]))
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass(frozen=True)
class CheckpointManager:
    """Numbered checkpoints `step-000000123.pt` in one folder; keeps the newest `keep` of them. `signature` (plain
    values: what fixes the run's data order) is stored in each, so that a resume can check it continues the same run."""

    folder: Path
    keep: int = 3
    signature: Mapping[str, Any] | None = field(default=None, compare=False)

    def path_for(self, step: int) -> Path:
        return self.folder / f"step-{step:09d}.pt"

    def save(self, step: int, state: dict[str, Any]) -> Path:
        path = self.path_for(step)
        signature = {} if self.signature is None else {"signature": dict(self.signature)}
        atomic_save({"step": step, **signature, **state}, path)
        for old in self.checkpoints()[: -self.keep] if self.keep > 0 else []:
            old.unlink(missing_ok=True)
        return path

    def checkpoints(self) -> list[Path]:
        """Existing checkpoint files, oldest first (temp files of an interrupted write are ignored)."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if _NAME.match(p.name))

    def latest_signature(self) -> dict[str, Any] | None:
        """The signature saved in the newest checkpoint (memory-mapped: its tensors are not read), or None."""
        for path in reversed(self.checkpoints()):
            try:
                state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except Exception:  # noqa: BLE001, S112  (unreadable: load_latest skips it too, and says so)
                continue
            signature = state.get("signature")
            return dict(signature) if isinstance(signature, Mapping) else None
        return None

    def load_latest(self) -> dict[str, Any] | None:
        """The newest checkpoint that loads cleanly, or None. Corrupt files are skipped (and reported by name)."""
        for path in reversed(self.checkpoints()):
            try:
                return torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # noqa: BLE001  (a truncated or foreign file: try the previous one)
                import warnings

                warnings.warn(f"skipping unreadable checkpoint {path}: {exc}", stacklevel=2)
        return None
