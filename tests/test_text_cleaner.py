"""clean_text: dispatch, the original's rules around the language modules, versions, and user errors."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from timbre.text import cleaner
from timbre.text.cleaner import CleanedText, clean_text
from timbre.text.symbols import phones_to_ids


def _fake_front_end(
    monkeypatch: pytest.MonkeyPatch, phones: list[str], word2ph: list[int] | None = None
) -> list[str]:
    """Replace every language module by one that returns ``phones``; returns the texts it was asked to normalize."""
    seen: list[str] = []

    def normalize(text: str) -> str:
        seen.append(text)
        return text

    module = SimpleNamespace(normalize=normalize, g2p=lambda norm: (list(phones), word2ph))
    monkeypatch.setattr(cleaner, "language_module", lambda lang: module)
    return seen


def test_result_is_frozen_and_complete() -> None:
    result = clean_text("Hello world.", "en")
    assert isinstance(result, CleanedText)
    assert result.to_dict() == {
        "lang": "en",
        "text": "Hello world.",
        "norm_text": "Hello world.",
        "phones": ["HH", "AH0", "L", "OW1", "W", "ER1", "L", "D", "."],
        "word2ph": None,
        "phone_ids": phones_to_ids(["HH", "AH0", "L", "OW1", "W", "ER1", "L", "D", "."]),
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.lang = "zh"  # type: ignore[misc]


def test_short_english_gets_a_leading_comma() -> None:
    assert clean_text("Hi!", "en").phones == [",", "HH", "AY1", "!"]
    assert clean_text("Hi you!", "en").phones == ["HH", "AY1", "Y", "UW1", "!"]


def test_language_code_is_case_insensitive() -> None:
    assert clean_text("Hi there.", " EN ").lang == "en"


def test_out_of_table_phones_become_unk(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_front_end(monkeypatch, ["k", "o", "#", "N"])
    assert clean_text("x", "ja").phones == ["k", "o", "UNK", "N"]


@pytest.mark.parametrize(("mark", "silence"), [("￥", "SP2"), ("^", "SP3")])
def test_chinese_pause_marks(monkeypatch: pytest.MonkeyPatch, mark: str, silence: str) -> None:
    seen = _fake_front_end(monkeypatch, ["n", "i3", ",", "h", "ao3"], [2, 1, 2])
    result = clean_text(f"你{mark}好", "zh")
    assert seen == ["你,好"]
    assert result.phones == ["n", "i3", silence, "h", "ao3"]
    assert result.word2ph == [2, 1, 2]


def test_pause_marks_only_apply_to_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _fake_front_end(monkeypatch, ["k", "o", ","])
    assert clean_text("ko^", "ja").phones == ["k", "o", ","]
    assert seen == ["ko^"]


def test_word2ph_must_line_up(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_front_end(monkeypatch, ["n", "i3"], [1, 1, 1])
    with pytest.raises(ValueError, match="do not line up"):
        clean_text("你好", "zh")


def test_v1_english_uses_the_v1_table() -> None:
    v1 = clean_text("Hello world.", "en", "v1")
    v2 = clean_text("Hello world.", "en", "v2")
    assert v1.phones == v2.phones
    assert v1.phone_ids == phones_to_ids(v1.phones, "v1")


def test_v1_maps_pitch_marks_to_unk(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_front_end(monkeypatch, ["k", "o", "[", "N"])
    assert clean_text("x", "ja", "v1").phones == ["k", "o", "UNK", "N"]
    assert clean_text("x", "ja", "v2").phones == ["k", "o", "[", "N"]


def test_model_versions_map_to_v2() -> None:
    assert clean_text("Hello world.", "en", "v2ProPlus") == clean_text("Hello world.", "en", "v2")


@pytest.mark.parametrize(
    ("text", "lang", "version", "message"),
    [
        ("Hello", "fr", "v2", "unknown language code 'fr'"),
        ("Hello", "ko", "v1", "unknown language code 'ko' for text version v1"),
        ("你好", "zh", "v1", "v1 Chinese front end is not implemented"),
        ("Hello", "en", "v3", "unknown model version"),
        ("   ", "en", "v2", "text is empty"),
        ("@#$", "en", "v2", "nothing is left"),
        ("!!! ...", "en", "v2", "nothing pronounceable"),
    ],
)
def test_user_errors(text: str, lang: str, version: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        clean_text(text, lang, version)
