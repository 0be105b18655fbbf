"""Japanese front end: exact on the public v2 sentences, plus hand-checked rules."""

from __future__ import annotations

import json

import pytest

from timbre.text import ja
from timbre.text.cleaner import clean_text
from timbre.text.symbols import phones_to_ids, symbol_to_id


def _public(compat_dir, lang):
    rows = [
        json.loads(line) for line in (compat_dir / "text_v2_public.jsonl").read_text("utf-8").splitlines()
    ]
    return [r for r in rows if r["lang"] == lang]


def test_public_sentences_through_module(compat_dir):
    rows = _public(compat_dir, "ja")
    assert len(rows) == 4
    table = symbol_to_id("v2")
    for row in rows:
        norm = ja.normalize(row["text"])
        phones, word2ph = ja.g2p(norm)
        phones = [p if p in table else "UNK" for p in phones]  # the cleaner's out-of-table rule
        assert norm == row["norm_text"]
        assert phones == row["phones"]
        assert word2ph is None and row["word2ph"] is None
        assert phones_to_ids(phones) == row["phone_ids"]


def test_public_sentences_through_cleaner(compat_dir):
    for row in _public(compat_dir, "ja"):
        out = clean_text(row["text"], "ja", "v2")
        assert (out.norm_text, out.phones, out.word2ph, out.phone_ids) == (
            row["norm_text"],
            row["phones"],
            row["word2ph"],
            row["phone_ids"],
        )


def test_prosody_marks_of_a_greeting():
    # espnet's documented example: rise after the first mora, no fall (heiban), no sil/$ at the ends.
    assert ja.g2p("こんにちは")[0] == ["k", "o", "[", "N", "n", "i", "ch", "i", "w", "a"]


def test_marks_are_kept_and_mapped():
    phones, _ = ja.g2p("はい、そうです!?")
    assert phones[4] == ","  # 、 → ,
    assert phones[-2:] == ["!", "?"]


def test_spaces_between_runs_are_dropped():
    phones, _ = ja.g2p("東京 大阪")
    assert " " not in phones and "" not in phones
    assert phones[:7] == ["t", "o", "[", "o", "ky", "o", "o"]


def test_percent_sign_is_read():
    phones, _ = ja.g2p("50％です")
    assert "p" in phones and phones[-4:] == ["d", "e", "s", "u"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("はい!!!そう...?", "はい!そう."), ("ええ,,,", "ええ,"), ("a--b", "a-b"), ("すごい！！", "すごい！！")],
)
def test_normalize_collapses_repeated_ascii_marks(text, expected):
    assert ja.normalize(text) == expected


def test_accent_border_becomes_unk_in_the_cleaner():
    phones, _ = ja.g2p("今日はいい天気")
    assert "#" in phones
    assert "UNK" in clean_text("今日はいい天気", "ja").phones
