"""Dates, clock times, temperatures, units of measure and phone numbers, as the v2 normalizer reads them."""

from __future__ import annotations

import re

from timbre.text.zh.numbers import DIGITS, read_cardinal, read_digits, read_number

# 2024年3月15日 → 二零二四年三月十五日 (year digit by digit; month and day optional)
DATE = re.compile(r"(\d{4}|\d{2})年((0?[1-9]|1[0-2])月)?(((0?[1-9])|((1|2)[0-9])|30|31)([日号]))?")


def date(m: re.Match[str]) -> str:
    text = f"{read_digits(m.group(1))}年"
    if m.group(3):
        text += f"{read_cardinal(m.group(3))}月"
    if m.group(5):
        text += f"{read_cardinal(m.group(5))}{m.group(9)}"
    return text


# 2023-10-01, 2023/10/01, 2023.10.01, 2023 10 01 (same separator twice)
NUMERIC_DATE = re.compile(r"(\d{4})([- /.])(0[1-9]|1[012])\2(0[1-9]|[12][0-9]|3[01])")


def numeric_date(m: re.Match[str]) -> str:
    return f"{read_digits(m.group(1))}年{read_cardinal(m.group(3))}月{read_cardinal(m.group(4))}日"


_CLOCK = r"([0-1]?[0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9]))?"
TIME = re.compile(_CLOCK)
TIME_RANGE = re.compile(_CLOCK + "(~|-)" + _CLOCK)


def _clock_part(digits: str) -> str:
    """Minutes/seconds: a leading zero is read (05 → 零五)."""
    text = read_number(digits.lstrip("0"))
    return DIGITS[0] + text if digits.startswith("0") else text


def _clock(hour: str, minute: str, second: str | None, half_past: bool) -> str:
    text = f"{read_number(hour)}点"
    if minute.lstrip("0"):
        text += "半" if half_past else f"{_clock_part(minute)}分"
    if second and second.lstrip("0"):
        text += f"{_clock_part(second)}秒"
    return text


def clock_time(m: re.Match[str]) -> str:
    """3:30 → 三点半; 8:30-12:45 → 八点半至十二点半 (the original tests the first minute for both ends)."""
    half_past = int(m.group(2)) == 30
    text = _clock(m.group(1), m.group(2), m.group(4), half_past)
    if m.re is TIME_RANGE:
        text += "至" + _clock(m.group(6), m.group(7), m.group(9), half_past)
    return text


# -3°C → 零下三度. The original means to keep 摄氏度 but tests the wrong group, so it always says 度.
TEMPERATURE = re.compile(r"(-?)(\d+(\.\d+)?)(°C|℃|度|摄氏度)")


def temperature(m: re.Match[str]) -> str:
    below = "零下" if m.group(1) else ""
    return f"{below}{read_number(m.group(2))}度"


# Plain substring replacement anywhere in the sentence, in this order (so "mm" is already "米米"
# by the time its entry comes, and every "s" becomes 秒) — exactly what the original does.
_MEASURES = (
    ("cm2", "平方厘米"),
    ("cm²", "平方厘米"),
    ("cm3", "立方厘米"),
    ("cm³", "立方厘米"),
    ("cm", "厘米"),
    ("db", "分贝"),
    ("ds", "毫秒"),
    ("kg", "千克"),
    ("km", "千米"),
    ("m2", "平方米"),
    ("m²", "平方米"),
    ("m³", "立方米"),
    ("m3", "立方米"),
    ("ml", "毫升"),
    ("m", "米"),
    ("mm", "毫米"),
    ("s", "秒"),
)


def measures(sentence: str) -> str:
    for symbol, reading in _MEASURES:
        sentence = sentence.replace(symbol, reading)
    return sentence


# mobile numbers (optionally +86), landlines with area code, 400 service numbers
MOBILE = re.compile(r"(?<!\d)((\+?86 ?)?1([38]\d|5[0-35-9]|7[678]|9[89])\d{8})(?!\d)")
LANDLINE = re.compile(r"(?<!\d)((0(10|2[1-3]|[3-9]\d{2})-?)?[1-9]\d{6,7})(?!\d)")
SERVICE_NUMBER = re.compile(r"(400)(-)?\d{3}(-)?\d{4}")


def mobile(m: re.Match[str]) -> str:
    return "，".join(read_digits(part, yao=True) for part in m.group(0).strip("+").split())


def landline(m: re.Match[str]) -> str:
    return "，".join(read_digits(part, yao=True) for part in m.group(0).split("-"))
