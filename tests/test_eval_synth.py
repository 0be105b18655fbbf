"""`timbre eval VOICE_DIR`: texts synthesized with a voice, saved, resampled and scored (untrained deterministic
weights stand in for the voice's model, cheap fakes for the scoring models; the real scorers are covered by
test_eval_metrics/test_eval_cli)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from timbre.audio.io import load_audio, write_wav
from timbre.cli._app import run_app
from timbre.eval import report as eval_report
from timbre.eval import synth as eval_synth
from timbre.eval.metrics import EVAL_SR, MosScores
from timbre.infer import factory
from timbre.infer.bundled import voiced_signal


class FakeSpeaker:
    def embed(self, wav16k: np.ndarray) -> np.ndarray:
        return np.array([1.0, float(np.abs(wav16k).mean()), 0.5])


class FakeTranscriber:
    def transcribe(self, wav16k: np.ndarray) -> str:
        return "hello world"


REAL_SCORERS = eval_report.Scorers


def fake_scorers() -> eval_report.Scorers:
    return REAL_SCORERS(FakeSpeaker(), FakeTranscriber(), lambda wav: MosScores(3.0, 3.5, 4.0, 3.2))  # type: ignore[arg-type]


@pytest.mark.slow
def test_eval_voice_synthesizes_saves_and_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.set_num_threads(1)
    loaded: list[Path] = []

    def deterministic_voice(voice_dir: Path, **_: object) -> object:
        loaded.append(voice_dir)
        return factory.deterministic(0)

    monkeypatch.setattr(eval_synth, "load_voice_synthesizer", deterministic_voice)
    monkeypatch.setattr(eval_report, "Scorers", fake_scorers)
    ref = tmp_path / "ref.wav"
    write_wav(ref, voiced_signal(3.5, 32_000, seed=1), 32_000)
    texts = tmp_path / "texts.txt"
    texts.write_text("Hello world.\nGood morning.\n", encoding="utf-8")
    out = tmp_path / "synth"
    args = [
        "eval",
        str(tmp_path / "voice"),
        "--ref",
        str(ref),
        "--ref-text",
        "Hello there.",
        "--texts",
        str(texts),
    ]
    with pytest.raises(SystemExit) as done:
        run_app([*args, "--save-wavs", str(out), "--seed", "7", "--json"])
    assert done.value.code in (0, None)
    report = json.loads(capsys.readouterr().out)
    assert loaded == [tmp_path / "voice"]
    assert [u["source"] for u in report["utterances"]] == ["001.wav", "002.wav"]
    assert [u["text"] for u in report["utterances"]] == ["Hello world.", "Good morning."]
    first = report["utterances"][0]
    assert first["transcript"] == "hello world" and first["wer"] == 0.0 and first["dnsmos_ovrl"] == 3.0
    assert report["means"]["wer"] == pytest.approx(2 / 4)  # "good morning" vs "hello world": 2 of 4 words
    for u in report["utterances"]:
        wav, sr = load_audio(out / u["source"])
        assert sr == 32_000 and u["seconds"] == pytest.approx(wav.size / sr, abs=1e-3)


def test_voice_without_reference_needs_ref_text(tmp_path: Path) -> None:
    from timbre.infer.voice import VOICE_FILE

    (tmp_path / "gpt.ckpt").write_bytes(b"x")
    (tmp_path / "sovits.pth").write_bytes(b"x")
    doc = {"format": "timbre-voice", "format_version": 1, "version": "v2", "gpt_version": "v2",
           "gpt": "gpt.ckpt", "sovits": "sovits.pth", "reference": None}  # fmt: skip
    (tmp_path / VOICE_FILE).write_text(json.dumps(doc), "utf-8")
    with pytest.raises(ValueError, match="pass --ref-text"):
        eval_synth.prompt_reference(None, tmp_path, tmp_path / "ref.wav", None, "en")  # type: ignore[arg-type]


def test_synthesized_audio_is_resampled_for_scoring(tmp_path: Path) -> None:
    class OneSecond:
        def synthesize(self, text: str, lang: str, prompt: object, options: object) -> object:
            class Result:
                audio = np.sin(np.arange(32_000) / 10).astype(np.float32)
                sample_rate = 32_000

            return Result()

    utts = eval_synth.synthesize_utterances(OneSecond(), None, ["a", "b"], "en", save_dir=tmp_path)  # type: ignore[arg-type]
    assert [u.wav16k.size for u in utts] == [EVAL_SR, EVAL_SR]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["001.wav", "002.wav"]
