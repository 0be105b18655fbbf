"""Mandarin tone sandhi on jieba words, exactly as GPT-SoVITS v2 (PaddleSpeech's rules).

`merge_words` regroups jieba's segmentation (不 + next word, V一V, 一 + next word, reduplications,
third-tone chains, 儿) and `apply_sandhi` rewrites the tone digits of one word's finals: 不 before a
fourth tone → bu2, 一 → yi2/yi4/yi5/yi1 by context, neutral tones (particles, suffixes, reduplicated
nouns/verbs, a list of words read with a neutral last syllable), and third-tone chains → second tone.
Finals are pypinyin FINALS_TONE3 strings ("ao3"); punctuation "finals" are the mark itself.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from pypinyin import Style, lazy_pinyin

from timbre.text.zh.segment import search_words

Word = tuple[str, str]  # (text, jieba part-of-speech tag)

NOT_NEUTRAL_WORDS = frozenset(
    "男子 女子 分子 原子 量子 莲子 石子 瓜子 电子 人人 虎虎 幺幺 干嘛 学子 哈哈 数数 袅袅 局地 以下 娃哈哈 "
    "花花草草 留得 耕地 想想 熙熙 攘攘 卵子 死死 冉冉 恳恳 佼佼 吵吵 打打 考考 整整 莘莘 落地 算子 家家户户 青青".split()
)
_CLAUSE_MARKS = "：，；。？！“”‘’':,;.?!"


@cache
def neutral_words() -> frozenset[str]:
    """Words whose last syllable is read in the neutral tone (麻烦, 喜欢, 意思, ...)."""
    raw = resources.files("timbre.text.zh").joinpath("data", "neutral_tone_words.txt").read_text("utf-8")
    return frozenset(raw.split())


def word_finals(word: str) -> list[str]:
    return lazy_pinyin(word, neutral_tone_with_five=True, style=Style.FINALS_TONE3)


def _retone(final: str, tone: str) -> str:
    return final[:-1] + tone


def _all_third(finals: list[str]) -> bool:
    return all(f[-1] == "3" for f in finals)


def _halves(word: str) -> list[str]:
    """Split a word in two around its shortest search-mode jieba piece."""
    shortest = sorted(search_words(word), key=len)[0]
    if word.find(shortest) == 0:
        return [shortest, word[len(shortest) :]]
    return [word[: -len(shortest)], shortest]


def _bu(word: str, finals: list[str]) -> list[str]:
    if len(word) == 3 and word[1] == "不":  # 看不懂
        finals[1] = _retone(finals[1], "5")
        return finals
    for i, char in enumerate(word):
        if char == "不" and i + 1 < len(word) and finals[i + 1][-1] == "4":  # 不怕
            finals[i] = _retone(finals[i], "2")
    return finals


def _yi(word: str, finals: list[str]) -> list[str]:
    if "一" in word and all(c.isnumeric() for c in word if c != "一"):  # 一零零: digits keep yi1
        return finals
    if len(word) == 3 and word[1] == "一" and word[0] == word[-1]:  # 看一看
        finals[1] = _retone(finals[1], "5")
    elif word.startswith("第一"):
        finals[1] = _retone(finals[1], "1")
    else:
        for i, char in enumerate(word):
            if char == "一" and i + 1 < len(word):
                if finals[i + 1][-1] == "4":  # 一段
                    finals[i] = _retone(finals[i], "2")
                elif word[i + 1] not in _CLAUSE_MARKS:  # 一天; before punctuation stays yi1
                    finals[i] = _retone(finals[i], "4")
    return finals


def _neutral(word: str, pos: str, finals: list[str]) -> list[str]:
    neutral = neutral_words()
    for j in range(1, len(word)):  # reduplicated nouns/verbs/adjectives: 奶奶, 试试
        if word[j] == word[j - 1] and pos[0] in "nva" and word not in NOT_NEUTRAL_WORDS:
            finals[j] = _retone(finals[j], "5")
    ge = word.find("个")
    last = word[-1] if word else ""
    if last and last in "吧呢哈啊呐噻嘛吖嗨呐哦哒额滴哩哟喽啰耶喔诶":
        finals[-1] = _retone(finals[-1], "5")
    elif last and last in "的地得":
        finals[-1] = _retone(finals[-1], "5")
    elif len(word) == 1 and word in "了着过" and pos in {"ul", "uz", "ug"}:
        finals[-1] = _retone(finals[-1], "5")
    elif len(word) > 1 and last in "们子" and pos in {"r", "n"} and word not in NOT_NEUTRAL_WORDS:
        finals[-1] = _retone(finals[-1], "5")
    elif len(word) > 1 and last in "上下里" and pos in {"s", "l", "f"}:  # 桌上, 家里
        finals[-1] = _retone(finals[-1], "5")
    elif len(word) > 1 and last in "来去" and word[-2] in "上下进出回过起开":  # 上来, 下去
        finals[-1] = _retone(finals[-1], "5")
    elif (ge >= 1 and (word[ge - 1].isnumeric() or word[ge - 1] in "几有两半多各整每做是")) or word == "个":
        finals[ge] = _retone(finals[ge], "5")
    elif word in neutral or word[-2:] in neutral:
        finals[-1] = _retone(finals[-1], "5")

    halves = _halves(word)
    parts = [finals[: len(halves[0])], finals[len(halves[0]) :]]
    for part, sub in zip(parts, halves, strict=True):
        if sub in neutral or sub[-2:] in neutral:
            part[-1] = _retone(part[-1], "5")
    return parts[0] + parts[1]


def _third(word: str, finals: list[str]) -> list[str]:
    if len(word) == 2 and _all_third(finals):
        finals[0] = _retone(finals[0], "2")
    elif len(word) == 3:
        halves = _halves(word)
        if _all_third(finals):
            if len(halves[0]) == 2:  # 蒙古/包
                finals[0] = _retone(finals[0], "2")
                finals[1] = _retone(finals[1], "2")
            elif len(halves[0]) == 1:  # 纸/老虎
                finals[1] = _retone(finals[1], "2")
        else:
            parts = [finals[: len(halves[0])], finals[len(halves[0]) :]]
            for i, part in enumerate(parts):
                if _all_third(part) and len(part) == 2:  # 所有/人
                    part[0] = _retone(part[0], "2")
                elif i == 1 and not _all_third(part) and part[0][-1] == "3" and parts[0][-1][-1] == "3":
                    parts[0][-1] = _retone(parts[0][-1], "2")  # 好/喜欢
            finals = parts[0] + parts[1]
    elif len(word) == 4:  # idioms: two pairs
        finals = [
            _retone(f, "2") if k == 0 and _all_third(pair) else f
            for pair in (finals[:2], finals[2:])
            for k, f in enumerate(pair)
        ]
    return finals


def apply_sandhi(word: str, pos: str, finals: list[str]) -> list[str]:
    """Tone-changed finals of one (merged) word."""
    finals = _bu(word, list(finals))
    finals = _yi(word, finals)
    finals = _neutral(word, pos, finals)
    return _third(word, finals)
