"""Writing the voice folder: the trained models in the original formats and as safetensors, plus what synthesis needs.

The folder is a `timbre.infer.voice` voice (what `timbre synth --voice` loads), with training's extras beside it:
    voice.json            manifest (`save_voice`): versions, file names, hubert/, reference clip + transcript, info
    gpt.ckpt, sovits.pth  the original formats (fp16; no enc_q; version marker for v2Pro*) — WebUI-loadable
    gpt.safetensors (+ gpt.json), sovits.safetensors (+ sovits.json)   timbre's format, fp32
    hubert/               the HuBERT folder used for the features (copied unless `copy_hubert=False`)
    sv.ckpt               v2Pro*: the speaker-verification model used for the features (copied with hubert/)
    reference.wav         a 3-10 s training segment (32 kHz; none if no segment is that long); its transcript and
                          language are in voice.json
    sovits_losses.png, gpt_losses.png, spectrogram.png
    training/             metrics CSV, TensorBoard logs, resumable checkpoints, stages.json, run.json
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any, NamedTuple, cast

import soundfile as sf

from timbre.compat.build import build_model
from timbre.compat.checkpoints import ENC_Q_PREFIX, GPTCheckpoint, SoVITSCheckpoint
from timbre.compat.native import load_safetensors, save_safetensors
from timbre.features.loading import load_index, load_segment
from timbre.infer.voice import VOICE_FILE, save_voice
from timbre.models.gpt import Text2SemanticDecoder
from timbre.models.sovits import SynthesizerTrn
from timbre.train.plots import spectrogram_png

REFERENCE_RANGE = (3.0, 10.0)  # seconds, as the original's reference limits
REFERENCE_TARGET = 5.0


class VoiceParts(NamedTuple):
    sovits: SynthesizerTrn
    sovits_config: dict[str, Any]  # original-format config dict
    version: str  # SoVITS version (v2, v2Pro, v2ProPlus)
    gpt: Text2SemanticDecoder
    gpt_config: dict[str, Any]
    hubert: Path | None  # folder copied into the voice (None: synthesis needs --hubert)
    info: dict[str, Any]  # training settings, kept in voice.json
    # v2Pro*: the speaker-verification checkpoint copied in (None: synthesis needs --sv)
    sv: Path | None = None


def pick_reference(dataset_dir: Path, names: list[str]) -> dict[str, Any] | None:
    """The index entry (name, wav, text, lang, …) of the segment closest to 5 s among those of 3-10 s; None when no
    segment is that long (synthesis refuses a reference outside those limits, so the voice gets none)."""
    wanted = set(names)
    entries = [e for e in load_index(dataset_dir) if e["name"] in wanted]
    durations = {e["name"]: sf.info(str(dataset_dir / e["wav"])).duration for e in entries}
    usable = [e for e in entries if REFERENCE_RANGE[0] <= durations[e["name"]] <= REFERENCE_RANGE[1]]
    return min(usable, key=lambda e: abs(durations[e["name"]] - REFERENCE_TARGET)) if usable else None


def write_voice(voice_dir: Path, parts: VoiceParts, dataset_dir: Path, names: list[str]) -> dict[str, Path]:
    """Write every file of the voice folder; returns them by role."""
    voice_dir.mkdir(parents=True, exist_ok=True)
    sovits_state = {k: v for k, v in parts.sovits.state_dict().items() if not k.startswith(ENC_Q_PREFIX)}
    sovits_ckpt = SoVITSCheckpoint(parts.version, parts.sovits_config, sovits_state, "timbre few-shot")
    gpt_ckpt = GPTCheckpoint("v2", parts.gpt_config, dict(parts.gpt.state_dict()), "GPT-timbre")
    files = {
        "sovits_safetensors": save_safetensors(sovits_ckpt, voice_dir / "sovits.safetensors"),
        "gpt_safetensors": save_safetensors(gpt_ckpt, voice_dir / "gpt.safetensors"),
    }
    ref = pick_reference(dataset_dir, names)
    if ref is None:
        warnings.warn(
            f"no training segment is {REFERENCE_RANGE[0]:g}-{REFERENCE_RANGE[1]:g} s long, so the voice has no "
            "default reference: give `timbre synth` one with --ref, --ref-text and --ref-lang",
            RuntimeWarning,
            stacklevel=2,
        )
    for stage in ("sovits", "gpt"):  # the trainers draw their loss curves beside their CSV
        curve = voice_dir / "training" / f"{stage}_losses.png"
        if curve.is_file():
            files[f"{stage}_losses"] = Path(shutil.copy2(curve, voice_dir / curve.name))
    voice = save_voice(
        voice_dir,
        gpt_ckpt,
        sovits_ckpt,
        weights="original",
        hubert=parts.hubert,
        reference=None if ref is None else (dataset_dir / ref["wav"], ref["text"], ref["lang"]),
        info=parts.info | {"safetensors": {"gpt": "gpt.safetensors", "sovits": "sovits.safetensors"}},
        overwrite=True,
        sv=parts.sv,
    )
    files |= {"voice": voice_dir / VOICE_FILE, "gpt": voice.gpt, "sovits": voice.sovits}
    if voice.reference is not None:
        files["reference"] = voice.reference.audio
    try:  # a preview: the voice is complete without it
        segment = load_segment(dataset_dir, ref["name"] if ref is not None else names[0])
        files["spectrogram"] = spectrogram_png(parts.sovits, segment, voice_dir / "spectrogram.png")
    except Exception as exc:  # noqa: BLE001 - any failure of the preview must not cost the finished voice
        warnings.warn(f"spectrogram.png not drawn: {exc}", RuntimeWarning, stacklevel=2)
    return files


def has_trained(voice_dir: Path, stage: str) -> bool:
    return (voice_dir / f"{stage}.safetensors").is_file()


def load_trained_sovits(voice_dir: Path) -> SynthesizerTrn:
    """The SoVITS generator a previous run wrote (fp32 safetensors; the posterior encoder starts fresh)."""
    return cast(SynthesizerTrn, build_model(load_safetensors(voice_dir / "sovits.safetensors")))


def load_trained_gpt(voice_dir: Path) -> Text2SemanticDecoder:
    return cast(Text2SemanticDecoder, build_model(load_safetensors(voice_dir / "gpt.safetensors")))
