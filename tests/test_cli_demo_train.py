"""`timbre demo --train`: prepare → tiny training → synthesis on gradio's speech clips, the files it writes, and its
clear errors (gradio's clips missing, a folder that is not the demo's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from tests.helpers.cli import run_cli

from timbre.infer.voice import load_voice
from timbre.train import demo

PNG = b"\x89PNG\r\n\x1a\n"


def test_quick_training_demo_writes_voice_plots_and_audible_wav(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("gradio")
    threads = torch.get_num_threads()
    out = tmp_path / "timbre-demo"
    out.mkdir()
    (out / "demo.wav").write_bytes(b"")  # the synthesis demo's file in the same folder is allowed
    try:
        code, stdout, err = run_cli(["demo", "--train", "--quick", "--out", str(out)], capsys)
    finally:
        torch.set_num_threads(threads)
    assert code == 0, err
    assert "NOT natural speech" in stdout
    for step in ("1. input", "2. prepare", "3. train", "4. synthesize", "5. wrote"):
        assert step in stdout, step
    assert "3 segments" in stdout
    voice = load_voice(out / "voice")
    assert voice.reference is not None and voice.reference.lang == "en"
    for name in ("sovits_losses.png", "gpt_losses.png", "training_spectrogram.png", demo.PNG_NAME):
        assert (out / name).read_bytes()[:8] == PNG, name
    audio, sr = sf.read(str(out / demo.WAV_NAME))
    assert sr == 32_000 and audio.shape[0] > sr // 2
    assert float(np.sqrt(np.mean(audio**2))) > 1e-3  # not silent
    assert (out / "input" / "transcripts.list").is_file() and (out / demo.README).is_file()


def test_missing_gradio_clips_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "GRADIO_AUDIO", ("timbre_no_such_package", "audio"))
    code, _, err = run_cli(["demo", "--train", "--out", str(tmp_path / "d")], capsys)
    assert code == 2
    assert "install gradio" in err and "Traceback" not in err
    assert not (tmp_path / "d").exists()  # nothing created before the check


def test_refuses_a_folder_that_is_not_the_demos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("gradio")
    (tmp_path / "notes.txt").write_text("mine")
    code, _, err = run_cli(["demo", "--train", "--out", str(tmp_path)], capsys)
    assert code == 2 and "notes.txt" in err
    assert (tmp_path / "notes.txt").read_text() == "mine"
    (tmp_path / "notes.txt").unlink()
    (tmp_path / "voice").mkdir()  # a voice folder of the user's, not one the demo wrote (no README.txt)
    code, _, err = run_cli(["demo", "--train", "--out", str(tmp_path)], capsys)
    assert code == 2 and "voice" in err and (tmp_path / "voice").is_dir()
