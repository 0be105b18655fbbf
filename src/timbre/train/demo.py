"""The training demo: prepare → tiny two-stage training → synthesis, on real speech clips that ship with gradio.

`training_demo(TrainDemoConfig(out_dir))` copies three short English clips from gradio's wheel (two speakers, about
15 s in all) into `OUT/input/` with their transcripts, runs `timbre prepare` on them into `OUT/dataset/`, trains the
tiny models of `timbre.train.tiny` (SoVITS, then GPT) into the voice folder `OUT/voice/`, and speaks a sentence with
that voice. The loss curves and spectrograms are copied next to `demo_trained.wav` in `OUT/`, with a README.txt
saying what each file is. Every step reports what it did through `say`.

The models are tiny and train for a couple of minutes, so the result is not natural speech; the demo shows the
whole pipeline running on real data. The transcripts were found once with faster-whisper tiny.en on the whole clips
and are kept here, which makes the demo deterministic and independent of the ASR model.

Only the demo's own sub-folders of `OUT` are replaced on a re-run, and only when `OUT` holds nothing but demo files
(this demo's or the synthesis demo's).
"""

from __future__ import annotations

import importlib.resources
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from timbre.errors import TimbreError

GRADIO_AUDIO = ("gradio", "media_assets/audio")
SPEAKER = "demo"
LANG = "en"
DEMO_TEXT = "Hello from timbre. This tiny voice was trained in minutes."
WAV_NAME = "demo_trained.wav"
PNG_NAME = "demo_trained_spectrogram.png"
README = "README.txt"
OWNED = ("input", "dataset", "voice")  # the sub-folders a re-run replaces
PLOTS = {
    "sovits_losses": "sovits_losses.png",
    "gpt_losses": "gpt_losses.png",
    "spectrogram": "training_spectrogram.png",
}
SYNTHESIS_DEMO_FILES = (
    "demo.wav",
    "demo_spectrogram.png",
)  # `timbre demo` without --train, same default folder
INTRO = (
    "The models trained here are TINY (one or two narrow layers each) and train for a couple of minutes on",
    "about 15 s of speech, so the result is NOT natural speech: the demo shows every step of the real pipeline",
    "(prepare -> SoVITS training -> GPT training -> voice folder -> synthesis) running on real recordings.",
)
KNOWN = {*OWNED, *PLOTS.values(), *SYNTHESIS_DEMO_FILES, WAV_NAME, PNG_NAME, README}


class DemoClip(NamedTuple):
    name: str  # file in gradio/media_assets/audio/
    text: str  # transcript (faster-whisper tiny.en)


CLIPS = (
    DemoClip(
        "cate_blanch.mp3",
        "I sleep with a dagger. If you so much as move to touch me, I will sever your mind. You understand?",
    ),
    DemoClip("cate_blanch_2.mp3", "I trust you had an historic evening."),
    DemoClip("heath_ledger.mp3", "If you're good at something, never do it for free."),
)


@dataclass(frozen=True)
class TrainDemoConfig:
    out_dir: Path
    epochs_sovits: int = 150  # about 2.5 min of CPU for both stages (measured on this machine)
    epochs_gpt: int = 100
    seed: int = 0
    text: str = DEMO_TEXT
    threads: int | None = None  # torch CPU threads during training (None: the tiny recipe's 1)
    progress: bool = True  # progress bars during feature extraction and training

    def __post_init__(self) -> None:
        if self.epochs_sovits < 1 or self.epochs_gpt < 1:
            raise TimbreError("the demo needs at least one epoch per stage")


@dataclass(frozen=True)
class TrainDemoReport:
    out_dir: Path
    voice_dir: Path
    wav: Path
    png: Path
    plots: tuple[Path, ...]  # the loss curves and the training spectrogram, copied into out_dir
    audio_seconds: float
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step


def clip_sources() -> list[tuple[Path, DemoClip]]:
    """The bundled clips in the installed gradio package; a clear error when gradio (or a clip) is missing."""
    package, folder = GRADIO_AUDIO
    try:
        root = importlib.resources.files(package).joinpath(folder)
    except ModuleNotFoundError:
        root = None
    found = []
    for clip in CLIPS:
        path = Path(str(root.joinpath(clip.name))) if root is not None else None
        if path is None or not path.is_file():
            raise TimbreError(
                f"the training demo needs the speech clips bundled with gradio ({package}/{folder}/{clip.name} "
                "not found); install gradio (`pip install gradio`) or train on your own recordings with "
                "`timbre prepare` and `timbre train --config tiny`"
            )
        found.append((path, clip))
    return found


def claim_demo_dir(out_dir: Path) -> Path:
    """Create `out_dir`, or reuse a folder holding only demo files; the sub-folders of an earlier training demo
    (input/, dataset/, voice/; recognised by its README.txt) are replaced."""
    out = out_dir.expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise TimbreError(f"--out {out} is a file; give a folder for the demo")
    earlier = (out / README).is_file()
    entries = [p.name for p in out.iterdir()] if out.is_dir() else []
    others = sorted(n for n in entries if n not in KNOWN or (n in OWNED and not earlier))
    if others:
        raise TimbreError(
            f"--out {out} holds files that are not the demo's ({', '.join(others[:3])}); "
            "choose a new or empty folder"
        )
    for name in OWNED:
        shutil.rmtree(out / name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    return out


def copy_clips(input_dir: Path) -> Path:
    """Copy the bundled clips (never touching site-packages) and write their transcript list; returns the list."""
    input_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for source, clip in clip_sources():
        shutil.copyfile(source, input_dir / clip.name)
        lines.append(f"{clip.name}|{SPEAKER}|{LANG.upper()}|{clip.text}")
    transcripts = input_dir / "transcripts.list"
    transcripts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return transcripts


def _readme(report: TrainDemoReport, epochs: tuple[int, int]) -> str:
    rel = report.out_dir
    files = [
        (report.wav, "the demo sentence spoken by the trained voice (tiny models: not natural speech)"),
        (report.png, "its spectrogram"),
        *((p, "copied from the voice folder") for p in report.plots),
        (report.voice_dir, "the voice folder: `timbre synth --voice voice --text ... --lang en -o out.wav`"),
        (rel / "dataset", "the prepared dataset (`timbre prepare` output: wavs/, dataset.list, features)"),
        (rel / "input", "the copied gradio clips and their transcripts"),
    ]
    lines = [
        "timbre demo --train: prepare -> tiny two-stage training -> synthesis on three clips bundled with gradio.",
        f"SoVITS trained {epochs[0]} epochs, GPT {epochs[1]} epochs, on tiny models: the audio is not natural speech.",
        "",
        *(f"{p.relative_to(rel)}: {what}" for p, what in files),
    ]
    return "\n".join(lines) + "\n"


def training_demo(config: TrainDemoConfig, say: Callable[[str], None] = print) -> TrainDemoReport:
    from timbre.infer.demo import spectrogram_png
    from timbre.infer.factory import from_voice
    from timbre.infer.options import SynthesisOptions
    from timbre.infer.output import write_audio
    from timbre.infer.voice import load_voice
    from timbre.prepare import PrepareConfig, prepare_dataset
    from timbre.train.recipe import TINY, TrainOptions, train_voice

    clip_sources()  # fail before creating anything when gradio's clips are missing
    out = claim_demo_dir(Path(config.out_dir))
    timings: dict[str, float] = {}
    for line in INTRO:
        say(line)

    t = time.perf_counter()
    transcripts = copy_clips(out / "input")
    timings["copy"] = time.perf_counter() - t
    names = ", ".join(c.name for c in CLIPS)
    say(f"1. input: copied {names} from the gradio package into {out / 'input'} (real English speech, two "
        f"speakers), with their transcripts in {transcripts.name} (found once with whisper tiny.en)")  # fmt: skip

    t = time.perf_counter()
    prepare = PrepareConfig(
        inputs=(out / "input",), out_dir=out / "dataset", speaker=SPEAKER, lang=LANG, transcripts=transcripts
    )
    manifest = prepare_dataset(prepare)
    timings["prepare"] = time.perf_counter() - t
    seconds = sum(s.duration for s in manifest.segments)
    say(f"2. prepare: resampled to 32 kHz, denoised, trimmed the silence, normalized loudness -> "
        f"{len(manifest.segments)} segments, {seconds:.1f} s in {out / 'dataset'} ({timings['prepare']:.1f} s)")  # fmt: skip
    for segment in manifest.segments:
        say(f"   {segment.wav}: {segment.duration:.2f} s, {segment.text!r}")

    t = time.perf_counter()
    opts = TrainOptions(
        dataset_dir=out / "dataset",
        out_dir=out / "voice",
        config="tiny",
        epochs_sovits=config.epochs_sovits,
        epochs_gpt=config.epochs_gpt,
        seed=config.seed,
        threads=config.threads,
        progress=config.progress,
    )
    result = train_voice(opts)
    crops = f" on {TINY.sovits_frames * 20} ms crops" if TINY.sovits_frames else ""
    timings["train"] = time.perf_counter() - t
    say(f"3. train (--config tiny): HuBERT content features, semantic tokens and phones for {result.segments} "
        f"segments; SoVITS {config.epochs_sovits} epochs{crops}, then GPT "
        f"{config.epochs_gpt} epochs -> voice folder {opts.out_dir} ({timings['train']:.1f} s)")  # fmt: skip

    t = time.perf_counter()
    voice = load_voice(opts.out_dir)
    assert voice.reference is not None  # `timbre train` always stores one of its segments as the reference
    synth = from_voice(opts.out_dir)
    ref = synth.prepare_reference(voice.reference.audio, voice.reference.text, voice.reference.lang)
    audio = synth.synthesize(config.text, LANG, ref, SynthesisOptions(seed=config.seed))
    timings["synthesize"] = time.perf_counter() - t
    tokens = sum(f.tokens.shape[0] for f in audio.fragments)
    say(f"4. synthesize: {config.text!r} with the trained voice, reference {voice.reference.text!r} -> "
        f"{tokens} semantic tokens, {audio.seconds:.2f} s of audio ({timings['synthesize']:.1f} s)")  # fmt: skip

    wav = write_audio(out / WAV_NAME, np.asarray(audio.audio), audio.sample_rate)
    png = spectrogram_png(
        np.asarray(audio.audio), audio.sample_rate, out / PNG_NAME, "timbre demo --train (tiny models)"
    )
    plots = []
    for key, name in PLOTS.items():
        if key in result.files:
            plots.append(Path(shutil.copy2(result.files[key], out / name)))
    report = TrainDemoReport(out, opts.out_dir, wav, png, tuple(plots), audio.seconds, timings)
    (out / README).write_text(_readme(report, (config.epochs_sovits, config.epochs_gpt)), encoding="utf-8")
    say(f"5. wrote {wav}, {png.name}, {', '.join(p.name for p in plots)} and {README} into {out}")
    return report
