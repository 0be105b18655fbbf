"""Long-text splitting for synthesis: the original's text_split_method presets cut0..cut5 and its pre/post steps.

Each cut function takes the whole text and returns it with ``\\n`` between the pieces to synthesize separately.
``split_text`` is what inference runs around a cut (the original's TextPreprocessor.pre_seg_text): a short first
clause gets a leading period, the cut is applied, empty and symbol-only pieces are dropped, pieces shorter than 5
characters are merged into their neighbours, each piece ends with a mark, and pieces over 510 characters are cut
again at marks. Quirks are kept on purpose, e.g. cut0 returns the two characters ``/n`` for text made only of
punctuation and spaces (which ``split_text`` then drops as a symbol-only piece).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Marks a sentence may end with (the original's `splits`).
SENTENCE_MARKS = frozenset({"，", "。", "？", "！", ",", ".", "?", "!", "~", ":", "：", "—", "…"})
# A piece made only of these characters carries nothing to say and is dropped by cut1..cut4.
_SILENT = frozenset({"!", "?", "…", ",", ".", "-", " "})
# Marks that end a piece in cut5.
_CUT5_MARKS = frozenset({",", ".", ";", "?", "!", "、", "，", "。", "？", "！", "：", "…"})
# Marks collapsed when repeated (first one kept) before any cut: the original's `punctuation` set.
_REPEATABLE = "!?…,.-"
_REPEATED = re.compile(f"([{re.escape(_REPEATABLE)}])([{re.escape(_REPEATABLE)}])+")

MAX_PIECE_CHARS = 510  # RoBERTa's input limit in the original
MIN_PIECE_CHARS = 5


def _is_silent(piece: str) -> bool:
    return set(piece) <= _SILENT


def sentences(text: str) -> list[str]:
    """Cut after every sentence mark ("……" counts as "。", "——" as "，"); the text gets a final "。" if needed."""
    text = text.replace("……", "。").replace("——", "，")
    if text[-1] not in SENTENCE_MARKS:
        text += "。"
    pieces: list[str] = []
    start = 0
    for i, ch in enumerate(text):
        if ch in SENTENCE_MARKS:
            pieces.append(text[start : i + 1])
            start = i + 1
    return pieces


def cut0(text: str) -> str:
    """No cut."""
    return "/n" if _is_silent(text) else text


def cut1(text: str) -> str:
    """One piece per 4 sentences."""
    text = text.strip("\n")
    parts = sentences(text)
    if len(parts) > 4:
        groups = ["".join(parts[i : i + 4]) for i in range(0, len(parts), 4)]
        # The original's index arithmetic folds the last (partial) group into the one before it.
        groups[-2:] = ["".join(groups[-2:])]
    else:
        groups = [text]
    return "\n".join(g for g in groups if not _is_silent(g))


def cut2(text: str, max_chars: int = 50) -> str:
    """Sentences packed into pieces of just over 50 characters; a short tail joins the piece before it."""
    text = text.strip("\n")
    parts = sentences(text)
    if len(parts) < 2:
        return text
    pieces: list[str] = []
    current = ""
    for part in parts:
        current += part
        if len(current) > max_chars:
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    if len(pieces) > 1 and len(pieces[-1]) < 50:
        pieces[-2:] = [pieces[-2] + pieces[-1]]
    return "\n".join(p for p in pieces if not _is_silent(p))


def cut3(text: str) -> str:
    """Cut at every Chinese full stop "。" (the mark itself is dropped)."""
    text = text.strip("\n")
    return "\n".join(p for p in text.strip("。").split("。") if not _is_silent(p))


def cut4(text: str) -> str:
    """Cut at every English full stop "." that is not a decimal point (the mark itself is dropped)."""
    text = text.strip("\n")
    return "\n".join(p for p in re.split(r"(?<!\d)\.(?!\d)", text.strip(".")) if not _is_silent(p))


def cut5(text: str) -> str:
    """Cut after every punctuation mark (a "." between two digits is a decimal point and stays)."""
    text = text.strip("\n")
    pieces: list[str] = []
    current: list[str] = []
    for i, ch in enumerate(text):
        current.append(ch)
        if ch not in _CUT5_MARKS:
            continue
        decimal_point = (
            ch == "." and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()
        )
        if not decimal_point:
            pieces.append("".join(current))
            current = []
    if current:
        pieces.append("".join(current))
    return "\n".join(p for p in pieces if not set(p) <= _CUT5_MARKS)


CUT_METHODS: dict[str, Callable[[str], str]] = {
    "cut0": cut0,
    "cut1": cut1,
    "cut2": cut2,
    "cut3": cut3,
    "cut4": cut4,
    "cut5": cut5,
}


def get_cut_method(name: str) -> Callable[[str], str]:
    try:
        return CUT_METHODS[name]
    except KeyError:
        raise ValueError(f"unknown text split method {name!r}; use one of {', '.join(CUT_METHODS)}") from None


def collapse_repeated_punctuation(text: str) -> str:
    """Runs of ASCII marks ("!?…,.-") keep only their first mark, as the original does before cutting."""
    return _REPEATED.sub(r"\1", text)


def first_clause(text: str) -> str:
    """The text before the first sentence mark, stripped."""
    return re.split("[" + "".join(re.escape(m) for m in SENTENCE_MARKS) + "]", text)[0].strip()


def merge_short(pieces: list[str], min_chars: int = MIN_PIECE_CHARS) -> list[str]:
    """Join consecutive pieces until each has at least min_chars characters; a short tail joins the last one."""
    if len(pieces) < 2:
        return pieces
    merged: list[str] = []
    current = ""
    for piece in pieces:
        current += piece
        if len(current) >= min_chars:
            merged.append(current)
            current = ""
    if current:
        if merged:
            merged[-1] += current
        else:
            merged.append(current)
    return merged


def split_long(text: str, max_chars: int = MAX_PIECE_CHARS) -> list[str]:
    """Cut text at sentence marks into pieces of at most max_chars characters (a mark starts the next piece)."""
    parts = re.split("([" + "".join(SENTENCE_MARKS) + "])", text)
    pieces: list[str] = []
    current = ""
    for part in parts:
        if len(current + part) > max_chars:
            pieces.append(current)
            current = part
        else:
            current += part
    if current:
        pieces.append(current)
    return pieces


def split_text(text: str, method: str = "cut1", lang: str = "zh") -> list[str]:
    """The pieces inference synthesizes one by one, as the original's text preprocessor makes them."""
    cut = get_cut_method(method)
    end_mark = "." if lang == "en" else "。"
    text = collapse_repeated_punctuation(text).strip("\n")
    if not text:
        return []
    if text[0] not in SENTENCE_MARKS and len(first_clause(text)) < 4:
        text = end_mark + text
    text = cut(text)
    while "\n\n" in text:
        text = text.replace("\n\n", "\n")
    lines = text.split("\n")
    if all(line in (" ", "") for line in lines):
        raise ValueError("the text has nothing to say; enter some words")
    lines = merge_short([line for line in lines if line not in (" ", "")])
    pieces: list[str] = []
    for line in lines:
        if not line.strip() or not re.sub(r"\W+", "", line):
            continue
        if line[-1] not in SENTENCE_MARKS:
            line += end_mark
        pieces += split_long(line) if len(line) > MAX_PIECE_CHARS else [line]
    return pieces
