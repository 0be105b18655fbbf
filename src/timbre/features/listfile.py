"""The dataset's transcript list in the original's format: `wav|speaker|LANG|text`, one segment per line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from timbre.errors import TimbreError
from timbre.features.store import check_segment_id
from timbre.listformat import read_list


@dataclass(frozen=True)
class ListSegment:
    name: str  # segment id: the wav file name without its extension
    wav: Path
    speaker: str
    lang: str  # front-end code: zh, en, ja, ko, yue
    text: str


def find_list_file(dataset_dir: Path) -> Path:
    """The dataset's `.list`: the one named in dataset.json, else the only `*.list` in the folder."""
    manifest = dataset_dir / "dataset.json"
    if manifest.is_file():
        name = json.loads(manifest.read_text(encoding="utf-8")).get("list_file")
        if name:
            return dataset_dir / name
    lists = sorted(dataset_dir.glob("*.list"))
    if len(lists) != 1:
        found = ", ".join(p.name for p in lists) or "none"
        raise TimbreError(
            f"{dataset_dir}: expected one .list file (found {found}); run `timbre prepare` first"
        )
    return lists[0]


def read_segments(list_file: Path, wav_dir: Path | None = None) -> list[ListSegment]:
    """The list's segments (see `timbre.listformat.read_list` for how wav paths are found), with unique names."""
    if not list_file.is_file():
        raise TimbreError(f"{list_file}: transcript list not found; run `timbre prepare` first")
    try:
        entries = read_list(list_file, wav_dir)
    except ValueError as exc:
        raise TimbreError(str(exc)) from None
    segments: list[ListSegment] = []
    names: set[str] = set()
    for entry in entries:
        name = check_segment_id(entry.wav.stem)
        if name in names:
            raise TimbreError(f"{list_file}: two segments are named {name!r}; give the files unique names")
        names.add(name)
        segments.append(ListSegment(name, entry.wav, entry.speaker, entry.lang, entry.text))
    return segments
