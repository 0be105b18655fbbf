"""Typed configuration of the text-to-semantic GPT, read from the original's nested config dict.

The original stores its training config (sections `train`, `optimizer`, `data`, `model`, `inference`) inside every
GPT `.ckpt`. Only the `model` section shapes the network; `data.max_sec` sets the decoding length cap.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any

from timbre.errors import TimbreError

_TRAIN = {
    "seed": 1234,
    "epochs": 20,
    "batch_size": 8,
    "save_every_n_epoch": 1,
    "precision": "16-mixed",
    "gradient_clip": 1.0,
}
_OPTIMIZER = {"lr": 0.01, "lr_init": 1e-05, "lr_end": 0.0001, "warmup_steps": 2000, "decay_steps": 40000}
_DATA = {"max_eval_sample": 8, "max_sec": 54, "num_workers": 4, "pad_val": 1024}
_MODEL = {
    "vocab_size": 1025,
    "phoneme_vocab_size": 732,
    "embedding_dim": 512,
    "hidden_dim": 512,
    "head": 16,
    "linear_units": 2048,
    "n_layer": 24,
    "dropout": 0,
    "EOS": 1024,
    "random_bert": 0,
}

# The original's s1longer-v2.yaml (v2) and s1longer.yaml (v1) as nested dicts; they differ only in the phone vocabulary
# (and the default top_k of the inference section).
ORIGINAL_V2_CONFIG: dict[str, Any] = {
    "train": _TRAIN,
    "optimizer": _OPTIMIZER,
    "data": _DATA,
    "model": _MODEL,
    "inference": {"top_k": 15},
}
ORIGINAL_V1_CONFIG: dict[str, Any] = {
    "train": _TRAIN,
    "optimizer": _OPTIMIZER,
    "data": _DATA,
    "model": {**_MODEL, "phoneme_vocab_size": 512},
    "inference": {"top_k": 5},
}


def original_config(version: str = "v2") -> dict[str, Any]:
    """A fresh copy of the original default config dict for `version` ("v1" or "v2")."""
    configs = {"v1": ORIGINAL_V1_CONFIG, "v2": ORIGINAL_V2_CONFIG}
    if version not in configs:
        raise TimbreError(f"unknown GPT version {version!r}: use 'v1' or 'v2'")
    return copy.deepcopy(configs[version])


@dataclass(frozen=True)
class GPTConfig:
    """Shape of `Text2SemanticDecoder`. Field names follow the original's `model` section where they exist."""

    phoneme_vocab_size: int = 732
    vocab_size: int = 1025  # semantic codes + EOS
    eos: int = 1024
    embedding_dim: int = 512
    hidden_dim: int = 512
    n_head: int = 16
    n_layer: int = 24
    ffn_dim: int = 2048  # the original always builds 4 * hidden_dim, whatever `linear_units` says
    dropout: float = 0.0  # token-embedding dropout; the transformer and positions use 0.1 as in the original
    bert_dim: int = 1024
    max_sec: int = 54  # data.max_sec: decoding stops after hz * max_sec tokens
    semantic_hz: int = 50  # the original's `hz` constant used with max_sec

    def __post_init__(self) -> None:
        if self.eos != self.vocab_size - 1:
            raise TimbreError(
                f"GPT config: EOS ({self.eos}) must be the last semantic id ({self.vocab_size - 1})"
            )
        if self.hidden_dim % self.n_head:
            raise TimbreError(
                f"GPT config: hidden_dim {self.hidden_dim} is not divisible by head {self.n_head}"
            )
        if self.embedding_dim != self.hidden_dim:
            raise TimbreError(
                "GPT config: embedding_dim must equal hidden_dim (the original adds them directly)"
            )

    @property
    def head_dim(self) -> int:
        return self.hidden_dim // self.n_head

    @property
    def early_stop_num(self) -> int:
        """The original inference's token cap: hz * max_sec."""
        return self.semantic_hz * self.max_sec

    @classmethod
    def from_original(cls, cfg: dict[str, Any]) -> GPTConfig:
        """Read the original nested config dict (as embedded in a GPT `.ckpt`: sections `model`, `data`, ...)."""
        model = cfg.get("model") if isinstance(cfg, dict) else None
        if not isinstance(model, dict):
            raise TimbreError("GPT config: expected the original config dict with a 'model' section")
        try:
            hidden = int(model["hidden_dim"])
            return cls(
                phoneme_vocab_size=int(model["phoneme_vocab_size"]),
                vocab_size=int(model["vocab_size"]),
                eos=int(model["EOS"]),
                embedding_dim=int(model["embedding_dim"]),
                hidden_dim=hidden,
                n_head=int(model["head"]),
                n_layer=int(model["n_layer"]),
                ffn_dim=4 * hidden,
                dropout=float(model.get("dropout", 0.0)),
                max_sec=int(cfg.get("data", {}).get("max_sec", 54)),
            )
        except KeyError as exc:
            raise TimbreError(f"GPT config: the 'model' section lacks {exc.args[0]!r}") from None

    @classmethod
    def v2(cls) -> GPTConfig:
        return cls.from_original(ORIGINAL_V2_CONFIG)

    @classmethod
    def v1(cls) -> GPTConfig:
        return cls.from_original(ORIGINAL_V1_CONFIG)

    def to_original(self) -> dict[str, Any]:
        """The original nested dict for this shape (defaults for the sections that do not shape the network)."""
        cfg = original_config("v2")
        cfg["data"]["max_sec"] = self.max_sec
        cfg["model"].update(
            vocab_size=self.vocab_size,
            phoneme_vocab_size=self.phoneme_vocab_size,
            embedding_dim=self.embedding_dim,
            hidden_dim=self.hidden_dim,
            head=self.n_head,
            linear_units=self.ffn_dim,
            n_layer=self.n_layer,
            dropout=self.dropout,
            EOS=self.eos,
        )
        return cfg

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
