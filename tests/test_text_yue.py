"""Cantonese front end: exact on the public v2 sentences, plus hand-checked rules."""

from __future__ import annotations

import json

import pytest

from timbre.text import yue
from timbre.text.cleaner import clean_text
from timbre.text.symbols import phones_to_ids


def _public(compat_dir, lang):
    rows = [
        json.loads(line) for line in (compat_dir / "text_v2_public.jsonl").read_text("utf-8").splitlines()
    ]
    return [r for r in rows if r["lang"] == lang]


def test_public_sentences_through_module(compat_dir):
    rows = _public(compat_dir, "yue")
    assert len(rows) == 4
    for row in rows:
        norm = yue.normalize(row["text"])
        phones, word2ph = yue.g2p(norm)
        assert norm == row["norm_text"]
        assert phones == row["phones"]
        assert word2ph == row["word2ph"]
        assert phones_to_ids(phones) == row["phone_ids"]


def test_public_sentences_through_cleaner(compat_dir):
    for row in _public(compat_dir, "yue"):
        out = clean_text(row["text"], "yue", "v2")
        assert (out.norm_text, out.phones, out.word2ph, out.phone_ids) == (
            row["norm_text"],
            row["phones"],
            row["word2ph"],
            row["phone_ids"],
        )


@pytest.mark.parametrize(
    ("syllable", "phones"),
    [
        ("nei5", ["Yn", "Yei5"]),
        ("aa3", ["Yaa", "Ya3"]),  # bare vowel: the start is repeated as its last letter
        ("aai3", ["Yaa", "Yi3"]),  # "aa" is listed before "aai", so it wins
        ("m4", ["Ym", "Ym4"]),
        ("ng5", ["Yng", "Yg5"]),
        ("ngaa4", ["Yng", "Yaa4"]),
        ("gwong2", ["Ygw", "Yong2"]),  # "gw" is listed before "g"
    ],
)
def test_syllable_split(syllable, phones):
    assert yue._syllable_phones(syllable) == phones


def test_word2ph_counts_punctuation_as_one():
    phones, word2ph = yue.g2p("我好,")
    assert phones == ["Yng", "Yo5", "Yh", "You2", ","]
    assert word2ph == [2, 2, 1]


def test_normalize_maps_marks_and_drops_latin():
    assert yue.normalize("你好，世界！") == "你好,世界!"
    assert yue.normalize("佢話「好」。") == "佢话好."  # quotes become "'" and are then dropped
    assert yue.normalize("有3個") == "有三个"


def test_character_without_reading_is_an_error():
    with pytest.raises(ValueError, match="Cantonese reading"):
        yue.jyutping("我a")
