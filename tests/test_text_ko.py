"""Korean front end: exact on the public v2 sentences, plus hand-checked rules."""

from __future__ import annotations

import json

from timbre.text import ko
from timbre.text.cleaner import clean_text
from timbre.text.symbols import phones_to_ids


def _public(compat_dir, lang):
    rows = [
        json.loads(line) for line in (compat_dir / "text_v2_public.jsonl").read_text("utf-8").splitlines()
    ]
    return [r for r in rows if r["lang"] == lang]


def test_public_sentences_through_module(compat_dir):
    rows = _public(compat_dir, "ko")
    assert len(rows) == 4
    for row in rows:
        norm = ko.normalize(row["text"])
        phones, word2ph = ko.g2p(norm)
        assert norm == row["norm_text"]
        assert phones == row["phones"]
        assert word2ph is None
        assert phones_to_ids(phones) == row["phone_ids"]


def test_public_sentences_through_cleaner(compat_dir):
    for row in _public(compat_dir, "ko"):
        out = clean_text(row["text"], "ko", "v2")
        assert (out.norm_text, out.phones, out.word2ph, out.phone_ids) == (
            row["norm_text"],
            row["phones"],
            row["word2ph"],
            row["phone_ids"],
        )


def test_latin_letters_are_spelled_out():
    assert ko.spell_latin("Ok") == "오케이"
    assert ko.g2p("ABC")[0] == ["ㅇ", "ㅔ", "ㅇ", "ㅣ", "ㅂ", "ㅣ", "ㅅ", "ㅣ", "."]


def test_compound_vowels_are_split():
    assert ko.to_jamo("과자") == "ㄱㅗㅏㅈㅏ"
    assert ko.to_jamo("녀") == "ㄴㅣㅓ"


def test_rieul_liaison_fix():
    assert ko.fix_rieul_liaison("ㅇㅡㄹ ㄹㅏ") == "ㅇㅡㄹ ㄴㅏ"
    assert ko.fix_rieul_liaison("ㄱㅡㄹ ㄹㅏ") == "ㄱㅡㄹ ㄹㅏ"


def test_numbers_and_final_period():
    # g2pk2 reads 3 before a counter natively (세 개); a text ending in a jamo gets a final ".".
    assert ko.g2p("3개")[0] == ["ㅅ", "ㅔ", "ㄱ", "ㅐ", "."]
    assert ko.g2p("안녕")[0][-1] == "."


def test_unknown_characters_become_pause_and_spaces_become_kong():
    phones, _ = ko.g2p("좋아요~ 네")
    assert "停" in phones and "空" in phones


def test_stdout_stays_clean(capfd):
    # g2pk2 prints "mecab installed" when constructed; `timbre text` prints JSON on stdout.
    ko._g2pk2.cache_clear()
    ko.g2p("안녕하세요")
    assert capfd.readouterr().out == ""
