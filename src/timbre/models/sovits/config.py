"""SoVITS configuration: a frozen dataclass read from (and written back to) the original's hps dictionaries.

The original embeds its full config (`{"train": …, "data": …, "model": …}`) in every checkpoint. Versions:
v1 and v2 share `s2.json` (they differ in the symbol table and the style-encoder input width); v2Pro
(`s2v2Pro.json`) widens the global condition to 1024 channels and adds the speaker-verification projection;
v2ProPlus (`s2v2ProPlus.json`) also widens the decoder (768 channels, first upsampling kernel 20).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from timbre.errors import TimbreError

VERSIONS = ("v1", "v2", "v2Pro", "v2ProPlus")
PRO_VERSIONS = ("v2Pro", "v2ProPlus")

# the original's `train` section (identical in s2.json, s2v2Pro.json, s2v2ProPlus.json); written back on export
_TRAIN_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("log_interval", 100),
    ("eval_interval", 500),
    ("seed", 1234),
    ("epochs", 100),
    ("learning_rate", 0.0001),
    ("betas", (0.8, 0.99)),
    ("eps", 1e-09),
    ("batch_size", 32),
    ("fp16_run", True),
    ("lr_decay", 0.999875),
    ("segment_size", 20480),
    ("init_lr_ratio", 1),
    ("warmup_epochs", 0),
    ("c_mel", 45),
    ("c_kl", 1.0),
    ("text_low_lr_rate", 0.4),
    ("grad_ckpt", False),
)

_MODEL_KEYS = (
    "inter_channels",
    "hidden_channels",
    "filter_channels",
    "n_heads",
    "n_layers",
    "kernel_size",
    "p_dropout",
    "resblock",
    "resblock_kernel_sizes",
    "resblock_dilation_sizes",
    "upsample_rates",
    "upsample_initial_channel",
    "upsample_kernel_sizes",
    "n_layers_q",
    "use_spectral_norm",
    "gin_channels",
    "semantic_frame_rate",
    "freeze_quantizer",
    "version",
)
_DATA_KEYS = (
    "max_wav_value",
    "sampling_rate",
    "filter_length",
    "hop_length",
    "win_length",
    "n_mel_channels",
    "mel_fmin",
    "mel_fmax",
    "add_blank",
    "n_speakers",
    "cleaned_text",
)


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class SoVITSConfig:
    version: str = "v2"
    # model section
    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    p_dropout: float = 0.1
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    upsample_rates: tuple[int, ...] = (10, 8, 2, 2, 2)
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 8, 2, 2)
    n_layers_q: int = 3
    use_spectral_norm: bool = False
    gin_channels: int = 512
    semantic_frame_rate: str = "25hz"
    freeze_quantizer: bool = True
    # data section
    max_wav_value: float = 32768.0
    sampling_rate: int = 32000
    filter_length: int = 2048
    hop_length: int = 640
    win_length: int = 2048
    n_mel_channels: int = 128
    mel_fmin: float = 0.0
    mel_fmax: float | None = None
    add_blank: bool = True
    n_speakers: int = 300
    cleaned_text: bool = True
    # train section value the model needs (in samples; the model slices segment_size // hop_length frames)
    segment_size_samples: int = 20480

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise TimbreError(
                f"unknown SoVITS version {self.version!r}; expected one of {', '.join(VERSIONS)}"
            )
        if self.semantic_frame_rate not in ("25hz", "50hz"):
            raise TimbreError(
                f"semantic_frame_rate must be '25hz' or '50hz', not {self.semantic_frame_rate!r}"
            )

    # -- derived values ---------------------------------------------------------------------------------------
    @property
    def is_pro(self) -> bool:
        return self.version in PRO_VERSIONS

    @property
    def spec_channels(self) -> int:
        return self.filter_length // 2 + 1

    @property
    def segment_frames(self) -> int:
        return self.segment_size_samples // self.hop_length

    @property
    def n_symbols(self) -> int:
        return 322 if self.version == "v1" else 732

    @property
    def ref_channels(self) -> int:
        """Input width of the style encoder: the full spectrogram for v1, its lowest 704 bins otherwise."""
        return self.spec_channels if self.version == "v1" else 704

    @property
    def upsample_factor(self) -> int:
        factor = 1
        for r in self.upsample_rates:
            factor *= r
        return factor

    # -- conversion -------------------------------------------------------------------------------------------
    @classmethod
    def for_version(cls, version: str) -> SoVITSConfig:
        """The original's default config for `version` (s2.json / s2v2Pro.json / s2v2ProPlus.json)."""
        if version not in VERSIONS:
            raise TimbreError(f"unknown SoVITS version {version!r}; expected one of {', '.join(VERSIONS)}")
        if version in ("v1", "v2"):
            return cls(version=version)
        if version == "v2Pro":
            return cls(version=version, p_dropout=0.0, gin_channels=1024)
        return cls(
            version=version,
            p_dropout=0.0,
            gin_channels=1024,
            upsample_initial_channel=768,
            upsample_kernel_sizes=(20, 16, 8, 2, 2),
        )

    @classmethod
    def from_original(cls, cfg: dict[str, Any], version: str | None = None) -> SoVITSConfig:
        """Read the original's full hps dict (with "model"/"data"/"train") or just its "model" section.

        `version` overrides the dict's (old v1 checkpoints carry none; the original then assumes v2 unless the
        caller detected v1 from the weights).
        """
        if not isinstance(cfg, dict):
            raise TimbreError("SoVITS config must be a dict (the checkpoint's 'config' entry)")
        model = cfg.get("model", cfg)
        data = cfg.get("data", {}) or {}
        train = cfg.get("train", {}) or {}
        fields = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key in _MODEL_KEYS:
            if key in model and key in fields:
                values[key] = _freeze(model[key])
        for key in _DATA_KEYS:
            if key in data:
                values[key] = _freeze(data[key])
        if "segment_size" in train:
            values["segment_size_samples"] = int(train["segment_size"])
        values["version"] = version or model.get("version") or "v2"
        values["freeze_quantizer"] = bool(values.get("freeze_quantizer", True))
        return cls(**values)

    def to_original(self) -> dict[str, Any]:
        """The original's hps dict layout, for checkpoints that the original loads."""
        model = {k: _thaw(getattr(self, k)) for k in _MODEL_KEYS}
        data = {k: _thaw(getattr(self, k)) for k in _DATA_KEYS}
        train = {k: _thaw(v) for k, v in _TRAIN_DEFAULTS}
        train["segment_size"] = self.segment_size_samples
        return {"train": train, "data": data, "model": model}
