"""`timbre text`: one sentence or a JSON-lines file in, one JSON object per sentence out; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.helpers.cli import run_cli


def test_single_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["text", "--lang", "en", "Call me at 555-1234, OK?"], capsys)
    assert code == 0
    record = json.loads(out)
    assert list(record) == ["lang", "text", "norm_text", "phones", "word2ph", "phone_ids"]
    assert record["norm_text"] == "Call me at five hundred fifty-five-twelve thirty-four, O K?"
    assert record["word2ph"] is None


def test_non_ascii_is_printed_as_is(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["text", "--lang", "en", "--version", "v2", "café…"], capsys)
    assert code == 0
    assert '"text": "café…"' in out


def test_jsonl_keeps_order_and_extra_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        {"id": 1, "lang": "en", "text": "Hello world."},
        {"lang": "en", "text": "The 2nd try.", "speaker": "amy", "phones": ["stale"]},
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n", encoding="utf-8")
    code, out, _ = run_cli(["text", "--jsonl", str(source)], capsys)
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["text"] for r in records] == ["Hello world.", "The 2nd try."]
    assert records[0]["id"] == 1 and records[1]["speaker"] == "amy"
    assert records[1]["norm_text"] == "The second try."
    assert records[1]["phones"] != ["stale"]


def test_jsonl_public_file_round_trips(
    compat_dir: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    english = [
        line
        for line in (compat_dir / "text_v2_public.jsonl").read_text(encoding="utf-8").splitlines()
        if json.loads(line)["lang"] == "en"
    ]
    source = tmp_path / "en.jsonl"
    source.write_text("\n".join(english), encoding="utf-8")
    code, out, _ = run_cli(["text", "--jsonl", str(source)], capsys)
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [json.loads(line) for line in english]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["text", "--lang", "xx", "Hello"], "unknown language code"),
        (["text", "Hello"], "give a sentence and its language"),
        (["text", "--lang", "en", "!!!"], "nothing pronounceable"),
    ],
)
def test_bad_input_exits_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(argv, capsys)
    assert code == 2
    assert out == ""
    assert message in " ".join(err.split())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"lang": "en"}', 'line 1: expected an object with string fields "lang" and "text"'),
        ('{"lang": "en", "text": "Hi there."}\nnot json', "line 2: not valid JSON"),
        ('{"lang": "de", "text": "Hallo"}', "line 1: unknown language code 'de'"),
    ],
)
def test_bad_jsonl_exits_2(
    content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text(content, encoding="utf-8")
    code, _, err = run_cli(["text", "--jsonl", str(source)], capsys)
    assert code == 2
    assert message in " ".join(err.split())


def test_missing_jsonl_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["text", "--jsonl", str(tmp_path / "missing.jsonl")], capsys)
    assert code == 2
    assert "missing.jsonl" in "".join(err.split())
