"""English text normalization, rule for rule as the original v2 front end.

The rules run in a fixed order, and the order is part of the behaviour: "1. " becomes an ordinal before decimals are
read, commas inside numbers are dropped before currency is split into units, and so on. Quirks of the original are
kept on purpose (they change the phones the models were trained on):

- its punctuation map escapes its own character classes, so only the full-width ``。！？`` (and the literal strings
  of the classes) are ever replaced;
- a time always gets "a.m."/"p.m." spoken, even when the text already has "PM";
- a unit suffix is only recognised when the number and unit form one word ("250ml" is not a unit: "ml" is not listed);
- after the filter that keeps ``[ A-Za-z'.,?!-]``, every capital not at the start or after a space is split off.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Any

# Literal replacements the original actually performs (see the module docstring).
_LITERAL_PUNCTUATION = {"[;:：，；]": ",", '["’]': "'", "。": ".", "！": "!", "？": "?"}

# Punctuation symbols of the phone table; runs of them (or a space followed by them) collapse to the first.
PUNCTUATION = ("!", "?", "…", ",", ".", "-")

_UNITS = {
    "m": ("meter", "meters"),
    "km": ("kilometer", "kilometers"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "ft": ("feet", "feet"),
    "L": ("liter", "liters"),
    "tbsp": ("tablespoon", "tablespoons"),
    "tsp": ("teaspoon", "teaspoons"),
    "h": ("hour", "hours"),
    "min": ("minute", "minutes"),
    "s": ("second", "seconds"),
    "°C": ("degree celsius", "degrees celsius"),
    "°F": ("degree fahrenheit", "degrees fahrenheit"),
}

_NUMBERED_ITEM = re.compile(r"\b([0-9]+)\. ")
_OPERAND = r"((-?)((\d+)(\.\d+)?[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*)|(\.\d+[⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*)|([A-Za-z][⁰¹²³⁴⁵⁶⁷⁸⁹ˣʸⁿ]*))"
_ARITHMETIC = re.compile(_OPERAND + r"\s+([\+\-\×÷=])\s+" + _OPERAND)
_OPERATOR_WORDS = {"+": " plus ", "-": " minus ", "×": " times ", "÷": " divided by ", "=": " Equals "}
_NEGATIVE = re.compile(r"(?:^|\s+)(-)(\d+)")
_GROUPED_NUMBER = re.compile(r"([0-9][0-9\,]+[0-9])")
_CLOCK_TIME = re.compile(r"\b([01]?[0-9]|2[0-3]):([0-5][0-9])\b")
_MEASUREMENT = re.compile(r"\b([0-9]+(\.[0-9]+)?(m|km|km/h|ft|L|tbsp|tsp|h|min|s|°C|°F))\b")
_POUNDS_BEFORE = re.compile(r"£([0-9\.\,]*[0-9]+)")
_POUNDS_AFTER = re.compile(r"([0-9\.\,]*[0-9]+)£")
_DOLLARS_BEFORE = re.compile(r"\$([0-9\.\,]*[0-9]+)")
_DOLLARS_AFTER = re.compile(r"([(0-9\.\,]*[0-9]+)\$")
_DECIMAL = re.compile(r"([0-9]+\.\s*[0-9]+)")
_FRACTION = re.compile(r"([0-9]+/[0-9]+)")
_ORDINAL = re.compile(r"[0-9]+(st|nd|rd|th)")
_INTEGER = re.compile(r"[0-9]+")
_NOT_KEPT = re.compile(r"[^ A-Za-z'.,?!\-]")
_INNER_CAPITAL = re.compile(r"(?<!^)(?<![\s])([A-Z])")


@cache
def _inflect() -> Any:
    import inflect

    return inflect.engine()


def _say(number: int | str, **options: Any) -> str:
    import inflect

    try:
        return str(_inflect().number_to_words(number, **options))
    except inflect.NumOutOfRangeError:
        raise ValueError(f"the number {number} is too large to read out; write it in words") from None


def _numbered_item(m: re.Match[str]) -> str:
    """ "3. " → "3rd, " (read as an ordinal by a later rule)."""
    return f"{_inflect().ordinal(m.group(1))}, "


def _arithmetic(m: re.Match[str]) -> str:
    return m.group(1) + _OPERATOR_WORDS[m.group(8)] + m.group(9)


def _negative(m: re.Match[str]) -> str:
    # The leading whitespace of the match is dropped, exactly like the original.
    return f"negative {m.group(2)}"


def _clock_time(m: re.Match[str]) -> str:
    """24-hour "13:30" → "one thirty p.m."; a full hour → "four o'clock a.m."."""
    hours, minutes = int(m.group(1)), int(m.group(2))
    period = "a.m." if hours < 12 else "p.m."
    if hours > 12:
        hours -= 12
    if minutes == 0:
        return f"{_say(hours)} o'clock {period}"
    return f"{_say(hours)} {_say(minutes)} {period}"


def _measurement(m: re.Match[str]) -> str:
    """ "20h" → "20 hours"; singular only for a whole 1 ("1L", not "1.0L" or "0.1km")."""
    token, decimals, unit = m.group(1), m.group(2), m.group(3)
    digits = int(token.replace(unit, "").replace(".", ""))
    singular = decimals is None and digits == 1
    return token.replace(unit, " " + _UNITS[unit][0 if singular else 1])


def _money(amount: str, units: tuple[str, str, str, str]) -> str:
    """ "12.5" with (dollar, dollars, cent, cents) → "12 dollars and 50 cents" (digits are read later)."""
    one, many, sub_one, sub_many = units
    parts = amount.split(".")
    if len(parts) > 2:
        return f"{amount} {many}"
    try:
        whole = int(parts[0]) if parts[0] else 0
        fraction = int(parts[1].ljust(2, "0")) if len(parts) > 1 and parts[1] else 0
    except ValueError:
        raise ValueError(
            f"cannot read the amount {amount!r}; write it as digits with one decimal point"
        ) from None
    whole_words = f"{whole} {one if whole == 1 else many}"
    fraction_words = f"{fraction} {sub_one if fraction == 1 else sub_many}"
    if whole and fraction:
        return f"{whole_words} and {fraction_words}"
    if whole:
        return whole_words
    if fraction:
        return fraction_words
    return f"zero {many}"


def _pounds(m: re.Match[str]) -> str:
    return _money(m.group(1), ("pound", "pounds", "penny", "pence"))


def _dollars(m: re.Match[str]) -> str:
    return _money(m.group(1), ("dollar", "dollars", "cent", "cents"))


def _decimal(m: re.Match[str]) -> str:
    """ "13.25" → "13 point 2 5": the fractional digits are read one by one (spaces after the dot are kept)."""
    whole, fraction = m.group(1).split(".")
    return whole + " point " + " ".join(fraction)


def _fraction(m: re.Match[str]) -> str:
    """1/2 one half, 3/2 three halves, 3/4 three fourths, 6/1 six."""
    numerator, denominator = (int(part) for part in m.group(0).split("/"))
    said = _say(numerator)
    if denominator == 1:
        return said
    if denominator == 2:
        return f"{said} {'half' if numerator == 1 else 'halves'}"
    ordinal = str(_inflect().ordinal(_say(denominator)))
    return f"{said} {ordinal}{'s' if numerator > 1 else ''}"


def _ordinal(m: re.Match[str]) -> str:
    return _say(m.group(0))


def _integer(m: re.Match[str]) -> str:
    """Integers; 1001..2999 are read like years ("nineteen ninety", "two thousand five", "twelve hundred")."""
    number = int(m.group(0))
    if not 1000 < number < 3000:
        return _say(number, andword="")
    if number == 2000:
        return "two thousand"
    if 2000 < number < 2010:
        return "two thousand " + _say(number % 100)
    if number % 100 == 0:
        return _say(number // 100) + " hundred"
    return _say(number, andword="", zero="oh", group=2).replace(", ", " ")


def expand(text: str) -> str:
    """The original's English expansion (numbers, money, units, times, symbols), without the punctuation steps."""
    text = _NUMBERED_ITEM.sub(_numbered_item, text)
    while _ARITHMETIC.search(text):
        text = _ARITHMETIC.sub(_arithmetic, text)
    text = _NEGATIVE.sub(_negative, text)
    text = _GROUPED_NUMBER.sub(lambda m: m.group(1).replace(",", ""), text)
    text = _CLOCK_TIME.sub(_clock_time, text)
    text = _MEASUREMENT.sub(_measurement, text)
    text = _POUNDS_BEFORE.sub(_pounds, text)
    text = _POUNDS_AFTER.sub(_pounds, text)
    text = _DOLLARS_BEFORE.sub(_dollars, text)
    text = _DOLLARS_AFTER.sub(_dollars, text)
    text = _DECIMAL.sub(_decimal, text)
    text = _FRACTION.sub(_fraction, text)
    text = _ORDINAL.sub(_ordinal, text)
    text = _INTEGER.sub(_integer, text)
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    text = text.replace("%", " percent")
    text = _NOT_KEPT.sub("", text)
    text = re.sub(r"(?i)i\.e\.", "that is", text)
    text = re.sub(r"(?i)e\.g\.", "for example", text)
    return _INNER_CAPITAL.sub(r" \1", text)


@cache
def _repeated_punctuation() -> re.Pattern[str]:
    marks = "".join(re.escape(p) for p in PUNCTUATION)
    return re.compile(f"([{marks}\\s])([{marks}])+")


def normalize(text: str) -> str:
    """Raw English text → the normalized text the g2p reads (the original's ``text_normalize``)."""
    for literal, replacement in _LITERAL_PUNCTUATION.items():
        text = text.replace(literal, replacement)
    text = expand(text)
    return _repeated_punctuation().sub(r"\1", text)
