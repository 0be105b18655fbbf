"""jieba word segmentation (the original uses jieba_fast, same dictionary and algorithm), kept quiet.

jieba caches its prefix dictionary in the system temp directory (its default) and would log to
stderr while building it; the log is silenced and the deprecation warning of its import hidden.
"""

from __future__ import annotations

import logging
import warnings
from functools import cache
from types import ModuleType


@cache
def _jieba() -> tuple[ModuleType, ModuleType]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import jieba
        import jieba.posseg

    jieba.setLogLevel(logging.ERROR)
    jieba.dt.initialize()
    return jieba, jieba.posseg


def tag_words(text: str) -> list[tuple[str, str]]:
    """Words with their part-of-speech tags (jieba.posseg, HMM on)."""
    _, posseg = _jieba()
    return [(pair.word, pair.flag) for pair in posseg.lcut(text)]


def search_words(word: str) -> list[str]:
    """Search-mode pieces of one word (jieba.cut_for_search), in jieba's order."""
    jieba, _ = _jieba()
    return list(jieba.cut_for_search(word))
