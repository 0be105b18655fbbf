"""Turning synthesized fragments into what users receive: joined audio, int16 PCM, WAV bytes and streaming headers."""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import soundfile as sf

from timbre.audio.io import to_pcm16
from timbre.errors import TimbreError
from timbre.files import atomic_path

SAMPLE_RATE = 32_000
FORMATS = ("wav", "flac", "ogg", "raw")
_CONTAINERS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS")}


def format_for(path: str | Path, fmt: str | None = None) -> str:
    """The output format: `fmt` if given, else from the file suffix (.wav/.flac/.ogg/.raw/.pcm)."""
    if fmt is None:
        suffix = Path(path).suffix.lower().lstrip(".")
        fmt = "raw" if suffix == "pcm" else suffix
    if fmt not in FORMATS:
        raise TimbreError(f"{path}: unsupported output format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def normalize_fragment(wav: np.ndarray) -> np.ndarray:
    """The original's per-fragment guard: scale down only if the peak exceeds full scale."""
    wav = np.asarray(wav, dtype=np.float32)
    peak = float(np.abs(wav).max(initial=0.0))
    return wav / peak if peak > 1.0 else wav


def join_fragments(
    fragments: Sequence[np.ndarray], sr: int = SAMPLE_RATE, interval_s: float = 0.3
) -> np.ndarray:
    """Each fragment followed by `interval_s` of silence (the original's fragment_interval), then concatenated."""
    if interval_s < 0:
        raise ValueError(f"fragment_interval must be >= 0 seconds, got {interval_s}")
    gap = np.zeros(int(sr * interval_s), dtype=np.float32)
    parts: list[np.ndarray] = []
    for fragment in fragments:
        parts += [normalize_fragment(fragment), gap]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def wav_bytes(wav: np.ndarray, sr: int = SAMPLE_RATE, fmt: str = "wav") -> bytes:
    """Encode mono audio: wav (16-bit PCM), flac, ogg (vorbis) or raw (headerless little-endian int16)."""
    pcm = to_pcm16(wav)
    if fmt == "raw":
        return pcm.astype("<i2").tobytes()
    if fmt not in _CONTAINERS:
        raise TimbreError(f"unsupported output format {fmt!r}; use one of {', '.join(FORMATS)}")
    container, subtype = _CONTAINERS[fmt]
    buf = io.BytesIO()
    sf.write(buf, pcm, sr, format=container, subtype=subtype)
    return buf.getvalue()


def streaming_wav_header(sr: int = SAMPLE_RATE, channels: int = 1, bits: int = 16) -> bytes:
    """A WAV header with unknown length (sizes set to the maximum), sent before streamed PCM chunks."""
    byte_rate = sr * channels * bits // 8
    block = channels * bits // 8
    data_size = 0xFFFFFFFF - 36
    return (
        b"RIFF"
        + struct.pack("<I", 0xFFFFFFFF)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, sr, byte_rate, block, bits)
        + b"data"
        + struct.pack("<I", data_size)
    )


def write_audio(path: str | Path, wav: np.ndarray, sr: int = SAMPLE_RATE, fmt: str | None = None) -> Path:
    """Write mono audio as int16 wav/flac, vorbis ogg or raw PCM, atomically (temporary name, then rename)."""
    path = Path(path)
    data = wav_bytes(wav, sr, format_for(path, fmt))
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


class ProgressiveWriter:
    """Appends audio chunks to a file as they arrive (for streaming): 16-bit wav/flac/ogg or raw PCM.

    The file is readable while it grows for raw output; container headers are finalized on `close`.
    """

    def __init__(self, path: str | Path, sr: int = SAMPLE_RATE, fmt: str | None = None) -> None:
        self.path = Path(path)
        self.fmt = format_for(self.path, fmt)
        self.samples = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.fmt == "raw":
            self._raw: io.BufferedWriter | None = open(self.path, "wb")  # noqa: SIM115  closed in close()
            self._sf: sf.SoundFile | None = None
        else:
            container, subtype = _CONTAINERS[self.fmt]
            self._raw = None
            self._sf = sf.SoundFile(str(self.path), "w", sr, 1, subtype, format=container)

    def write(self, chunk: np.ndarray) -> None:
        pcm = to_pcm16(chunk)
        self.samples += pcm.shape[0]
        if self._raw is not None:
            self._raw.write(pcm.astype("<i2").tobytes())
            self._raw.flush()
        elif self._sf is not None:
            self._sf.write(pcm)
            self._sf.flush()

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
        if self._sf is not None:
            self._sf.close()

    def __enter__(self) -> ProgressiveWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
