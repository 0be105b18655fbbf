"""English normalization rules, one hand-derived case (or more) per rule of the original's normalizer."""

from __future__ import annotations

import pytest

from timbre.text.en import normalize

CASES = [
    # "N. " (a numbered item) becomes an ordinal followed by a comma.
    ("Step 1. Mix well", "Step first, Mix well"),
    ("Version 2. 5 apples", "Version second, five apples"),
    # Arithmetic with spaces around the operator; repeated until no operator is left.
    ("3 + 4 = 7", "three plus four Equals seven"),
    ("x - y", "x minus y"),
    ("6 × 2 ÷ 3", "six times two divided by three"),
    ("it is 2024 - time flies", "it is twenty twenty-four minus time flies"),
    # A minus sign after whitespace (or at the start) is "negative"; the whitespace before it is swallowed.
    ("-3 is less", "negative three is less"),
    ("It was -5 degrees", "It wasnegative five degrees"),
    # Digit-grouping commas are dropped.
    ("1,000,000 people", "one million people"),
    # Clock times: 24-hour to 12-hour with a.m./p.m. always spoken; a full hour is "o'clock".
    ("at 13:00", "at one o'clock p.m."),
    ("at 0:05 or 12:30", "at zero five a.m. or twelve thirty p.m."),
    ("3:45 PM", "three forty-five a.m. P M"),
    # Units glued to a number; singular only for a whole 1.
    (
        "a test 20h, 1.2s, 1L, 0.1km",
        "a test twenty hours, one point two seconds, one liter, zero point one kilometers",
    ),
    ("10 ft tall, 3ft", "ten ft tall, three feet"),
    ("the 1990s", "the nineteen ninety seconds"),
    ("250ml", "two hundred fiftyml"),
    ("5km/h", "five kilometersh"),
    ("4°F and 23°C", "four degrees fahrenheit and twenty-three degrees celsius"),
    ("temperature -19°C", "temperaturenegative nineteen degrees celsius"),
    # Pounds and dollars, sign before or after; the fraction is padded to two digits.
    ("£7.14, 1.1£", "seven pounds and fourteen pence, one pound and ten pence"),
    ("£1 and £0.01", "one pound and one penny"),
    ("$6.24, 32.3$", "six dollars and twenty-four cents, thirty-two dollars and thirty cents"),
    ("$0.01, $1, $0", "one cent, one dollar, zero dollars"),
    ("$1,250.75", "twelve fifty dollars and seventy-five cents"),
    # Decimals: digits after the point one by one.
    ("13.234", "thirteen point two three four"),
    # Fractions: half/halves, ordinal denominators, plural when the numerator is above one.
    ("1/2 3/2 1/3 3/4 6/1", "one half three halves one third three fourths six"),
    # Ordinals.
    ("22nd 101st", "twenty-second one hundred and first"),
    # Integers: 1001..2999 read like years, others plainly (no "and").
    (
        "1905 2000 2005 1900 1066",
        "nineteen oh five two thousand two thousand five nineteen hundred ten sixty-six",
    ),
    (
        "3000 999 12345 apples",
        "three thousand nine hundred ninety-nine twelve thousand, three hundred forty-five apples",
    ),
    # Accents stripped, percent spelled, unknown symbols dropped.
    ("café naïve", "cafe naive"),
    ("50% off", "fifty percent off"),
    ("a@b #c", "ab c"),
    ('She said, "Wow"', "She said, Wow"),
    # Abbreviations.
    ("e.g. this, I.E. that", "for example this, that is that"),
    # Capitals inside a word are split off.
    ("iPhone NASA", "i Phone N A S A"),
    ("GPT-SoVITS", "G P T- So V I T S"),
    # Full-width end marks become ASCII; other full-width marks and curly quotes are dropped.
    ("Hi！ Ok？ Yes。", "Hi! Ok? Yes."),
    ("Hi；there, it’s", "Hithere, its"),
    # Runs of punctuation (or a space before punctuation) collapse to their first character.
    ("Wait... what?!", "Wait. what?"),
    ("word .", "word "),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_normalize_rule(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(("text", "message"), [("1" * 40, "too large"), ("$,5", "cannot read the amount")])
def test_unreadable_numbers_are_value_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize(text)
