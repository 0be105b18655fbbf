"""The `timbre` command line. Each sub-module registers its commands on the shared app."""

from __future__ import annotations

import sys

from timbre.cli._app import app, run_app
from timbre.cli import text as _text  # noqa: F401  (registers commands)


def main() -> None:
    run_app(sys.argv[1:])


__all__ = ["app", "main"]
