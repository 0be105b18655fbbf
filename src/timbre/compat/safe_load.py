"""Reading and writing torch pickle files without ever running code from them.

Every read goes through `torch.load(..., weights_only=True)`: torch's restricted unpickler builds tensors, containers
and plain values only, and refuses any other global (a crafted `__reduce__` that would call `os.system`, `open`, ...).
One extra class is allowed: the original's training scripts pickle their hyper-parameter object (`utils.HParams`, a
plain attribute bag) as the checkpoint's `config`. It is mapped to an inert stand-in here and turned into nested dicts.

Files written by the original for some model versions carry a two-byte version marker in place of the zip magic `PK`;
`read_torch_file` restores the magic in memory (no temporary file) and reports the marker.
"""

from __future__ import annotations

import functools
import io
import os
import pickle
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from timbre.errors import CheckpointError

ZIP_MAGIC = b"PK"

# Where the original's hyper-parameter class lives, depending on how its training script was started.
_HPARAMS_GLOBALS = ("utils.HParams", "GPT_SoVITS.utils.HParams")
_REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


class _PickledHParams:
    """Inert stand-in for the original's `HParams`: the unpickler only sets its `__dict__`; nothing is called."""


@functools.cache
def _allow_hparams() -> None:
    torch.serialization.add_safe_globals([(_PickledHParams, name) for name in _HPARAMS_GLOBALS])


@dataclass(frozen=True)
class TorchFile:
    payload: Any  # the unpickled object, with any HParams turned into dicts
    marker: bytes | None  # the two bytes found instead of b"PK", or None for a plain zip


def _plain(obj: Any) -> Any:
    """Replace HParams stand-ins by dicts, recursively through dicts, lists and tuples."""
    if isinstance(obj, _PickledHParams):
        return {k: _plain(v) for k, v in vars(obj).items()}
    if isinstance(obj, dict):
        converted = {k: _plain(v) for k, v in obj.items()}
        return converted if type(obj) is dict else type(obj)(converted)
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_plain(v) for v in obj)
    return obj


def _unsafe_reason(exc: BaseException) -> str | None:
    """What the restricted unpickler refused (e.g. "global posix.system"), or None for other errors."""
    text = str(exc)
    if not (isinstance(exc, pickle.UnpicklingError) or "Weights only load failed" in text):
        return None
    found = _REFUSED_GLOBAL.search(text)
    if found:
        return f"global {found.group(1)}"
    return text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__


def safe_torch_load(source: Path | io.BytesIO, label: str) -> Any:
    """`torch.load` with `weights_only=True` on a path or an in-memory file; errors become `CheckpointError`."""
    _allow_hparams()
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = _unsafe_reason(exc)
        if reason is not None:
            raise CheckpointError(
                f"{label}: refused to load: the file contains pickled code or objects that are not plain data "
                f"({reason}). timbre does not run code from checkpoints: a GPT-SoVITS weights file holds only "
                "tensors and config values, so this one was tampered with or comes from another program."
            ) from None
        raise CheckpointError(
            f"{label}: not a readable torch checkpoint ({type(exc).__name__}: {exc})"
        ) from None
    return _plain(payload)


def read_torch_file(path: str | os.PathLike[str]) -> TorchFile:
    """Read a torch `.pth`/`.ckpt` safely, accepting the original's two-byte version marker in place of `PK`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path} (give the path of a .pth/.ckpt file)")
    with path.open("rb") as fh:
        head = fh.read(2)
    if len(head) < 2:
        raise CheckpointError(f"{path}: the file is empty or truncated")
    if head == ZIP_MAGIC or not head.isdigit():  # a plain zip, or the legacy (pre-zip) torch format
        return TorchFile(safe_torch_load(path, str(path)), None)
    buffer = io.BytesIO()
    buffer.write(ZIP_MAGIC)
    with path.open("rb") as fh:
        fh.seek(2)
        shutil.copyfileobj(fh, buffer)
    if not zipfile.is_zipfile(buffer):
        raise CheckpointError(
            f"{path}: starts with version marker {head!r} but is not a torch zip archive after it"
        )
    buffer.seek(0)
    return TorchFile(safe_torch_load(buffer, str(path)), head)


def write_torch_file(payload: Any, path: str | os.PathLike[str], marker: bytes | None = None) -> Path:
    """`torch.save` to `path`; with `marker`, its two bytes replace the zip magic as the original does."""
    path = Path(path)
    if marker is not None and (len(marker) != 2 or marker == ZIP_MAGIC):
        raise ValueError(f"version marker must be two bytes other than {ZIP_MAGIC!r}, got {marker!r}")
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    if marker is not None:
        data = marker + data[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)
    return path
