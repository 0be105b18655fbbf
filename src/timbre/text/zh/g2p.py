"""Chinese grapheme-to-phoneme conversion exactly as GPT-SoVITS v2 (its pypinyin branch, g2pW off).

Per clause: jieba words → regrouped for sandhi → pypinyin initials/finals per word → tone sandhi →
erhua → opencpop symbols. Each character gives two phones (initial, final+tone); each punctuation
mark gives itself; `word2ph` counts the phones of every character of the normalized text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from importlib import resources

from pypinyin import Style, lazy_pinyin

from timbre.text.zh.merge import merge_words
from timbre.text.zh.normalize import PUNCTUATION
from timbre.text.zh.sandhi import apply_sandhi, word_finals
from timbre.text.zh.segment import tag_words

# (word, its start in the clause) → (initials, finals), from pypinyin or from the g2pW model
PinyinFn = Callable[[str, int], tuple[list[str], list[str]]]

_ALWAYS_ERHUA = frozenset({"小院儿", "胡同儿", "范儿", "老汉儿", "撒欢儿", "寻老礼儿", "妥妥儿", "媳妇儿"})
_NEVER_ERHUA = frozenset(
    "虐儿 为儿 护儿 瞒儿 救儿 替儿 有儿 一儿 我儿 俺儿 妻儿 拐儿 聋儿 乞儿 患儿 幼儿 孤儿 婴儿 婴幼儿 连体儿 "
    "脑瘫儿 流浪儿 体弱儿 混血儿 蜜雪儿 舫儿 祖儿 美儿 应采儿 可儿 侄儿 孙儿 侄孙儿 女儿 男儿 红孩儿 花儿 虫儿 "
    "马儿 鸟儿 猪儿 猫儿 狗儿 少儿".split()
)
_CLAUSE_SPLIT = re.compile(f"(?<=[{re.escape(PUNCTUATION)}])\\s*")
# pypinyin spellings → the keys of the opencpop table
_AFTER_INITIAL = {"uei": "ui", "iou": "iu", "uen": "un"}
_ALONE = {"ing": "ying", "i": "yi", "in": "yin", "u": "wu"}
_ALONE_FIRST = {"v": "yu", "e": "e", "i": "y", "u": "w"}


@cache
def pinyin_to_phones() -> dict[str, tuple[str, str]]:
    """Toneless pinyin → (initial symbol, final symbol), from opencpop-strict.txt."""
    raw = resources.files("timbre.text").joinpath("data", "opencpop-strict.txt").read_text("utf-8")
    table = {}
    for line in raw.splitlines():
        if line.strip():
            key, value = line.split("\t")[0], line.strip().split("\t")[1]
            initial, final = value.split(" ")
            table[key] = (initial, final)
    return table


def pypinyin_initials_finals(word: str, start: int) -> tuple[list[str], list[str]]:
    initials = lazy_pinyin(word, neutral_tone_with_five=True, style=Style.INITIALS)
    return initials, word_finals(word)


def erhua(initials: list[str], finals: list[str], word: str, pos: str) -> tuple[list[str], list[str]]:
    """儿 after a syllable takes that syllable's tone (er2/er5 → erN), except in the exception lists."""
    if finals and word[len(finals) - 1 : len(finals)] == "儿" and finals[-1] == "er1":
        finals[-1] = "er2"
    if word not in _ALWAYS_ERHUA and (word in _NEVER_ERHUA or pos in {"a", "j", "nr"}):
        return initials, finals
    if len(finals) != len(word):
        return initials, finals
    if (
        len(finals) >= 2
        and word[-1] == "儿"
        and finals[-1] in {"er2", "er5"}
        and word[-2:] not in _NEVER_ERHUA
    ):
        finals = finals[:-1] + ["er" + finals[-2][-1]]
    return initials, finals


def syllable_phones(initial: str, final: str) -> list[str]:
    """Phones of one character: [mark] for punctuation, else [initial symbol, final symbol + tone]."""
    if initial == final:
        if not initial or initial not in PUNCTUATION:
            raise ValueError(f"cannot pronounce {initial!r}: it has no pinyin")
        return [initial]
    if not final or final[-1] not in "12345":
        raise ValueError(f"cannot pronounce the pinyin {initial + final!r}")
    body, tone = final[:-1], final[-1]
    if initial:
        pinyin = initial + _AFTER_INITIAL.get(body, body)
    elif body in _ALONE:
        pinyin = _ALONE[body]
    elif body[:1] in _ALONE_FIRST:
        pinyin = _ALONE_FIRST[body[0]] + body[1:]
    else:
        pinyin = body
    table = pinyin_to_phones()
    if pinyin not in table:
        raise ValueError(f"the pinyin {pinyin!r} (from {initial + final!r}) has no phone symbols")
    consonant, vowel = table[pinyin]
    return [consonant, vowel + tone]


def clauses(norm_text: str) -> list[str]:
    """The clauses g2p works on: split after every punctuation mark, blanks dropped."""
    return [c for c in _CLAUSE_SPLIT.split(norm_text) if c.strip() != ""]


def clause_to_phones(clause: str, pinyin_of: PinyinFn) -> tuple[list[str], list[int]]:
    clause = re.sub("[a-zA-Z]+", "", clause)
    initials: list[str] = []
    finals: list[str] = []
    start = 0
    for word, pos in merge_words(tag_words(clause)):
        if pos == "eng":
            start += len(word)
            continue
        word_initials, word_fins = pinyin_of(word, start)
        start += len(word)
        word_fins = apply_sandhi(word, pos, word_fins)
        word_initials, word_fins = erhua(word_initials, word_fins, word, pos)
        initials += word_initials
        finals += word_fins
    phones: list[str] = []
    word2ph: list[int] = []
    for initial, final in zip(initials, finals, strict=False):
        syllable = syllable_phones(initial, final)
        phones += syllable
        word2ph.append(len(syllable))
    return phones, word2ph


def g2p_with(norm_text: str, pinyin_for_clause: Callable[[str], PinyinFn]) -> tuple[list[str], list[int]]:
    if not norm_text.strip():
        raise ValueError("the normalized Chinese text is empty; nothing to convert to phones")
    phones: list[str] = []
    word2ph: list[int] = []
    for clause in clauses(norm_text):
        clause_phones, clause_counts = clause_to_phones(clause, pinyin_for_clause(clause))
        phones += clause_phones
        word2ph += clause_counts
    return phones, word2ph


def pypinyin_g2p(norm_text: str) -> tuple[list[str], list[int]]:
    """Phones and word2ph of normalized Chinese text (the original's g2pW-off path)."""
    return g2p_with(norm_text, lambda clause: pypinyin_initials_finals)
