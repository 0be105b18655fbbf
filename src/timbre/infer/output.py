"""Turning synthesized fragments into what users receive: joined audio, int16 PCM, WAV bytes and streaming headers."""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence

import numpy as np
import soundfile as sf

from timbre.audio.io import to_pcm16

SAMPLE_RATE = 32_000


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
    formats = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"), "ogg": ("OGG", "VORBIS")}
    if fmt not in formats:
        raise ValueError(f"unsupported output format {fmt!r}; use one of wav, flac, ogg, raw")
    container, subtype = formats[fmt]
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
