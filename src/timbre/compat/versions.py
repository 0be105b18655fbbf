"""Which model version a checkpoint holds: from the file's version marker, the official file hashes, and the shapes.

The original decides a SoVITS file's version in two steps. From the file: a hash of its first 8 KiB for the official
pretrained files, else the two-byte marker it writes instead of the zip magic (v2Pro "05", v2ProPlus "06", ...), else
a file-size guess. Then from the weights: the text-embedding row count picks the symbol table (322 rows: v1, 732: v2)
for everything that is not v2Pro/v2ProPlus. Here the weights are the authority (they decide what can be built) and the
file evidence is cross-checked against them, so a file whose marker contradicts its tensors is refused.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from timbre.errors import CheckpointError

SOVITS_VERSIONS = ("v1", "v2", "v2Pro", "v2ProPlus")
GPT_VERSIONS = ("v1", "v2")

# Two-byte markers the original writes at the start of a SoVITS .pth: marker -> (model version, is LoRA).
MARKER_VERSIONS: Mapping[bytes, tuple[str, bool]] = {
    b"00": ("v1", False),
    b"01": ("v2", False),
    b"02": ("v3", False),
    b"03": ("v3", True),
    b"04": ("v4", True),
    b"05": ("v2Pro", False),
    b"06": ("v2ProPlus", False),
}
# Versions the original saves with a marker (full-weight files; v3/v4 markers are for LoRA files only).
VERSION_MARKERS: Mapping[str, bytes] = {"v2Pro": b"05", "v2ProPlus": b"06"}

# md5 of the first 8 KiB of the official pretrained SoVITS files -> (model version, file name).
PRETRAINED_HASHES: Mapping[str, tuple[str, str]] = {
    "dc3c97e17592963677a4a1681f30c653": ("v1", "s2G488k.pth"),
    "6642b37f3dbb1f76882b69937c95a5f3": ("v2", "s2G2333k.pth"),
    "43797be674a37c1c83ee81081941ed0f": ("v3", "s2Gv3.pth"),
    "4f26b9476d0c5033e04162c486074374": ("v4", "s2Gv4.pth"),
    "c7e9fce2223f3db685cdfa1e6368728a": ("v2Pro", "s2Gv2Pro.pth"),
    "66b313e39455b57ab1b0bc0b239c9d0a": ("v2ProPlus", "s2Gv2ProPlus.pth"),
}

TEXT_ROWS = {322: "v1", 732: "v2"}  # SoVITS enc_p.text_embedding rows -> symbol table
REF_ENC_WIDTH = {"v1": 1025, "v2": 704}  # SoVITS ref_enc input bins per symbol table
GPT_PHONE_ROWS = {512: "v1", 732: "v2"}  # GPT ar_text_embedding rows -> version
PRO_KEYS = ("sv_emb.weight", "ge_to512.weight", "prelu.weight")


@dataclass(frozen=True)
class VersionInfo:
    kind: str  # "sovits" | "gpt"
    version: str  # v1 | v2 | v2Pro | v2ProPlus (SoVITS); v1 | v2 (GPT)
    symbols: str  # symbol table of the text input: "v1" or "v2"
    source: str  # the evidence, e.g. "marker 05 + weights", "weights", "official s2Gv2Pro.pth + weights"

    def __str__(self) -> str:
        return f"{self.kind} {self.version} (symbols {self.symbols}; from {self.source})"


def file_head_hash(path: str | os.PathLike[str]) -> str:
    with Path(path).open("rb") as fh:
        return hashlib.md5(fh.read(8192), usedforsecurity=False).hexdigest()


def _shape(state_dict: Mapping[str, Any], key: str) -> tuple[int, ...]:
    return tuple(int(n) for n in state_dict[key].shape)


def sovits_version_from_weights(state_dict: Mapping[str, Any]) -> str:
    """v1 / v2 / v2Pro / v2ProPlus from tensor names and shapes; `CheckpointError` for anything else."""
    if "enc_p.text_embedding.weight" not in state_dict or "dec.conv_pre.weight" not in state_dict:
        raise CheckpointError(
            "this SoVITS checkpoint has no text embedding or HiFi-GAN decoder: it is a v3/v4 (CFM + vocoder) model "
            "or not a SoVITS generator; timbre supports v1, v2, v2Pro and v2ProPlus"
        )
    rows = _shape(state_dict, "enc_p.text_embedding.weight")[0]
    symbols = TEXT_ROWS.get(rows)
    if symbols is None:
        raise CheckpointError(
            f"SoVITS text embedding has {rows} rows; expected 322 (v1) or 732 (v2 and later)"
        )
    if "ref_enc.spectral.0.fc.weight" in state_dict:
        width = _shape(state_dict, "ref_enc.spectral.0.fc.weight")[1]
        if width != REF_ENC_WIDTH[symbols]:
            raise CheckpointError(
                f"SoVITS weights are inconsistent: {rows} text rows ({symbols}) but a reference encoder "
                f"{width} bins wide (expected {REF_ENC_WIDTH[symbols]})"
            )
    pro = [key in state_dict for key in PRO_KEYS]
    if any(pro) and not all(pro):
        raise CheckpointError(f"SoVITS weights have only some of the v2Pro tensors {PRO_KEYS}")
    if not any(pro):
        return symbols
    if symbols != "v2":
        raise CheckpointError("SoVITS weights have v2Pro tensors but the v1 symbol table")
    initial_channels = _shape(state_dict, "dec.conv_pre.weight")[0]
    return "v2ProPlus" if initial_channels == 768 else "v2Pro"


def detect_sovits_version(
    state_dict: Mapping[str, Any], marker: bytes | None = None, head_hash: str | None = None
) -> VersionInfo:
    """Version from the weights, cross-checked with the file's marker and official-file hash when given."""
    version = sovits_version_from_weights(state_dict)
    evidence = []
    official = PRETRAINED_HASHES.get(head_hash or "")
    if official is not None:
        evidence.append(f"official {official[1]}")
    if marker is not None:
        if marker not in MARKER_VERSIONS:
            raise CheckpointError(f"unknown SoVITS version marker {marker!r} at the start of the file")
        marked, is_lora = MARKER_VERSIONS[marker]
        if is_lora or marked in ("v3", "v4"):
            raise CheckpointError(
                f"the file is marked as a {marked}{' LoRA' if is_lora else ''} model; not supported"
            )
        # The original trusts the marker only for the v2Pro family; v1/v2 follow the text table.
        if ("Pro" in marked or "Pro" in version) and marked != version:
            raise CheckpointError(f"the file is marked {marked} but its weights are a {version} model")
        evidence.append(f"marker {marker.decode('ascii')}")
    evidence.append("weights")
    symbols = "v1" if version == "v1" else "v2"
    return VersionInfo("sovits", version, symbols, " + ".join(evidence))


def detect_gpt_version(state_dict: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> VersionInfo:
    """v1 / v2 from the phone-embedding rows (GPT keys without the `model.` prefix)."""
    key = "ar_text_embedding.word_embeddings.weight"
    if key not in state_dict:
        raise CheckpointError(f"not a GPT (text-to-semantic) checkpoint: it has no {key!r}")
    rows = _shape(state_dict, key)[0]
    version = GPT_PHONE_ROWS.get(rows)
    if version is None:
        raise CheckpointError(f"GPT phone embedding has {rows} rows; expected 512 (v1) or 732 (v2)")
    model_cfg = (config or {}).get("model") or {}
    declared = model_cfg.get("phoneme_vocab_size")
    if declared is not None and int(declared) != rows:
        raise CheckpointError(
            f"GPT config says phoneme_vocab_size={declared} but the weights have {rows} rows"
        )
    return VersionInfo("gpt", version, version, "weights")
