"""Checks of the SoVITS reference vectors: semantic-token extraction, decode (incl. the speed case) and the MPD.

Each check builds the model from the version's default config (never from a manifest), fills it with the
deterministic weights of the set's seed, runs the call recorded in the sidecar and compares every array it has.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from timbre.compat.detweights import load_deterministic
from timbre.compat.vectors import ArrayCheck, VectorSet, compare
from timbre.errors import TimbreError
from timbre.models.discriminators import MultiPeriodDiscriminator
from timbre.models.losses import discriminator_loss, feature_loss, generator_loss
from timbre.models.sovits import SoVITSConfig, SynthesizerTrn

_VERSION_NAMES = {"v1": "v1", "v2": "v2", "v2pro": "v2Pro", "v2proplus": "v2ProPlus"}
_INPUTS = ("codes", "text", "refer", "sv_emb")
_DEFAULT_SPEED = 1.25


def _version(vs: VectorSet) -> str:
    m = re.match(r"sovits_([a-z0-9]+)_", vs.name.lower())
    if not m or m.group(1) not in _VERSION_NAMES:
        raise TimbreError(f"cannot tell the SoVITS version from vector set name {vs.name!r}")
    return _VERSION_NAMES[m.group(1)]


def _model(vs: VectorSet) -> SynthesizerTrn:
    model = SynthesizerTrn(SoVITSConfig.for_version(_version(vs)))
    load_deterministic(model, vs.seed)
    return model.eval()


def _tensor(vs: VectorSet, key: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(vs.arrays[key]))


def check_extract_latent(vs: VectorSet) -> list[ArrayCheck]:
    model = _model(vs)
    ssl = _tensor(vs, "ssl")
    with torch.no_grad():
        got = {"ssl_proj_out": model.ssl_proj(ssl), "codes": model.extract_latent(ssl)}
        got["quantized"] = model.quantizer.decode(got["codes"].transpose(0, 1))
    return [compare(k, v, vs.arrays[k]) for k, v in got.items() if k in vs.arrays]


def _decode_arrays(model: SynthesizerTrn, vs: VectorSet, speed: float) -> dict[str, torch.Tensor]:
    sv_emb = _tensor(vs, "sv_emb") if "sv_emb" in vs.arrays else None
    s = model.decode_stages(
        _tensor(vs, "codes"),
        _tensor(vs, "text"),
        _tensor(vs, "refer"),
        noise_scale=0.0,
        speed=speed,
        sv_emb=sv_emb,
    )
    audio = model.dec(s.z * s.y_mask, g=s.ge)
    return {
        "ge_ref_enc": s.ge_ref,
        "quantized": s.quantized,
        "enc_p_ge": s.ge_text,
        "x_enc": s.x,
        "m_p": s.m_p,
        "logs_p": s.logs_p,
        "y_mask": s.y_mask,
        "z_p": s.z_p,
        "ge": s.ge,
        "z": s.z,
        "audio": audio,
    }


def check_decode(vs: VectorSet) -> list[ArrayCheck]:
    """`decode(codes, text, refer, noise_scale=0, speed=1[, sv_emb])` and its intermediates; `speed_*` arrays with
    the index's speed (1.25)."""
    model = _model(vs)
    speed = float(vs.params.get("speed", _DEFAULT_SPEED))
    checks: list[ArrayCheck] = []
    with torch.no_grad():
        plain = _decode_arrays(model, vs, 1.0)
        fast = _decode_arrays(model, vs, speed) if any(k.startswith("speed_") for k in vs.arrays) else {}
    for key in vs.arrays:
        if key in _INPUTS:
            continue
        source, name = (fast, key[len("speed_") :]) if key.startswith("speed_") else (plain, key)
        if name not in source:
            checks.append(ArrayCheck(key, False, float("inf"), "not produced by timbre's decode"))
            continue
        checks.append(compare(key, source[name], vs.arrays[key]))
    return checks


def check_mpd(vs: VectorSet) -> list[ArrayCheck]:
    """MultiPeriodDiscriminator scores, first feature maps and the three GAN losses on (y, y_hat)."""
    mpd = MultiPeriodDiscriminator(_version(vs))
    load_deterministic(mpd, vs.seed)
    mpd.eval()
    with torch.no_grad():
        out = mpd(_tensor(vs, "y"), _tensor(vs, "y_hat"))
        got: dict[str, torch.Tensor] = {
            "feature_loss": feature_loss(out.real_fmaps, out.fake_fmaps),
            "generator_loss": generator_loss(out.fake_scores)[0],
            "discriminator_loss": discriminator_loss(out.real_scores, out.fake_scores)[0],
        }
        for i in range(len(out.real_scores)):
            got[f"d{i}_real"] = out.real_scores[i]
            got[f"d{i}_gen"] = out.fake_scores[i]
            got[f"d{i}_fmap0_real"] = out.real_fmaps[i][0]
    checks = []
    for key in vs.arrays:
        if key in ("y", "y_hat"):
            continue
        if key not in got:
            checks.append(ArrayCheck(key, False, float("inf"), "not produced by timbre's discriminator"))
            continue
        checks.append(compare(key, got[key], vs.arrays[key]))
    return checks
