"""Which recordings to process (with their transcripts), and the safety rules for the output folder."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from timbre.audio.io import SUPPORTED_SUFFIXES, is_supported
from timbre.files import remove_stale_temp_files
from timbre.listformat import ListEntry, read_list
from timbre.prepare.config import PrepareConfig
from timbre.prepare.manifest import STATE_DIR, WAV_DIR


class Job(NamedTuple):
    path: Path  # resolved input recording
    text: str | None  # given transcript, or None to run ASR
    lang: str


def find_recordings(inputs: tuple[Path, ...]) -> list[Path]:
    """Resolved audio files named directly or found (recursively, hidden entries skipped) in folders."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if not path.exists():
            raise ValueError(f"{path}: no such file or folder")
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and is_supported(p)
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                kinds = ", ".join(SUPPORTED_SUFFIXES)
                raise ValueError(f"{path}: folder contains no audio files ({kinds})")
            found.extend(p.resolve() for p in files)
        elif is_supported(path):
            found.append(path.resolve())
        else:
            kinds = ", ".join(s.lstrip(".") for s in SUPPORTED_SUFFIXES)
            raise ValueError(
                f"{path}: unsupported audio format '{path.suffix or '(none)'}'; convert it to one of {kinds}"
            )
    return list(dict.fromkeys(found))


def _match(
    path: Path, by_path: dict[Path, ListEntry], by_name: dict[str, list[ListEntry]]
) -> ListEntry | None:
    """The list entry for a recording: same resolved path, else the only entry with the same file name
    (the original's tools match by file name)."""
    if path in by_path:
        return by_path[path]
    named = by_name.get(path.name, [])
    return named[0] if len(named) == 1 else None


def collect_jobs(config: PrepareConfig) -> tuple[list[Job], list[str]]:
    """Jobs in a stable order, and warnings about recordings left out."""
    if config.transcripts is None:
        assert config.lang is not None  # noqa: S101 (the config requires --lang without transcripts)
        return [Job(p, None, config.lang) for p in find_recordings(config.inputs)], []
    entries = read_list(config.transcripts)
    if not config.inputs:
        missing = [e.wav for e in entries if not e.wav.is_file()]
        if missing:
            raise ValueError(
                f"{config.transcripts}: {len(missing)} listed file(s) not found, e.g. {missing[0]}; "
                "paths in the list are relative to the list's folder; or name the folder that holds the recordings "
                "as an input, and they are matched by file name"
            )
        unique = {e.wav: Job(e.wav, e.text, e.lang) for e in entries}
        return list(unique.values()), []
    by_path = {e.wav: e for e in entries}
    by_name: dict[str, list[ListEntry]] = {}
    for e in entries:
        by_name.setdefault(e.wav.name, []).append(e)
    jobs: list[Job] = []
    warnings: list[str] = []
    for path in find_recordings(config.inputs):
        entry = _match(path, by_path, by_name)
        if entry is None:
            warnings.append(f"{path}: no transcript in {config.transcripts}; skipped")
        else:
            jobs.append(Job(path, entry.text, entry.lang))
    if not jobs:
        raise ValueError(
            f"none of the input recordings has a line in {config.transcripts}; "
            "its first column must name them (relative to the list's folder)"
        )
    return jobs, warnings


def check_output_dir(config: PrepareConfig, sources: list[Path]) -> Path:
    """The dataset folder (resolved), after checking that it cannot touch the inputs and is new, empty or a dataset."""
    out = config.out_dir.expanduser().resolve()
    for item in config.inputs:
        folder = Path(item).expanduser().resolve()
        if folder.is_dir() and (out == folder or folder in out.parents):
            raise ValueError(
                f"--out {out} is inside the input folder {folder}; choose a folder outside your recordings"
            )
    for src in sources:
        if out in src.parents:
            raise ValueError(
                f"input {src} is inside the output folder {out}; choose a new, separate --out folder"
            )
    if out.exists():
        if not out.is_dir():
            raise ValueError(f"--out {out} is a file; give a folder")
        if any(out.iterdir()) and not (out / STATE_DIR).is_dir():
            raise ValueError(
                f"--out {out} already exists, is not empty and is not a timbre dataset; choose a new or empty folder"
            )
    return out


def open_output_dir(out: Path) -> None:
    """Create (or reuse) the dataset folder's layout and remove the temp files of a killed run."""
    for sub in (out / WAV_DIR, out / STATE_DIR):
        sub.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(out, held=True)  # prepare_dataset holds the folder
