"""`prepare_dataset`: raw recordings -> 32 kHz mono 16-bit segments, `dataset.list` and `dataset.json`.

Per source: load -> check -> resample to 32 kHz -> denoise -> VAD -> plan segments -> for each segment: loudness
normalise, limit peaks, transcribe (or take the given transcript), write. Every file is written under a temporary
name and renamed, and each source's progress is recorded after every segment, so a re-run skips finished work.
The input recordings are only ever read.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from timbre.audio.denoise import denoise
from timbre.audio.io import load_audio, resample, write_text, write_wav
from timbre.audio.loudness import limit_peaks, normalize_loudness
from timbre.audio.slicing import Segment, plan_segments, speech_regions
from timbre.audio.vad import speech_probabilities
from timbre.audio.validate import AudioValidationError, validate_signal, validate_speech
from timbre.files import exclusive_dir
from timbre.prepare.config import SAMPLE_RATE, PrepareConfig
from timbre.prepare.manifest import (
    LIST_NAME,
    STATE_DIR,
    WAV_DIR,
    DatasetManifest,
    SegmentRecord,
    SourceState,
)
from timbre.prepare.sources import Job, check_output_dir, collect_jobs, open_output_dir
from timbre.prepare.transcripts import ASR_RATE, WhisperTranscriber, format_list_line, resolve_whisper_model

TRIM_MARGIN_SECONDS = 0.3  # silence kept around the speech of a clip that comes with its transcript


class PrepareProgress(NamedTuple):
    stage: str  # "source" (started), "segment" (one finished), "skip" (source already done), "done"
    source: str
    source_index: int  # 0-based
    source_count: int
    segments_done: int
    segments_total: int


ProgressFn = Callable[[PrepareProgress], None]


@dataclass
class _Context:
    config: PrepareConfig
    out: Path
    report: ProgressFn
    transcriber: WhisperTranscriber | None = None

    def transcribe(self, wav16k: np.ndarray) -> str:
        if self.transcriber is None:
            assert self.config.asr is not None  # noqa: S101 (config guarantees transcripts or ASR)
            assert self.config.lang is not None  # noqa: S101 (and --lang with ASR)
            self.transcriber = WhisperTranscriber(self.config.asr, self.config.lang, self.config.asr_threads)
        return self.transcriber(wav16k)


def _source_id(path: Path) -> str:
    stem = re.sub(r"[^\w.-]+", "_", path.stem)[:40] or "audio"
    return f"{stem}-{hashlib.sha1(str(path).encode('utf-8')).hexdigest()[:8]}"  # noqa: S324 (a name, not security)


def _fingerprint(job: Job, config: PrepareConfig) -> str:
    stat = job.path.stat()
    key = {
        "path": str(job.path),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "text": job.text,
        "lang": job.lang,
        "asr": config.asr,
        "denoise": config.denoise,
        "target_lufs": config.target_lufs,
        "peak_ceiling": config.peak_ceiling,
        "slicing": asdict(config.slicing),
        "validation": asdict(config.validation),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()


def _plan(job: Job, wav: np.ndarray, config: PrepareConfig) -> tuple[list[Segment], list[str]]:
    """Segments of one source: VAD slicing, or, with a given transcript, the whole clip with its leading and
    trailing silence trimmed (never its speech: every detected region is kept, with a margin)."""
    probs = speech_probabilities(wav, SAMPLE_RATE)
    if job.text is None:
        plan = plan_segments(wav, SAMPLE_RATE, probs, config.slicing)
        validate_speech(plan.speech_seconds, job.path, config.validation)
        if not plan.segments:
            raise AudioValidationError(
                job.path, "no usable speech segment found; check the recording or remove it"
            )
        return plan.segments, plan.warnings
    regions = speech_regions(probs, SAMPLE_RATE, wav.size, config.slicing)
    validate_speech(sum(e - s for s, e in regions) / SAMPLE_RATE, job.path, config.validation)
    if not regions:
        raise AudioValidationError(job.path, "no speech found; check the recording or remove it")
    margin = int(TRIM_MARGIN_SECONDS * SAMPLE_RATE)
    whole = Segment(max(0, regions[0][0] - margin), min(wav.size, regions[-1][1] + margin), False)
    warnings = []
    seconds = (whole.end - whole.start) / SAMPLE_RATE
    if seconds > config.slicing.max_seconds:
        warnings.append(
            f"transcribed clip is {seconds:.1f} s long (over {config.slicing.max_seconds:g} s) and is kept whole; "
            "long clips slow down training, consider splitting it and its transcript"
        )
    return [whole], warnings


def _process_source(job: Job, index: int, count: int, ctx: _Context) -> SourceState:
    config, out = ctx.config, ctx.out
    sid = _source_id(job.path)
    state_path = out / STATE_DIR / f"{sid}.json"
    fingerprint = _fingerprint(job, config)
    state = SourceState.read(state_path)
    if state is not None and state.fingerprint != fingerprint:
        for record in state.segments.values():
            (out / record.wav).unlink(missing_ok=True)  # stale output of an earlier run with other settings
        state = None
    if state is not None and state.complete and all((out / r.wav).is_file() for r in state.segments.values()):
        ctx.report(PrepareProgress("skip", str(job.path), index, count, len(state.segments), state.planned))
        return state

    ctx.report(PrepareProgress("source", str(job.path), index, count, 0, 0))
    raw, rate = load_audio(job.path)
    validate_signal(raw, job.path, config.validation)
    wav = resample(raw, rate, SAMPLE_RATE)
    if config.denoise:
        wav = denoise(wav, SAMPLE_RATE)
    segments, warnings = _plan(job, wav, config)
    if state is None or state.planned != len(segments):
        state = SourceState(fingerprint, len(segments), {}, [], warnings)

    for i, seg in enumerate(segments):
        name = f"{WAV_DIR}/{sid}_{i:04d}.wav"
        if i in state.skipped or (i in state.segments and (out / name).is_file()):
            continue
        clip = normalize_loudness(wav[seg.start : seg.end], SAMPLE_RATE, config.target_lufs)
        clip = limit_peaks(clip, SAMPLE_RATE, config.peak_ceiling)
        text = job.text if job.text is not None else ctx.transcribe(resample(clip, SAMPLE_RATE, ASR_RATE))
        start, end = seg.start / SAMPLE_RATE, seg.end / SAMPLE_RATE
        if not text:
            state.skipped.append(i)
            state.warnings.append(f"no words recognised in {start:.2f}-{end:.2f} s; segment skipped")
        else:
            write_wav(out / name, clip, SAMPLE_RATE)
            state.segments[i] = SegmentRecord(
                name, text, round(end - start, 4), str(job.path), round(start, 4), round(end, 4), seg.forced
            )
        write_text(state_path, state.to_json())
        done = len(state.segments) + len(state.skipped)
        ctx.report(PrepareProgress("segment", str(job.path), index, count, done, state.planned))
    return state


def prepare_dataset(config: PrepareConfig, progress: ProgressFn | None = None) -> DatasetManifest:
    """Turn the recordings named in `config` into a training dataset in `config.out_dir`; see the module docstring.

    Raises `ValueError` naming the file and the problem for unusable input (missing, unsupported, empty, silent,
    clipped, too little speech, no transcript). Re-running with the same inputs and settings resumes.
    """
    if config.asr is not None:
        resolve_whisper_model(config.asr)  # fail before any work when the model cannot be found
    jobs, warnings = collect_jobs(config)
    out = check_output_dir(config, [job.path for job in jobs])
    busy = (
        f"{out} is in use by another timbre prepare, or a timbre train is reading it; wait for it to finish"
    )
    with exclusive_dir(out, "timbre prepare", busy=busy):  # two runs would remove each other's temp files
        open_output_dir(out)
        return _prepare(config, jobs, warnings, out, progress)


def _prepare(
    config: PrepareConfig, jobs: list[Job], warnings: list[str], out: Path, progress: ProgressFn | None
) -> DatasetManifest:
    ctx = _Context(config, out, progress or (lambda _event: None))
    records: list[SegmentRecord] = []
    lines: list[str] = []
    for index, job in enumerate(jobs):
        state = _process_source(job, index, len(jobs), ctx)
        warnings.extend(f"{job.path}: {w}" for w in state.warnings)
        for i in sorted(state.segments):
            record = state.segments[i]
            records.append(record)
            lines.append(format_list_line(record.wav, config.speaker, job.lang, record.text))
    if not records:
        detail = "; ".join(warnings[:3]) or "no speech was kept"
        raise ValueError(f"no segments were produced ({detail}); check the input recordings")
    write_text(out / LIST_NAME, "\n".join(lines) + "\n")
    manifest = DatasetManifest(
        speaker=config.speaker,
        lang=config.lang or Counter(job.lang for job in jobs).most_common(1)[0][0],
        sample_rate=SAMPLE_RATE,
        list_file=LIST_NAME,
        segments=records,
        warnings=warnings,
        sources=[str(job.path) for job in jobs],
        settings={
            "denoise": config.denoise,
            "target_lufs": config.target_lufs,
            "peak_ceiling": config.peak_ceiling,
            "asr": config.asr,
            "transcripts": str(config.transcripts) if config.transcripts else None,
            "slicing": asdict(config.slicing),
        },
    )
    manifest.save(out)
    ctx.report(PrepareProgress("done", "", len(jobs), len(jobs), len(records), len(records)))
    return manifest
