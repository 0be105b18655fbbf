"""Language runs for every language option, on hand-checked mixed sentences."""

from __future__ import annotations

import pytest

from timbre.text.langsplit import LANG_OPTIONS, script_sections, segment, split_languages


def test_script_sections():
    assert script_sections("你好 world, 123안녕") == [
        ("zh_ja", "你好 "),
        ("other", "world"),
        ("punct", ", "),
        ("digit", "123"),
        ("ko", "안녕"),
    ]
    assert script_sections("It's fine") == [("other", "It's fine")]  # an apostrophe inside a word stays


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        (
            "我最近在学习machine learning，感觉很有意思。",
            "zh",
            [("我最近在学习", "zh"), ("machine learning，", "en"), ("感觉很有意思。", "zh")],
        ),
        ("这条WiFi信号不行啊。", "zh", [("这条", "zh"), ("WiFi", "en"), ("信号不行啊。", "zh")]),
        ("我有3个apple。", "zh", [("我有3个", "zh"), ("apple。", "en")]),
        (
            "今日はGoogleで検索しました。",
            "ja",
            [("今日は", "ja"), ("Google", "en"), ("で検索しました。", "ja")],
        ),
        (
            "오늘 날씨가 정말 좋네요! OK?",
            "ko",
            [("오늘 날씨가 정말 좋네요! ", "ko"), ("OK?", "en")],
        ),
        (
            "你今日食咗飯未呀？我用iPhone。",
            "yue",
            [("你今日食咗飯未呀？我用", "yue"), ("iPhone。", "en")],
        ),
    ],
)
def test_user_language_with_english_words(text, lang, expected):
    assert split_languages(text, lang) == expected


def test_auto_with_four_languages():
    assert split_languages("Hello, 你好！こんにちは。안녕하세요.", "auto") == [
        ("Hello, ", "en"),
        ("你好！", "zh"),
        ("こんにちは。", "ja"),
        ("안녕하세요.", "ko"),
    ]


def test_auto_cuts_kana_out_of_chinese():
    assert split_languages("MyGO?,你也喜欢まいご吗？", "auto") == [
        ("MyGO?,", "en"),
        ("你也喜欢", "zh"),
        ("まいご", "ja"),
        ("吗？", "zh"),
    ]


def test_auto_keeps_kanji_inside_japanese():
    text = "ねえ、知ってる？最近、僕は天文学を勉強してるんだ。"
    assert split_languages(text, "auto") == [(text, "ja")]


def test_auto_yue_renames_chinese():
    assert split_languages("呢個係2024年嘅新產品。", "auto_yue") == [("呢個係2024年嘅新產品。", "yue")]
    assert split_languages("你好 world", "auto_yue") == [("你好 ", "yue"), ("world", "en")]


def test_digits_follow_their_neighbours():
    assert segment("衬衫的价格是9.15便士") == [("zh", "衬衫的价格是9.15便士")]
    assert segment("123,这是数字开头。") == [("zh", "123,这是数字开头。")]
    # between two languages, the digits go with the longer neighbour
    assert segment("这个东西好贵 100 dollars") == [("zh", "这个东西好贵 100 "), ("en", "dollars")]


def test_all_options_force_the_language_except_english():
    assert split_languages("我用iPhone 15。", "all_zh") == [("我用", "zh"), ("iPhone ", "en"), ("15。", "zh")]
    assert split_languages("東京タワー 333メートル", "all_ja") == [("東京タワー 333メートル", "ja")]
    assert split_languages("你好。", "all_yue") == [("你好。", "yue")]


def test_english_option_is_one_run_with_single_spaces():
    assert split_languages("Hello   world 你好", "en") == [("Hello world 你好", "en")]


def test_runs_cover_the_text():
    text = "Today 我们 learn 日本語のひらがな and 한국어."
    runs = split_languages(text, "auto")
    assert "".join(chunk for chunk, _ in runs) == text
    assert {lang for _, lang in runs} <= {"zh", "ja", "en", "ko"}


def test_unknown_option():
    assert "auto_yue" in LANG_OPTIONS
    with pytest.raises(ValueError, match="unknown language"):
        split_languages("你好", "fr")
