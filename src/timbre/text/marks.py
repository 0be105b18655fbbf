"""Punctuation every language's cleaner maps the same way (full-width marks and line breaks to table symbols).

Each language extends this map with its own entries after these ones; the order matters because the maps are
compiled into one regex alternation.
"""

from __future__ import annotations

BASE_MARK_MAP: dict[str, str] = {
    "：": ",",
    "；": ",",
    "，": ",",
    "。": ".",
    "！": "!",
    "？": "?",
    "\n": ".",
    "·": ",",
    "、": ",",
}
