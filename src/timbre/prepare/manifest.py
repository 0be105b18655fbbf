"""`dataset.json`: what a prepared dataset holds, and the per-source progress records that make runs resumable."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from timbre.audio.io import write_text

MANIFEST_NAME = "dataset.json"
LIST_NAME = "dataset.list"
WAV_DIR = "wavs"
STATE_DIR = ".timbre-prepare"  # resume records; its presence marks a folder as a timbre dataset
FORMAT = "timbre-dataset"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SegmentRecord:
    wav: str  # path relative to the dataset folder, e.g. "wavs/talk-1a2b3c4d_0003.wav"
    text: str
    duration: float  # seconds
    source: str  # absolute path of the input recording
    start: float  # offset of the segment in the source, seconds
    end: float
    forced_cut: bool = False  # an end was cut inside speech (no pause available)


@dataclass(frozen=True)
class DatasetManifest:
    speaker: str
    lang: str  # front-end code; the .list holds its upper-case form
    sample_rate: int
    list_file: str
    segments: list[SegmentRecord]
    warnings: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(s.duration for s in self.segments)

    @property
    def total_minutes(self) -> float:
        return self.total_seconds / 60.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "speaker": self.speaker,
            "lang": self.lang,
            "sample_rate": self.sample_rate,
            "list_file": self.list_file,
            "num_segments": len(self.segments),
            "total_seconds": round(self.total_seconds, 3),
            "total_minutes": round(self.total_minutes, 3),
            "sources": self.sources,
            "segments": [asdict(s) for s in self.segments],
            "warnings": self.warnings,
            "settings": self.settings,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetManifest:
        if data.get("format") != FORMAT:
            raise ValueError("not a timbre dataset manifest (missing 'format': 'timbre-dataset')")
        return cls(
            speaker=data["speaker"],
            lang=data["lang"],
            sample_rate=int(data["sample_rate"]),
            list_file=data["list_file"],
            segments=[SegmentRecord(**s) for s in data["segments"]],
            warnings=list(data.get("warnings", [])),
            sources=list(data.get("sources", [])),
            settings=dict(data.get("settings", {})),
        )

    def save(self, dataset_dir: Path) -> Path:
        path = Path(dataset_dir) / MANIFEST_NAME
        write_text(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n")
        return path


def load_manifest(dataset_dir: Path) -> DatasetManifest:
    """Read `DATASET_DIR/dataset.json`."""
    path = Path(dataset_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ValueError(
            f"{dataset_dir}: no {MANIFEST_NAME}; run `timbre prepare` to create the dataset first"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    return DatasetManifest.from_dict(data)


@dataclass
class SourceState:
    """Progress on one input recording, rewritten (atomically) after each finished segment."""

    fingerprint: str
    planned: int  # number of segments the slicing produced
    segments: dict[int, SegmentRecord]  # finished segments by index
    skipped: list[int]  # indices finished without a segment (e.g. no words recognised)
    warnings: list[str]

    @property
    def complete(self) -> bool:
        return len(self.segments) + len(self.skipped) >= self.planned

    def to_json(self) -> str:
        return json.dumps(
            {
                "fingerprint": self.fingerprint,
                "planned": self.planned,
                "segments": {str(i): asdict(s) for i, s in sorted(self.segments.items())},
                "skipped": sorted(self.skipped),
                "warnings": self.warnings,
            },
            ensure_ascii=False,
            indent=1,
        )

    @classmethod
    def read(cls, path: Path) -> SourceState | None:
        """The stored state, or None when absent or unreadable (then the source is simply redone)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                fingerprint=data["fingerprint"],
                planned=int(data["planned"]),
                segments={int(k): SegmentRecord(**v) for k, v in data["segments"].items()},
                skipped=[int(i) for i in data["skipped"]],
                warnings=list(data["warnings"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
