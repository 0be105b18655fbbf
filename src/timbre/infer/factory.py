"""Building a `Synthesizer`: from the original's files, from a voice folder, or on deterministic weights.

- `from_files(gpt, sovits, hubert, roberta=None, sv=None)`: a GPT `.ckpt` and SoVITS `.pth` as the original writes
  them (or timbre `.safetensors`), a local HuBERT folder (chinese-hubert-base, Hugging Face format) and optionally the
  Chinese RoBERTa folder (without it Chinese text gets the original's zero features).
- `from_voice(folder, ...)`: a folder written by `timbre train` (see `timbre.infer.voice`).
- `deterministic(seed)`: v2 GPT + v2 SoVITS on the deterministic weights of `timbre.compat.detweights` and a tiny
  random HuBERT (768 wide, 2 layers, seeded). Nothing is trained: the audio is noise-like. It exists so that demos and
  tests run the whole pipeline without real weights. The GPT's EOS row is zeroed (untrained weights would stop at
  random) and every fragment gets 2 tokens per target phone, so outputs have a plausible, predictable length.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, cast, get_args

import torch

from timbre.compat.build import build_model
from timbre.compat.checkpoints import GPTCheckpoint, SoVITSCheckpoint
from timbre.compat.detweights import load_deterministic
from timbre.compat.native import load_checkpoint
from timbre.errors import TimbreError
from timbre.features.hubert import HubertExtractor
from timbre.features.roberta import RobertaPhoneFeatures
from timbre.features.speaker import load_speaker_model
from timbre.infer.gpt_engine import GPTEngine
from timbre.infer.options import TokenCap
from timbre.infer.pipeline import SpeakerFn, Synthesizer
from timbre.infer.reference import ReferenceLimits
from timbre.models.gpt import GPTConfig, Text2SemanticDecoder, original_config
from timbre.models.sovits import SoVITSConfig, SynthesizerTrn

Precision = Literal["fp32", "bf16", "int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
DET_TOKENS_PER_PHONE = 2.0


def _check_precision(precision: str) -> Precision:
    if precision not in PRECISIONS:
        raise TimbreError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    return cast(Precision, precision)


def _assemble(
    gpt: Text2SemanticDecoder,
    sovits: SynthesizerTrn,
    hubert: HubertExtractor,
    *,
    roberta: RobertaPhoneFeatures | None,
    speaker: SpeakerFn | None,
    precision: str,
    limits: ReferenceLimits | None,
    cap: TokenCap,
    description: str,
) -> Synthesizer:
    """GPT precision as given (fp32/bf16/int8 weights for decode steps); SoVITS bf16 unless fp32 is asked for."""
    p = _check_precision(precision)
    sovits.prepare_for_inference("fp32" if p == "fp32" else "bf16")
    engine = GPTEngine(gpt.eval(), p)
    return Synthesizer(
        engine, sovits, hubert, roberta, speaker, limits or ReferenceLimits(), cap, description
    )


def check_versions(gpt_version: str, sovits_version: str) -> None:
    """The GPT and SoVITS of one model share a symbol table: v1 with v1, v2 with v2/v2Pro/v2ProPlus."""
    if (gpt_version == "v1") != (sovits_version == "v1"):
        raise TimbreError(
            f"the GPT is {gpt_version} but the SoVITS model is {sovits_version}; they use different phone tables. "
            "Use a GPT and a SoVITS file trained for the same version"
        )


def _load_kind(path: str | Path, kind: str, flag: str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise TimbreError(f"{flag} {path}: file not found")
    ckpt = load_checkpoint(path)
    if ckpt.kind != kind:
        raise TimbreError(f"{flag} {path}: this is a {ckpt.kind} checkpoint, not a {kind} one")
    return ckpt


def from_checkpoints(
    gpt: GPTCheckpoint,
    sovits: SoVITSCheckpoint,
    hubert: str | Path | HubertExtractor,
    *,
    roberta: str | Path | RobertaPhoneFeatures | None = None,
    sv: str | Path | SpeakerFn | None = None,
    precision: str = "fp32",
    limits: ReferenceLimits | None = None,
    description: str = "",
) -> Synthesizer:
    check_versions(gpt.version, sovits.version)
    _check_precision(precision)
    speaker = load_speaker_model(sv) if isinstance(sv, (str, Path)) else sv
    if sovits.version in ("v2Pro", "v2ProPlus") and speaker is None:
        raise TimbreError(
            f"the SoVITS model is {sovits.version}: it needs the speaker-verification model (--sv PATH)"
        )
    if not isinstance(hubert, HubertExtractor):
        hubert = HubertExtractor.from_folder(hubert)
    if isinstance(roberta, (str, Path)):
        roberta = RobertaPhoneFeatures.from_folder(roberta)
    gpt_model = cast(Text2SemanticDecoder, build_model(gpt))
    sovits_model = cast(SynthesizerTrn, build_model(sovits))
    cap = TokenCap(model_cap=gpt_model.cfg.early_stop_num)
    return _assemble(
        gpt_model, sovits_model, hubert, roberta=roberta, speaker=speaker, precision=precision,
        limits=limits, cap=cap, description=description or f"GPT {gpt.version} + SoVITS {sovits.version}",
    )  # fmt: skip


def from_files(
    gpt: str | Path,
    sovits: str | Path,
    hubert: str | Path | HubertExtractor,
    *,
    roberta: str | Path | RobertaPhoneFeatures | None = None,
    sv: str | Path | SpeakerFn | None = None,
    precision: str = "fp32",
    limits: ReferenceLimits | None = None,
) -> Synthesizer:
    """GPT `.ckpt` / SoVITS `.pth` in the original formats (or timbre `.safetensors`) plus the feature models."""
    gpt_ckpt = _load_kind(gpt, "gpt", "--gpt")
    sovits_ckpt = _load_kind(sovits, "sovits", "--sovits")
    return from_checkpoints(
        gpt_ckpt, sovits_ckpt, hubert, roberta=roberta, sv=sv, precision=precision, limits=limits,
        description=f"{Path(gpt).name} + {Path(sovits).name}",
    )  # fmt: skip


def from_voice(
    folder: str | Path,
    *,
    hubert: str | Path | HubertExtractor | None = None,
    roberta: str | Path | RobertaPhoneFeatures | None = None,
    sv: str | Path | SpeakerFn | None = None,
    precision: str = "fp32",
    limits: ReferenceLimits | None = None,
) -> Synthesizer:
    """A voice folder (`timbre.infer.voice`); `hubert` and `sv` override the voice's own hubert/ and sv.ckpt."""
    from timbre.infer.voice import load_voice

    voice = load_voice(folder)
    hubert = hubert if hubert is not None else voice.hubert
    sv = sv if sv is not None else voice.sv
    if hubert is None:
        raise TimbreError(f"{voice.folder}: the voice has no hubert/ folder; pass --hubert DIR")
    gpt_ckpt, sovits_ckpt = voice.load_checkpoints()
    return from_checkpoints(
        gpt_ckpt, sovits_ckpt, hubert, roberta=roberta, sv=sv, precision=precision, limits=limits,
        description=f"voice {voice.name!r} ({voice.version})",
    )  # fmt: skip


def tiny_hubert(seed: int, layers: int = 2) -> HubertExtractor:
    """A random transformers HuBERT (768 wide, `layers` layers, base conv front end), seeded, without downloads."""
    from transformers import HubertConfig, HubertModel

    if layers not in (1, 2):
        raise TimbreError("the tiny HuBERT has 1 or 2 layers")
    config = HubertConfig(
        hidden_size=768, num_hidden_layers=layers, num_attention_heads=12, intermediate_size=1536
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = HubertModel(config)
    return HubertExtractor(model.eval(), fingerprint=f"tiny-random-{seed}-{layers}")


def deterministic_models(seed: int) -> tuple[Text2SemanticDecoder, SynthesizerTrn]:
    """v2 GPT (EOS row zeroed) and v2 SoVITS filled with the deterministic weights for `seed`."""
    gpt = Text2SemanticDecoder(GPTConfig.from_original(original_config("v2")))
    load_deterministic(gpt, seed, zero_eos_row=True)
    sovits = SynthesizerTrn(SoVITSConfig.for_version("v2"))
    load_deterministic(sovits, seed)
    return gpt, sovits


@functools.cache
def _deterministic_shared(seed: int, precision: str, hubert_layers: int) -> Synthesizer:
    gpt, sovits = deterministic_models(seed)
    cap = TokenCap(model_cap=gpt.cfg.early_stop_num, tokens_per_phone=DET_TOKENS_PER_PHONE)
    return _assemble(
        gpt, sovits, tiny_hubert(seed, hubert_layers), roberta=None, speaker=None, precision=precision,
        limits=None, cap=cap, description=f"deterministic weights, seed {seed} (untrained)",
    )  # fmt: skip


def deterministic(
    seed: int = 0, *, precision: str = "fp32", limits: ReferenceLimits | None = None, hubert_layers: int = 2
) -> Synthesizer:
    """The whole pipeline on untrained deterministic weights (see the module docstring).

    The models are built once per process for each (seed, precision, hubert_layers) and shared by the synthesizers
    returned here: inference only reads them, and building them takes seconds.
    """
    _check_precision(precision)
    shared = _deterministic_shared(seed, precision, hubert_layers)
    return replace(shared, limits=limits or ReferenceLimits())
