"""`timbre compat …` commands: verify against reference data, inspect and convert checkpoints."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from timbre.cli._app import app, console

if TYPE_CHECKING:
    from timbre.compat.verify import SetResult

compat_app = typer.Typer(
    help="Compatibility with the original GPT-SoVITS: checkpoints and reference vectors."
)
app.add_typer(compat_app, name="compat")


def _print_result(result: SetResult) -> None:
    status = "[green]PASS[/]" if result.ok else "[bold red]FAIL[/]"
    worst = "-" if math.isnan(result.worst) else f"{result.worst:.3g}"
    unit = "keys" if result.name.startswith("manifests/") else "arrays"
    worst_label = "problems" if unit == "keys" else "worst err"
    line = f"{status}  {escape(f'{result.name:<48}')} {result.n_arrays:>4} {unit:<6} {worst_label} {worst:<9} {result.seconds:5.1f}s"
    if result.detail:
        line += f"  [dim]{escape(result.detail)}[/]"
    console.print(line, soft_wrap=True, highlight=False)


@compat_app.command("verify")
def verify(
    folder: Annotated[
        Path, typer.Argument(help="Folder with vectors_seed*/ (and manifests/), e.g. ../shared/compat.")
    ],
    only: Annotated[str | None, typer.Option(help="Run only the sets whose name contains this text.")] = None,
) -> None:
    """Run every reference vector set and manifest in FOLDER through timbre; exit 1 if anything failed."""
    from timbre.compat.verify import verify_dir

    results = verify_dir(folder, only=only, on_result=_print_result)
    passed = sum(r.ok for r in results)
    failed = len(results) - passed
    console.print(f"{passed} passed, {failed} failed", markup=False, highlight=False, style=None)
    if failed or not results:
        raise typer.Exit(1)


@compat_app.command("inspect")
def inspect(
    path: Annotated[Path, typer.Argument(help="A SoVITS .pth, GPT .ckpt or timbre .safetensors checkpoint.")],
) -> None:
    """Show a checkpoint's kind, version (and how it was detected), size and main config values."""
    from timbre.compat.native import load_checkpoint

    ckpt = load_checkpoint(path)
    n_params = sum(t.numel() for t in ckpt.state_dict.values())
    dtypes = sorted({str(t.dtype).removeprefix("torch.") for t in ckpt.state_dict.values()})
    console.print(f"[bold]{escape(str(path))}[/]", highlight=False)
    console.print(f"  {ckpt.detected or (ckpt.kind + ' ' + ckpt.version)}", markup=False, highlight=False)
    console.print(f"  {len(ckpt.state_dict)} tensors, {n_params:,} values, dtype {', '.join(dtypes)}")
    if ckpt.info:
        console.print(f"  info: {ckpt.info}", markup=False, highlight=False)
    model_cfg = ckpt.config.get("model", {})
    shown = (
        "version",
        "gin_channels",
        "upsample_initial_channel",
        "phoneme_vocab_size",
        "n_layer",
        "hidden_dim",
    )
    summary = ", ".join(f"{k}={model_cfg[k]}" for k in shown if k in model_cfg)
    if summary:
        console.print(f"  model: {summary}", markup=False, highlight=False)


@compat_app.command("convert")
def convert(
    source: Annotated[Path, typer.Argument(help="Checkpoint to read (.pth, .ckpt or .safetensors).")],
    target: Annotated[
        Path, typer.Argument(help="File to write: .safetensors (timbre), .pth (SoVITS) or .ckpt (GPT).")
    ],
    fp32: Annotated[
        bool, typer.Option(help="Keep fp32 in .pth/.ckpt output (the original writes fp16).")
    ] = False,
) -> None:
    """Convert between the original formats and timbre's safetensors + JSON format."""
    from timbre.compat.checkpoints import GPTCheckpoint, SoVITSCheckpoint, save_gpt_ckpt, save_sovits_pth
    from timbre.compat.native import load_checkpoint, save_safetensors
    from timbre.errors import TimbreError

    ckpt = load_checkpoint(source)
    if target.resolve() == source.resolve():
        raise TimbreError("the target is the source file; choose another output path")
    if target.suffix == ".safetensors":
        written = save_safetensors(ckpt, target)
    elif target.suffix == ".pth" and isinstance(ckpt, SoVITSCheckpoint):
        written = save_sovits_pth(ckpt, target, half=not fp32)
    elif target.suffix == ".ckpt" and isinstance(ckpt, GPTCheckpoint):
        written = save_gpt_ckpt(ckpt, target, half=not fp32)
    else:
        raise TimbreError(
            f"cannot write a {ckpt.kind} checkpoint as {target.suffix or 'a file without suffix'}: "
            "use .safetensors, .pth for SoVITS or .ckpt for GPT"
        )
    console.print(f"wrote {written} ({ckpt.kind} {ckpt.version})", markup=False, highlight=False)
