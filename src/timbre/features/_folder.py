"""Checks and fingerprints for pretrained model folders (HuBERT, RoBERTa) given by the user."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from timbre.compat.hf import WEIGHT_FILES
from timbre.errors import TimbreError

_HEAD_BYTES = 1 << 20


def check_model_folder(folder: str | Path, what: str, model_types: tuple[str, ...]) -> Path:
    """Resolve `folder` and check it holds a transformers config of an accepted type and a weight file."""
    path = Path(folder).expanduser().resolve()
    hint = f"give the folder of a {what} model (with config.json and model.safetensors or pytorch_model.bin)"
    if not path.is_dir():
        raise TimbreError(f"{what} folder not found: {path}; {hint}")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise TimbreError(f"{path} has no config.json, so it is not a {what} model folder; {hint}")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TimbreError(f"cannot read {config_file}: {exc}; {hint}") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in model_types:
        raise TimbreError(
            f"{config_file} describes a {model_type!r} model, expected {' or '.join(model_types)}; {hint}"
        )
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise TimbreError(f"{path} has no weight file ({', '.join(WEIGHT_FILES[:2])}); {hint}")
    return path


def folder_fingerprint(path: Path) -> str:
    """A short identity of a model folder: its config and weight files' sizes and first megabyte.

    Cheap enough to compute at every start, and changes when the weights are replaced (so stored features are redone).
    """
    digest = hashlib.sha256()
    for file in sorted(
        p for p in path.iterdir() if p.is_file() and p.suffix in {".json", ".safetensors", ".bin"}
    ):
        digest.update(file.name.encode())
        digest.update(str(file.stat().st_size).encode())
        with file.open("rb") as handle:
            digest.update(handle.read(_HEAD_BYTES))
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report while loading (missing weights are checked by `require_complete`)."""
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous)


def require_complete(info: dict[str, object], path: Path, what: str, optional: tuple[str, ...] = ()) -> None:
    """Refuse a folder whose weights leave model parameters uninitialized (transformers only warns)."""
    missing = [key for key in info.get("missing_keys", []) or [] if not key.startswith(optional)]  # type: ignore[attr-defined]
    if missing:
        shown = ", ".join(sorted(missing)[:5])
        raise TimbreError(
            f"the weights in {path} do not fit its {what} config: {len(missing)} parameters missing ({shown}, ...); "
            "check that the folder holds the right model"
        )
