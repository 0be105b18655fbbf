"""Output handling: fragment joining and the peak guard, encodings, the streaming header, progressive writing."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from timbre.infer.output import (
    ProgressiveWriter,
    format_for,
    join_fragments,
    normalize_fragment,
    streaming_wav_header,
    wav_bytes,
    write_audio,
)

SR = 32_000


def _tone(seconds: float = 0.25, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_join_adds_the_interval_after_every_fragment_and_guards_peaks() -> None:
    loud = _tone(amp=2.0)
    quiet = _tone(amp=0.5)
    joined = join_fragments([loud, quiet], SR, 0.3)
    gap = int(0.3 * SR)
    assert joined.shape[0] == loud.shape[0] + quiet.shape[0] + 2 * gap
    np.testing.assert_allclose(joined[: loud.shape[0]], loud / np.abs(loud).max())  # scaled only when above 1
    np.testing.assert_array_equal(joined[loud.shape[0] + gap : -gap], quiet)
    assert not joined[-gap:].any()
    assert np.array_equal(normalize_fragment(quiet), quiet)
    assert join_fragments([], SR).shape == (0,)
    with pytest.raises(ValueError):
        join_fragments([quiet], SR, -1)


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg"])
def test_encodings_decode_back(fmt: str) -> None:
    wav = _tone()
    data, sr = sf.read(io.BytesIO(wav_bytes(wav, SR, fmt)), dtype="float32")
    assert sr == SR and data.shape == wav.shape
    tol = 2e-2 if fmt == "ogg" else 1 / 32768
    np.testing.assert_allclose(data, wav, atol=tol)


def test_raw_is_little_endian_int16() -> None:
    wav = np.array([0.0, 0.5, -1.0, 1.0], dtype=np.float32)
    raw = wav_bytes(wav, SR, "raw")
    assert np.frombuffer(raw, "<i2").tolist() == [0, 16384, -32768, 32767]
    with pytest.raises(ValueError, match="unsupported output format"):
        wav_bytes(wav, SR, "mp4")


def test_streaming_header_then_pcm_is_a_readable_wav() -> None:
    header = streaming_wav_header(SR)
    assert len(header) == 44 and header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt "
    channels, rate = struct.unpack("<HI", header[22:28])
    assert (channels, rate) == (1, SR)
    pcm = wav_bytes(_tone(), SR, "raw")
    data, sr = sf.read(io.BytesIO(header + pcm), dtype="int16")
    assert sr == SR and data.shape[0] == len(pcm) // 2


def test_write_audio_and_progressive_writer(tmp_path: Path) -> None:
    wav = _tone()
    path = write_audio(tmp_path / "a.flac", wav)
    assert sf.info(str(path)).format == "FLAC"
    with ProgressiveWriter(tmp_path / "s.wav") as writer:
        for part in np.array_split(wav, 5):
            writer.write(part)
    data, sr = sf.read(str(tmp_path / "s.wav"), dtype="float32")
    assert sr == SR and writer.samples == wav.shape[0]
    np.testing.assert_allclose(data, wav, atol=1 / 32768)
    with ProgressiveWriter(tmp_path / "s.raw") as raw:
        raw.write(wav)
    assert (tmp_path / "s.raw").stat().st_size == 2 * wav.shape[0]
    assert format_for("x.pcm") == "raw" and format_for("x.bin", "wav") == "wav"
    with pytest.raises(ValueError, match="unsupported output format"):
        format_for("out.mp3")
