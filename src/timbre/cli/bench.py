"""`timbre bench …`: speed benchmarks on deterministic weights (never timed unit tests)."""

from __future__ import annotations

import typer

from timbre.cli._app import app

bench_app = typer.Typer(
    help="Benchmarks on deterministic weights; compare with ../shared/bench/calib.py run beside them."
)
app.add_typer(bench_app, name="bench")

from timbre.cli import bench_features, bench_gpt, bench_sovits, bench_train  # noqa: E402,F401  (register sub-commands)
