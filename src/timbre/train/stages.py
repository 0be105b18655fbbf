"""Bookkeeping around the training stages: which finished (for `--resume`), what an earlier run left in the voice
folder (refused unless `--resume` or `--overwrite`), and the extraction progress bars."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.progress import TaskID

from timbre.errors import TimbreError
from timbre.train.checkpoints import CheckpointManager, stage_checkpoints, step_of
from timbre.train.loop import progress_bar
from timbre.train.metrics import tensorboard_dir

STAGE_NAMES = {"sovits": "SoVITS", "gpt": "GPT"}


class StageState:
    """`stages.json`: the stages whose trained weights are already in the voice folder."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, bool]:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        return {str(k): bool(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write(self, data: dict[str, bool]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def done(self, stage: str) -> bool:
        return self._read().get(stage, False)

    def set(self, stage: str, finished: bool) -> None:
        self._write(self._read() | {stage: finished})


def training_dir(voice_dir: Path) -> Path:
    """Checkpoints, metrics, TensorBoard logs and `stages.json` of the runs that write `voice_dir`."""
    return voice_dir / "training"


def checkpoint_dir(voice_dir: Path, stage: str) -> Path:
    return stage_checkpoints(training_dir(voice_dir), stage)


def stage_state(voice_dir: Path) -> StageState:
    """The `stages.json` of the runs that write `voice_dir`."""
    return StageState(training_dir(voice_dir) / "stages.json")


def claim_voice_dir(voice_dir: Path, stages: Sequence[str], resume: bool, overwrite: bool) -> list[str]:
    """Check, before any work, that training `stages` into `voice_dir` replaces nothing by surprise; returns the
    stages whose earlier run `clear_stages` must remove first.

    A stage already trained there (its weights in the voice, or marked finished) or an interrupted run of it (its
    checkpoints) is refused unless `resume` (continue it; finished stages are skipped) or `overwrite` (train it again
    from the pretrained models).
    """
    if voice_dir.exists() and not voice_dir.is_dir():
        raise TimbreError(f"--out {voice_dir} is a file; give a folder for the voice")
    if resume:
        return []
    state = stage_state(voice_dir)
    found, earlier = [], []
    for stage in stages:
        checkpoints = CheckpointManager(checkpoint_dir(voice_dir, stage)).checkpoints()  # oldest first
        if state.done(stage) or (voice_dir / f"{stage}.safetensors").is_file():
            found.append(f"a trained {STAGE_NAMES[stage]}")
        elif checkpoints:
            found.append(
                f"an interrupted {STAGE_NAMES[stage]} run (checkpoint at step {step_of(checkpoints[-1])})"
            )
        else:
            continue
        earlier.append(stage)
    if found and not overwrite:
        raise TimbreError(
            f"--out {voice_dir} already holds {' and '.join(found)}: pass --resume to continue (finished stages are "
            "skipped), --overwrite to train again from the pretrained models, or choose another --out"
        )
    return earlier


def clear_stages(voice_dir: Path, stages: Sequence[str]) -> None:
    """Remove the checkpoints and TensorBoard logs of the earlier runs of `stages` and unmark them as finished, so
    that a later `--resume` cannot continue them. Their weights in the voice are replaced only when the new run
    exports: a run that fails leaves the old voice usable."""
    state = stage_state(voice_dir)
    for stage in stages:
        shutil.rmtree(checkpoint_dir(voice_dir, stage), ignore_errors=True)
        shutil.rmtree(tensorboard_dir(training_dir(voice_dir), stage), ignore_errors=True)
        if state.done(stage):
            state.set(stage, False)


@contextmanager
def stage_progress(enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A `(stage, done, total)` callback drawing one bar per extraction stage."""
    with progress_bar(enabled) as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"features: {stage}", total=max(total, 1), metrics="")
            bar.update(tasks[stage], completed=done, total=max(total, 1))

        yield update
