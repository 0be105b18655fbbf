"""timbre's own checkpoint format: `NAME.safetensors` (tensors) beside `NAME.json` (config and metadata).

safetensors holds raw tensors only, so loading it can never run code. Its header metadata records the format, kind
(`sovits` / `gpt`) and version; the JSON file holds the same three plus the original-style nested config and the info
string, and is meant to be read and edited by people. Tensors are stored exactly as given (no dtype change), so a
save → load round trip is bit-identical.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from timbre.compat.checkpoints import (
    Checkpoint,
    GPTCheckpoint,
    SoVITSCheckpoint,
    load_original,
    with_sovits_version,
)
from timbre.compat.versions import (
    GPT_VERSIONS,
    SOVITS_VERSIONS,
    VersionInfo,
    detect_gpt_version,
    sovits_version_from_weights,
)
from timbre.errors import CheckpointError
from timbre.files import atomic_path

FORMAT = "timbre-checkpoint"
FORMAT_VERSION = "1"
_KINDS = {"sovits": SOVITS_VERSIONS, "gpt": GPT_VERSIONS}


def config_path(path: str | os.PathLike[str]) -> Path:
    """The JSON file that belongs to a `.safetensors` file."""
    return Path(path).with_suffix(".json")


def _storable(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous CPU tensors, each with its own storage (safetensors refuses shared memory)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, value in state_dict.items():
        tensor = value.detach().cpu().contiguous()
        pointer = tensor.untyped_storage().data_ptr()
        if tensor.numel() and pointer in seen:
            tensor = tensor.clone()
        seen.add(pointer)
        out[key] = tensor
    return out


def save_safetensors(ckpt: Checkpoint, path: str | os.PathLike[str]) -> Path:
    """Write `path` (.safetensors) and its `.json` config; returns the `.safetensors` path."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(
            f"{path}: timbre checkpoints end in .safetensors (the config goes beside it as .json)"
        )
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": ckpt.kind, "version": ckpt.version}
    with atomic_path(path) as tmp:  # safetensors writes 0600: the voice folder's files stay readable
        save_file(_storable(ckpt.state_dict), str(tmp), metadata=meta)
    document = {**meta, "info": ckpt.info, "config": ckpt.config}
    config_path(path).write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return path


def _read_document(path: Path) -> dict[str, Any]:
    json_path = config_path(path)
    if not json_path.is_file():
        raise CheckpointError(f"{path}: its config {json_path.name} is missing; keep both files together")
    try:
        document = json.loads(json_path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{json_path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise CheckpointError(f"{json_path}: expected an object with a 'config' object")
    return document


def load_safetensors(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a timbre checkpoint written by `save_safetensors`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    document = _read_document(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = fh.metadata() or {}
            state_dict = {key: fh.get_tensor(key) for key in fh.keys()}
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a timbre checkpoint (no '{FORMAT}' metadata)")
    kind, version = meta.get("kind", ""), meta.get("version", "")
    if kind not in _KINDS or version not in _KINDS[kind]:
        raise CheckpointError(f"{path}: unknown kind/version {kind!r}/{version!r} in its metadata")
    if (document.get("kind"), document.get("version")) != (kind, version):
        raise CheckpointError(
            f"{path}: the weights are {kind} {version} but {config_path(path).name} says "
            f"{document.get('kind')} {document.get('version')}; the two files do not belong together"
        )
    weights_version = (
        sovits_version_from_weights(state_dict)
        if kind == "sovits"
        else detect_gpt_version(state_dict).version
    )
    if weights_version != version:
        raise CheckpointError(
            f"{path}: the metadata says {kind} {version} but the weights are {weights_version}"
        )
    detected = VersionInfo(kind, version, "v1" if version == "v1" else "v2", "timbre metadata + weights")
    info = str(document.get("info", ""))
    if kind == "sovits":
        config = with_sovits_version(document["config"], version)
        return SoVITSCheckpoint(version, config, state_dict, info, detected)
    return GPTCheckpoint(version, document["config"], state_dict, info, detected)


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Any supported checkpoint: timbre `.safetensors`, original SoVITS `.pth` or GPT `.ckpt` (by content)."""
    if Path(path).suffix == ".safetensors":
        return load_safetensors(path)
    return load_original(path)
