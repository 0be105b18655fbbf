"""The typer app and the error boundary: user errors become one clear line and exit code 2."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    name="timbre",
    help="Few-shot voice cloning, weight-compatible with GPT-SoVITS v2/v2Pro.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err_console = Console(stderr=True, soft_wrap=True)
console = Console()


def run_app(argv: list[str]) -> None:
    try:
        app(args=argv, prog_name="timbre", standalone_mode=True)
    except (ValueError, FileNotFoundError, PermissionError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        raise SystemExit(130) from None
