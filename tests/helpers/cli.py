"""Run the `timbre` CLI in-process and capture what it printed."""

from __future__ import annotations

import pytest

from timbre.cli import run_app


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `timbre ARGV`."""
    try:
        run_app(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    else:
        code = 0
    out = capsys.readouterr()
    return code, out.out, out.err
