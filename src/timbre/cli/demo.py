"""`timbre demo`: run the main job end to end on bundled input and say what each step did.

One function per demo; the command picks one: the synthesis demo (deterministic weights), or with `--train` the
training demo (prepare -> tiny two-stage training -> synthesis on real speech clips bundled with gradio).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from timbre.cli._app import app, console


def _say(line: str) -> None:
    console.print(line, highlight=False, markup=False, soft_wrap=True)


def _run_synthesis_demo(out: Path, seed: int) -> None:
    from timbre.infer.demo import synthesis_demo

    report = synthesis_demo(out, seed, say=_say)
    _say(f"audio: {report.audio_seconds:.2f} s, {report.tokens} tokens; open {report.wav} and {report.png}")


def _run_training_demo(out: Path, seed: int, quick: bool) -> None:
    from timbre.train.demo import TrainDemoConfig, training_demo

    config = TrainDemoConfig(out, seed=seed, progress=not quick)
    if quick:  # the test's setting: one epoch per stage, a short sentence
        config = TrainDemoConfig(out, epochs_sovits=1, epochs_gpt=1, seed=seed, text="Hello.", progress=False)
    report = training_demo(config, say=_say)
    plots = ", ".join(p.name for p in report.plots)
    _say(f"audio: {report.audio_seconds:.2f} s; open {report.wav}, {report.png.name} and the plots ({plots})")


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's files.")] = Path("timbre-demo"),
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the deterministic weights and the sampling.")
    ] = 0,
    train: Annotated[
        bool,
        typer.Option(
            "--train",
            help="Prepare, train tiny models (a few minutes on CPU) and synthesize, on speech clips bundled with gradio.",
        ),
    ] = False,
    quick: Annotated[
        bool, typer.Option("--quick", hidden=True, help="--train with one epoch per stage.")
    ] = False,
) -> None:
    """Synthesize end to end on deterministic (untrained) weights from a bundled reference clip; with --train,
    first train a tiny voice on real speech clips and synthesize with it."""
    start = time.perf_counter()
    if train or quick:
        _run_training_demo(out, seed, quick)
    else:
        _run_synthesis_demo(out, seed)
    _say(f"done in {time.perf_counter() - start:.1f} s")
