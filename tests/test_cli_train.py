"""`timbre train --config tiny` end to end (dataset → features → SoVITS → GPT → voice folder → `timbre synth`),
`--resume` and `--stage`, the one-line CLI errors, and `timbre slurm`."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import soundfile as sf
import torch
from tests.helpers.cli import run_cli

from timbre.cli import run_app
from timbre.compat.checkpoints import load_gpt, load_sovits
from timbre.compat.native import load_safetensors
from timbre.errors import TrainingInterrupted
from timbre.infer.voice import load_voice
from timbre.train.tiny import write_tiny_dataset


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, float]:
    """One tiny training run through the CLI: (dataset, voice folder, stdout, seconds)."""
    threads = torch.get_num_threads()
    root = tmp_path_factory.mktemp("tiny")
    dataset = write_tiny_dataset(root / "dataset", seconds=3.5)
    voice = root / "voice"
    started = time.perf_counter()
    try:
        with pytest.MonkeyPatch.context() as mp:
            captured: list[str] = []
            mp.setattr("timbre.cli.train.console.print", lambda text, **_: captured.append(str(text)))
            with pytest.raises(SystemExit) as done:
                run_app(["train", str(dataset), "--config", "tiny", "--out", str(voice), "--quiet"])
            assert done.value.code == 0
    finally:
        torch.set_num_threads(threads)
    return dataset, voice, "\n".join(captured), time.perf_counter() - started


def test_tiny_training_writes_a_complete_voice_folder(trained: tuple[Path, Path, str, float]) -> None:
    _, voice, stdout, seconds = trained
    print(f"timbre train --config tiny: {seconds:.1f} s")
    assert "trained sovits + gpt on 4 segments (14.0 s)" in stdout
    for name in (
        "voice.json", "sovits.pth", "gpt.ckpt", "sovits.safetensors", "gpt.safetensors", "reference.wav",
        "hubert/config.json", "sovits_losses.png", "gpt_losses.png", "spectrogram.png",
        "training/sovits.csv", "training/gpt.csv", "training/stages.json",
    ):  # fmt: skip
        assert (voice / name).is_file(), name
    assert list((voice / "training" / "tensorboard").rglob("events.out.tfevents.*"))
    assert not list((voice / "training" / "checkpoints").rglob("*.pt"))  # removed once the stages finished
    for stage, key in (("sovits", "loss_mel"), ("gpt", "loss")):
        with (voice / "training" / f"{stage}.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        assert rows and all(math.isfinite(float(r[key])) for r in rows)
    spoken = load_voice(voice)
    assert (spoken.version, spoken.gpt_version) == ("v2", "v2")
    assert spoken.hubert is not None and spoken.reference is not None and spoken.reference.lang == "zh"
    assert sf.info(str(spoken.reference.audio)).samplerate == 32000


def test_exports_are_in_the_original_formats(trained: tuple[Path, Path, str, float]) -> None:
    _, voice, _, _ = trained
    sovits, gpt = load_sovits(voice / "sovits.pth"), load_gpt(voice / "gpt.ckpt")
    assert sovits.version == "v2" and gpt.version == "v2"
    assert not any(k.startswith("enc_q.") for k in sovits.state_dict)
    assert all(v.dtype == torch.float16 for v in sovits.state_dict.values() if v.is_floating_point())
    assert sovits.config["model"]["upsample_rates"] == [10, 8, 8]  # the tiny shape travels with the file
    native = load_safetensors(voice / "sovits.safetensors")
    for key, value in sovits.state_dict.items():
        torch.testing.assert_close(native.state_dict[key].half(), value, rtol=0, atol=0)
    assert gpt.state_dict["ar_text_embedding.word_embeddings.weight"].shape[0] == 732
    assert gpt.state_dict["bert_proj.weight"].shape[1] == 1024


def test_timbre_synth_loads_the_tiny_voice(
    trained: tuple[Path, Path, str, float], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, voice, _, _ = trained
    out = tmp_path / "hello.wav"
    argv = ["synth", "--voice", str(voice), "--text", "你好。", "--lang", "zh", "-o", str(out), "--seed", "1"]
    code, stdout, err = run_cli([*argv, "--max-new-tokens", "12"], capsys)
    assert code == 0, err
    audio, sr = sf.read(str(out))
    assert sr == 32000 and audio.shape[0] == 12 * 1280 + int(0.3 * sr)
    assert "voice 'voice'" in stdout


@pytest.mark.slow
def test_resume_skips_finished_stages_and_stage_gpt_overwrite_retrains_only_the_gpt(
    trained: tuple[Path, Path, str, float], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset, voice, _, _ = trained
    copy = tmp_path / "voice"
    shutil.copytree(voice, copy)
    base = ["train", str(dataset), "--config", "tiny", "--out", str(copy), "--quiet"]
    code, stdout, err = run_cli([*base, "--resume"], capsys)
    assert code == 0, err
    assert "trained nothing (already done)" in stdout
    sovits_before = load_safetensors(copy / "sovits.safetensors").state_dict
    gpt_before = load_safetensors(copy / "gpt.safetensors").state_dict
    code, _, err = run_cli([*base, "--stage", "gpt", "--epochs-gpt", "1"], capsys)
    assert (
        code == 2 and "already holds a trained GPT" in err and "--overwrite" in err
    )  # nothing replaced by surprise
    stale = (
        copy / "training" / "checkpoints" / "gpt" / "step-000000999.pt"
    )  # left by an earlier, interrupted run
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"stale")
    killed_save = stale.with_name(
        f".{stale.name}.tmp-{os.getpid()}-0123abcd.pt"
    )  # a save cut short by a kill
    killed_save.write_bytes(b"partial")
    code, stdout, err = run_cli(
        [*base, "--stage", "gpt", "--epochs-gpt", "1", "--overwrite", "--keep-checkpoints"], capsys
    )
    assert code == 0, err
    assert "trained gpt on 4 segments" in stdout
    assert not stale.exists() and list(stale.parent.glob("step-*.pt"))  # the new run's checkpoints only
    assert not killed_save.exists()
    sovits_after = load_safetensors(copy / "sovits.safetensors").state_dict
    gpt_after = load_safetensors(copy / "gpt.safetensors").state_dict
    assert all(torch.equal(sovits_before[k], sovits_after[k]) for k in sovits_before)
    assert not all(torch.equal(gpt_before[k], gpt_after[k]) for k in gpt_before)
    assert json.loads((copy / "voice.json").read_text())["info"]["stages"] == ["gpt"]


def test_a_trained_voice_is_not_replaced_by_a_new_run(
    trained: tuple[Path, Path, str, float], capsys: pytest.CaptureFixture[str]
) -> None:
    dataset, voice, _, _ = trained
    before = {p: p.stat().st_mtime_ns for p in voice.rglob("*") if p.is_file()}
    code, _, err = run_cli(["train", str(dataset), "--config", "tiny", "--out", str(voice)], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "already holds a trained SoVITS and a trained GPT: pass --resume" in err
    assert {p: p.stat().st_mtime_ns for p in voice.rglob("*") if p.is_file()} == before
    code, _, err = run_cli(
        ["train", str(dataset), "--config", "tiny", "--out", str(voice), "--resume", "--overwrite"], capsys
    )
    assert code == 2 and "one of them" in err


@pytest.mark.parametrize(
    "stop, message",
    [
        (TrainingInterrupted("SoVITS", 35, "v/training/checkpoints/sovits"), "interrupted: SoVITS training stopped "
         "after step 35 and saved it in v/training/checkpoints/sovits; run the same command with --resume"),
        (KeyboardInterrupt(), "interrupted"),  # a second Ctrl-C, or one during feature extraction
    ],
)  # fmt: skip
def test_ctrl_c_exits_130_and_says_so(
    stop: BaseException, message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(opts: object) -> None:
        raise stop

    monkeypatch.setattr("timbre.train.recipe.train_voice", interrupted)
    code, _, err = run_cli(["train", "data", "--config", "tiny", "--out", "v"], capsys)
    assert code == 130 and err.strip().startswith(message) and len(err.strip().splitlines()) == 1


def test_the_summary_says_how_many_segments_a_stage_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from timbre.features.dataset import ExtractionReport
    from timbre.train.recipe import TrainResult

    result = TrainResult(tmp_path, 4, 14.0, ExtractionReport(), ["sovits", "gpt"], {"sovits": 4, "gpt": 3})
    monkeypatch.setattr("timbre.train.recipe.train_voice", lambda opts: result)
    code, stdout, err = run_cli(["train", "data", "--config", "tiny", "--out", "v"], capsys)
    assert code == 0, err
    assert "trained sovits + gpt on 4 segments (14.0 s; gpt on 3 of them)" in stdout


def test_a_full_disk_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import errno

    def full(opts: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "v/training/checkpoints/sovits/x.pt")

    monkeypatch.setattr("timbre.train.recipe.train_voice", full)
    code, _, err = run_cli(["train", "data", "--config", "tiny", "--out", "v"], capsys)
    assert code == 2 and err.strip().startswith("error: [Errno 28] No space left on device")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_bad_input_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset = write_tiny_dataset(tmp_path / "dataset", seconds=2.0)  # 4 x 2 s = 8 s
    code, _, err = run_cli(["train", str(dataset), "--config", "tiny", "--out", str(tmp_path / "v")], capsys)
    assert code == 2
    assert "8.0 s of audio" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(
        ["train", str(dataset), "--out", str(tmp_path / "v"), "--batch-size", "lots"], capsys
    )
    assert code == 2 and "--batch-size" in err
    code, _, err = run_cli(
        ["train", str(dataset), "--config", "tiny", "--out", str(tmp_path / "v"), "--grad-clip", "-1"], capsys
    )
    assert code == 2 and "--grad-clip" in err


def test_slurm_writes_a_valid_sbatch_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "jobs" / "train.sbatch"
    argv = [
        "slurm", str(tmp_path / "my data"), "-o", str(script), "--nodes", "2", "--gpus-per-node", "4",
        "--partition", "gpu", "--time", "12:00:00", "--out", str(tmp_path / "voice"),
        "--pretrained-gpt", "s1.ckpt", "--pretrained-sovits", "s2G2333k.pth", "--hubert", "hubert",
        "--batch-size", "auto", "--lora-rank", "8", "--grad-clip", "0", "--wav-dir", "audio",
        "--gpt-optimizer", "scaled-adam",
    ]  # fmt: skip
    code, stdout, err = run_cli(argv, capsys)
    assert code == 0, err
    text = script.read_text()
    assert "#SBATCH --nodes=2" in text and "#SBATCH --gpus-per-node=4" in text
    assert "#SBATCH --partition=gpu" in text and "#SBATCH --time=12:00:00" in text
    assert "#SBATCH --signal=TERM@120" in text  # the time limit stops training with a checkpoint ...
    assert "export TORCH_ELASTIC_SHUTDOWN_TIMEOUT=100" in text  # ... which torchrun waits for
    assert 'MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)' in text
    assert "export MASTER_ADDR MASTER_PORT" in text
    assert '--nnodes="$SLURM_NNODES" --nproc-per-node=4' in text
    assert '--rdzv-backend=c10d --rdzv-endpoint="$MASTER_ADDR:$MASTER_PORT"' in text
    assert f"-m timbre train '{(tmp_path / 'my data').resolve()}' --quiet" in text
    assert f"--pretrained-sovits {Path('s2G2333k.pth').resolve()}" in text  # absolute: the job runs elsewhere
    assert "--batch-size auto" in text and "--lora-rank 8" in text and "--precision bf16" in text
    assert " --resume" in text  # a resubmitted or requeued job continues the run it finds
    assert "--grad-clip 0.0" in text and "--gpt-optimizer scaled-adam" in text
    assert f"--wav-dir {Path('audio').resolve()}" in text
    bash = shutil.which("bash")
    assert bash
    subprocess.run([bash, "-n", str(script)], check=True)
    code, _, err = run_cli([*argv, "--no-resume"], capsys)
    assert code == 0, err
    assert " --resume" not in script.read_text()
    code, _, err = run_cli(["slurm", "data", "-o", str(script), "--out", "v"], capsys)
    assert code == 2 and "--pretrained-gpt" in err


def test_a_voice_without_a_segment_of_reference_length_has_no_default_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from timbre.train.tiny import TINY_LINES

    dataset = write_tiny_dataset(tmp_path / "dataset", seconds=10.6, lines=TINY_LINES[:1])  # over 10 s
    voice = tmp_path / "voice"
    threads = torch.get_num_threads()
    try:
        code, _, err = run_cli(
            ["train", str(dataset), "--config", "tiny", "--out", str(voice), "--quiet"], capsys
        )
    finally:
        torch.set_num_threads(threads)
    assert code == 0, err
    assert "no training segment is 3-10 s long" in err and "--ref" in err
    assert load_voice(voice).reference is None and (voice / "spectrogram.png").is_file()
    code, _, err = run_cli(
        ["synth", "--voice", str(voice), "--text", "Hi.", "--lang", "en", "-o", "x.wav"], capsys
    )
    assert code == 2 and "give a reference clip: --ref" in err
