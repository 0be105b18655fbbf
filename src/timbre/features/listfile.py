"""The dataset's transcript list in the original's format: `wav|speaker|LANG|text`, one segment per line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from timbre.errors import TimbreError
from timbre.features.store import check_segment_id

LANG_ALIASES = {"jp": "ja"}


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


def read_segments(list_file: Path) -> list[ListSegment]:
    """Parse `wav|speaker|LANG|text` lines; relative wav paths are resolved against the list's folder."""
    if not list_file.is_file():
        raise TimbreError(f"{list_file}: transcript list not found; run `timbre prepare` first")
    segments: list[ListSegment] = []
    names: set[str] = set()
    for number, line in enumerate(list_file.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("|", 3)]
        if len(fields) != 4 or not fields[3]:
            raise TimbreError(f"{list_file}:{number}: expected 'wav|speaker|LANG|text', got {line!r}")
        wav = (list_file.parent / fields[0]).resolve()
        name = check_segment_id(wav.stem)
        if name in names:
            raise TimbreError(
                f"{list_file}:{number}: two segments are named {name!r}; give the files unique names"
            )
        names.add(name)
        lang = LANG_ALIASES.get(fields[2].lower(), fields[2].lower())
        segments.append(ListSegment(name, wav, fields[1], lang, fields[3]))
    if not segments:
        raise TimbreError(f"{list_file}: the transcript list has no entries")
    return segments
