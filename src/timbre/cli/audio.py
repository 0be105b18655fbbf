"""`timbre prepare`: recordings -> a training dataset (segments, `.list`, `dataset.json`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from timbre.cli._app import app, console


@app.command("prepare")
def prepare(
    out: Annotated[Path, typer.Option("--out", help="Dataset folder to create (or resume).")],
    speaker: Annotated[str, typer.Option(help="Speaker name written in the .list file.")],
    lang: Annotated[
        str | None,
        typer.Option(
            help="Language: zh, en, ja, ko or yue (not needed with --transcripts: its lines give theirs)."
        ),
    ] = None,
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Audio files or folders (wav, flac, ogg, mp3; any rate). Only read, never modified."
        ),
    ] = None,
    transcripts: Annotated[
        Path | None,
        typer.Option(
            help="Existing .list (wav|speaker|LANG|text), paths relative to the list; no slicing then."
        ),
    ] = None,
    asr: Annotated[
        str | None,
        typer.Option(help="Transcribe with faster-whisper: whisper:SIZE (e.g. tiny.en) or whisper:/folder."),
    ] = None,
    denoise: Annotated[
        bool, typer.Option("--denoise/--no-denoise", help="RNNoise noise suppression.")
    ] = True,
    target_lufs: Annotated[float, typer.Option(help="Loudness of each segment, LUFS.")] = -20.0,
    min_seconds: Annotated[float, typer.Option(help="Shortest segment (seconds) when slicing.")] = 3.0,
    max_seconds: Annotated[float, typer.Option(help="Longest segment (seconds) when slicing.")] = 10.0,
    min_silence_ms: Annotated[float, typer.Option(help="Shortest pause where a segment may be cut.")] = 300.0,
    pad_ms: Annotated[float, typer.Option(help="Silence kept around the speech of each segment.")] = 150.0,
) -> None:
    """Slice, denoise and normalise recordings into 32 kHz mono segments with transcripts."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from timbre.audio.slicing import SliceConfig
    from timbre.prepare import PrepareConfig, PrepareProgress, prepare_dataset

    config = PrepareConfig(
        inputs=tuple(inputs or ()),
        out_dir=out,
        speaker=speaker,
        lang=lang,
        transcripts=transcripts,
        asr=asr,
        denoise=denoise,
        target_lufs=target_lufs,
        slicing=SliceConfig(
            min_seconds=min_seconds, max_seconds=max_seconds, min_silence_ms=min_silence_ms, pad_ms=pad_ms
        ),
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[dim]{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    bar = Progress(*columns, console=console)
    task = bar.add_task("sources", total=None, detail="")

    def show(event: PrepareProgress) -> None:  # the bar appears with the first event, after the input checks
        if not bar.live.is_started:
            bar.start()
        name = Path(event.source).name
        if event.stage == "source":
            detail = f"{name}: reading"
        elif event.stage == "segment":
            detail = f"{name}: segment {event.segments_done}/{event.segments_total}"
        elif event.stage == "skip":
            detail = f"{name}: already done"
        else:
            detail = "wrote dataset.list and dataset.json"
        done = event.source_count if event.stage == "done" else event.source_index + (event.stage == "skip")
        bar.update(task, total=event.source_count, completed=done, detail=detail)

    try:
        manifest = prepare_dataset(config, progress=show)
    finally:
        bar.stop()
    for warning in manifest.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    console.print(
        f"{len(manifest.segments)} segments, {manifest.total_minutes:.2f} min of speech -> "
        f"{config.out_dir / manifest.list_file}",
        highlight=False,
    )
