"""The English pronunciation dictionaries, merged as the original does.

Order of precedence: ``engdict-hot.rep`` (hot words) over ``cmudict.rep`` over ``cmudict-fast.rep``. A handful of
acronyms whose CMU entries were judged wrong are removed (they are spelled out or predicted instead). Names
(``namedict.json``) are a separate table, consulted only for title-case words missing from the main dictionary.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

Pronunciation = tuple[str, ...]

# cmudict.rep starts with a comment header: entries begin on this (1-based) line.
_CMUDICT_FIRST_ENTRY_LINE = 57
_REMOVED_WORDS = ("ae", "ai", "ar", "ios", "hud", "os")


def _data_text(name: str) -> str:
    return resources.files("timbre.text").joinpath("data", name).read_text("utf-8")


def _read_cmudict(text: str, merged: dict[str, Pronunciation]) -> None:
    """``WORD  PH PH ...`` (two spaces after the word); a later line for the same word wins."""
    for line in text.splitlines()[_CMUDICT_FIRST_ENTRY_LINE - 1 :]:
        fields = line.strip().split("  ")
        merged[fields[0].lower()] = tuple(fields[1].split(" "))


def _read_single_spaced(text: str) -> dict[str, Pronunciation]:
    """``WORD PH PH ...`` (one space); the first line for a word wins."""
    entries: dict[str, Pronunciation] = {}
    for line in text.splitlines():
        fields = line.strip().split(" ")
        entries.setdefault(fields[0].lower(), tuple(fields[1:]))
    return entries


@cache
def lexicon() -> dict[str, Pronunciation]:
    """Lower-case word → phones: the merged dictionary the original's English g2p looks words up in."""
    merged: dict[str, Pronunciation] = {}
    _read_cmudict(_data_text("cmudict.rep"), merged)
    for word, phones in _read_single_spaced(_data_text("cmudict-fast.rep")).items():
        merged.setdefault(word, phones)
    for line in _data_text("engdict-hot.rep").splitlines():
        fields = line.strip().split(" ")
        merged[fields[0].lower()] = tuple(fields[1:])
    for word in _REMOVED_WORDS:
        del merged[word]
    return merged


@cache
def names() -> dict[str, Pronunciation]:
    """Lower-case name → phones (first pronunciation of each name)."""
    raw: dict[str, list[list[str]]] = json.loads(_data_text("namedict.json"))
    return {name: tuple(prons[0]) for name, prons in raw.items()}
