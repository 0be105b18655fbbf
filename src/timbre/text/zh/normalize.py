"""Chinese text normalization exactly as GPT-SoVITS v2 (`text_normalize` of its zh front end).

Steps: drop spaces and some symbols, split into clauses after sentence punctuation, per clause
convert traditional → simplified and full-width letters/digits → half-width, verbalize numbers
(dates, times, ranges, temperatures, units, arithmetic, fractions, percents, phone numbers,
negatives, versions, decimals, counted amounts, digit runs, plain numbers), spell out symbols and
Greek letters, map punctuation to the symbol set, drop every other character, and finally
collapse runs of punctuation to their first mark.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from importlib import resources

from timbre.text.marks import BASE_MARK_MAP
from timbre.text.zh import numbers as num
from timbre.text.zh import rules

PUNCTUATION = "!?…,.-"
# The cleaner's special silences: the first of these found in the text replaces it with a comma
# before normalization, and every comma of the result is then read as that pause symbol.
SPECIAL_PAUSES = (("￥", "SP2"), ("^", "SP3"))

_SPLIT_DROP = re.compile(r"[——《》【】<>{}()（）#&@“”^_|\\]")
_CLAUSE_END = re.compile(r"([：、，；。？！,;?!][”’]?)")
_LATE_DROP = re.compile(r"[-——《》【】<=>{}()（）#&@“”^_|\\]")
_FULL_WIDTH = str.maketrans(
    {chr(ord(c) + 0xFEE0): c for c in "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    | {"\u3000": " "}
)
_SYMBOLS = (
    ("/", "每"),
    ("①", "一"),
    ("②", "二"),
    ("③", "三"),
    ("④", "四"),
    ("⑤", "五"),
    ("⑥", "六"),
    ("⑦", "七"),
    ("⑧", "八"),
    ("⑨", "九"),
    ("⑩", "十"),
    ("α", "阿尔法"),
    ("β", "贝塔"),
    ("γ", "伽玛"),
    ("Γ", "伽玛"),
    ("δ", "德尔塔"),
    ("Δ", "德尔塔"),
    ("ε", "艾普西龙"),
    ("ζ", "捷塔"),
    ("η", "依塔"),
    ("θ", "西塔"),
    ("Θ", "西塔"),
    ("ι", "艾欧塔"),
    ("κ", "喀帕"),
    ("λ", "拉姆达"),
    ("Λ", "拉姆达"),
    ("μ", "缪"),
    ("ν", "拗"),
    ("ξ", "克西"),
    ("Ξ", "克西"),
    ("ο", "欧米克伦"),
    ("π", "派"),
    ("Π", "派"),
    ("ρ", "肉"),
    ("ς", "西格玛"),
    ("Σ", "西格玛"),
    ("σ", "西格玛"),
    ("τ", "套"),
    ("υ", "宇普西龙"),
    ("φ", "服艾"),
    ("Φ", "服艾"),
    ("χ", "器"),
    ("ψ", "普赛"),
    ("Ψ", "普赛"),
    ("ω", "欧米伽"),
    ("Ω", "欧米伽"),
    ("+", "加"),
    ("-", "减"),
    ("×", "乘"),
    ("÷", "除"),
    ("=", "等"),
)
_PUNCT_MAP = {
    **BASE_MARK_MAP,
    "...": "…",
    "$": ".",
    "/": ",",
    "—": "-",
    "~": "…",
    "～": "…",
}
_PUNCT_PATTERN = re.compile("|".join(re.escape(p) for p in _PUNCT_MAP))
_NOT_KEPT = re.compile(r"[^\u4e00-\u9fa5" + re.escape(PUNCTUATION) + r"]+")
_NOT_KEPT_MIXED = re.compile(r"[^\u4e00-\u9fa5A-Za-z" + re.escape(PUNCTUATION) + r"]+")
_REPEATED_PUNCT = re.compile(f"([{re.escape(PUNCTUATION)}])([{re.escape(PUNCTUATION)}])+")

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]
# applied in this order, after dates/times/unit ranges/temperatures/measures/arithmetic/powers
_NUMBER_RULES: tuple[Rule, ...] = (
    (num.FRACTION, num.fraction),
    (num.PERCENT, num.percent),
    (rules.MOBILE, rules.mobile),
    (rules.LANDLINE, rules.landline),
    (rules.SERVICE_NUMBER, rules.landline),
    (num.RANGE, num.number_range),
    (num.NEGATIVE, num.negative),
    (num.VERSION, num.version),
    (num.DECIMAL, num.number),
    (num.COUNTED, num.counted),
    (num.DIGIT_RUN, num.digit_run),
    (num.NUMBER, num.number),
)


@cache
def _traditional_to_simplified() -> dict[int, str]:
    raw = resources.files("timbre.text.zh").joinpath("data", "t2s.txt").read_text("utf-8")
    return {ord(line[0]): line[1] for line in raw.splitlines() if line}


def special_pause(text: str) -> str | None:
    """The pause symbol ("SP2"/"SP3") the original cleaner uses for `text`, or None."""
    return next((symbol for char, symbol in SPECIAL_PAUSES if char in text), None)


def _clauses(text: str) -> list[str]:
    text = _SPLIT_DROP.sub("", text.replace(" ", ""))
    text = _CLAUSE_END.sub(r"\1\n", text).strip()
    return [clause.strip() for clause in re.split(r"\n+", text)]


def normalize_clause(clause: str) -> str:
    """Verbalize numbers and symbols of one clause (before punctuation mapping)."""
    s = clause.translate(_traditional_to_simplified()).translate(_FULL_WIDTH)
    s = rules.DATE.sub(rules.date, s)
    s = rules.NUMERIC_DATE.sub(rules.numeric_date, s)
    s = rules.TIME_RANGE.sub(rules.clock_time, s)
    s = rules.TIME.sub(rules.clock_time, s)
    s = num.UNIT_RANGE.sub(num.unit_range, s)
    s = rules.TEMPERATURE.sub(rules.temperature, s)
    s = rules.measures(s)
    while num.ARITHMETIC.search(s):
        s = num.ARITHMETIC.sub(num.arithmetic, s)
    s = num.POWER.sub(num.power, s)
    for pattern, rewrite in _NUMBER_RULES:
        s = pattern.sub(rewrite, s)
    for symbol, reading in _SYMBOLS:
        s = s.replace(symbol, reading)
    return _LATE_DROP.sub("", s)


def _map_punctuation(clause: str, keep_latin: bool = False) -> str:
    clause = clause.replace("嗯", "恩").replace("呣", "母")
    clause = _PUNCT_PATTERN.sub(lambda m: _PUNCT_MAP[m.group()], clause)
    return (_NOT_KEPT_MIXED if keep_latin else _NOT_KEPT).sub("", clause)


def text_normalize(text: str, keep_latin: bool = False) -> str:
    """The original's zh `text_normalize` (no special-pause handling); may return "".

    `keep_latin=True` is the original's `mix_text_normalize` (ASCII letters are kept), which its
    inference uses for all-Chinese input that contains Latin letters.
    """
    joined = "".join(_map_punctuation(normalize_clause(c), keep_latin) for c in _clauses(text))
    return _REPEATED_PUNCT.sub(r"\1", joined)


def normalize(text: str) -> str:
    """Normalized Chinese text exactly as the original v2 cleaner's `norm_text`.

    Like the original cleaner, a "￥" (or, failing that, "^") in the text is first replaced by a
    comma (see `special_pause`). Raises ValueError when nothing readable is left.
    """
    for char, _ in SPECIAL_PAUSES:
        if char in text:
            text = text.replace(char, ",")
            break
    result = text_normalize(text)
    if not result:
        raise ValueError(
            f"the Chinese text {text[:50]!r} is empty after normalization; give text with Chinese characters"
        )
    return result
