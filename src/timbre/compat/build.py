"""Modules from checkpoints and manifests: the one place in `timbre.compat` that touches the model classes.

The model code is imported lazily, so reading and writing checkpoints works without it. Loading is strict: the only
names allowed to be missing are the posterior encoder's (`enc_q.*`), which the original drops from inference files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from timbre.compat.checkpoints import ENC_Q_PREFIX, Checkpoint, GPTCheckpoint, SoVITSCheckpoint
from timbre.errors import CheckpointError


def _sovits_module(config: Mapping[str, Any], version: str | None = None) -> nn.Module:
    from timbre.models.sovits import SoVITSConfig, SynthesizerTrn

    return SynthesizerTrn(SoVITSConfig.from_original(dict(config), version=version))


def _gpt_module(config: Mapping[str, Any]) -> nn.Module:
    from timbre.models.gpt import GPTConfig, Text2SemanticDecoder

    return Text2SemanticDecoder(GPTConfig.from_original(dict(config)))


def _mpd_module(config: Mapping[str, Any]) -> nn.Module:
    from timbre.models.discriminators import MultiPeriodDiscriminator

    return MultiPeriodDiscriminator(str(config.get("version", "v2")))


def build_model(ckpt: Checkpoint, device: str | torch.device = "cpu") -> nn.Module:
    """The SoVITS `SynthesizerTrn` or GPT `Text2SemanticDecoder` for `ckpt`, weights loaded, in eval mode."""
    if isinstance(ckpt, SoVITSCheckpoint):
        model, may_miss = _sovits_module(ckpt.config, ckpt.version), ENC_Q_PREFIX
    elif isinstance(ckpt, GPTCheckpoint):
        model, may_miss = _gpt_module(ckpt.config), None
    else:
        raise TypeError(f"expected a SoVITSCheckpoint or GPTCheckpoint, got {type(ckpt).__name__}")
    expected = model.state_dict()
    problems = compare_state_dicts(
        {k: tuple(v.shape) for k, v in expected.items()},
        {k: tuple(v.shape) for k, v in ckpt.state_dict.items()},
    )
    missing = [k for k in problems.missing if not (may_miss and k.startswith(may_miss))]
    if missing or problems.unexpected or problems.mismatched:
        raise CheckpointError(
            f"{ckpt.kind} {ckpt.version} checkpoint does not fit the model: "
            + problems.summary(missing=missing)
        )
    model.load_state_dict(ckpt.state_dict, strict=False)
    return model.to(device).eval()


@dataclass(frozen=True)
class KeyReport:
    missing: list[str]  # in the model, not in the weights
    unexpected: list[str]  # in the weights, not in the model
    mismatched: list[str]  # "name: model (a, b) vs weights (c, d)"

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self, missing: Sequence[str] | None = None, limit: int = 3) -> str:
        missing = self.missing if missing is None else list(missing)
        parts = []
        for label, items in (
            ("missing", missing),
            ("unexpected", self.unexpected),
            ("shape", self.mismatched),
        ):
            if items:
                shown = ", ".join(items[:limit]) + (", ..." if len(items) > limit else "")
                parts.append(f"{len(items)} {label} ({shown})")
        return "; ".join(parts) or "all keys and shapes match"


def compare_state_dicts(
    model: Mapping[str, Sequence[int]], weights: Mapping[str, Sequence[int]]
) -> KeyReport:
    """Names and shapes of a model's state dict against those of a set of weights."""
    missing = [k for k in model if k not in weights]
    unexpected = [k for k in weights if k not in model]
    mismatched = [
        f"{k}: model {tuple(model[k])} vs weights {tuple(weights[k])}"
        for k in model
        if k in weights and tuple(model[k]) != tuple(weights[k])
    ]
    return KeyReport(missing, unexpected, mismatched)


def module_for_manifest(manifest: Mapping[str, Any]) -> nn.Module:
    """Build the module a reference manifest describes, from the config stored in it, on the meta device."""
    name = str(manifest.get("model", ""))
    config = manifest.get("config") or {}
    build: Callable[[Mapping[str, Any]], nn.Module]
    if name.endswith("_SynthesizerTrn"):
        build = _sovits_module
    elif name.endswith("_MultiPeriodDiscriminator"):
        build = _mpd_module
    elif name.endswith("_Text2SemanticDecoder"):
        build = _gpt_module
    else:
        raise CheckpointError(f"manifest {name!r}: unknown model kind (expected SynthesizerTrn, MPD or GPT)")
    try:
        with torch.device("meta"):  # shapes only: no memory, no random-init cost
            return build(config)
    except (ImportError, ValueError):
        raise
    except Exception:  # a constructor that needs real tensors (e.g. reads a value back): build it on the CPU
        return build(config)


def check_manifest(manifest: Mapping[str, Any]) -> KeyReport:
    """Zero missing / unexpected keys and equal shapes between timbre's module and a reference manifest."""
    model = module_for_manifest(manifest)
    want = {str(key): tuple(shape) for key, shape, *_ in manifest["state_dict"]}
    got = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    return compare_state_dicts(got, want)
