"""The original's transcript list: `wav|speaker|LANG|text`, one segment per line (read by `prepare` and `train`).

Lists written by the original's WebUI name each clip by the absolute path it had on the machine that made it
(`D:\\GPT-SoVITS\\output\\slicer_opt\\x.wav`), and its training tools use only the file name, joined to the audio
folder the user gives. `read_list` does the same where the path as written does not exist: the file of that name in
`wav_dir` (if given), else beside the list.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

LIST_LANG = {
    "zh": "ZH",
    "en": "EN",
    "ja": "JA",
    "ko": "KO",
    "yue": "YUE",
}  # front-end code -> the language column of the original's .list
_LANG_ALIASES = {"jp": "ja", "cn": "zh"}
_SEPARATORS = re.compile(r"[\\/]")


class ListEntry(NamedTuple):
    wav: Path  # absolute
    speaker: str
    lang: str  # front-end code (zh, en, ...)
    text: str


def normalize_lang(lang: str) -> str:
    """'ZH', 'zh', 'JP', 'ja', 'Yue', ... -> the front end's code ('zh', 'ja', 'yue', ...)."""
    code = lang.strip().lower()
    code = _LANG_ALIASES.get(code, code)
    if code not in LIST_LANG:
        raise ValueError(f"unknown language '{lang}'; use one of {', '.join(LIST_LANG)}")
    return code


def listed_file_name(listed: str) -> str:
    """The file name of a listed path written on any system ('C:\\a\\b.wav' and '/a/b.wav' both give 'b.wav')."""
    return _SEPARATORS.split(listed)[-1]


def resolve_listed_wav(listed: str, list_dir: Path, wav_dir: Path | None = None) -> Path:
    """The audio file a list line names: the path as written (relative to the list's folder) when it exists, else
    the file of that name in `wav_dir`, else beside the list. When none exists, the path as written (or, given
    `wav_dir`, the one there), for the caller's "not found" message."""
    name = listed_file_name(listed)
    foreign = "\\" in listed or re.match(r"^[A-Za-z]:", listed)  # a Windows path: never one on this system
    written = None if foreign else (list_dir / listed).resolve()
    by_name = (wav_dir / name).resolve() if wav_dir is not None else None
    candidates = [p for p in (written, by_name, (list_dir / name).resolve()) if p is not None]
    return next((p for p in candidates if p.is_file()), by_name or candidates[0])


def read_list(path: Path, wav_dir: Path | None = None) -> list[ListEntry]:
    """Parse a .list file; wav paths are resolved with `resolve_listed_wav`. A `ValueError` names the bad line."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: transcript list not found")
    list_dir = path.resolve().parent
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:  # e.g. saved as GBK by an old Windows editor
        bad_line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ValueError(f"{path}:{bad_line}: not UTF-8 text; save the list as UTF-8") from None
    entries = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("|", 3)
        if len(fields) != 4:
            raise ValueError(f"{path}:{number}: expected 'wav|speaker|LANG|text', got {line!r}")
        wav, speaker, lang, text = (f.strip() for f in fields)
        if not wav:
            raise ValueError(f"{path}:{number}: no audio file in the first column")
        try:
            code = normalize_lang(lang)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
        if not text:
            raise ValueError(f"{path}:{number}: empty transcript for {wav}")
        entries.append(ListEntry(resolve_listed_wav(wav, list_dir, wav_dir), speaker, code, text))
    if not entries:
        raise ValueError(f"{path}: the transcript list has no entries")
    return entries
