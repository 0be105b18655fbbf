"""What `timbre prepare` is asked to do, checked before any audio is touched."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from timbre.audio.loudness import DEFAULT_CEILING, DEFAULT_TARGET_LUFS
from timbre.audio.slicing import SliceConfig
from timbre.audio.validate import ValidationConfig
from timbre.listformat import LIST_LANG, normalize_lang

SAMPLE_RATE = 32000  # what SoVITS trains on
FORBIDDEN_IN_FIELDS = ("|", "\n", "\r")

NO_TRANSCRIPTS_HELP = (
    "no transcripts: pass --transcripts FILE.list (lines 'path/to.wav|speaker|LANG|text', paths relative to the "
    "list) or --asr whisper:MODEL (a faster-whisper model: a size such as tiny.en, or a local model folder)"
)


@dataclass(frozen=True)
class PrepareConfig:
    inputs: tuple[Path, ...]  # files or folders of recordings (read only, never written)
    out_dir: Path
    speaker: str
    lang: str | None = None  # zh / en / ja / ko / yue; with --transcripts, each line says its own
    transcripts: Path | None = None  # an existing .list in the original format
    asr: str | None = None  # "whisper:MODEL" (size name or local folder)
    denoise: bool = True
    target_lufs: float = DEFAULT_TARGET_LUFS
    peak_ceiling: float = DEFAULT_CEILING
    slicing: SliceConfig = field(default_factory=SliceConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    asr_threads: int = 0  # 0: faster-whisper's default

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(Path(p) for p in self.inputs))
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if self.lang is not None:
            object.__setattr__(self, "lang", normalize_lang(self.lang))
        elif self.transcripts is None:
            raise ValueError(
                "give the language the recordings are spoken in with --lang (zh, en, ja, ko or yue)"
            )
        if self.transcripts is not None:
            object.__setattr__(self, "transcripts", Path(self.transcripts))
        if not self.speaker.strip() or any(c in self.speaker for c in FORBIDDEN_IN_FIELDS):
            raise ValueError(
                f"speaker name {self.speaker!r} must be non-empty and contain no '|' or line breaks"
            )
        if self.transcripts is None and self.asr is None:
            raise ValueError(NO_TRANSCRIPTS_HELP)
        if self.transcripts is not None and self.asr is not None:
            raise ValueError("pass either --transcripts or --asr, not both")
        if not self.inputs and self.transcripts is None:
            raise ValueError("no input recordings: name audio files or folders (or a --transcripts list)")
        if not 0.0 < self.peak_ceiling <= 1.0:
            raise ValueError(f"peak ceiling {self.peak_ceiling} must be in (0, 1]")

    @property
    def list_lang(self) -> str | None:
        return None if self.lang is None else LIST_LANG[self.lang]
