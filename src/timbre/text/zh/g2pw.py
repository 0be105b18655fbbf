"""The g2pW polyphone model path of the zh front end, run with onnxruntime like the original.

The user supplies the g2pW model folder (G2PWModel: g2pW.onnx, POLYPHONIC_CHARS.txt,
MONOPHONIC_CHARS.txt, bopomofo_to_pinyin_wo_tune_dict.json, char_bopomofo_dict.json, config.py)
and the BERT tokenizer folder (chinese-roberta-wwm-ext-large). Per clause, each run of Chinese
characters is looked up whole in the polyphone corrections, or converted to Taiwan traditional
characters (OpenCC s2tw) and read by the model (polyphonic characters), the monophonic table, or
pypinyin; word readings are then corrected from polyphonic.rep/polyphonic-fix.rep and go through
the same sandhi/erhua/symbol steps as the pypinyin path. config.py is parsed, never executed.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from pypinyin import Style, pinyin
from pypinyin.contrib.tone_convert import to_finals_tone3, to_initials, to_tone
from pypinyin.converter import UltimateConverter
from pypinyin.core import Pinyin
from pypinyin.seg.simpleseg import simple_seg

from timbre.text.zh.g2p import PinyinFn, g2p_with
from timbre.text.zh.normalize import _traditional_to_simplified
from timbre.text.zh.tokens import onnx_inputs

MODEL_FILES = (
    "g2pW.onnx",
    "POLYPHONIC_CHARS.txt",
    "MONOPHONIC_CHARS.txt",
    "bopomofo_to_pinyin_wo_tune_dict.json",
    "char_bopomofo_dict.json",
)
# characters the original never sends to the model, or never takes from the monophonic table
_NOT_POLYPHONIC = frozenset("一不和咋嗲剖差攢倒難奔勁拗肖瘙誒泊听噢")
_NOT_MONOPHONIC = frozenset("似攢")


@dataclass(frozen=True)
class G2pwConfig:
    """The config.py values the converter reads (defaults as the original's)."""

    use_mask: bool = True
    use_char_phoneme: bool = False


def read_config(path: Path) -> G2pwConfig:
    """Literal top-level assignments of config.py, without executing it."""
    if not path.is_file():
        return G2pwConfig()
    values: dict[str, Any] = {}
    for node in ast.parse(path.read_text("utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    return G2pwConfig(
        use_mask=bool(values.get("use_mask", True)),
        use_char_phoneme=bool(values.get("use_char_phoneme", False)),
    )


@cache
def corrections() -> dict[str, list[str]]:
    """Word → tone3 readings from polyphonic.rep, then polyphonic-fix.rep (later entries win)."""
    table: dict[str, list[str]] = {}
    data = resources.files("timbre.text").joinpath("data")
    for name in ("polyphonic.rep", "polyphonic-fix.rep"):
        for line in data.joinpath(name).read_text("utf-8").splitlines():
            if ":" in line:
                key, value = line.split(":", 1)
                table[key.strip()] = list(ast.literal_eval(value.strip()))
    return table


def correct_readings(word: str, readings: list[str]) -> list[str]:
    """Whole-word correction if listed, else per-character corrections (first reading)."""
    table = corrections()
    if word in table:
        return table[word]
    return [table[c][0] if c in table else r for c, r in zip(word, readings, strict=False)] + readings[
        len(word) :
    ]


def _check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise ValueError(f"g2pW model folder {folder} not found; pass the G2PWModel folder (with g2pW.onnx)")
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"{folder} is not a g2pW model folder: missing {', '.join(missing)}")


def _load_tokenizer(folder: Path) -> Any:
    if not ((folder / "vocab.txt").is_file() or (folder / "tokenizer.json").is_file()):
        raise ValueError(
            f"no BERT tokenizer in {folder}; pass tokenizer_dir= the chinese-roberta-wwm-ext-large folder"
        )
    from transformers import AutoTokenizer, BertTokenizer

    if (folder / "tokenizer_config.json").is_file() or (folder / "config.json").is_file():
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return BertTokenizer.from_pretrained(str(folder), local_files_only=True)


def _table(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text("utf-8").strip().split("\n")]


class G2pwModel:
    """The g2pW ONNX classifier with its character tables and tokenizer."""

    def __init__(self, folder: Path, tokenizer_dir: Path) -> None:
        _check_folder(folder)
        import onnxruntime

        self.tokenizer = _load_tokenizer(tokenizer_dir)
        self.config = read_config(folder / "config.py")
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(
                str(folder / "g2pW.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ValueError(f"cannot load {folder / 'g2pW.onnx'}: {exc}") from None
        try:
            import opencc
        except ImportError:
            raise ValueError(
                "the g2pW path needs OpenCC (simplified → Taiwan traditional): pip install opencc"
            ) from None
        self.to_taiwan = opencc.OpenCC("s2tw")
        polyphonic = _table(folder / "POLYPHONIC_CHARS.txt")
        if self.config.use_char_phoneme:
            self.labels = sorted({f"{c} {p}" for c, p in polyphonic})
            keys = [(c, f"{c} {p}") for c, p in polyphonic]
        else:
            self.labels = sorted({p for _, p in polyphonic})
            keys = [(c, p) for c, p in polyphonic]
        self.char_labels: dict[str, list[int]] = {}
        for char, label in keys:
            self.char_labels.setdefault(char, []).append(self.labels.index(label))
        self.chars = sorted(self.char_labels)
        self.queried = frozenset(self.chars) - _NOT_POLYPHONIC
        self.monophonic = {
            c: p for c, p in _table(folder / "MONOPHONIC_CHARS.txt") if c not in _NOT_MONOPHONIC
        }
        self.bopomofo = json.loads((folder / "bopomofo_to_pinyin_wo_tune_dict.json").read_text("utf-8"))

    def _to_pinyin(self, bopomofo: str) -> str | None:
        syllable = self.bopomofo.get(bopomofo[:-1])
        return syllable + bopomofo[-1] if syllable else None

    def __call__(self, run: str) -> list[str | None]:
        """Tone3 reading of every character of a run of Chinese characters."""
        text = self.to_taiwan.convert(run)
        if len(text) != len(run):
            raise ValueError(f"OpenCC changed the length of {run!r}")
        fallback = pinyin(
            text.translate(_traditional_to_simplified()), neutral_tone_with_five=True, style=Style.TONE3
        )
        readings: list[str | None] = []
        queries: list[int] = []
        for i, char in enumerate(text):
            if char in self.queried:
                readings.append(None)
                queries.append(i)
            elif char in self.monophonic:
                readings.append(self._to_pinyin(self.monophonic[char]))
            else:
                readings.append(fallback[i][0])
        if queries:
            feeds = onnx_inputs(self.tokenizer, text, queries, self.labels, self.char_labels, self.chars)
            feeds["phoneme_mask"] = (
                feeds["phoneme_mask"] if self.config.use_mask else np.ones_like(feeds["phoneme_mask"])
            )
            probs = self.session.run(None, feeds)[0]  # [queries, labels]
            for i, best in zip(queries, np.argmax(probs, axis=1).tolist(), strict=True):
                label = self.labels[best]
                readings[i] = self._to_pinyin(label.split(" ")[1] if self.config.use_char_phoneme else label)
        return readings


class _Converter(UltimateConverter):  # type: ignore[misc]
    """pypinyin converter whose phrase readings come from corrections, then g2pW, then pypinyin."""

    def __init__(self, model: G2pwModel) -> None:
        super().__init__(v_to_u=False, neutral_tone_with_five=True, tone_sandhi=False)
        self._model = model

    def _phrase_pinyin(self, phrase, style, heteronym, errors, strict):  # type: ignore[no-untyped-def]
        table = corrections()
        if phrase in table:
            return [[reading] for reading in table[phrase]]
        readings = self._model(phrase)
        result: list[list[str]] = []
        for char, reading in zip(phrase, readings, strict=True):
            if reading is None:  # no model reading: pypinyin's own reading of the character
                result.extend(super()._phrase_pinyin(char, Style.TONE, heteronym, errors, strict))
            else:
                result.append([to_tone(reading)])
        return result


class _G2pwPinyin(Pinyin):  # type: ignore[misc]
    def __init__(self, model: G2pwModel) -> None:
        super().__init__(converter=_Converter(model))

    def get_seg(self, **kwargs):  # type: ignore[no-untyped-def]
        return simple_seg


@cache
def _pinyin_engine(folder: Path, tokenizer_dir: Path) -> _G2pwPinyin:
    return _G2pwPinyin(G2pwModel(folder, tokenizer_dir))


def _clause_reader(engine: _G2pwPinyin, clause: str) -> PinyinFn:
    readings = engine.lazy_pinyin(
        re.sub("[a-zA-Z]+", "", clause), style=Style.TONE3, neutral_tone_with_five=True
    )

    def word_readings(word: str, start: int) -> tuple[list[str], list[str]]:
        initials: list[str] = []
        finals: list[str] = []
        for reading in correct_readings(word, readings[start : start + len(word)]):
            if reading[0].isalpha():
                initials.append(to_initials(reading))
                finals.append(to_finals_tone3(reading, neutral_tone_with_five=True))
            else:
                initials.append(reading)
                finals.append(reading)
        return initials, finals

    return word_readings


def g2pw_g2p(norm_text: str, folder: Path, tokenizer_dir: Path | None) -> tuple[list[str], list[int]]:
    """Phones and word2ph with g2pW choosing the readings of polyphonic characters."""
    _check_folder(folder)
    engine = _pinyin_engine(folder.resolve(), (tokenizer_dir or folder).resolve())
    return g2p_with(norm_text, lambda clause: _clause_reader(engine, clause))
