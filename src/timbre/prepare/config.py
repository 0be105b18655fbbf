"""What `timbre prepare` is asked to do, checked before any audio is touched."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from timbre.audio.loudness import DEFAULT_CEILING, DEFAULT_TARGET_LUFS
from timbre.audio.slicing import SliceConfig
from timbre.audio.validate import ValidationConfig

SAMPLE_RATE = 32000  # what SoVITS trains on
LIST_LANG = {
    "zh": "ZH",
    "en": "EN",
    "ja": "JA",
    "ko": "KO",
    "yue": "YUE",
}  # language column of the original's .list
_LANG_ALIASES = {"jp": "ja", "cn": "zh"}
FORBIDDEN_IN_FIELDS = ("|", "\n", "\r")

NO_TRANSCRIPTS_HELP = (
    "no transcripts: pass --transcripts FILE.list (lines 'path/to.wav|speaker|LANG|text', paths relative to the "
    "list) or --asr whisper:MODEL (a faster-whisper model: a size such as tiny.en, or a local model folder)"
)


def normalize_lang(lang: str) -> str:
    """'ZH', 'zh', 'JP', 'ja', 'Yue', ... -> the front end's code ('zh', 'ja', 'yue', ...)."""
    code = lang.strip().lower()
    code = _LANG_ALIASES.get(code, code)
    if code not in LIST_LANG:
        raise ValueError(f"unknown language '{lang}'; use one of {', '.join(LIST_LANG)}")
    return code


@dataclass(frozen=True)
class PrepareConfig:
    inputs: tuple[Path, ...]  # files or folders of recordings (read only, never written)
    out_dir: Path
    speaker: str
    lang: str  # zh / en / ja / ko / yue
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
        object.__setattr__(self, "lang", normalize_lang(self.lang))
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
    def list_lang(self) -> str:
        return LIST_LANG[self.lang]
