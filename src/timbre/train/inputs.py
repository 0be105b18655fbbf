"""Everything `timbre train` checks before it spends any compute: the dataset and the pretrained files.

Dataset: a `.list` with a transcript on every line, every listed file present and recorded at 32 kHz (what
`timbre prepare` writes), at least 10 s of audio in total. Pretrained files: a SoVITS `.pth` and a GPT `.ckpt` of the
v2 family (v2, v2Pro, v2ProPlus SoVITS with a v2 GPT), each of the right kind; an optional discriminator; the HuBERT
folder. Every problem is a `ValueError` whose message says what to fix.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import soundfile as sf
import torch

from timbre.compat.checkpoints import ENC_Q_PREFIX, GPTCheckpoint, SoVITSCheckpoint, load_gpt, load_sovits
from timbre.compat.safe_load import read_torch_file
from timbre.errors import CheckpointError, TimbreError
from timbre.features._folder import check_model_folder
from timbre.features.dataset import ListSegment, find_list_file, read_segments
from timbre.features.roberta import FEATURE_LANGUAGES
from timbre.models.discriminators import periods_for

MIN_TOTAL_SECONDS = 10.0
SAMPLE_RATE = 32000
TRAINABLE_SOVITS = ("v2", "v2Pro", "v2ProPlus")


@dataclass(frozen=True)
class DatasetSummary:
    list_file: Path
    segments: list[ListSegment]
    seconds: float  # total audio
    longest: float  # seconds


def check_dataset(dataset_dir: Path, wav_dir: Path | None = None) -> DatasetSummary:
    """The dataset's segments, after checking transcripts, files, sample rates and total length."""
    if not dataset_dir.is_dir():
        raise TimbreError(f"dataset folder not found: {dataset_dir}; run `timbre prepare` to make one")
    try:
        list_file = find_list_file(dataset_dir)
        segments = read_segments(list_file, wav_dir)
    except ValueError as exc:
        raise TimbreError(
            f"missing or incomplete transcripts: {exc}. Every clip needs a 'wav|speaker|LANG|text' line"
        ) from None
    missing = [s.wav.name for s in segments if not s.wav.is_file()]
    if missing:
        raise TimbreError(
            f"{len(missing)} files listed in {list_file.name} do not exist ({', '.join(missing[:3])}); "
            "fix the paths, give the folder that holds them with --wav-dir, or run `timbre prepare` again"
        )
    seconds, longest, wrong_rate = 0.0, 0.0, []
    for seg in segments:
        try:
            info = sf.info(str(seg.wav))
        except (RuntimeError, sf.LibsndfileError) as exc:
            raise TimbreError(f"{seg.wav}: not a readable audio file ({exc})") from None
        if info.samplerate != SAMPLE_RATE:
            wrong_rate.append(f"{seg.wav.name} ({info.samplerate} Hz)")
        seconds += info.frames / info.samplerate
        longest = max(longest, info.frames / info.samplerate)
    if wrong_rate:
        raise TimbreError(
            f"training segments must be 32000 Hz; {len(wrong_rate)} are not: {', '.join(wrong_rate[:3])}. "
            "Run `timbre prepare` on the recordings (it resamples and slices them)"
        )
    if seconds < MIN_TOTAL_SECONDS:
        raise TimbreError(
            f"the dataset holds {seconds:.1f} s of audio; few-shot training needs at least {MIN_TOTAL_SECONDS:g} s "
            "(about a minute is recommended)"
        )
    return DatasetSummary(list_file, segments, seconds, longest)


def check_text_features(segments: list[ListSegment], roberta: Path | None) -> None:
    """Chinese transcripts need the RoBERTa phone features (the original has no zero fallback for them)."""
    chinese = [s.wav.name for s in segments if s.lang in FEATURE_LANGUAGES]
    if chinese and roberta is None:
        raise TimbreError(
            f"{len(chinese)} Chinese segments ({', '.join(chinese[:3])}) need the Chinese RoBERTa model: "
            "pass --roberta DIR (chinese-roberta-wwm-ext-large)"
        )


def check_model_dirs(hubert: Path | None, roberta: Path | None) -> None:
    """The HuBERT (and RoBERTa) folders exist and hold a model of the right type (read before any loading)."""
    if hubert is not None:
        check_model_folder(hubert, "HuBERT (--hubert)", ("hubert",))
    if roberta is not None:
        check_model_folder(roberta, "Chinese RoBERTa (--roberta)", ("bert", "roberta"))


@dataclass(frozen=True)
class Pretrained:
    sovits: SoVITSCheckpoint
    gpt: GPTCheckpoint
    discriminator: dict[str, torch.Tensor] | None  # MultiPeriodDiscriminator state dict, or None (fresh init)
    sovits_path: Path
    gpt_path: Path


def _kind_error(path: Path, expected: str, exc: ValueError) -> TimbreError:
    return TimbreError(f"--pretrained-{expected} {path}: {exc}")


def load_pretrained(sovits_path: Path, gpt_path: Path, discriminator_path: Path | None) -> Pretrained:
    """Read and cross-check the pretrained files (no model is built yet)."""
    try:
        sovits = load_sovits(sovits_path)
    except ValueError as exc:
        raise _kind_error(sovits_path, "sovits", exc) from None
    try:
        gpt = load_gpt(gpt_path)
    except ValueError as exc:
        raise _kind_error(gpt_path, "gpt", exc) from None
    if sovits.version not in TRAINABLE_SOVITS:
        raise TimbreError(
            f"--pretrained-sovits {sovits_path} is a SoVITS {sovits.version} model; training needs the v2 family "
            "(s2G2333k.pth for v2, s2Gv2Pro.pth / s2Gv2ProPlus.pth) because the text front end produces v2 phones"
        )
    if gpt.version != "v2":
        raise TimbreError(
            f"--pretrained-gpt {gpt_path} is a GPT {gpt.version} model; SoVITS {sovits.version} pairs with a v2 GPT "
            "(s1bert25hz-5kh-longer-epoch=12-step=369668.ckpt or the v2Pro one)"
        )
    if not any(key.startswith(ENC_Q_PREFIX) for key in sovits.state_dict):
        warnings.warn(
            f"--pretrained-sovits {sovits_path} has no posterior encoder (enc_q.*): it is an inference export, not "
            "a pretrained generator such as s2G2333k.pth; training starts the posterior encoder from random weights",
            UserWarning,
            stacklevel=2,
        )
    d_path = discriminator_path or sibling_discriminator(sovits_path)
    weights = load_discriminator(d_path, sovits.version) if d_path is not None else None
    return Pretrained(sovits, gpt, weights, sovits_path, gpt_path)


def sibling_discriminator(generator_path: Path) -> Path | None:
    """The original ships s2D*.pth beside s2G*.pth; use it when present and not given explicitly."""
    name = generator_path.name
    if "s2G" not in name:
        return None
    candidate = generator_path.with_name(name.replace("s2G", "s2D", 1))
    return candidate if candidate.is_file() else None


def load_discriminator(path: Path, version: str) -> dict[str, torch.Tensor]:
    """The state dict of an original discriminator file: a pretrained s2D*.pth ({"weight": state dict}, which the
    original's s2_train reads), a training checkpoint D_*.pth ({"model": state dict, "iteration", ...}) or a bare
    state dict."""
    try:
        payload: Any = read_torch_file(path).payload
    except CheckpointError as exc:
        raise TimbreError(f"--pretrained-sovits-d: {exc}") from None
    weights = None
    if isinstance(payload, Mapping):
        weights = next(
            (payload[k] for k in ("weight", "model") if isinstance(payload.get(k), Mapping)), payload
        )
    if isinstance(weights, Mapping):
        weights = {str(k).removeprefix("module."): v for k, v in weights.items()}
    if (
        not isinstance(weights, Mapping)
        or not weights
        or not all(
            k.startswith("discriminators.") and isinstance(v, torch.Tensor) for k, v in weights.items()
        )
    ):
        raise TimbreError(
            f"--pretrained-sovits-d {path}: not a SoVITS discriminator (expected 'discriminators.*' weights); "
            "give the s2D*.pth file that belongs to the pretrained s2G*.pth"
        )
    count = len({k.split(".")[1] for k in weights})
    expected = 1 + len(periods_for(version))
    if count != expected:
        raise TimbreError(
            f"--pretrained-sovits-d {path} has {count} discriminators but SoVITS {version} uses {expected}; "
            "give the discriminator of the same version as the generator"
        )
    return dict(weights)
