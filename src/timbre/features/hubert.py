"""HuBERT / ContentVec content features: 16 kHz waveform -> `last_hidden_state` as [B, C, T50] (C = 768 for base).

Facts about the original: it loads a transformers `HubertModel` (chinese-hubert-base) from a local folder and, both in
dataset preparation and at inference, calls the model directly on the waveform — the feature extractor's zero-mean /
unit-variance normalization is bypassed (`normalize=False` here reproduces that; `normalize=True` applies it).

Batches of different lengths are right-padded and masked so that every item equals its unbatched result: the
`group`-norm first conv layer (HuBERT base) normalizes each item over its valid frames only, the valid frames of every
unpadded conv depend only on valid samples, and the transformer gets the frame-level attention mask (transformers
zeroes the padded frames before the positional convolution). On CPU the conv front end runs item by item (batching
it only costs cache there); the transformer always runs as one batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from torch import nn

from timbre.errors import TimbreError
from timbre.features._folder import (
    check_model_folder,
    folder_fingerprint,
    quiet_transformers,
    require_complete,
)
from timbre.features.batching import BatchConfig, BatchEngine

SAMPLE_RATE = 16000
Precision = Literal["fp32", "fp16", "bf16"]
_AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


class ContentBatch(NamedTuple):
    features: torch.Tensor  # [B, C, T50] float32, frames past `lengths[b]` are padding
    lengths: torch.Tensor  # [B] valid frames per item


@dataclass(frozen=True)
class HubertOptions:
    device: str = "cpu"
    precision: Precision = "fp32"  # fp16/bf16 run under autocast on CUDA only; weights stay fp32
    normalize: bool = False  # the original bypasses the feature extractor's normalization
    batch_conv: bool | None = None  # conv front end as one batch; None: on GPU yes, on CPU item by item


def inference_context(device: torch.device, precision: Precision) -> contextlib.ExitStack:
    """`inference_mode`, plus autocast when running on CUDA in half precision."""
    stack = contextlib.ExitStack()
    stack.enter_context(torch.inference_mode())
    if device.type == "cuda" and precision in _AUTOCAST_DTYPES:
        stack.enter_context(torch.autocast("cuda", dtype=_AUTOCAST_DTYPES[precision]))
    return stack


def _masked_group_norm(h: torch.Tensor, lengths: torch.Tensor, norm: nn.GroupNorm) -> torch.Tensor:
    """GroupNorm of each item's first `lengths[b]` frames (the padding stays zero). h: [B, C, T]."""
    out = torch.zeros_like(h)
    for i, n in enumerate(lengths.tolist()):
        out[i, :, :n] = norm(h[i : i + 1, :, :n])[0]
    return out


class HubertExtractor:
    """A transformers `HubertModel` (HuBERT or ContentVec) in eval mode, with padding-exact batching."""

    sample_rate = SAMPLE_RATE

    def __init__(self, model: Any, options: HubertOptions | None = None, fingerprint: str = "custom") -> None:
        self.options = options or HubertOptions()
        self.device = torch.device(self.options.device)
        self.model = model.eval().to(self.device)
        self.hidden_size = int(model.config.hidden_size)
        self.fingerprint = f"hubert:{fingerprint}:norm={int(self.options.normalize)}"
        convs = [layer.conv for layer in model.feature_extractor.conv_layers]
        self._conv_shapes = [(int(c.kernel_size[0]), int(c.stride[0])) for c in convs]
        self.min_samples = self._receptive_field()

    @classmethod
    def from_folder(cls, folder: str | Path, options: HubertOptions | None = None) -> HubertExtractor:
        """Load from a local folder (config.json + weights); never downloads."""
        from transformers import HubertModel

        path = check_model_folder(folder, "HuBERT/ContentVec", ("hubert",))
        try:
            with quiet_transformers():
                loaded: Any = HubertModel.from_pretrained(
                    path, local_files_only=True, output_loading_info=True
                )
        except (OSError, ValueError, RuntimeError) as exc:
            raise TimbreError(f"cannot load the HuBERT model from {path}: {exc}") from None
        model, info = loaded
        require_complete(info, path, "HuBERT", optional=("masked_spec_embed",))
        return cls(model, options, folder_fingerprint(path))

    # ---- lengths -----------------------------------------------------------------------------------------------
    def frame_lengths(self, samples: torch.Tensor) -> torch.Tensor:
        """Output frames for inputs of `samples` samples (50 Hz for 16 kHz input)."""
        frames = samples.clone()
        for kernel, stride in self._conv_shapes:
            frames = torch.div(frames - kernel, stride, rounding_mode="floor") + 1
        return frames

    def _receptive_field(self) -> int:
        size = 1
        for kernel, stride in reversed(self._conv_shapes):
            size = (size - 1) * stride + kernel
        return size

    def check_input(self, wav: torch.Tensor | np.ndarray) -> None:
        """Raise ValueError unless `wav` is one mono 16 kHz waveform [T] long enough for one frame."""
        shape = tuple(wav.shape)
        if len(shape) != 1:
            raise TimbreError(f"HuBERT takes one mono waveform [T] at 16 kHz, got shape {shape}")
        if shape[0] < self.min_samples:
            raise TimbreError(
                f"audio too short for HuBERT: {shape[0]} samples, need at least {self.min_samples}"
            )

    # ---- forward -----------------------------------------------------------------------------------------------
    def forward_batch(self, wavs: torch.Tensor, lengths: torch.Tensor) -> ContentBatch:
        """wavs: [B, T] right-padded 16 kHz audio; lengths: [B] valid samples. Returns features [B, C, T50]."""
        with inference_context(self.device, self.options.precision):
            wavs = wavs.to(self.device, torch.float32)
            lengths = lengths.to(self.device)
            if self.options.normalize:
                wavs = self._normalize(wavs, lengths)
            h, frames = self._conv_features(wavs, lengths)  # [B, C_conv, T50]
            hidden = self.model.feature_projection(h.transpose(1, 2))  # [B, T50, C]
            mask = torch.arange(hidden.shape[1], device=self.device)[None, :] < frames[:, None]
            padded = bool((frames < hidden.shape[1]).any())
            out = self.model.encoder(hidden, attention_mask=mask if padded else None).last_hidden_state
            return ContentBatch(out.float().transpose(1, 2), frames)

    def _normalize(self, wavs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Zero mean, unit variance over each item's valid samples (eps 1e-7, as the transformers extractor)."""
        valid = (torch.arange(wavs.shape[1], device=wavs.device)[None, :] < lengths[:, None]).float()
        count = lengths[:, None].float()
        mean = (wavs * valid).sum(1, keepdim=True) / count
        var = ((wavs - mean).square() * valid).sum(1, keepdim=True) / count
        return (wavs - mean) / torch.sqrt(var + 1e-7) * valid

    def _conv_features(self, wavs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The convolutional front end -> ([B, C_conv, T50], frames), as one batch or item by item."""
        batch_conv = self.options.batch_conv
        if batch_conv is None:
            batch_conv = self.device.type != "cpu"
        if batch_conv or len(wavs) == 1:
            return self._conv_stack(wavs, lengths)
        items = [
            self._conv_stack(wavs[i : i + 1, : int(n)], lengths[i : i + 1])[0][0]
            for i, n in enumerate(lengths)
        ]
        frames = torch.tensor([x.shape[-1] for x in items], device=self.device)
        h = items[0].new_zeros(len(items), items[0].shape[0], int(frames.max()))
        for row, x in zip(h, items, strict=True):
            row[:, : x.shape[-1]] = x
        return h, frames

    def _conv_stack(self, wavs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = wavs[:, None, :]  # [B, 1, T]
        frames = lengths
        padded = bool((lengths < wavs.shape[1]).any())
        for layer, (kernel, stride) in zip(
            self.model.feature_extractor.conv_layers, self._conv_shapes, strict=True
        ):
            h = layer.conv(h)
            frames = torch.div(frames - kernel, stride, rounding_mode="floor") + 1
            norm = getattr(layer, "layer_norm", None)
            if isinstance(norm, nn.GroupNorm):
                h = _masked_group_norm(h, frames, norm) if padded else norm(h)
            elif isinstance(norm, nn.LayerNorm):
                h = norm(h.transpose(1, 2)).transpose(1, 2)
            h = layer.activation(h)
        return h, frames

    def run_batch(self, wavs: Sequence[torch.Tensor | np.ndarray]) -> list[torch.Tensor]:
        """Pad, run once, and return each item's own features [C, T50_i] (the batch engine's runner)."""
        items = [torch.as_tensor(w, dtype=torch.float32) for w in wavs]
        lengths = torch.tensor([len(w) for w in items])
        padded = torch.zeros(len(items), int(lengths.max()))
        for row, wav in zip(padded, items, strict=True):
            row[: len(wav)] = wav
        batch = self.forward_batch(padded, lengths)
        return [batch.features[i, :, : int(n)] for i, n in enumerate(batch.lengths)]

    def __call__(self, wav: torch.Tensor | np.ndarray) -> torch.Tensor:
        """One waveform [T] at 16 kHz -> features [C, T50]."""
        self.check_input(wav)
        return self.run_batch([wav])[0]

    def engine(self, config: BatchConfig | None = None) -> BatchEngine[torch.Tensor, torch.Tensor]:
        """A batch engine serving this model: `engine.submit(wav16k [T]) -> Future[[C, T50]]`."""
        return BatchEngine(
            self.run_batch,
            size_of=len,
            config=config or BatchConfig(max_batch_tokens=SAMPLE_RATE * 40),
            validate=self.check_input,
            name="hubert-engine",
        )
