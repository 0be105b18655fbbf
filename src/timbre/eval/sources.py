"""Where the utterances to score come from: a text file (one line per utterance) and a folder of wav files."""

from __future__ import annotations

import re
from pathlib import Path

from timbre.audio.io import is_supported, load_audio
from timbre.eval.metrics import EVAL_SR
from timbre.eval.report import Utterance


def read_texts(path: str | Path) -> list[str]:
    """Non-empty, stripped lines of a UTF-8 text file (lines starting with '#' are comments)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: text file not found; give one sentence per line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    texts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not texts:
        raise ValueError(f"{path}: no text lines; give one sentence per line")
    return texts


def _natural_key(path: Path) -> list[int | str]:
    """'utt2.wav' sorts before 'utt10.wav'."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def audio_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder of audio files")
    files = sorted((p for p in folder.iterdir() if p.is_file() and is_supported(p)), key=_natural_key)
    if not files:
        raise ValueError(f"{folder}: no audio files (wav, flac, ogg, mp3) in it")
    return files


def wav_utterances(folder: str | Path, texts: list[str]) -> list[Utterance]:
    """Pair the folder's audio files (in natural name order) with the text lines, one to one."""
    files = audio_files(folder)
    if len(files) != len(texts):
        raise ValueError(
            f"{folder} holds {len(files)} audio files but the text file has {len(texts)} lines; "
            "give one line per file, in file-name order"
        )
    return [Utterance(text, load_audio(f, EVAL_SR)[0], f.name) for f, text in zip(files, texts, strict=True)]
