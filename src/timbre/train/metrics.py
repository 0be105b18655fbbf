"""Training metrics: one CSV row per logged step, TensorBoard scalars, and loss-curve PNGs."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def tensorboard_dir(folder: Path, name: str) -> Path:
    """Where a run's TensorBoard events for `name` ("sovits", "gpt") go inside its training folder."""
    return folder / "tensorboard" / name


def plot_panel(ax: Any, key: str, points: list[tuple[float, float]]) -> None:
    """One metric's curve. Steps where it was inf or NaN (an overflowing gradient norm, a diverging loss) would
    leave gaps, or an empty panel: they are marked with red crosses along the top and counted in the title."""
    finite = [(x, y) for x, y in points if math.isfinite(y)]
    bad = [x for x, y in points if not math.isfinite(y)]
    ys = [y for _, y in finite]
    lone = "o" if len(ys) == 1 else None  # a single point draws no line
    ax.plot([x for x, _ in finite], ys, lw=1.2, marker=lone, ms=3)
    if ys and min(ys) > 0 and max(ys) / min(ys) > 1e3:  # e.g. a first-step KL spike: keep the rest visible
        ax.set_yscale("log")
    title = key
    if bad:
        ax.plot(bad, [1.0] * len(bad), "x", color="red", transform=ax.get_xaxis_transform(), clip_on=False)
        title += f" ({len(bad)} of {len(points)} steps inf/NaN: x)"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.grid(alpha=0.3)


class MetricsLogger:
    """Appends metrics to `<folder>/<name>.csv` (resumable: rows past a resumed step are dropped) and TensorBoard."""

    def __init__(
        self, folder: Path, name: str, tensorboard: bool = True, resume_step: int | None = None
    ) -> None:
        self.folder = folder
        self.name = name
        folder.mkdir(parents=True, exist_ok=True)
        self.csv_path = folder / f"{name}.csv"
        self._rows: list[dict[str, float]] = self._read_rows(resume_step)
        self._writer: Any = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(tensorboard_dir(folder, name)), purge_step=resume_step)

    def _read_rows(self, resume_step: int | None) -> list[dict[str, float]]:
        if resume_step is None or not self.csv_path.exists():
            self.csv_path.unlink(missing_ok=True)
            return []
        with self.csv_path.open(newline="") as fh:
            rows = [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(fh)]
        return [r for r in rows if r.get("step", 0) <= resume_step]

    def log(self, step: int, values: Mapping[str, float]) -> None:
        row = {"step": float(step), **{k: float(v) for k, v in values.items()}}
        self._rows.append(row)
        if self._writer is not None:
            for key, value in values.items():
                self._writer.add_scalar(f"{self.name}/{key}", float(value), step)
        self._write_csv()

    def _write_csv(self) -> None:
        keys: list[str] = []
        for row in self._rows:
            keys += [k for k in row if k not in keys]
        tmp = self.csv_path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self._rows)
        tmp.replace(self.csv_path)

    @property
    def rows(self) -> list[dict[str, float]]:
        return list(self._rows)

    def plot(self, path: Path | None = None) -> Path:
        """Loss curves, one panel per metric, saved as PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = path or self.folder / f"{self.name}_losses.png"
        keys = [k for k in (self._rows[0] if self._rows else {}) if k != "step"]
        cols = max(1, min(3, len(keys)))
        rows = max(1, math.ceil(len(keys) / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
        for ax, key in zip(axes.flat, keys, strict=False):
            plot_panel(ax, key, [(r["step"], r[key]) for r in self._rows if key in r])
        for ax in list(axes.flat)[len(keys) :]:
            ax.axis("off")
        fig.suptitle(f"{self.name} training", fontsize=10)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
