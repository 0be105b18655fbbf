"""Streaming SoVITS rendering: a growing token sequence becomes audio chunks with bounded work per chunk.

Each time `chunk_tokens` new tokens have arrived, the decoder renders a window — up to `context` tokens whose audio
was already emitted (left context) plus all the tokens since — and emits the audio of the new tokens except the last
`lookahead`, which wait for their right context. `finish` renders the rest. So the first chunk leaves as soon as the
first `chunk_tokens` tokens exist.

Tolerance: the noise is identical (see `render.NoiseBank`) and so are the tokens for the same seed, but the SoVITS
encoder attends over its whole window, so a chunk rendered before the later tokens exist differs from one full render
everywhere a little, not only near its seams. `tests/test_infer_streaming.py` measures it on deterministic weights
(the worst case: untrained attention is almost uniform): max |streamed - full| = 0.37 of the full render's peak and a
relative RMS difference of 0.26 over a 45-token fragment streamed in chunks of 15 (test bounds: 0.5 and 0.35). The
last chunk, rendered with every token in its window (fragments up to `context` tokens), equals the full render.
Speeds other than 1 map token windows to frames approximately and can differ more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from timbre.errors import TimbreError

# render(tokens [T] of the window, index of the window's first token) -> audio [samples] of the window
WindowRenderer = Callable[[Tensor, int], Tensor]


class StreamDecoder:
    def __init__(
        self, render: WindowRenderer, chunk_tokens: int = 25, context: int = 50, lookahead: int = 8
    ) -> None:
        if chunk_tokens < 1 or context < 0 or lookahead < 0 or lookahead >= chunk_tokens:
            raise TimbreError(
                "streaming needs chunk_tokens >= 1, context >= 0 and 0 <= lookahead < chunk_tokens"
            )
        self.render = render
        self.chunk_tokens = chunk_tokens
        self.context = context
        self.lookahead = lookahead
        self._tokens: list[Tensor] = []
        self.count = 0  # tokens received
        self.emitted = 0  # tokens whose audio was yielded
        self._since_chunk = 0

    def push(self, new_tokens: Tensor) -> Iterator[Tensor]:
        """Add tokens [k]; yields a chunk each time `chunk_tokens` more tokens have arrived."""
        new = new_tokens.reshape(-1)
        self._tokens.append(new)
        self.count += int(new.numel())
        self._since_chunk += int(new.numel())
        if self._since_chunk >= self.chunk_tokens and self.count - self.lookahead > self.emitted:
            self._since_chunk = 0
            yield self._emit(self.count - self.lookahead)

    def finish(self) -> Iterator[Tensor]:
        """The audio of every token not yet emitted."""
        if self.count > self.emitted:
            yield self._emit(self.count)

    def _emit(self, until: int) -> Tensor:
        tokens = torch.cat(self._tokens)
        start = max(0, self.emitted - self.context)
        audio = self.render(tokens[start : self.count], start)
        per_token = audio.shape[0] / (self.count - start)
        first = round((self.emitted - start) * per_token)
        last = audio.shape[0] if until == self.count else round((until - start) * per_token)
        self.emitted = until
        return audio[first:last]
