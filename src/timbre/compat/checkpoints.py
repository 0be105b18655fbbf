"""The original GPT-SoVITS checkpoint formats: SoVITS `.pth` and GPT `.ckpt`, read and written as plain data.

SoVITS `.pth` (what the original's training saves and its WebUI loads):
    {"weight": {name: fp16 tensor, ... without enc_q.*}, "config": {"train", "data", "model", ...}, "info": str}
    torch zip; for v2Pro / v2ProPlus the first two bytes "PK" are replaced by the marker "05" / "06".
GPT `.ckpt`:
    {"weight": {"model." + name: fp16 tensor}, "config": {"train", "optimizer", "data", "model", "inference"},
     "info": "GPT-e<epoch>"}

The readers return typed results holding state dicts and config dicts only; `build_model` (in `timbre.compat.build`)
turns them into modules. Nothing here imports the model code.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from timbre.compat.safe_load import read_torch_file, write_torch_file
from timbre.compat.versions import (
    SOVITS_VERSIONS,
    VERSION_MARKERS,
    VersionInfo,
    detect_gpt_version,
    detect_sovits_version,
    file_head_hash,
)
from timbre.errors import CheckpointError

GPT_PREFIX = "model."
ENC_Q_PREFIX = "enc_q."
StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class SoVITSCheckpoint:
    version: str  # v1 | v2 | v2Pro | v2ProPlus
    config: dict[str, Any]  # the original's nested config (train/data/model); model.version set to `version`
    state_dict: StateDict  # SynthesizerTrn parameter names; enc_q.* absent in inference files
    info: str = ""
    detected: VersionInfo | None = field(default=None, compare=False)

    kind = "sovits"


@dataclass(frozen=True)
class GPTCheckpoint:
    version: str  # v1 | v2
    config: dict[str, Any]  # the original's nested config (train/optimizer/data/model/inference)
    state_dict: StateDict  # Text2SemanticDecoder parameter names (no "model." prefix)
    info: str = ""
    detected: VersionInfo | None = field(default=None, compare=False)

    kind = "gpt"


Checkpoint = SoVITSCheckpoint | GPTCheckpoint


def _weights_and_config(payload: Any, label: str) -> tuple[Mapping[str, Any], dict[str, Any]]:
    if not isinstance(payload, Mapping) or "weight" not in payload:
        raise CheckpointError(
            f"{label}: not an original GPT-SoVITS weights file (expected a dict with 'weight' and 'config'); "
            "training checkpoints (G_*.pth, lightning .ckpt) must first be exported as weights"
        )
    weights = payload["weight"]
    if not isinstance(weights, Mapping) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"{label}: 'weight' must map names to tensors")
    config = payload.get("config")
    if not isinstance(config, Mapping) or not isinstance(config.get("model"), Mapping):
        raise CheckpointError(f"{label}: the file has no 'config' with a 'model' section")
    if "lora_rank" in payload:
        raise CheckpointError(f"{label}: LoRA checkpoints (v3/v4) are not supported")
    return weights, copy.deepcopy(dict(config))


def _is_gpt_weights(weights: Mapping[str, Any]) -> bool:
    return any(key.startswith(GPT_PREFIX) for key in weights)


def with_sovits_version(config: Mapping[str, Any], version: str) -> dict[str, Any]:
    """A copy of `config` with model.version and model.semantic_frame_rate as the original sets them at load."""
    out = copy.deepcopy(dict(config))
    model = dict(out.get("model") or {})
    model["version"] = version
    model.setdefault("semantic_frame_rate", "25hz")
    out["model"] = model
    return out


def sovits_from_payload(
    payload: Any, label: str, marker: bytes | None = None, head_hash: str | None = None
) -> SoVITSCheckpoint:
    weights, config = _weights_and_config(payload, label)
    if _is_gpt_weights(weights):
        raise CheckpointError(
            f"{label}: this is a GPT checkpoint (weights named 'model.*'), not a SoVITS one"
        )
    detected = detect_sovits_version(weights, marker=marker, head_hash=head_hash)
    info = payload.get("info", "")
    return SoVITSCheckpoint(
        detected.version, with_sovits_version(config, detected.version), dict(weights), str(info), detected
    )


def gpt_from_payload(payload: Any, label: str) -> GPTCheckpoint:
    weights, config = _weights_and_config(payload, label)
    prefixed = [key.startswith(GPT_PREFIX) for key in weights]
    if all(prefixed):
        state_dict = {key[len(GPT_PREFIX) :]: value for key, value in weights.items()}
    elif not any(prefixed):
        state_dict = dict(weights)
    else:
        raise CheckpointError(f"{label}: GPT weights mix 'model.'-prefixed and unprefixed names")
    detected = detect_gpt_version(state_dict, config)
    return GPTCheckpoint(detected.version, config, state_dict, str(payload.get("info", "")), detected)


def load_sovits(path: str | os.PathLike[str]) -> SoVITSCheckpoint:
    """Read an original SoVITS `.pth` (plain zip or version-marked) without executing code from it."""
    torch_file = read_torch_file(path)
    return sovits_from_payload(torch_file.payload, str(path), torch_file.marker, file_head_hash(path))


def load_gpt(path: str | os.PathLike[str]) -> GPTCheckpoint:
    """Read an original GPT `.ckpt` without executing code from it."""
    torch_file = read_torch_file(path)
    if torch_file.marker is not None:
        raise CheckpointError(f"{path}: GPT checkpoints never carry a version marker; is this a SoVITS file?")
    return gpt_from_payload(torch_file.payload, str(path))


def load_original(path: str | os.PathLike[str]) -> Checkpoint:
    """Read either original format, telling SoVITS from GPT by the weight names."""
    torch_file = read_torch_file(path)
    payload = torch_file.payload
    weights = payload.get("weight") if isinstance(payload, Mapping) else None
    if isinstance(weights, Mapping) and _is_gpt_weights(weights) and torch_file.marker is None:
        return gpt_from_payload(payload, str(path))
    return sovits_from_payload(payload, str(path), torch_file.marker, file_head_hash(path))


def _half(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().cpu().half() if tensor.is_floating_point() else tensor.detach().cpu()


def save_sovits_pth(ckpt: SoVITSCheckpoint, path: str | os.PathLike[str], *, half: bool = True) -> Path:
    """Write a `.pth` the original WebUI loads: no enc_q.*, fp16 (unless `half=False`), config, info, marker."""
    if ckpt.version not in SOVITS_VERSIONS:
        raise CheckpointError(
            f"cannot save SoVITS version {ckpt.version!r}; expected one of {SOVITS_VERSIONS}"
        )
    weights = {
        key: (_half(value) if half else value.detach().cpu())
        for key, value in ckpt.state_dict.items()
        if not key.startswith(ENC_Q_PREFIX)
    }
    payload = {
        "weight": weights,
        "config": with_sovits_version(ckpt.config, ckpt.version),
        "info": ckpt.info or "timbre",
    }
    return write_torch_file(payload, path, VERSION_MARKERS.get(ckpt.version))


def save_gpt_ckpt(ckpt: GPTCheckpoint, path: str | os.PathLike[str], *, half: bool = True) -> Path:
    """Write a `.ckpt` the original WebUI loads: `model.`-prefixed fp16 weights (unless `half=False`), config, info."""
    weights = {
        GPT_PREFIX + key: (_half(value) if half else value.detach().cpu())
        for key, value in ckpt.state_dict.items()
    }
    payload = {"weight": weights, "config": copy.deepcopy(ckpt.config), "info": ckpt.info or "GPT-e0"}
    return write_torch_file(payload, path)
