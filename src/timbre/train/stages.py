"""Bookkeeping around the training stages: which finished (for `--resume`) and the extraction progress bars."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.progress import TaskID

from timbre.train.loop import progress_bar


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
