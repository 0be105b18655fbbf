"""Mixed-language front end: runs cleaned one by one and joined, with per-run records for RoBERTa features."""

from __future__ import annotations

import json

import pytest

from timbre.text.cleaner import clean_text
from timbre.text.frontend import FrontendResult, text_to_phones


def _public(compat_dir, langs):
    rows = [
        json.loads(line) for line in (compat_dir / "text_v2_public.jsonl").read_text("utf-8").splitlines()
    ]
    return [r for r in rows if r["lang"] in langs]


def _consistent(result: FrontendResult) -> None:
    assert sum(s.n_phones for s in result.segments) == len(result.phones) == len(result.phone_ids)
    assert "".join(s.norm_text for s in result.segments) == result.norm_text


def test_single_language_sentences_equal_the_cleaner(compat_dir):
    rows = _public(compat_dir, {"ja", "ko", "yue"})
    assert len(rows) == 12
    for row in rows:
        result = text_to_phones(row["text"], row["lang"])
        assert result.norm_text == row["norm_text"]
        assert result.phones == row["phones"]
        assert result.phone_ids == row["phone_ids"]
        assert result.word2ph == row["word2ph"]
        assert [s.lang for s in result.segments] == [row["lang"]]
        _consistent(result)


def test_chinese_with_english_words():
    text = "我最近在学习machine learning，感觉很有意思。"
    result = text_to_phones(text, "zh")
    assert [(s.lang, s.text) for s in result.segments] == [
        ("zh", "我最近在学习"),
        ("en", "machine learning，"),
        ("zh", "感觉很有意思。"),
    ]
    parts = [clean_text(s.text, s.lang) for s in result.segments]
    assert result.phones == [p for part in parts for p in part.phones]
    assert result.phone_ids == [i for part in parts for i in part.phone_ids]
    assert [s.word2ph for s in result.segments] == [part.word2ph for part in parts]
    assert result.segments[1].word2ph is None
    assert result.word2ph is None  # not every run has one
    _consistent(result)


def test_japanese_with_english_word():
    result = text_to_phones("今日はGoogleで検索しました。", "ja")
    assert [s.lang for s in result.segments] == ["ja", "en", "ja"]
    assert result.phones[-1] == "."
    _consistent(result)


def test_auto_several_languages():
    result = text_to_phones("Hello, 你好！こんにちは。안녕하세요.", "auto")
    assert [s.lang for s in result.segments] == ["en", "zh", "ja", "ko"]
    assert result.segments[1].word2ph == [2, 2, 1]  # 你 好 !
    _consistent(result)


def test_short_text_is_read_with_a_leading_period():
    result = text_to_phones("好", "zh")
    assert result.norm_text == ".好"
    assert result.phones == [".", "h", "ao3"]
    assert result.word2ph == [1, 2]
    assert result.text == "好"
    unpadded = text_to_phones("好", "zh", pad_short=False)
    assert unpadded.phones == ["h", "ao3"]


def test_nothing_pronounceable():
    with pytest.raises(ValueError):
        text_to_phones("……", "zh")
