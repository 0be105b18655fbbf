"""`timbre synth`: deterministic weights end to end, streaming output, and clear errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
import torch
from tests.helpers.cli import run_cli

from timbre.infer.bundled import voiced_signal

SR = 32_000


@pytest.fixture(scope="module")
def ref_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    path = tmp_path_factory.mktemp("ref") / "ref.wav"
    sf.write(str(path), voiced_signal(3.2, SR, seed=1), SR)
    return path


def _base(ref: Path, out: Path) -> list[str]:
    return [
        "synth", "--det-weights", "0", "--ref", str(ref), "--ref-text", "Hello there", "--ref-lang", "en",
        "--text", "Hello world.", "--lang", "en", "-o", str(out), "--seed", "1", "--max-new-tokens", "12",
    ]  # fmt: skip


def test_synth_writes_a_wav(ref_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.wav"
    code, stdout, err = run_cli(_base(ref_wav, out), capsys)
    assert code == 0, err
    data, sr = sf.read(str(out), dtype="int16")
    assert sr == SR and data.shape[0] == 12 * 1280 + int(0.3 * SR)
    assert "deterministic weights" in stdout and "12 tokens" in stdout and "seed 1" in stdout


def test_own_warnings_are_one_line(ref_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import warnings

    argv = _base(ref_wav, tmp_path / "zh.wav")
    argv[argv.index("Hello world.")] = "你好。"
    argv[argv.index("--lang") + 1] = "zh"
    before = warnings.showwarning
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    assert err.count("warning: Chinese text without the Chinese RoBERTa model") == 1
    assert "UserWarning" not in err and "pipeline.py" not in err  # no Python source location
    assert warnings.showwarning is before  # restored after the command


def test_synth_stream_matches_token_count(
    ref_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "stream.wav"
    code, stdout, err = run_cli([*_base(ref_wav, out), "--stream"], capsys)
    assert code == 0, err
    data, sr = sf.read(str(out), dtype="int16")
    assert data.shape[0] == 12 * 1280 + int(0.3 * SR)
    assert "first chunk after" in stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["synth", "--text", "hi", "-o", "x.wav"], "exactly one of: --gpt CKPT --sovits PTH"),
        (
            ["synth", "--text", "hi", "--gpt", "missing.ckpt", "--sovits", "m.pth", "--hubert", "."],
            "file not found",
        ),
        (["synth", "--text", "hi", "--det-weights", "0", "--gpt", "a.ckpt"], "exactly one of"),
        (["synth", "--det-weights", "0", "-o", "x.wav"], "exactly one of --text or --text-file"),
        (["synth", "--text", "hi", "--det-weights", "0", "-o", "x.mp3"], "unsupported output format"),
        (["synth", "--text", "hi", "--det-weights", "0", "--speed", "9"], "speed must be between"),
    ],
)
def test_synth_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert message in err


def test_synth_reference_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    short = tmp_path / "short.wav"
    sf.write(str(short), voiced_signal(1.5, SR), SR)
    argv = _base(short, tmp_path / "o.wav")
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "1.50 s long; use a clip of 3 to 10 s" in err
    code, _, err = run_cli([*argv, "--ref-min", "1"], capsys)
    assert code == 0, err
    code, _, err = run_cli([*_base(tmp_path / "nope.wav", tmp_path / "o.wav")], capsys)
    assert code == 2 and "nope.wav: file not found" in err
    missing_text = [a for a in _base(short, tmp_path / "o.wav") if a not in ("--ref-text", "Hello there")]
    code, _, err = run_cli(missing_text, capsys)
    assert code == 2 and "--ref needs --ref-text" in err


@pytest.mark.slow
def test_synth_from_original_files(ref_wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--gpt/--sovits/--hubert with files in the original formats and a HuBERT folder in Hugging Face format."""
    from timbre.compat.checkpoints import GPTCheckpoint, SoVITSCheckpoint, save_gpt_ckpt, save_sovits_pth
    from timbre.infer import factory
    from timbre.models.gpt import original_config

    synth = factory.deterministic(0)
    gpt = save_gpt_ckpt(
        GPTCheckpoint("v2", original_config("v2"), synth.gpt.model.state_dict()), tmp_path / "g.ckpt"
    )
    sovits_ckpt = SoVITSCheckpoint("v2", synth.sovits.cfg.to_original(), synth.sovits.state_dict())
    sovits = save_sovits_pth(sovits_ckpt, tmp_path / "s.pth")
    hubert = tmp_path / "hubert"
    synth.hubert.model.save_pretrained(hubert)  # type: ignore[attr-defined]
    common = ["--hubert", str(hubert), "--ref", str(ref_wav), "--ref-text", "Hello there", "--ref-lang", "en"]
    argv = [
        "synth",
        "--gpt",
        str(gpt),
        "--sovits",
        str(sovits),
        *common,
        "--text",
        "Hello world.",
        "--lang",
        "en",
    ]
    out = tmp_path / "o.wav"
    code, stdout, err = run_cli([*argv, "-o", str(out), "--max-new-tokens", "12", "--seed", "1"], capsys)
    assert code == 0, err
    assert sf.info(str(out)).frames == 12 * 1280 + int(0.3 * SR)
    assert "g.ckpt + s.pth" in stdout
    swapped = ["synth", "--gpt", str(sovits), "--sovits", str(gpt), *common, "--text", "Hi.", "-o", str(out)]
    code, _, err = run_cli(swapped, capsys)
    assert code == 2 and "this is a sovits checkpoint, not a gpt one" in err
    # the same files as a voice folder with a default reference: same seed, same audio
    import json
    import shutil

    shutil.copyfile(ref_wav, tmp_path / "ref.wav")
    manifest = {
        "format": "timbre-voice", "format_version": 1, "name": "test", "version": "v2", "gpt_version": "v2",
        "gpt": "g.ckpt", "sovits": "s.pth", "hubert": "hubert",
        "reference": {"audio": "ref.wav", "text": "Hello there", "lang": "en"},
    }  # fmt: skip
    (tmp_path / "voice.json").write_text(json.dumps(manifest), "utf-8")
    voice_out = tmp_path / "voice.wav"
    code, stdout, err = run_cli(
        ["synth", "--voice", str(tmp_path), "--text", "Hello world.", "-o", str(voice_out), "--max-new-tokens", "12",
         "--seed", "1"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "voice 'test' (v2)" in stdout
    assert sf.read(str(voice_out), dtype="int16")[0].tolist() == sf.read(str(out), dtype="int16")[0].tolist()
