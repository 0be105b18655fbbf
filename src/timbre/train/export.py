"""Writing the voice folder: the trained models in the original formats and as safetensors, plus what synthesis needs.

Layout (what `timbre synth --voice` loads):
    voice.json            format, name, version, file names, HuBERT/RoBERTa folders, reference clip + transcript
    sovits.pth            original SoVITS weights file (fp16, no enc_q, version marker for v2Pro*) — WebUI-loadable
    gpt.ckpt              original GPT weights file (fp16, `model.`-prefixed)
    sovits.safetensors    timbre format (fp32) + sovits.json config; gpt.safetensors + gpt.json likewise
    reference.wav         a 3-10 s training segment (32 kHz) and, in voice.json, its transcript and language
    hubert/               the tiny HuBERT (tiny config only; real voices point at the user's HuBERT folder)
    sovits_losses.png, gpt_losses.png, spectrogram.png
    training/             metrics CSV, TensorBoard logs, resumable checkpoints, stages.json
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, NamedTuple, cast

import soundfile as sf

from timbre.compat.build import build_model
from timbre.compat.checkpoints import (
    ENC_Q_PREFIX,
    GPTCheckpoint,
    SoVITSCheckpoint,
    save_gpt_ckpt,
    save_sovits_pth,
)
from timbre.compat.native import load_safetensors, save_safetensors
from timbre.features.loading import load_index, load_segment
from timbre.models.gpt import Text2SemanticDecoder
from timbre.models.sovits import SynthesizerTrn
from timbre.train.plots import spectrogram_png

FORMAT = "timbre-voice"
FORMAT_VERSION = 1
REFERENCE_RANGE = (3.0, 10.0)  # seconds, as the original's reference limits
REFERENCE_TARGET = 5.0


class VoiceParts(NamedTuple):
    sovits: SynthesizerTrn
    sovits_config: dict[str, Any]  # original-format config dict
    version: str  # SoVITS version (v2, v2Pro, v2ProPlus)
    gpt: Text2SemanticDecoder
    gpt_config: dict[str, Any]
    hubert: Path  # folder
    roberta: Path | None


def _portable(path: Path | None, root: Path) -> str | None:
    """Paths inside the voice folder are stored relative to it (the folder can be moved), others absolute."""
    if path is None:
        return None
    path = path.resolve()
    return os.path.relpath(path, root.resolve()) if path.is_relative_to(root.resolve()) else str(path)


def pick_reference(dataset_dir: Path, names: list[str]) -> dict[str, Any]:
    """The index entry (name, wav, text, lang, …) of the segment closest to 5 s among those of 3-10 s."""
    entries = [e for e in load_index(dataset_dir) if e["name"] in set(names)]
    durations = {e["name"]: sf.info(str(dataset_dir / e["wav"])).duration for e in entries}
    usable = [e for e in entries if REFERENCE_RANGE[0] <= durations[e["name"]] <= REFERENCE_RANGE[1]]
    pool = usable or entries
    return min(pool, key=lambda e: abs(durations[e["name"]] - REFERENCE_TARGET))


def write_voice(voice_dir: Path, parts: VoiceParts, dataset_dir: Path, names: list[str]) -> dict[str, Path]:
    """Write every file of the voice folder; returns them by role."""
    voice_dir.mkdir(parents=True, exist_ok=True)
    sovits_state = {k: v for k, v in parts.sovits.state_dict().items() if not k.startswith(ENC_Q_PREFIX)}
    sovits_ckpt = SoVITSCheckpoint(parts.version, parts.sovits_config, sovits_state, "timbre few-shot")
    gpt_ckpt = GPTCheckpoint("v2", parts.gpt_config, dict(parts.gpt.state_dict()), "GPT-timbre")
    files = {
        "sovits": save_sovits_pth(sovits_ckpt, voice_dir / "sovits.pth"),
        "gpt": save_gpt_ckpt(gpt_ckpt, voice_dir / "gpt.ckpt"),
        "sovits_safetensors": save_safetensors(sovits_ckpt, voice_dir / "sovits.safetensors"),
        "gpt_safetensors": save_safetensors(gpt_ckpt, voice_dir / "gpt.safetensors"),
    }
    ref = pick_reference(dataset_dir, names)
    files["reference"] = voice_dir / "reference.wav"
    shutil.copyfile(dataset_dir / ref["wav"], files["reference"])
    files["spectrogram"] = spectrogram_png(
        parts.sovits, load_segment(dataset_dir, ref["name"]), voice_dir / "spectrogram.png"
    )
    for stage in ("sovits", "gpt"):  # the trainers draw their loss curves beside their CSV
        curve = voice_dir / "training" / f"{stage}_losses.png"
        if curve.is_file():
            files[f"{stage}_losses"] = Path(shutil.copy2(curve, voice_dir / curve.name))
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": voice_dir.name,
        "version": parts.version,
        "sovits": "sovits.pth",
        "gpt": "gpt.ckpt",
        "sovits_safetensors": "sovits.safetensors",
        "gpt_safetensors": "gpt.safetensors",
        "hubert": _portable(parts.hubert, voice_dir),
        "roberta": _portable(parts.roberta, voice_dir),
        "reference": {"wav": "reference.wav", "text": ref["text"], "lang": ref["lang"]},
    }
    files["voice"] = voice_dir / "voice.json"
    tmp = files["voice"].with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, files["voice"])
    return files


def has_trained(voice_dir: Path, stage: str) -> bool:
    return (voice_dir / f"{stage}.safetensors").is_file()


def load_trained_sovits(voice_dir: Path) -> SynthesizerTrn:
    """The SoVITS generator a previous run wrote (fp32 safetensors; the posterior encoder starts fresh)."""
    return cast(SynthesizerTrn, build_model(load_safetensors(voice_dir / "sovits.safetensors")))


def load_trained_gpt(voice_dir: Path) -> Text2SemanticDecoder:
    return cast(Text2SemanticDecoder, build_model(load_safetensors(voice_dir / "gpt.safetensors")))
