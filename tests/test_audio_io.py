"""Loading, downmixing, resampling and atomic writing."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from timbre.audio.io import load_audio, resample, to_pcm16, write_text, write_wav


def _tone(sr: int, seconds: float = 1.0, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.mark.parametrize(
    ("suffix", "fmt", "subtype", "tol"),
    [
        (".wav", "WAV", "PCM_16", 1e-4),
        (".flac", "FLAC", "PCM_24", 1e-5),
        (".ogg", "OGG", "VORBIS", None),
        (".mp3", "MP3", "MPEG_LAYER_III", None),
    ],
)
def test_load_every_format_to_mono(tmp_path, suffix, fmt, subtype, tol):
    sr = 44100
    left = _tone(sr)
    stereo = np.stack([left, 0.5 * left], axis=1)
    path = tmp_path / f"clip{suffix}"
    sf.write(path, stereo, sr, format=fmt, subtype=subtype)
    wav, rate = load_audio(path)
    assert rate == sr and wav.ndim == 1 and wav.dtype == np.float32
    if tol is not None:
        assert wav.size == left.size
        np.testing.assert_allclose(wav, 0.75 * left, atol=tol)
    else:  # lossy: length within a codec frame, level about right
        assert abs(wav.size - left.size) < 3000
        assert np.sqrt(np.mean(wav**2)) == pytest.approx(0.75 * 0.4 / np.sqrt(2), rel=0.1)


def test_load_with_resampling(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, _tone(48000), 48000)
    wav, rate = load_audio(path, sr=16000)
    assert rate == 16000 and wav.size == 16000


def test_resample_keeps_a_tone():
    x = _tone(22050, 2.0, 300.0)
    y = resample(x, 22050, 32000)
    assert y.size == 64000 and y.dtype == np.float32
    expected = _tone(32000, 2.0, 300.0)
    np.testing.assert_allclose(y[2000:-2000], expected[2000:-2000], atol=2e-3)
    assert resample(x, 22050, 22050) is not x  # same rate: a copy


def test_unsupported_unreadable_missing(tmp_path):
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.txt: unsupported audio format '\.txt'"):
        load_audio(txt)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00garbage that is not audio")
    with pytest.raises(ValueError, match=r"broken\.wav: cannot be read as audio"):
        load_audio(broken)
    with pytest.raises(ValueError, match=r"missing\.wav: file not found"):
        load_audio(tmp_path / "missing.wav")
    with pytest.raises(ValueError, match="is a folder"):
        load_audio(tmp_path)


def test_write_wav_is_16_bit_and_atomic(tmp_path):
    path = tmp_path / "out" / "x.wav"
    x = _tone(32000)
    write_wav(path, x, 32000)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (32000, 1, "PCM_16")
    y, _ = sf.read(path, dtype="int16")
    np.testing.assert_array_equal(y, to_pcm16(x))
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.wav"]  # no temporary left behind


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "y.wav"

    def broken_write(file, *args, **kwargs):
        with open(file, "wb") as handle:
            handle.write(b"RIFF half")  # a partial file, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(sf, "write", broken_write)
    with pytest.raises(KeyboardInterrupt):
        write_wav(target, _tone(32000), 32000)
    assert list(tmp_path.iterdir()) == []


def test_write_text_replaces_whole_file(tmp_path):
    path = tmp_path / "a.json"
    write_text(path, "first")
    write_text(path, "second")
    assert path.read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_pcm16_saturates():
    np.testing.assert_array_equal(
        to_pcm16(np.array([-1.5, -1.0, 0.0, 0.5, 1.0, 2.0])), [-32768, -32768, 0, 16384, 32767, 32767]
    )
