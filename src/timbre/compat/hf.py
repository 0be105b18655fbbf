"""Hugging Face folders the original uses: chinese-hubert-base (HuBERT) and chinese-roberta-wwm-ext-large (BERT).

Only local folders are read (`local_files_only=True`, no remote code, `.bin` weights through torch's restricted
unpickler). A folder is checked before transformers sees it, so a wrong path gives a message that says what is missing
instead of a hub lookup error. (`timbre.features` wraps these models for feature extraction.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from timbre.errors import CheckpointError

WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
# Folder kind -> accepted `model_type` values in config.json.
MODEL_TYPES: Mapping[str, tuple[str, ...]] = {"hubert": ("hubert",), "roberta": ("bert", "roberta")}
_NAMES = {
    "hubert": "HuBERT (chinese-hubert-base)",
    "roberta": "Chinese RoBERTa (chinese-roberta-wwm-ext-large)",
}


@dataclass(frozen=True)
class HFFolder:
    path: Path
    kind: str  # "hubert" | "roberta"
    model_type: str  # config.json model_type
    hidden_size: int
    num_layers: int
    weights: str  # weight file name found
    has_tokenizer: bool

    def __str__(self) -> str:
        return (
            f"{self.kind}: {self.model_type}, {self.num_layers} layers, hidden {self.hidden_size}, "
            f"weights {self.weights}{', tokenizer' if self.has_tokenizer else ''}"
        )


def inspect_hf_folder(folder: str | os.PathLike[str], kind: str | None = None) -> HFFolder:
    """Check a local HF folder (config.json + weights) and say what it holds; `kind` restricts the accepted type."""
    path = Path(folder).expanduser().resolve()
    wanted = [kind] if kind else list(MODEL_TYPES)
    if kind is not None and kind not in MODEL_TYPES:
        raise ValueError(f"unknown folder kind {kind!r}; use one of {tuple(MODEL_TYPES)}")
    what = " or ".join(_NAMES[k] for k in wanted)
    hint = f"give the local folder of a {what} model: config.json plus model.safetensors or pytorch_model.bin"
    if not path.is_dir():
        raise CheckpointError(f"model folder not found: {path}; {hint}")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"{path} has no config.json; {hint}")
    try:
        config: Any = json.loads(config_file.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {config_file}: {exc}") from None
    model_type = str(config.get("model_type", "")) if isinstance(config, dict) else ""
    found_kind = next((k for k in wanted if model_type in MODEL_TYPES[k]), None)
    if found_kind is None:
        raise CheckpointError(f"{config_file} describes a {model_type or 'unknown'!r} model; {hint}")
    weights = next((name for name in WEIGHT_FILES if (path / name).is_file()), None)
    if weights is None:
        raise CheckpointError(
            f"{path} has config.json but no weights ({', '.join(WEIGHT_FILES[:2])}); {hint}"
        )
    has_tokenizer = any((path / name).is_file() for name in TOKENIZER_FILES)
    if found_kind == "roberta" and not has_tokenizer:
        raise CheckpointError(f"{path} has no tokenizer (vocab.txt or tokenizer.json); {hint}")
    return HFFolder(
        path,
        found_kind,
        model_type,
        int(config.get("hidden_size", 0)),
        int(config.get("num_hidden_layers", 0)),
        weights,
        has_tokenizer,
    )


def _load_error(path: Path, exc: Exception) -> CheckpointError:
    return CheckpointError(f"cannot load the model in {path}: {type(exc).__name__}: {exc}")


def load_hubert(folder: str | os.PathLike[str]) -> Any:
    """transformers `HubertModel` from a local folder, in eval mode."""
    from transformers import HubertModel

    info = inspect_hf_folder(folder, "hubert")
    try:
        model = HubertModel.from_pretrained(info.path, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, RuntimeError) as exc:
        raise _load_error(info.path, exc) from None
    return model.eval()


def load_roberta(folder: str | os.PathLike[str]) -> tuple[Any, Any]:
    """(tokenizer, masked-LM model) from a local Chinese RoBERTa folder, the model in eval mode."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    info = inspect_hf_folder(folder, "roberta")
    try:
        tokenizer = AutoTokenizer.from_pretrained(info.path, local_files_only=True, trust_remote_code=False)
        model = AutoModelForMaskedLM.from_pretrained(
            info.path, local_files_only=True, trust_remote_code=False
        )
    except (OSError, ValueError, RuntimeError) as exc:
        raise _load_error(info.path, exc) from None
    return tokenizer, model.eval()
