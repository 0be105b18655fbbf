"""Per-segment feature files under `DATASET_DIR/features/<kind>/<segment>.safetensors`.

Each file carries, in its safetensors header, the `key` it was computed for: a hash of the inputs (audio bytes, text)
and of the extractor's identity (weights fingerprint, settings). A file whose key matches is up to date and is skipped;
anything else (missing, older key, unreadable) is recomputed. Files are written to a temporary name in the same folder
and renamed, so an interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from timbre.errors import TimbreError
from timbre.files import atomic_path

FEATURES_DIR = "features"
KINDS = ("text", "bert", "hubert", "semantic", "audio32k", "spec", "sv")
_KEY = "key"


def content_key(*parts: str | bytes) -> str:
    """A stable hash of the given parts (order matters)."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()[:32]


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (the identity of an input recording)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_segment_id(segment: str) -> str:
    if not segment or segment.startswith(".") or "/" in segment or "\\" in segment or "\x00" in segment:
        raise TimbreError(f"invalid segment name {segment!r}: use a plain file name")
    return segment


class FeatureStore:
    """Read and write the feature files of one dataset folder."""

    def __init__(self, dataset_dir: str | Path) -> None:
        self.root = Path(dataset_dir) / FEATURES_DIR

    def path(self, kind: str, segment: str) -> Path:
        if kind not in KINDS:
            raise ValueError(f"unknown feature kind {kind!r}; one of {', '.join(KINDS)}")
        return self.root / kind / f"{check_segment_id(segment)}.safetensors"

    def metadata(self, kind: str, segment: str) -> dict[str, str] | None:
        """The header metadata of a stored file, or None when it is missing or unreadable."""
        path = self.path(kind, segment)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="numpy") as handle:
                return dict(handle.metadata() or {})
        except Exception:  # noqa: BLE001 - a damaged file counts as missing and is rewritten
            return None

    def is_fresh(self, kind: str, segment: str, key: str) -> bool:
        meta = self.metadata(kind, segment)
        return meta is not None and meta.get(_KEY) == key

    def save(
        self,
        kind: str,
        segment: str,
        key: str,
        arrays: dict[str, np.ndarray],
        meta: dict[str, str] | None = None,
    ) -> Path:
        """Write `arrays` (+ string `meta`) atomically, stamped with `key`."""
        path = self.path(kind, segment)
        header = {**(meta or {}), _KEY: key}
        with atomic_path(path) as tmp:
            save_file(
                {name: np.ascontiguousarray(a) for name, a in arrays.items()}, str(tmp), metadata=header
            )
        return path

    def shape(self, kind: str, segment: str, name: str) -> tuple[int, ...]:
        """The shape of one stored array, read from the header only."""
        with safe_open(str(self.path(kind, segment)), framework="numpy") as handle:
            return tuple(handle.get_slice(name).get_shape())

    def load(self, kind: str, segment: str) -> dict[str, np.ndarray]:
        path = self.path(kind, segment)
        if not path.is_file():
            raise TimbreError(
                f"no {kind} features for segment {segment!r} ({path}); run the feature extraction first"
            )
        return load_file(str(path))
