"""The v1 (322) and v2 (732) phone symbol tables, in the original order (index = embedding row)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

VERSIONS = ("v1", "v2")


@cache
def symbols(version: str = "v2") -> tuple[str, ...]:
    """The symbol table of a text version ("v1" or "v2"; v2Pro/v2ProPlus use "v2")."""
    version = text_version(version)
    raw = resources.files("timbre.text").joinpath("data", f"symbols_{version}.json").read_text("utf-8")
    return tuple(json.loads(raw))


@cache
def symbol_to_id(version: str = "v2") -> dict[str, int]:
    return {s: i for i, s in enumerate(symbols(version))}


def text_version(model_version: str) -> str:
    """Map a model version (v1, v2, v2Pro, v2ProPlus) to its text symbol table version."""
    if model_version == "v1":
        return "v1"
    if model_version in ("v2", "v2Pro", "v2ProPlus"):
        return "v2"
    raise ValueError(f"unknown model version {model_version!r}; use one of v1, v2, v2Pro, v2ProPlus")


def phones_to_ids(phones: list[str], version: str = "v2") -> list[int]:
    """Phone symbols → ids (the original's cleaned_text_to_sequence)."""
    table = symbol_to_id(version)
    try:
        return [table[p] for p in phones]
    except KeyError as exc:
        raise ValueError(f"phone {exc.args[0]!r} is not in the {version} symbol table") from None
