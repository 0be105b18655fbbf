"""The typer app and the error boundary: user errors become one clear line and exit code 2."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TextIO

import typer
from rich.console import Console

from timbre.errors import TrainingInterrupted

app = typer.Typer(
    name="timbre",
    help="Few-shot voice cloning, weight-compatible with GPT-SoVITS v2/v2Pro.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True, soft_wrap=True)
console = Console()


PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """timbre's own warnings as one line, like its errors; other packages' warnings as Python shows them."""
    if Path(filename).resolve().is_relative_to(PACKAGE_DIR):
        err_console.print(f"[yellow]warning:[/] {message}", highlight=False)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def run_app(argv: list[str]) -> None:
    previous, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        app(args=argv, prog_name="timbre", standalone_mode=True)
    except (ValueError, OSError) as exc:  # bad input; a missing, unreadable or unwritable file; a full disk
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None
    except TrainingInterrupted as exc:
        err_console.print(f"[yellow]interrupted:[/] {exc}", highlight=False)
        raise SystemExit(130) from None
    except SystemExit as exc:
        if exc.code == 130:  # Ctrl-C: typer turns the KeyboardInterrupt into a silent exit 130
            err_console.print("[yellow]interrupted[/]")
        raise
    finally:
        warnings.showwarning = previous
