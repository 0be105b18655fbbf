"""The original's `.list` format: lines, languages, and where a listed audio file is found."""

from __future__ import annotations

from pathlib import Path

import pytest

from timbre.listformat import listed_file_name, read_list, resolve_listed_wav


@pytest.mark.parametrize(
    "listed",
    ["D:\\GPT-SoVITS\\output\\slicer_opt\\a.wav", "/home/x/slicer_opt/a.wav", "slicer_opt/a.wav", "a.wav"],
)
def test_listed_file_name_reads_paths_written_on_any_system(listed: str) -> None:
    assert listed_file_name(listed) == "a.wav"


def test_paths_from_another_machine_are_found_by_file_name(tmp_path: Path) -> None:
    """A list written by the original's WebUI elsewhere: the files beside the list, or in `wav_dir`."""
    (tmp_path / "a.wav").touch()
    (tmp_path / "b.wav").touch()
    lst = tmp_path / "slicer_opt.list"
    lst.write_text(
        "D:\\GPT-SoVITS\\output\\slicer_opt\\a.wav|spk|ZH|你好。\n/no/such/dir/b.wav|spk|EN|Hi.\n",
        encoding="utf-8",
    )
    a, b = read_list(lst)
    assert (a.wav, a.lang, b.wav, b.lang) == (tmp_path / "a.wav", "zh", tmp_path / "b.wav", "en")
    other = tmp_path / "audio"
    other.mkdir()
    (other / "a.wav").touch()
    a, b = read_list(lst, wav_dir=other)
    assert a.wav == other / "a.wav"  # the folder the user named comes first ...
    assert b.wav == tmp_path / "b.wav"  # ... and the list's own folder is still looked at


def test_a_path_that_exists_as_written_wins(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.wav").touch()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.wav").touch()
    assert resolve_listed_wav("clips/a.wav", tmp_path, tmp_path / "other") == tmp_path / "clips" / "a.wav"


def test_a_file_found_nowhere_is_reported_where_it_was_looked_for(tmp_path: Path) -> None:
    assert resolve_listed_wav("clips/a.wav", tmp_path) == tmp_path / "clips" / "a.wav"
    assert resolve_listed_wav("C:\\x\\a.wav", tmp_path) == tmp_path / "a.wav"
    assert resolve_listed_wav("clips/a.wav", tmp_path, tmp_path / "w") == tmp_path / "w" / "a.wav"


def test_a_line_without_an_audio_file_is_refused(tmp_path: Path) -> None:
    lst = tmp_path / "x.list"
    lst.write_text(" |spk|EN|Hello.\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"x\.list:1: no audio file"):
        read_list(lst)


def test_a_list_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    lst = tmp_path / "gbk.list"
    lst.write_bytes("a.wav|spk|EN|Hello.\nb.wav|spk|ZH|你好。\n".encode("gbk"))
    with pytest.raises(ValueError, match=r"gbk\.list:2: not UTF-8 text; save the list as UTF-8"):
        read_list(lst)
