"""`timbre synth`: text to speech with a reference clip, from original weights, a voice folder or deterministic ones."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from timbre.cli._app import app, console

if TYPE_CHECKING:
    from timbre.infer.options import SynthesisOptions
    from timbre.infer.pipeline import PreparedReference, Synthesizer


def _need(path: Path | None, flag: str, kind: str = "file") -> Path:
    if path is None:
        raise ValueError(f"{flag} is required")
    if kind == "file" and not path.is_file():
        raise ValueError(f"{flag} {path}: file not found")
    if kind == "dir" and not path.is_dir():
        raise ValueError(f"{flag} {path}: folder not found")
    return path


def build_synthesizer(
    *,
    gpt: Path | None,
    sovits: Path | None,
    voice: Path | None,
    det_weights: int | None,
    hubert: Path | None,
    roberta: Path | None,
    sv: Path | None,
    precision: str,
    ref_min: float,
    ref_max: float,
) -> Synthesizer:
    """Exactly one model source: --gpt/--sovits, --voice or --det-weights."""
    from timbre.infer import factory
    from timbre.infer.reference import ReferenceLimits

    sources = [gpt is not None or sovits is not None, voice is not None, det_weights is not None]
    if sum(sources) != 1:
        raise ValueError(
            "choose the model with exactly one of: --gpt CKPT --sovits PTH, --voice DIR, --det-weights SEED"
        )
    limits = ReferenceLimits(ref_min, ref_max)
    if roberta is not None:
        _need(roberta, "--roberta", "dir")
    if det_weights is not None:
        return factory.deterministic(det_weights, precision=precision, limits=limits)
    if voice is not None:
        return factory.from_voice(
            _need(voice, "--voice", "dir"),
            hubert=None if hubert is None else _need(hubert, "--hubert", "dir"),
            roberta=roberta,
            sv=sv,
            precision=precision,
            limits=limits,
        )
    return factory.from_files(
        _need(gpt, "--gpt"),
        _need(sovits, "--sovits"),
        _need(hubert, "--hubert (the chinese-hubert-base folder)", "dir"),
        roberta=roberta,
        sv=sv,
        precision=precision,
        limits=limits,
    )


def prepare_reference(
    synth: Synthesizer,
    *,
    ref: Path | None,
    ref_text: str | None,
    ref_lang: str | None,
    aux_refs: list[Path],
    voice: Path | None,
    use_bundled: bool,
) -> PreparedReference:
    """--ref/--ref-text/--ref-lang, else the voice folder's default reference, else (deterministic) the bundled clip."""
    if ref is not None:
        if ref_text is None or ref_lang is None:
            raise ValueError("--ref needs --ref-text (the words spoken in the clip) and --ref-lang")
        return synth.prepare_reference(_need(ref, "--ref"), ref_text, ref_lang, aux_refs)
    if voice is not None:
        from timbre.infer.voice import load_voice

        default = load_voice(voice).reference
        if default is not None:
            return synth.prepare_reference(
                default.audio, ref_text or default.text, ref_lang or default.lang, aux_refs
            )
    if use_bundled:
        from timbre.infer.bundled import bundled_reference

        bundled = bundled_reference()
        console.print(f"reference: {bundled.origin}", highlight=False, soft_wrap=True)
        return synth.prepare_reference(bundled.clip, bundled.text, bundled.lang, aux_refs)
    raise ValueError("give a reference clip: --ref REF.wav --ref-text '...' --ref-lang LANG")


def _stream(
    synth: Synthesizer, text: str, lang: str, ref: PreparedReference, opts: SynthesisOptions, out: Path
) -> None:
    from timbre.infer.output import SAMPLE_RATE, ProgressiveWriter

    start = time.perf_counter()
    first: float | None = None
    chunks = 0
    with ProgressiveWriter(out) as writer:
        for chunk in synth.stream(text, lang, ref, opts):
            writer.write(chunk.audio)
            if chunk.kind == "speech":
                chunks += 1
                if first is None:
                    first = time.perf_counter() - start
                    console.print(
                        f"first chunk after {first:.2f} s ({chunk.audio.shape[0] / SAMPLE_RATE:.2f} s of audio)"
                    )
    total = time.perf_counter() - start
    seconds = writer.samples / SAMPLE_RATE
    console.print(
        f"wrote {out} ({seconds:.2f} s of audio in {chunks} chunks, {total:.2f} s)",
        highlight=False,
        soft_wrap=True,
    )


@app.command("synth")
def synth_command(
    text: Annotated[str | None, typer.Option("--text", help="The text to speak.")] = None,
    text_file: Annotated[
        Path | None, typer.Option("--text-file", help="Read the text from a UTF-8 file.")
    ] = None,
    lang: Annotated[
        str, typer.Option("--lang", help="Language of the text: zh, en, ja, ko, yue, auto, ...")
    ] = "en",
    out: Annotated[Path, typer.Option("-o", "--out", help="Output file (.wav, .flac, .ogg or .raw).")] = Path(
        "out.wav"
    ),
    gpt: Annotated[Path | None, typer.Option("--gpt", help="GPT weights (.ckpt or .safetensors).")] = None,
    sovits: Annotated[
        Path | None, typer.Option("--sovits", help="SoVITS weights (.pth or .safetensors).")
    ] = None,
    voice: Annotated[
        Path | None, typer.Option("--voice", help="A voice folder written by `timbre train`.")
    ] = None,
    det_weights: Annotated[
        int | None,
        typer.Option(
            "--det-weights",
            help="Untrained deterministic weights with this seed (no files needed; bundled reference unless --ref).",
        ),
    ] = None,
    hubert: Annotated[
        Path | None, typer.Option("--hubert", help="HuBERT folder (Hugging Face format).")
    ] = None,
    roberta: Annotated[
        Path | None, typer.Option("--roberta", help="Chinese RoBERTa folder (zh features).")
    ] = None,
    sv: Annotated[Path | None, typer.Option("--sv", help="Speaker-verification model (v2Pro).")] = None,
    ref: Annotated[Path | None, typer.Option("--ref", help="Reference clip (3-10 s by default).")] = None,
    ref_text: Annotated[
        str | None, typer.Option("--ref-text", help="Transcript of the reference clip.")
    ] = None,
    ref_lang: Annotated[
        str | None, typer.Option("--ref-lang", help="Language of the reference transcript.")
    ] = None,
    aux_ref: Annotated[
        list[Path] | None, typer.Option("--aux-ref", help="Extra clips for the style (averaged).")
    ] = None,
    ref_min: Annotated[float, typer.Option("--ref-min", help="Shortest reference allowed (s).")] = 3.0,
    ref_max: Annotated[float, typer.Option("--ref-max", help="Longest reference allowed (s).")] = 10.0,
    top_k: Annotated[int, typer.Option("--top-k")] = 15,
    top_p: Annotated[float, typer.Option("--top-p")] = 1.0,
    temperature: Annotated[float, typer.Option("--temperature")] = 1.0,
    repetition_penalty: Annotated[float, typer.Option("--repetition-penalty")] = 1.35,
    seed: Annotated[int | None, typer.Option("--seed", help="Same seed, same audio.")] = None,
    speed: Annotated[float, typer.Option("--speed", help="Speaking rate factor (0.25-4).")] = 1.0,
    cut: Annotated[str, typer.Option("--cut", help="Text split method cut0..cut5.")] = "cut5",
    fragment_interval: Annotated[
        float, typer.Option("--fragment-interval", help="Pause after fragments (s).")
    ] = 0.3,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Fragments decoded together.")] = 4,
    max_new_tokens: Annotated[
        int | None, typer.Option("--max-new-tokens", help="Cap on tokens per fragment (25 per second).")
    ] = None,
    noise_scale: Annotated[float, typer.Option("--noise-scale")] = 0.5,
    stream: Annotated[
        bool, typer.Option("--stream", help="Write audio progressively as it is produced.")
    ] = False,
    stream_chunk: Annotated[
        int,
        typer.Option(
            "--stream-chunk", help="Tokens per streamed chunk (25 = 1 s); more = closer to non-streamed."
        ),
    ] = 25,
    precision: Annotated[
        str,
        typer.Option(
            "--precision", help="fp32, bf16 (GPT and SoVITS decoder) or int8 (GPT int8 weights, SoVITS bf16)."
        ),
    ] = "fp32",
) -> None:
    """Synthesize speech in the voice of a reference clip."""
    from timbre.infer.options import SynthesisOptions
    from timbre.infer.output import format_for, write_audio

    if (text is None) == (text_file is None):
        raise ValueError("give the text with exactly one of --text or --text-file")
    words = text if text is not None else _need(text_file, "--text-file").read_text("utf-8")
    format_for(out)
    opts = SynthesisOptions(
        cut_method=cut,
        top_k=top_k,
        top_p=top_p,
        temperature=temperature,
        repetition_penalty=repetition_penalty,
        speed=speed,
        noise_scale=noise_scale,
        fragment_interval=fragment_interval,
        seed=seed,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        stream_chunk_tokens=stream_chunk,
    )
    t0 = time.perf_counter()
    synth = build_synthesizer(
        gpt=gpt, sovits=sovits, voice=voice, det_weights=det_weights, hubert=hubert, roberta=roberta, sv=sv,
        precision=precision, ref_min=ref_min, ref_max=ref_max,
    )  # fmt: skip
    console.print(
        f"model: {synth.description} (loaded in {time.perf_counter() - t0:.1f} s)",
        highlight=False,
        soft_wrap=True,
    )
    prepared = prepare_reference(
        synth, ref=ref, ref_text=ref_text, ref_lang=ref_lang, aux_refs=list(aux_ref or []), voice=voice,
        use_bundled=det_weights is not None,
    )  # fmt: skip
    if stream:
        _stream(synth, words, lang, prepared, opts, out)
        return
    result = synth.synthesize(words, lang, prepared, opts)
    write_audio(out, result.audio, result.sample_rate)
    tokens = sum(f.tokens.shape[0] for f in result.fragments)
    timing = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items())
    console.print(
        f"wrote {out}: {result.seconds:.2f} s of audio, {len(result.fragments)} fragments, {tokens} tokens, "
        f"seed {result.seed} ({timing})",
        highlight=False,
        soft_wrap=True,
    )
