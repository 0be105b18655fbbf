"""Reading, resampling and writing audio. Everything in memory is mono float32 in [-1, 1]."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from timbre.files import atomic_path

SUPPORTED_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def load_audio(path: str | Path, sr: int | None = None) -> tuple[np.ndarray, int]:
    """Read wav/flac/ogg/mp3, average the channels to mono, resample to `sr` if given -> (wav [T] float32, rate)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: file not found")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not an audio file")
    if not is_supported(path):
        kinds = ", ".join(s.lstrip(".") for s in SUPPORTED_SUFFIXES)
        raise ValueError(
            f"{path}: unsupported audio format '{path.suffix or '(none)'}'; convert it to one of {kinds}"
        )
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # [T, C]
    except (sf.LibsndfileError, RuntimeError, EOFError) as exc:
        raise ValueError(
            f"{path}: cannot be read as audio ({exc}); check that the file is complete and not corrupt"
        ) from None
    wav = downmix(data)
    if sr is not None and sr != rate:
        wav = resample(wav, rate, sr)
        rate = sr
    return wav, int(rate)


def downmix(data: np.ndarray) -> np.ndarray:
    """[T, C] or [T] -> [T] float32 by averaging the channels."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        return data
    return data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0].copy()


def resample(wav: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling with soxr (very high quality); a no-op copy when the rates match."""
    wav = np.asarray(wav, dtype=np.float32)
    if orig_sr == target_sr or wav.size == 0:
        return wav.copy()
    return soxr.resample(wav, orig_sr, target_sr, quality="VHQ").astype(np.float32, copy=False)


def to_pcm16(wav: np.ndarray) -> np.ndarray:
    """Float [-1, 1] -> int16, rounding to nearest and saturating at full scale."""
    return np.clip(np.round(np.asarray(wav, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def write_wav(path: str | Path, wav: np.ndarray, sr: int) -> None:
    """Write mono 16-bit PCM WAV atomically (temporary name, then rename)."""
    with atomic_path(Path(path)) as tmp:
        sf.write(str(tmp), to_pcm16(wav), sr, subtype="PCM_16", format="WAV")


def write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 text atomically (temporary name, then rename)."""
    with atomic_path(Path(path)) as tmp:
        tmp.write_text(text, encoding="utf-8")
