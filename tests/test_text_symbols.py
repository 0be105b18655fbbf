"""The package's symbol tables and text data files equal the reference copies."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from timbre.text.symbols import phones_to_ids, symbols

COMPAT = Path(__file__).parent / "fixtures" / "compat"
# ../shared/compat/text_data beside the repository (present on the project's machines, absent elsewhere).
SHARED_TEXT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "compat" / "text_data"
DATA_FILES = (
    "cmudict.rep",
    "cmudict-fast.rep",
    "engdict-hot.rep",
    "namedict.json",
    "opencpop-strict.txt",
    "polyphonic.rep",
    "polyphonic-fix.rep",
)


@pytest.mark.parametrize(("version", "size"), [("v1", 322), ("v2", 732)])
def test_symbol_table_matches_reference(version: str, size: int) -> None:
    reference = json.loads((COMPAT / f"symbols_{version}.json").read_text(encoding="utf-8"))
    assert list(symbols(version)) == reference
    assert len(reference) == size


def test_model_versions_share_the_v2_table() -> None:
    assert symbols("v2Pro") == symbols("v2ProPlus") == symbols("v2")


def test_ids_of_special_symbols() -> None:
    assert phones_to_ids(["UNK", "SP2", "SP3", ","], "v2") == [
        symbols("v2").index(s) for s in ("UNK", "SP2", "SP3", ",")
    ]
    with pytest.raises(ValueError, match="not in the v1 symbol table"):
        phones_to_ids(["Yaa1"], "v1")


@pytest.mark.skipif(
    not SHARED_TEXT_DATA.is_dir(), reason="../shared/compat/text_data is not beside this checkout"
)
@pytest.mark.parametrize("name", DATA_FILES)
def test_text_data_identical_to_reference(name: str) -> None:
    shipped = resources.files("timbre.text").joinpath("data", name).read_bytes()
    assert shipped == (SHARED_TEXT_DATA / name).read_bytes()
