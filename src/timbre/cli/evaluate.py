"""`timbre eval`: speaker similarity, English WER and DNSMOS of a voice's synthesized speech (or of wav files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from timbre.cli._app import app, console

if TYPE_CHECKING:
    from timbre.eval.report import EvalReport


def _table(report: EvalReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    from timbre.eval.report import format_value

    table = Table(title=f"timbre eval — reference {escape(report.reference)}, lang {report.lang}")
    table.add_column("#", justify="right")
    table.add_column("source")
    table.add_column("s", justify="right")
    for name in ("similarity", "WER", "OVRL", "SIG", "BAK", "P808"):
        table.add_column(name, justify="right")
    table.add_column("transcript", overflow="fold", max_width=48)
    for row in report.rows:
        table.add_row(
            str(row.index + 1),
            escape(row.source),
            f"{row.seconds:.1f}",
            format_value(row.similarity, "similarity"),
            format_value(row.wer, "wer"),
            *(
                format_value(v, "mos")
                for v in (row.dnsmos_ovrl, row.dnsmos_sig, row.dnsmos_bak, row.dnsmos_p808)
            ),
            escape(row.transcript) if row.transcript is not None else "-",
        )
    means = report.means()
    table.add_section()
    table.add_row(
        "",
        "[bold]mean[/]",
        "",
        *(f"[bold]{format_value(means[k], k)}[/]" for k in ("similarity", "wer")),
        *(format_value(means[k], k) for k in ("dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808")),
        "(WER: all errors / all words)" if means["wer"] is not None else "",
    )
    console.print(table)


@app.command("eval")
def evaluate(
    ref: Annotated[Path, typer.Option("--ref", help="Reference recording of the target speaker.")],
    texts: Annotated[Path, typer.Option("--texts", help="UTF-8 text file: one sentence per line.")],
    voice: Annotated[
        Path | None, typer.Argument(help="Voice folder (from `timbre train`) to synthesize the texts with.")
    ] = None,
    wavs: Annotated[
        Path | None,
        typer.Option(
            "--wavs", help="Score these audio files (natural name order, one per text line) instead."
        ),
    ] = None,
    lang: Annotated[str, typer.Option(help="Language of the texts (WER is measured for en only).")] = "en",
    ref_text: Annotated[
        str | None,
        typer.Option(
            help="Transcript of --ref, used as the prompt when the voice folder has no reference of its own."
        ),
    ] = None,
    save_wavs: Annotated[
        Path | None, typer.Option(help="Also write the synthesized audio here (001.wav, 002.wav, …).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed for synthesis (line i uses seed + i).")] = 0,
    hubert: Annotated[
        Path | None, typer.Option(help="HuBERT folder, when the voice folder has no hubert/ of its own.")
    ] = None,
    roberta: Annotated[Path | None, typer.Option(help="Chinese RoBERTa folder (for zh text).")] = None,
    sv: Annotated[Path | None, typer.Option(help="Speaker-verification model (v2Pro voices).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Score synthesized speech: similarity to --ref (resemblyzer), WER (Whisper tiny.en) and DNSMOS."""
    from timbre.audio.io import load_audio
    from timbre.eval.metrics import EVAL_SR
    from timbre.eval.report import evaluate as run_eval
    from timbre.eval.sources import read_texts, wav_utterances

    if (voice is None) == (wavs is None):
        raise ValueError("give either a VOICE_DIR to synthesize with or --wavs DIR of audio files, not both")
    lines = read_texts(texts)
    reference16k = load_audio(ref, EVAL_SR)[0]
    status = console if not as_json else None
    if wavs is not None:
        utterances = wav_utterances(wavs, lines)
    elif voice is not None:
        from timbre.eval import synth

        if status is not None:
            status.print(f"synthesizing {len(lines)} lines with {voice} …")
        synthesizer = synth.load_voice_synthesizer(voice, hubert=hubert, roberta=roberta, sv=sv)
        prompt = synth.prompt_reference(synthesizer, voice, ref, ref_text, lang)
        utterances = synth.synthesize_utterances(
            synthesizer, prompt, lines, lang, seed=seed, save_dir=save_wavs
        )
    if status is not None:
        status.print(f"scoring {len(utterances)} utterances …")
    report = run_eval(utterances, reference16k, ref.name, lang)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        _table(report)
