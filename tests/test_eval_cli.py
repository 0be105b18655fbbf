"""`timbre eval --wavs`: real speech clips scored end to end (JSON and table), and the input checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from test_eval_metrics import CLIP_TEXTS, gradio_clip
from timbre.audio.io import load_audio, write_wav
from timbre.cli._app import run_app
from timbre.cli.evaluate import _table
from timbre.eval.report import EvalReport, UtteranceScores
from timbre.eval.sources import audio_files, read_texts


def _run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as done:
        run_app(args)
    return int(done.value.code or 0)


@pytest.fixture()
def clips(tmp_path: Path) -> tuple[Path, Path, Path]:
    """wavs/1.wav (the reference's speaker), wavs/2.wav (another speaker), texts.txt, and the reference clip."""
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    for i, name in enumerate(CLIP_TEXTS, start=1):
        wav, sr = load_audio(gradio_clip(name))
        write_wav(wavs / f"{i}.wav", wav, sr)
    texts = tmp_path / "texts.txt"
    texts.write_text("# one line per file\n" + "\n".join(CLIP_TEXTS.values()) + "\n\n", encoding="utf-8")
    return wavs, texts, gradio_clip("cate_blanch.mp3")


@pytest.mark.slow
def test_eval_wavs_json(clips: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    wavs, texts, ref = clips
    args = ["eval", "--wavs", str(wavs), "--ref", str(ref), "--texts", str(texts)]
    assert _run([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 2 and report["lang"] == "en" and report["reference"] == "cate_blanch.mp3"
    same, other = report["utterances"]
    assert (same["source"], other["source"]) == ("1.wav", "2.wav")
    assert same["similarity"] > other["similarity"] + 0.1
    assert same["wer"] <= 0.15 and other["wer"] <= 0.15
    means = report["means"]
    assert means["similarity"] == pytest.approx((same["similarity"] + other["similarity"]) / 2)
    words = same["ref_words"] + other["ref_words"]
    assert means["wer"] == pytest.approx((same["word_errors"] + other["word_errors"]) / words)
    assert 1.0 <= means["dnsmos_ovrl"] <= 5.0 and 1.0 <= means["dnsmos_p808"] <= 5.0


def test_table_rows_and_means(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        UtteranceScores(i, f"{i}.wav", "some words", 1.5, sim, 3.0, 3.5, 4.0, 3.2, "some word", 0.5, 1, 2)
        for i, sim in enumerate((0.8, 0.6))
    ]
    _table(EvalReport("ref.wav", "en", rows))
    table = capsys.readouterr().out
    assert "0.700" in table and "50.0%" in table and "1.wav" in table and "P808" in table
    ja = EvalReport(
        "ref.wav", "ja", [UtteranceScores(0, "x.wav", "こんにちは", 1.0, 0.5, 3.0, 3.0, 3.0, 3.0)]
    )
    assert ja.means()["wer"] is None and ja.to_dict()["utterances"][0]["transcript"] is None
    _table(ja)
    assert "x.wav" in capsys.readouterr().out


def test_eval_input_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = tmp_path / "ref.wav"
    write_wav(ref, np.zeros(16000, np.float32), 16000)
    texts = tmp_path / "texts.txt"
    texts.write_text("one line\nanother line\n", encoding="utf-8")
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    write_wav(wavs / "a.wav", np.zeros(16000, np.float32), 16000)

    assert _run(["eval", "--wavs", str(wavs), "--ref", str(ref), "--texts", str(texts)]) == 2
    assert "1 audio files but the text file has 2 lines" in capsys.readouterr().err
    assert _run(["eval", str(tmp_path), "--wavs", str(wavs), "--ref", str(ref), "--texts", str(texts)]) == 2
    assert "not both" in capsys.readouterr().err
    assert _run(["eval", "--wavs", str(wavs), "--ref", str(ref), "--texts", str(tmp_path / "none.txt")]) == 2
    assert "text file not found" in capsys.readouterr().err


def test_sources_order_and_comments(tmp_path: Path) -> None:
    for name in ("utt10.wav", "utt2.wav", "notes.txt", "utt1.flac"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in audio_files(tmp_path)] == ["utt1.flac", "utt2.wav", "utt10.wav"]
    (tmp_path / "t.txt").write_text("# comment\n  first  \n\nsecond\n", encoding="utf-8")
    assert read_texts(tmp_path / "t.txt") == ["first", "second"]
    (tmp_path / "empty.txt").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no text lines"):
        read_texts(tmp_path / "empty.txt")
