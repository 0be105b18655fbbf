"""Regrouping of jieba words before tone sandhi, exactly as the original (`pre_merge_for_modify`).

The original's quirks are kept: the V一V merge indexes its output list with input positions, and
the merges wrapped in try/except in the original leave the words unchanged when they fail.
"""

from __future__ import annotations

from timbre.text.zh.sandhi import word_finals

Word = list[str]  # [text, part-of-speech tag]


def _merge_bu(words: list[Word]) -> list[Word]:
    """不 joins the word after it (a final 不 stays alone, tagged d)."""
    merged: list[Word] = []
    previous = ""
    for text, pos in words:
        if previous == "不":
            text = previous + text
        if text != "不":
            merged.append([text, pos])
        previous = text
    if previous == "不":
        merged.append([previous, "d"])
    return merged


def _merge_yi(words: list[Word]) -> list[Word]:
    """听/一/听 → 听一听 (verbs only), then a lone 一 joins the word after it."""
    merged: list[Word] = []
    for i, (text, pos) in enumerate(words):
        if (
            i >= 1
            and text == "一"
            and i + 1 < len(words)
            and words[i - 1][0] == words[i + 1][0]
            and words[i - 1][1] == "v"
            and words[i + 1][1] == "v"
        ):
            merged[i - 1][0] = merged[i - 1][0] + "一" + merged[i - 1][0]
        elif (
            i >= 2
            and words[i - 1][0] == "一"
            and words[i - 2][0] == text
            and pos == "v"
            and words[i - 2][1] == "v"
        ):
            continue
        else:
            merged.append([text, pos])
    joined: list[Word] = []
    for text, pos in merged:
        if joined and joined[-1][0] == "一":
            joined[-1][0] += text
        else:
            joined.append([text, pos])
    return joined


def _merge_repeats(words: list[Word]) -> list[Word]:
    merged: list[Word] = []
    for text, pos in words:
        if merged and text == merged[-1][0]:
            merged[-1][0] += text
        else:
            merged.append([text, pos])
    return merged


def _is_reduplication(text: str) -> bool:
    return len(text) == 2 and text[0] == text[1]


def _merge_third_tones(words: list[Word], whole_words: bool) -> list[Word]:
    """Join neighbours (≤ 3 characters together) that are all third tone (`whole_words`) or meet on one."""
    finals = [word_finals(text) for text, _ in words]
    merged: list[Word] = []
    joined_last = [False] * len(words)
    for i, (text, pos) in enumerate(words):
        if whole_words:
            meets = (
                i >= 1 and all(f[-1] == "3" for f in finals[i - 1]) and all(f[-1] == "3" for f in finals[i])
            )
        else:
            meets = i >= 1 and finals[i - 1][-1][-1] == "3" and finals[i][0][-1] == "3"
        previous = words[i - 1][0]
        if (
            meets
            and not joined_last[i - 1]
            and not _is_reduplication(previous)
            and len(previous) + len(text) <= 3
        ):
            merged[-1][0] += text
            joined_last[i] = True
        else:
            merged.append([text, pos])
    return merged


def _merge_er(words: list[Word]) -> list[Word]:
    merged: list[Word] = []
    for i, (text, pos) in enumerate(words):
        if i >= 1 and text == "儿" and words[i - 1][0] != "#":
            merged[-1][0] += text
        else:
            merged.append([text, pos])
    return merged


def _or_unchanged(step, words: list[Word]) -> list[Word]:  # type: ignore[no-untyped-def]
    try:
        return step(words)
    except IndexError:
        return words


def merge_words(words: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """jieba (word, tag) pairs regrouped for tone sandhi."""
    seg = _merge_bu([[text, pos] for text, pos in words])
    seg = _or_unchanged(_merge_yi, seg)
    seg = _merge_repeats(seg)
    seg = _or_unchanged(lambda s: _merge_third_tones(s, whole_words=True), seg)
    seg = _or_unchanged(lambda s: _merge_third_tones(s, whole_words=False), seg)
    seg = _merge_er(seg)
    return [(text, pos) for text, pos in seg]
