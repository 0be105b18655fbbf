"""Streaming SoVITS rendering: turn a growing token sequence into audio chunks with bounded work per chunk.

Each time `chunk_tokens` new tokens exist, the decoder renders a window of tokens — `context` already-emitted tokens
for left context plus everything new — and emits the audio of the new tokens except the last `lookahead`, which are
held back until their right context exists. `finish` renders the remainder. The SoVITS encoder attends over its whole
window, so samples near a seam differ slightly from a single full decode; `tests/test_infer_streaming.py` measures and
bounds that difference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch


class StreamDecoder:
    def __init__(
        self,
        render: Callable[[torch.Tensor], np.ndarray],
        chunk_tokens: int = 25,
        context: int = 50,
        lookahead: int = 6,
    ) -> None:
        self.render = render  # tokens [T] -> audio [samples]
        self.chunk_tokens = chunk_tokens
        self.context = context
        self.lookahead = lookahead
        self.tokens: list[torch.Tensor] = []
        self.count = 0
        self.emitted = 0  # tokens whose audio was already yielded

    def push(self, new_tokens: torch.Tensor) -> Iterator[np.ndarray]:
        """Add tokens [k]; yields a chunk whenever enough new tokens have arrived."""
        self.tokens.append(new_tokens.reshape(-1))
        self.count += int(new_tokens.numel())
        if self.count - self.emitted >= self.chunk_tokens + self.lookahead:
            yield self._emit(self.count - self.lookahead)

    def finish(self) -> Iterator[np.ndarray]:
        if self.count > self.emitted:
            yield self._emit(self.count)

    def _emit(self, until: int) -> np.ndarray:
        tokens = torch.cat(self.tokens)
        start = max(0, self.emitted - self.context)
        audio = self.render(tokens[start : self.count])
        per_token = len(audio) / (self.count - start)
        first = round((self.emitted - start) * per_token)
        last = len(audio) if until == self.count else round((until - start) * per_token)
        self.emitted = until
        return audio[first:last]
