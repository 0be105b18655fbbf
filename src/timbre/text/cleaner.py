"""One sentence in one language → phones and phone ids, as the original's ``clean_text`` + ``cleaned_text_to_sequence``.

Each language lives in ``timbre.text.<lang>`` with ``normalize(text) -> str`` and
``g2p(norm_text) -> (phones, word2ph | None)``; ``word2ph`` (phones per character of the normalized text) exists for
zh and yue only. The cleaner adds what the original does around them:

- Chinese text containing ``￥`` or ``^`` is read with that mark as a pause: the mark becomes a comma before
  normalization, and every comma phone becomes ``SP2`` (for ``￥``) or ``SP3`` (for ``^``);
- English with fewer than four phones gets a leading comma phone;
- phones missing from the version's symbol table become ``UNK``.

Language modules are imported on first use, so a missing optional front end only fails for its own language.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any

from timbre.text.symbols import phones_to_ids, symbol_to_id, text_version

# Languages each symbol-table version has a front end for (v1 had no Korean or Cantonese).
LANGUAGES = {"v1": ("zh", "ja", "en"), "v2": ("zh", "ja", "en", "ko", "yue")}
# v1 Chinese used an older g2p module that timbre does not reimplement.
_UNSUPPORTED = {
    ("v1", "zh"): "the v1 Chinese front end is not implemented; use --version v2 (v2 models read it)"
}
# Pause marks in Chinese text and the silence symbol their comma phones turn into, in the original's order.
_ZH_PAUSE_MARKS = (("￥", "SP2"), ("^", "SP3"))
# Symbols that carry no sound: punctuation, pauses, unknowns, ja pitch marks, ko space/pause marks.
_SILENT = frozenset({"_", "!", "?", "…", ",", ".", "-", "SP", "SP2", "SP3", "UNK", "[", "]", "空", "停"})
_MIN_EN_PHONES = 4


@dataclass(frozen=True)
class CleanedText:
    """The front end's output for one sentence (the fields of ``timbre text``)."""

    lang: str
    text: str
    norm_text: str
    phones: list[str]
    word2ph: list[int] | None
    phone_ids: list[int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def language_module(lang: str) -> ModuleType:
    """The front-end module ``timbre.text.<lang>`` (imported on first use)."""
    name = f"timbre.text.{lang}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise ValueError(f"the {lang!r} text front end is not available in this installation") from None


def _check_language(lang: str, version: str) -> str:
    code = lang.strip().lower()
    supported = LANGUAGES[version]
    if code not in supported:
        raise ValueError(
            f"unknown language code {lang!r} for text version {version}; use one of {', '.join(supported)}"
        )
    reason = _UNSUPPORTED.get((version, code))
    if reason is not None:
        raise ValueError(reason)
    return code


def _check_word2ph(norm_text: str, phones: list[str], word2ph: list[int] | None) -> list[int]:
    if word2ph is None or len(phones) != sum(word2ph) or len(norm_text) != len(word2ph):
        raise ValueError(
            f"front end returned phones that do not line up with the characters of {norm_text!r}"
        )
    return word2ph


def _pause_phones(phones: list[str], norm_text: str, silence: str, table: dict[str, int]) -> list[str]:
    """Comma phones of a text whose pause mark became a comma → the mark's silence symbol."""
    unknown = [p for p in phones if p not in table]
    if unknown:
        raise ValueError(f"phones {unknown} of {norm_text!r} are not in the symbol table")
    return [silence if p == "," else p for p in phones]


def clean_text(text: str, lang: str, version: str = "v2") -> CleanedText:
    """Normalize ``text`` in language ``lang`` and convert it to phones and phone ids of ``version``'s table."""
    version = text_version(version)
    code = _check_language(lang, version)
    if not text.strip():
        raise ValueError("the text is empty; give a sentence to read")
    module = language_module(code)
    table = symbol_to_id(version)
    pause = next(((mark, silence) for mark, silence in _ZH_PAUSE_MARKS if mark in text), None)
    word2ph: list[int] | None = None
    if code == "zh" and pause is not None:
        norm_text = module.normalize(text.replace(pause[0], ","))
        _require_text(norm_text, text)
        phones, word2ph = module.g2p(norm_text)
        phones = _pause_phones(list(phones), norm_text, pause[1], table)
    else:
        norm_text = module.normalize(text)
        _require_text(norm_text, text)
        phones, word2ph = module.g2p(norm_text)
        phones = list(phones)
        if code in ("zh", "yue"):
            word2ph = _check_word2ph(norm_text, phones, word2ph)
        elif code == "en" and len(phones) < _MIN_EN_PHONES:
            phones = [",", *phones]
        phones = [p if p in table else "UNK" for p in phones]
    if all(p in _SILENT for p in phones):
        raise ValueError(f"nothing pronounceable in {text!r} (normalized: {norm_text!r})")
    return CleanedText(code, text, norm_text, phones, word2ph, phones_to_ids(phones, version))


def _require_text(norm_text: str, text: str) -> None:
    if not norm_text.strip():
        raise ValueError(
            f"nothing is left of {text!r} after normalization; give words the front end can read"
        )
