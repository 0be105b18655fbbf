"""Cut presets cut0..cut5 and the inference pre/post steps, on hand-worked examples of the original rules."""

from __future__ import annotations

import pytest

from timbre.text import cuts


def test_registry_names():
    assert list(cuts.CUT_METHODS) == ["cut0", "cut1", "cut2", "cut3", "cut4", "cut5"]
    with pytest.raises(ValueError, match="cut0"):
        cuts.get_cut_method("cut9")


def test_sentences_end_at_marks_and_get_a_final_period():
    assert cuts.sentences("你好，世界") == ["你好，", "世界。"]
    assert cuts.sentences("等等……好——吧") == ["等等。", "好，", "吧。"]


def test_cut0_keeps_text_and_its_quirk():
    assert cuts.cut0("你好。世界。") == "你好。世界。"
    assert cuts.cut0("... ,") == "/n"


@pytest.mark.parametrize(
    ("n_sentences", "groups"),
    [(1, [1]), (4, [4]), (5, [5]), (8, [8]), (9, [4, 5]), (12, [4, 8]), (13, [4, 4, 5])],
)
def test_cut1_groups_of_four_with_the_tail_folded_in(n_sentences, groups):
    text = "".join(f"句{i}。" for i in range(n_sentences))
    pieces = cuts.cut1(text).split("\n")
    assert [p.count("。") for p in pieces] == groups
    assert "".join(pieces) == text


def test_cut1_short_text_is_returned_as_given():
    assert cuts.cut1("一，二") == "一，二"  # 2 sentences: no extra "。" is added


def test_cut2_packs_over_fifty_characters_and_folds_a_short_tail():
    sentence = "这是第一句话，它有一些字。"  # 13 characters, 2 sentences
    assert cuts.cut2(sentence * 5) == sentence * 5  # 52 + 13: the short tail joins the first piece
    long = "一二三四五六七八九十" * 3 + "。"  # 31 characters
    assert cuts.cut2(long * 4).split("\n") == [long * 2, long * 2]
    assert cuts.cut2("只有一句") == "只有一句"


def test_cut3_and_cut4_cut_at_full_stops():
    assert cuts.cut3("今天天气很好。我们去公园。") == "今天天气很好\n我们去公园"
    assert cuts.cut4("It costs 3.5 dollars. Good.") == "It costs 3.5 dollars\n Good"
    assert cuts.cut4("Hi. ... Bye.") == "Hi\n Bye"  # pieces of marks and spaces only are dropped


def test_cut5_cuts_after_every_mark_but_not_decimal_points():
    assert cuts.cut5("价格是3.5元，好吗？") == "价格是3.5元，\n好吗？"
    assert cuts.cut5("好！！对") == "好！\n对"
    assert cuts.cut5("a;b、c") == "a;\nb、\nc"


def test_merge_short():
    assert cuts.merge_short(["ab", "cd", "efgh", "i"]) == ["abcdefghi"]
    assert cuts.merge_short(["ab", "cdefg", "h"]) == ["abcdefgh"]
    assert cuts.merge_short(["abcdef", "gh"]) == ["abcdefgh"]
    assert cuts.merge_short(["ab"]) == ["ab"]


def test_split_long_cuts_at_marks():
    text = ("字" * 300 + "，") * 2
    pieces = cuts.split_long(text)
    assert pieces == ["字" * 300 + "，", "字" * 300 + "，"]
    assert all(len(p) <= cuts.MAX_PIECE_CHARS for p in pieces)


def test_split_text_zh():
    text = "你好。我是一个测试句子，用来检查切分。第三句在这里！"
    # "你好" is under 4 characters, so a "。" is put in front; cut5 drops it as a marks-only piece and the
    # 3-character "你好。" merges into the next piece.
    assert cuts.split_text(text, "cut5") == ["你好。我是一个测试句子，", "用来检查切分。", "第三句在这里！"]


def test_split_text_en_adds_periods():
    assert cuts.split_text("Hi. This is a test. And more text here.", "cut4", "en") == [
        "Hi This is a test.",
        " And more text here.",
    ]


def test_split_text_collapses_repeated_marks_and_skips_empty():
    assert cuts.split_text("你好!!!世界", "cut0") == ["。你好!世界。"]
    assert cuts.split_text("\n\n", "cut1") == []
    assert cuts.split_text("今天天气很好\n\n\n明天也不错", "cut0") == ["今天天气很好。", "明天也不错。"]


def test_split_text_blank_lines_are_an_error():
    with pytest.raises(ValueError, match="nothing to say"):
        cuts.split_text(" ", "cut3")


def test_split_text_keeps_the_cut0_quirk_for_marks_only():
    # cut0 answers "/n" for marks-only text; the original keeps that piece (it has a word character).
    assert cuts.split_text("...", "cut0") == ["/n。"]
