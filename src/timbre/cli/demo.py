"""`timbre demo`: run the main job end to end on bundled input and say what each step did.

One function per demo; the command picks one. Today there is the synthesis demo (deterministic weights); a training
demo can be added as another `_run_*` function and a flag that selects it.
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


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo's files.")] = Path("timbre-demo"),
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the deterministic weights and the sampling.")
    ] = 0,
) -> None:
    """Synthesize end to end on deterministic (untrained) weights from a bundled reference clip."""
    start = time.perf_counter()
    _run_synthesis_demo(out, seed)
    _say(f"done in {time.perf_counter() - start:.1f} s")
