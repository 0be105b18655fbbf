"""BERT inputs for the g2pW classifier: one row per polyphonic character to read.

Text is split into words (runs of ASCII letters/digits, else single characters; spaces map to
no token), each word is tokenized alone, and the query character's position points at its token.
Rows longer than 512 tokens are cut to a window around the query, as the original does.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

MAX_TOKENS = 512


def _words(text: str) -> tuple[list[str], list[int | None], list[tuple[int, int]]]:
    words: list[str] = []
    char_to_word: list[int | None] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    while pos < len(text):
        if spaces := re.match(r" +", text[pos:]):
            char_to_word += [None] * len(spaces.group(0))
            pos += len(spaces.group(0))
            continue
        latin = re.match(r"[a-zA-Z0-9]+", text[pos:])
        word = latin.group(0) if latin else text[pos]
        spans.append((pos, pos + len(word)))
        char_to_word += [len(words)] * len(word)
        words.append(word)
        pos += len(word)
    return words, char_to_word, spans


def tokenize_with_map(tokenizer: Any, text: str) -> tuple[list[str], list[int | None], list[tuple[int, int]]]:
    """Tokens, character → token index, and token → character span."""
    words, char_to_token, spans = _words(text)
    tokens: list[str] = []
    token_spans: list[tuple[int, int]] = []
    for word, (start, end) in zip(words, spans, strict=True):
        pieces = tokenizer.tokenize(word)
        if not pieces or pieces == ["[UNK]"]:
            token_spans.append((start, end))
            tokens.append("[UNK]")
            continue
        for piece in pieces:
            width = len(re.sub(r"^##", "", piece))
            token_spans.append((start, start + width))
            start += width
            tokens.append(piece)
    for index, (start, end) in enumerate(token_spans):
        for char in range(start, end):
            char_to_token[char] = index
    return tokens, char_to_token, token_spans


def _window(
    text: str, query: int, tokens: list[str], char_to_token: list[int | None], spans: list[tuple[int, int]]
) -> tuple[str, int, list[str], list[int | None]]:
    keep = MAX_TOKENS - 2
    if len(tokens) <= keep:
        return text, query, tokens, char_to_token
    centre = char_to_token[query]
    assert centre is not None
    first = centre - keep // 2
    last = first + keep
    if first < 0:
        first, last = 0, keep
    elif last > len(tokens):
        first, last = len(tokens) - keep, len(tokens)
    start, end = spans[first][0], spans[last - 1][1]
    shifted = [None if i is None else i - first for i in char_to_token[start:end]]
    return text[start:end], query - start, tokens[first:last], shifted


def onnx_inputs(
    tokenizer: Any,
    text: str,
    queries: list[int],
    labels: list[str],
    char_labels: dict[str, list[int]],
    chars: list[str],
) -> dict[str, np.ndarray]:
    """The six model inputs for reading `text[q]` for every q in `queries`."""
    rows: dict[str, list[Any]] = {k: [] for k in ("input_ids", "token_type_ids", "attention_mask")}
    masks, char_ids, positions = [], [], []
    lowered = text.lower()
    tokens, char_to_token, spans = tokenize_with_map(tokenizer, lowered)
    for query in queries:
        row_text, row_query, row_tokens, row_map = _window(lowered, query, tokens, char_to_token, spans)
        ids = tokenizer.convert_tokens_to_ids(["[CLS]", *row_tokens, "[SEP]"])
        rows["input_ids"].append(ids)
        rows["token_type_ids"].append([0] * len(ids))
        rows["attention_mask"].append([1] * len(ids))
        char = row_text[row_query]
        allowed = set(char_labels[char])
        masks.append([1.0 if i in allowed else 0.0 for i in range(len(labels))])
        char_ids.append(chars.index(char))
        token = row_map[row_query]
        assert token is not None
        positions.append(token + 1)  # +1 for [CLS]
    feeds = {k: np.asarray(v, dtype=np.int64) for k, v in rows.items()}
    feeds["phoneme_mask"] = np.asarray(masks, dtype=np.float32)
    feeds["char_ids"] = np.asarray(char_ids, dtype=np.int64)
    feeds["position_ids"] = np.asarray(positions, dtype=np.int64)
    return feeds
