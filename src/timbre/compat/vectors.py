"""Reference-vector sets and the comparison helpers every check uses.

A vector set is one `<name>.npz` with its `<name>.json` sidecar from a `vectors_seed*/` folder. A check function takes a
`VectorSet`, runs the same calls through timbre on deterministic weights built with the set's seed, and returns one
`ArrayCheck` per compared array.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# Tolerances from the reference README: ints exact; floats atol 1e-4 + rtol 1e-4; large-valued arrays rtol only.
ATOL = 1e-4
RTOL = 1e-4


@dataclass(frozen=True)
class VectorSet:
    name: str  # e.g. "sovits_v2_decode"
    arrays: dict[str, np.ndarray]
    sidecar: dict[str, Any]
    seed: int
    params: dict[str, Any] = field(default_factory=dict)  # the index's input-size parameters
    manifests_dir: Path | None = None

    @classmethod
    def load(
        cls, npz_path: Path, params: dict[str, Any] | None = None, manifests_dir: Path | None = None
    ) -> VectorSet:
        sidecar_path = npz_path.with_suffix(".json")
        sidecar = json.loads(sidecar_path.read_text("utf-8")) if sidecar_path.exists() else {}
        with np.load(npz_path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        seed = int(sidecar.get("seed", 0))
        return cls(npz_path.stem, arrays, sidecar, seed, dict(params or {}), manifests_dir)


@dataclass(frozen=True)
class ArrayCheck:
    name: str
    ok: bool
    max_abs_err: float
    detail: str = ""


CheckFn = Callable[[VectorSet], list[ArrayCheck]]


def compare(name: str, got: Any, want: np.ndarray, atol: float = ATOL, rtol: float = RTOL) -> ArrayCheck:
    """Compare one array: integers exactly, floats with |got - want| <= atol + rtol * |want|."""
    got_np = got.detach().cpu().numpy() if hasattr(got, "detach") else np.asarray(got)
    if got_np.shape != want.shape:
        got_np = got_np.reshape(-1) if got_np.size == want.size else got_np
        if got_np.size != want.size:
            return ArrayCheck(name, False, float("inf"), f"shape {got_np.shape} != {want.shape}")
        got_np = got_np.reshape(want.shape)
    if np.issubdtype(want.dtype, np.integer):
        diff = int(np.abs(got_np.astype(np.int64) - want.astype(np.int64)).max(initial=0))
        return ArrayCheck(
            name, diff == 0, float(diff), "" if diff == 0 else f"{int((got_np != want).sum())} differ"
        )
    err = np.abs(got_np.astype(np.float64) - want.astype(np.float64))
    bound = atol + rtol * np.abs(want.astype(np.float64))
    ok = bool(np.all(np.isfinite(got_np)) and np.all(err <= bound))
    return ArrayCheck(
        name, ok, float(err.max(initial=0.0)), "" if ok else f"{int((err > bound).sum())} over tolerance"
    )
