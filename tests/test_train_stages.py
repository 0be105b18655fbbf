"""Training into a voice folder replaces nothing by surprise: a trained stage or an interrupted run is refused
unless `--resume` or `--overwrite`, and `--overwrite` discards the earlier run's checkpoints so that no later
`--resume` can pick them up."""

from __future__ import annotations

from pathlib import Path

import pytest

from timbre.errors import TimbreError
from timbre.train.recipe import TrainOptions
from timbre.train.stages import StageState, checkpoint_dir, claim_voice_dir, clear_stages, training_dir

BOTH = ("sovits", "gpt")


def _interrupted(voice: Path, stage: str, *steps: int) -> None:
    folder = checkpoint_dir(voice, stage)
    folder.mkdir(parents=True)
    for step in steps:
        (folder / f"step-{step:09d}.pt").write_bytes(b"checkpoint")
    logs = training_dir(voice) / "tensorboard" / stage
    logs.mkdir(parents=True)
    (logs / "events.out.tfevents.1").write_bytes(b"")


def test_a_new_or_empty_folder_is_claimed(tmp_path: Path) -> None:
    assert claim_voice_dir(tmp_path / "new", BOTH, resume=False, overwrite=False) == []
    (tmp_path / "empty").mkdir()
    assert claim_voice_dir(tmp_path / "empty", BOTH, resume=False, overwrite=False) == []


def test_a_trained_voice_is_refused_without_resume_or_overwrite(tmp_path: Path) -> None:
    voice = tmp_path / "voice"
    voice.mkdir()
    (voice / "sovits.safetensors").write_bytes(b"weights")
    StageState(training_dir(voice) / "stages.json").set("gpt", True)
    with pytest.raises(
        TimbreError, match="already holds a trained SoVITS and a trained GPT: pass --resume .*--overwrite"
    ):
        claim_voice_dir(voice, BOTH, resume=False, overwrite=False)
    with pytest.raises(TimbreError, match="already holds a trained GPT:"):
        claim_voice_dir(voice, ("gpt",), resume=False, overwrite=False)
    assert claim_voice_dir(voice, BOTH, resume=True, overwrite=False) == []
    assert claim_voice_dir(voice, BOTH, resume=False, overwrite=True) == ["sovits", "gpt"]
    assert (voice / "sovits.safetensors").read_bytes() == b"weights"  # checking removes nothing


def test_stage_gpt_after_stage_sovits_is_not_a_conflict(tmp_path: Path) -> None:
    voice = tmp_path / "voice"
    voice.mkdir()
    (voice / "sovits.safetensors").write_bytes(b"weights")
    StageState(training_dir(voice) / "stages.json").set("sovits", True)
    assert claim_voice_dir(voice, ("gpt",), resume=False, overwrite=False) == []


def test_an_interrupted_run_is_refused_and_overwrite_discards_it(tmp_path: Path) -> None:
    voice = tmp_path / "voice"
    _interrupted(voice, "sovits", 40, 42)
    _interrupted(voice, "gpt", 7)
    StageState(training_dir(voice) / "stages.json").set("sovits", False)
    with pytest.raises(TimbreError, match=r"an interrupted SoVITS run \(checkpoint at step 42\)"):
        claim_voice_dir(voice, BOTH, resume=False, overwrite=False)
    earlier = claim_voice_dir(voice, ("sovits",), resume=False, overwrite=True)
    assert earlier == ["sovits"]
    clear_stages(voice, earlier)
    assert not checkpoint_dir(voice, "sovits").exists()
    assert not (training_dir(voice) / "tensorboard" / "sovits").exists()
    assert list(checkpoint_dir(voice, "gpt").iterdir())  # the stage not being trained keeps its run
    assert (training_dir(voice) / "tensorboard" / "gpt").is_dir()


def test_clearing_unmarks_a_finished_stage(tmp_path: Path) -> None:
    voice = tmp_path / "voice"
    state = StageState(training_dir(voice) / "stages.json")
    state.set("sovits", True)
    state.set("gpt", True)
    clear_stages(voice, ["gpt"])
    assert state.done("sovits") and not state.done("gpt")


def test_a_file_is_not_a_voice_folder(tmp_path: Path) -> None:
    (tmp_path / "voice").write_text("not a folder")
    with pytest.raises(TimbreError, match="is a file; give a folder"):
        claim_voice_dir(tmp_path / "voice", BOTH, resume=True, overwrite=False)


def test_resume_and_overwrite_contradict() -> None:
    with pytest.raises(TimbreError, match="--resume .* --overwrite .* one of them"):
        TrainOptions(Path("d"), Path("o"), config="tiny", resume=True, overwrite=True)
