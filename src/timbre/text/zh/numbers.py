"""Chinese verbalization of digit strings, and the number rewrite rules of the v2 normalizer.

Every rule is a compiled pattern plus a function that turns one match into Chinese characters;
`normalize.py` applies them in the original's order. Quirks of the original are kept on purpose
(they decide the exact output): "3.20" reads 三点二零, "-" between two numbers is an arithmetic
minus, and digit runs of three or more without a measure word are read digit by digit.
"""

from __future__ import annotations

import re

DIGITS = "零一二三四五六七八九"
# power of ten → unit character, ascending
_UNITS = ((1, "十"), (2, "百"), (3, "千"), (4, "万"), (8, "亿"))

# Measure words that make a preceding integer a cardinal ("3个" → 三个, "2斤" → 两斤).
# Alternation order matters (first alternative wins) and follows the original exactly.
MEASURE_WORDS = "(处|台|架|枚|趟|幅|平|方|堵|间|床|株|批|项|例|列|篇|栋|注|亩|封|艘|把|目|套|段|人|所|朵|匹|张|座|回|场|尾|条|个|首|阙|阵|网|炮|顶|丘|棵|只|支|袭|辆|挑|担|颗|壳|窠|曲|墙|群|腔|砣|座|客|贯|扎|捆|刀|令|打|手|罗|坡|山|岭|江|溪|钟|队|单|双|对|出|口|头|脚|板|跳|枝|件|贴|针|线|管|名|位|身|堂|课|本|页|家|户|层|丝|毫|厘|分|钱|两|斤|担|铢|石|钧|锱|忽|(千|毫|微)克|毫|厘|(公)分|分|寸|尺|丈|里|寻|常|铺|程|(千|分|厘|毫|微)米|米|撮|勺|合|升|斗|石|盘|碗|碟|叠|桶|笼|盆|盒|杯|钟|斛|锅|簋|篮|盘|桶|罐|瓶|壶|卮|盏|箩|箱|煲|啖|袋|钵|年|月|日|季|刻|时|周|天|秒|分|小时|旬|纪|岁|世|更|夜|春|夏|秋|冬|代|伏|辈|丸|泡|粒|颗|幢|堆|条|根|支|道|面|片|张|颗|块|元|(亿|千万|百万|万|千|百)|(亿|千万|百万|万|千|百|美|)元|(亿|千万|百万|万|千|百|十|)吨|(亿|千万|百万|万|千|百|)块|角|毛|分)"
_SUPERSCRIPTS = "⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ"
_SUPERSCRIPT_PLAIN = dict(zip(_SUPERSCRIPTS, "0123456789xyn", strict=True))


def read_digits(digits: str, yao: bool = False) -> str:
    """Read a digit string one digit at a time ("2024" → 二零二四); `yao` reads 1 as 幺 (phone numbers)."""
    text = "".join(DIGITS[int(d)] for d in digits)
    return text.replace("一", "幺") if yao else text


def _cardinal_parts(digits: str, zero_fill: bool = True) -> list[str]:
    """Characters of an integer, recursing on the largest unit below its length."""
    significant = digits.lstrip("0")
    if not significant:
        return []
    if len(significant) == 1:
        if zero_fill and len(significant) < len(digits):
            return [DIGITS[0], DIGITS[int(significant)]]
        return [DIGITS[int(significant)]]
    power, unit = max((p, u) for p, u in _UNITS if p < len(significant))
    head, tail = digits[:-power], digits[-power:]
    return _cardinal_parts(head) + [unit] + _cardinal_parts(tail)


def read_cardinal(digits: str) -> str:
    """Read an integer as a cardinal ("105" → 一百零五, "12" → 十二, "000" → 零, "" → "")."""
    if not digits:
        return ""
    digits = digits.lstrip("0")
    if not digits:
        return DIGITS[0]
    parts = _cardinal_parts(digits)
    if len(parts) >= 2 and parts[0] == "一" and parts[1] == "十":
        parts = parts[1:]
    return "".join(parts)


def read_number(number: str) -> str:
    """Read an unsigned decimal number ("25.5" → 二十五点五, ".5" → 零点五, "3.20" → 三点二零)."""
    pieces = number.split(".")
    if len(pieces) > 2:
        raise ValueError(f"cannot read the number {number!r}: it has more than one decimal point")
    integer, fraction = (pieces[0], "") if len(pieces) == 1 else (pieces[0], pieces[1])
    text = read_cardinal(integer)
    # trailing zeros collapse to a single zero; other fractions are kept as they are
    fraction = fraction.rstrip("0") + "0" if fraction.endswith("0") else fraction
    if fraction:
        text = (text or DIGITS[0]) + "点" + read_digits(fraction)
    return text


def _minus(sign: str) -> str:
    return "负" if sign else ""


# 1/3 → 三分之一
FRACTION = re.compile(r"(-?)(\d+)/(\d+)")


def fraction(m: re.Match[str]) -> str:
    return f"{_minus(m.group(1))}{read_number(m.group(3))}分之{read_number(m.group(2))}"


# 35% → 百分之三十五
PERCENT = re.compile(r"(-?)(\d+(\.\d+)?)%")


def percent(m: re.Match[str]) -> str:
    return f"{_minus(m.group(1))}百分之{read_number(m.group(2))}"


# -10 → 负十
NEGATIVE = re.compile(r"(-)(\d+)")


def negative(m: re.Match[str]) -> str:
    return f"{_minus(m.group(1))}{read_number(m.group(2))}"


# three or more digits left over (ids, codes) → digit by digit with 幺
DIGIT_RUN = re.compile(r"\d{3}\d*")


def digit_run(m: re.Match[str]) -> str:
    return read_digits(m.group(0), yao=True)


# arithmetic: a+b, a-b, a×b, a÷b, a=b (operands may carry superscript powers or be a letter)
_OPERAND = r"((-?)((\d+)(\.\d+)?[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*)|(\.\d+[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*)|([A-Za-z][⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*))"
ARITHMETIC = re.compile(_OPERAND + r"([+\-×÷=])" + _OPERAND)
_OPERATORS = {"+": "加", "-": "减", "×": "乘", "÷": "除", "=": "等于"}


def arithmetic(m: re.Match[str]) -> str:
    return m.group(1) + _OPERATORS[m.group(8)] + m.group(9)


# x² → x的2次方 (the digits are read by later rules)
POWER = re.compile(f"[{_SUPERSCRIPTS}]+")


def power(m: re.Match[str]) -> str:
    return "的" + "".join(_SUPERSCRIPT_PLAIN[c] for c in m.group(0)) + "次方"


# 1.2.3 → 一点二点三
VERSION = re.compile(r"((\d+)(\.\d+)(\.\d+)?(\.\d+)+)")


def version(m: re.Match[str]) -> str:
    return "".join("点" if c == "." else read_number(c) for c in m.group(1))


DECIMAL = re.compile(r"(-?)((\d+)(\.\d+))|(\.(\d+))")
NUMBER = re.compile(r"(-?)((\d+)(\.\d+)?)|(\.(\d+))")


def number(m: re.Match[str]) -> str:
    if m.group(5):
        return read_number(m.group(5))
    return f"{_minus(m.group(1))}{read_number(m.group(2))}"


# 3个 → 三个, 2斤 → 两斤, 10+个 → 十多个
COUNTED = re.compile(r"(\d+)([多余几+])?" + MEASURE_WORDS)


def counted(m: re.Match[str]) -> str:
    amount = read_number(m.group(1))
    amount = "两" if amount == "二" else amount
    approx = "多" if m.group(2) == "+" else (m.group(2) or "")
    return f"{amount}{approx}{m.group(3)}"


# 1~3 → 一到三 (not touching other numbers or operators)
RANGE = re.compile(r"(?<![\d+\-×÷=])((-?)((\d+)(\.\d+)?))[-~]((-?)((\d+)(\.\d+)?))(?![\d+\-×÷=])")


def number_range(m: re.Match[str]) -> str:
    return f"{NUMBER.sub(number, m.group(1))}到{NUMBER.sub(number, m.group(6))}"


# 10%~20%, 3kg~5kg: the ~ becomes 至 and both sides stay for the later rules
_RANGE_UNIT = r"(%|°C|℃|度|摄氏度|cm2|cm²|cm3|cm³|cm|db|ds|kg|km|m2|m²|m³|m3|ml|m|mm|s)"
_RANGE_VALUE = r"((-?)((\d+)(\.\d+)?)|(\.(\d+)))"
UNIT_RANGE = re.compile(_RANGE_VALUE + _RANGE_UNIT + "[~]" + _RANGE_VALUE + _RANGE_UNIT)


def unit_range(m: re.Match[str]) -> str:
    return m.group(0).replace("~", "至")
