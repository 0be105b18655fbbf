"""Deterministic weights: every tensor drawn from its own generator, keyed by (seed, crc32(name)).

The rules reproduce the reference generator documented in the compatibility data's README, so that a model built
here with `deterministic_state_dict(model.state_dict(), seed)` holds exactly the weights the reference vectors were
produced with. It needs only names and shapes, so it works on any `state_dict` without the reference files.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch

_GPT_LAYER = re.compile(r"^h\.layers\.(\d+)\.")
_GPT_RESIDUAL_OUT = re.compile(r"^h\.layers\.\d+\.(self_attn\.out_proj\.weight|linear2\.weight)$")
_NORM_GAIN = re.compile(r"(^|\.)norm\d*\.weight$")
_CODEBOOK = ("_codebook.embed", "_codebook.embed_avg", "_codebook.cluster_size", "_codebook.inited")


def _normal(seed: int, key: str, shape: Sequence[int]) -> np.ndarray:
    rng = np.random.default_rng([int(seed), zlib.crc32(key.encode("utf-8"))])
    return rng.standard_normal(size=tuple(shape))  # float64


def _gpt_layer_count(keys: Iterable[str]) -> int:
    layers = [int(m.group(1)) + 1 for k in keys if (m := _GPT_LAYER.match(k))]
    return max(layers, default=0)


def _independent(key: str, shape: tuple[int, ...], seed: int, n_layers: int) -> np.ndarray:
    """Tensors that depend only on their own name and shape (all but weight_g and embed_avg)."""
    if key.endswith(_CODEBOOK):
        if key.endswith("_codebook.embed"):
            return _normal(seed, key, shape)
        return np.ones(shape)  # cluster_size, inited
    if re.search(r"(^|\.)alpha$", key):
        return np.ones(shape)
    if key.endswith("prelu.weight"):
        return np.full(shape, 0.25)
    if key.endswith(".gamma") or _NORM_GAIN.search(key):
        return 1.0 + 0.05 * _normal(seed, key, shape)
    if key.endswith(".beta") or key.endswith("bias"):
        return 0.02 * _normal(seed, key, shape)
    if "emb_rel_k" in key or "emb_rel_v" in key:
        return _normal(seed, key, shape) * shape[-1] ** -0.5
    if "embedding" in key and key.endswith("weight"):
        return _normal(seed, key, shape)
    if key.endswith("weight") or key.endswith("weight_v"):
        if len(shape) < 2:
            raise ValueError(f"deterministic weights: {key!r} has shape {shape}, expected 2 or more dims")
        std = 1.0 / math.sqrt(math.prod(shape[1:]))
        if n_layers and _GPT_RESIDUAL_OUT.match(key):
            std /= math.sqrt(2.0 * n_layers)
        return _normal(seed, key, shape) * std
    raise ValueError(f"deterministic weights: no rule for tensor {key!r}")


def deterministic_arrays(
    shapes: Mapping[str, Sequence[int]], seed: int, zero_eos_row: bool = False
) -> dict[str, np.ndarray]:
    """name → float32 array for every (name, shape), in the given order."""
    n_layers = _gpt_layer_count(shapes)
    out: dict[str, np.ndarray] = {}
    for key, shape in shapes.items():
        if key.endswith("weight_g") or key.endswith("_codebook.embed_avg"):
            continue
        out[key] = _independent(key, tuple(shape), seed, n_layers).astype(np.float32)
    for key, shape in shapes.items():
        if key.endswith("weight_g"):
            v = out[key[: -len("weight_g")] + "weight_v"].astype(np.float64)
            norm = np.sqrt((v.reshape(v.shape[0], -1) ** 2).sum(axis=1))
            out[key] = norm.reshape(tuple(shape)).astype(np.float32)
        elif key.endswith("_codebook.embed_avg"):
            out[key] = out[key[: -len("embed_avg")] + "embed"].copy()
    if zero_eos_row and "ar_predict_layer.weight" in out:
        out["ar_predict_layer.weight"][-1, :] = 0.0
    return {k: out[k] for k in shapes}


def deterministic_state_dict(
    reference: Mapping[str, torch.Tensor], seed: int, zero_eos_row: bool = False
) -> dict[str, torch.Tensor]:
    """Deterministic weights shaped like `reference` (e.g. `model.state_dict()`), as float32 tensors."""
    shapes = {k: tuple(v.shape) for k, v in reference.items()}
    arrays = deterministic_arrays(shapes, seed, zero_eos_row)
    return {k: torch.from_numpy(a) for k, a in arrays.items()}


def load_deterministic(model: torch.nn.Module, seed: int, zero_eos_row: bool = False) -> torch.nn.Module:
    """Fill `model` in place with deterministic weights (strict load) and return it."""
    model.load_state_dict(deterministic_state_dict(model.state_dict(), seed, zero_eos_row), strict=True)
    return model
