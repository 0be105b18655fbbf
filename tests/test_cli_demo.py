"""`timbre demo`: end to end on deterministic weights, writing a wav and a spectrogram PNG, saying what it did."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
import torch

from timbre.cli import run_app


def test_demo_writes_wav_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    out = tmp_path / "demo"
    with pytest.raises(SystemExit) as exit_info:
        run_app(["demo", "--out", str(out)])
    assert exit_info.value.code in (0, None)
    stdout = capsys.readouterr().out
    info = sf.info(str(out / "demo.wav"))
    assert info.samplerate == 32_000 and 1.0 < info.duration < 10.0
    png = (out / "demo_spectrogram.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "NOT trained" in stdout
    for step in ("1. models", "2. reference", "3. text front end", "4. GPT", "5. SoVITS", "6. wrote"):
        assert step in stdout
