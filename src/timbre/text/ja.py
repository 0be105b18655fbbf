"""Japanese front end: pyopenjtalk(-plus) phonemes with accent-phrase prosody marks, as GPT-SoVITS v2.

The text is cut at every character that is not Japanese script, a Latin letter or a digit. Each Japanese run is
turned into OpenJTalk full-context labels and then into phonemes plus prosody marks (``[`` pitch rise, ``]``
pitch fall, ``#`` accent-phrase border, ``_`` pause); the cut characters are kept as punctuation tokens.
The original loads no user dictionary here, and neither do we. Marks outside the symbol table (``#`` and any
stray character) are left as they are: ``timbre.text.cleaner`` turns them into ``UNK`` like the original cleaner.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from timbre.text.marks import BASE_MARK_MAP

# Characters that belong to a Japanese run (kana, CJK ideographs, iteration mark, ASCII and full-width alnum).
_JA_CHAR_CLASS = (
    r"A-Za-z\d\u3005\u3040-\u30ff\u4e00-\u9fff\uff11-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\uff9d"
)
_JA_CHAR = re.compile(f"[{_JA_CHAR_CLASS}]")
_NON_JA_CHAR = re.compile(f"[^{_JA_CHAR_CLASS}]")

# The original's punctuation list (symbols.punctuation, "-" included): repeats collapse to their first mark.
_PUNCTUATION = "!?…,.-"
_REPEATED_PUNCTUATION = re.compile(f"([{re.escape(_PUNCTUATION)}])([{re.escape(_PUNCTUATION)}])+")

# Full-width marks and line breaks mapped to the table's punctuation.
_MARK_MAP = dict(BASE_MARK_MAP)

_CURRENT_PHONE = re.compile(r"\-(.*?)\+")


def normalize(text: str) -> str:
    """The original's Japanese normalization: only runs of repeated punctuation collapse to their first mark."""
    return _REPEATED_PUNCTUATION.sub(r"\1", text)


@cache
def _openjtalk() -> Any:
    import pyopenjtalk

    return pyopenjtalk


def _label_int(pattern: str, label: str) -> int:
    """An integer field of a full-context label, or -50 where the label has none (as espnet's helper)."""
    match = re.search(pattern, label)
    return -50 if match is None else int(match.group(1))


def prosody_phones(text: str) -> list[str]:
    """Phonemes with prosody marks for one Japanese run, without the leading ``^`` and the final ``$``/``?``."""
    jtalk = _openjtalk()
    labels = jtalk.make_label(jtalk.run_frontend(text))
    out: list[str] = []
    last = len(labels) - 1
    for n, label in enumerate(labels):
        match = _CURRENT_PHONE.search(label)
        phone = match.group(1) if match else ""
        if phone in "AEIOU":  # devoiced vowels count as ordinary vowels (substring test, as the original)
            phone = phone.lower()
        if phone == "sil":
            if n == 0:
                out.append("^")
            elif n == last:
                sentence_type = _label_int(r"!(\d+)_", label)
                if sentence_type == 0:
                    out.append("$")
                elif sentence_type == 1:
                    out.append("?")
            continue
        if phone == "pau":
            out.append("_")
            continue
        out.append(phone)

        accent_distance = _label_int(r"/A:([0-9\-]+)\+", label)
        mora_forward = _label_int(r"\+(\d+)\+", label)
        mora_backward = _label_int(r"\+(\d+)/", label)
        phrase_moras = _label_int(r"/F:(\d+)_", label)
        next_mora_forward = _label_int(r"\+(\d+)\+", labels[n + 1])
        if mora_backward == 1 and next_mora_forward == 1 and phone in "aeiouAEIOUNcl":
            out.append("#")
        elif accent_distance == 0 and next_mora_forward == mora_forward + 1 and mora_forward != phrase_moras:
            out.append("]")
        elif mora_forward == 1 and next_mora_forward == 2:
            out.append("[")
    return out[1:-1]


def g2p(norm_text: str) -> tuple[list[str], None]:
    """Phones of normalized Japanese text (no word2ph: the original has none for Japanese)."""
    text = norm_text.replace("％", "パーセント").lower()
    runs = _NON_JA_CHAR.split(text)
    marks = _NON_JA_CHAR.findall(text)
    phones: list[str] = []
    for i, run in enumerate(runs):
        if _JA_CHAR.match(run):
            phones += prosody_phones(run)
        if i < len(marks) and marks[i] != " ":
            phones.append(marks[i].replace(" ", ""))
    return [_MARK_MAP.get(p, p) for p in phones], None
