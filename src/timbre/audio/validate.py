"""Input checks that tell the user which file is unusable and why."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from timbre.errors import TimbreError


class AudioValidationError(TimbreError):
    """An input recording that cannot be used; the message names the file and the problem."""

    def __init__(self, source: str | Path, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = str(source)
        self.problem = problem


@dataclass(frozen=True)
class ValidationConfig:
    min_speech_seconds: float = 1.0
    silence_dbfs: float = -60.0  # a peak below this is silence
    full_scale: float = 0.999  # |x| at or above this counts as clipped
    max_clipped_fraction: float = 0.01


def _dbfs(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else -math.inf


def estimate_speech_seconds(
    wav: np.ndarray, sr: int, frame_ms: float = 20.0, below_peak_db: float = 35.0
) -> float:
    """Energy-based voiced time: 20 ms frames whose RMS is within `below_peak_db` of the loudest frame."""
    hop = max(1, int(sr * frame_ms / 1000))
    n = wav.size // hop
    if n == 0:
        return 0.0
    rms = np.sqrt(np.mean(np.asarray(wav[: n * hop], dtype=np.float64).reshape(n, hop) ** 2, axis=1))  # [n]
    floor = max(float(rms.max()) * 10.0 ** (-below_peak_db / 20.0), 10.0 ** (-55.0 / 20.0))
    return float((rms > floor).sum() * hop / sr)


def validate_signal(
    wav: np.ndarray, source: str | Path, config: ValidationConfig = ValidationConfig()
) -> None:  # noqa: B008
    """Raise `AudioValidationError` if the clip is empty, has NaN/inf samples, is silent or is clipped."""
    wav = np.asarray(wav)
    if wav.size == 0:
        raise AudioValidationError(source, "the file is empty (no audio samples); remove it or re-export it")
    finite = np.isfinite(wav)
    if not finite.all():
        bad = int((~finite).sum())
        raise AudioValidationError(
            source, f"{bad} samples are NaN or infinite; the file is corrupt, re-export it from the original"
        )
    peak = float(np.max(np.abs(wav)))
    if _dbfs(peak) < config.silence_dbfs:
        raise AudioValidationError(
            source,
            f"the recording is silent (peak {_dbfs(peak):.1f} dBFS); check the microphone input or remove the file",
        )
    clipped = float(np.mean(np.abs(wav) >= config.full_scale))
    if clipped > config.max_clipped_fraction:
        raise AudioValidationError(
            source,
            f"{clipped:.1%} of the samples are clipped at full scale (limit {config.max_clipped_fraction:.0%}); "
            "record again at a lower input gain",
        )


def validate_speech(
    speech_seconds: float, source: str | Path, config: ValidationConfig = ValidationConfig()
) -> None:  # noqa: B008
    """Raise `AudioValidationError` if there is less speech than `config.min_speech_seconds`."""
    if speech_seconds < config.min_speech_seconds:
        raise AudioValidationError(
            source,
            f"only {speech_seconds:.2f} s of speech (at least {config.min_speech_seconds:g} s needed); "
            "use a longer recording or remove the file",
        )


def validate_audio(
    wav: np.ndarray,
    sr: int,
    source: str | Path,
    config: ValidationConfig = ValidationConfig(),  # noqa: B008 (frozen, immutable)
    speech_seconds: float | None = None,
) -> None:
    """All checks: `validate_signal`, then `validate_speech` on `speech_seconds` (e.g. measured by voice-activity
    detection) or, without it, on an energy estimate."""
    validate_signal(wav, source, config)
    validate_speech(
        estimate_speech_seconds(wav, sr) if speech_seconds is None else speech_seconds, source, config
    )
