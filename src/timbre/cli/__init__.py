"""The `timbre` command line. Each sub-module registers its commands on the shared app."""

from __future__ import annotations

import os
import sys

os.environ.setdefault(
    "HF_HUB_DISABLE_PROGRESS_BARS", "1"
)  # transformers' save/load bars would interleave with ours
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from local folders only

from timbre.cli import audio, bench, compat, demo, synth, text, train  # noqa: F401  (register commands)
from timbre.cli import evaluate as _eval  # noqa: F401  (registers `timbre eval`)
from timbre.cli._app import app, run_app


def main() -> None:
    run_app(sys.argv[1:])


__all__ = ["app", "main"]
