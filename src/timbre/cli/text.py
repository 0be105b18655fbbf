"""`timbre text`: run the text front end on one sentence or on a JSON-lines file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from timbre.cli._app import app

_OUTPUT_FIELDS = ("lang", "text", "norm_text", "phones", "word2ph", "phone_ids")


def _dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False)


def _clean_line(line_no: int, line: str, version: str) -> dict[str, Any]:
    """One input object → the same object with the front end's fields filled in (other fields kept)."""
    from timbre.text.cleaner import clean_text

    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {line_no}: not valid JSON ({exc.msg})") from None
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("lang"), str)
        or not isinstance(item.get("text"), str)
    ):
        raise ValueError(f'line {line_no}: expected an object with string fields "lang" and "text"')
    line_version = item.get("version", version)
    try:
        result = clean_text(item["text"], item["lang"], str(line_version)).to_dict()
    except ValueError as exc:
        raise ValueError(f"line {line_no}: {exc}") from None
    extra = {key: value for key, value in item.items() if key not in _OUTPUT_FIELDS}
    return {**result, **extra}


@app.command("text")
def text_command(
    text: Annotated[str | None, typer.Argument(help="The sentence to convert.")] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="Language code: zh, ja, en, ko or yue.")] = None,
    version: Annotated[
        str, typer.Option("--version", help="Symbol table: v1 or v2 (v2Pro models use v2).")
    ] = "v2",
    jsonl: Annotated[
        Path | None,
        typer.Option(
            "--jsonl", help='JSON-lines file, one {"lang", "text", ...} object per line.', dir_okay=False
        ),
    ] = None,
) -> None:
    """Normalize text and convert it to phones and phone ids, exactly as GPT-SoVITS v2 does; prints JSON."""
    if jsonl is not None:
        if text is not None or lang is not None:
            raise ValueError("give either --jsonl FILE or --lang LANG with a sentence, not both")
        lines = jsonl.read_text(encoding="utf-8").splitlines()
        for line_no, line in enumerate(lines, start=1):
            if line.strip():
                typer.echo(_dumps(_clean_line(line_no, line, version)))
        return
    if text is None or lang is None:
        raise ValueError('give a sentence and its language: timbre text --lang en "Hello world."')
    from timbre.text.cleaner import clean_text

    typer.echo(_dumps(clean_text(text, lang, version).to_dict()))
