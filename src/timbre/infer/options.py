"""Synthesis options and the token cap, as one frozen dataclass (defaults: the original api_v2's)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from timbre.errors import TimbreError
from timbre.infer.gpt_sampling import ORIGINAL_MAX_STEPS, SamplingConfig
from timbre.text.cuts import get_cut_method

MIN_NEW_TOKENS = 12  # the decoder cannot stop before step 11 anyway


@dataclass(frozen=True)
class SynthesisOptions:
    """How to synthesize one text. Sampling defaults are the original's (top_k 15, top_p 1, temperature 1,
    repetition_penalty 1.35); cut5 (every punctuation mark) and fragment_interval 0.3 s are api_v2's defaults.

    seed: None picks a fresh random seed (reported in the result); fragment i samples its tokens from a generator
    seeded with seed + i and draws its SoVITS noise from a `NoiseBank` with the same seed, so a fragment's audio does
    not depend on which other fragments share its batch. max_new_tokens caps the semantic tokens of each fragment
    (the original's early_stop_num, 25 tokens per second of audio); None keeps the model's own cap (hz * max_sec,
    in effect the 1,500-step loop), or the synthesizer's phone-count cap for untrained weights.

    Streaming: a chunk is rendered every `stream_chunk_tokens` tokens (see `timbre.infer.streaming` for the
    tolerance against the non-streamed audio); a value above a fragment's token count streams whole fragments, which
    equal the non-streamed audio exactly (the original's return_fragment mode).
    """

    cut_method: str = "cut5"
    top_k: int = 15
    top_p: float = 1.0
    temperature: float = 1.0
    repetition_penalty: float = 1.35
    speed: float = 1.0
    noise_scale: float = 0.5
    fragment_interval: float = 0.3
    seed: int | None = None
    batch_size: int = 4  # fragments decoded together by the GPT
    max_new_tokens: int | None = None
    stream_chunk_tokens: int = 25  # one streamed chunk per second of tokens
    stream_context: int = 50  # tokens of left context re-rendered for each streamed chunk
    stream_lookahead: int | None = (
        None  # tokens held back for right context; None: min(8, stream_chunk_tokens // 3)
    )

    def __post_init__(self) -> None:
        get_cut_method(self.cut_method)
        if not 0.25 <= self.speed <= 4.0:
            raise TimbreError(f"speed must be between 0.25 and 4, got {self.speed}")
        if self.top_k < 1:
            raise TimbreError(f"top_k must be at least 1, got {self.top_k}")
        if self.noise_scale < 0 or self.fragment_interval < 0:
            raise TimbreError("noise_scale and fragment_interval must be >= 0")
        if self.batch_size < 1:
            raise TimbreError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise TimbreError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.seed is not None and not 0 <= self.seed < 2**62:
            raise TimbreError(f"seed must be between 0 and 2**62, got {self.seed}")
        if self.stream_chunk_tokens < 1 or self.stream_context < 0:
            raise TimbreError("stream_chunk_tokens must be at least 1 and stream_context >= 0")
        if self.stream_lookahead is not None and not 0 <= self.stream_lookahead < self.stream_chunk_tokens:
            raise TimbreError("stream_lookahead must be between 0 and stream_chunk_tokens - 1")
        self.sampling(1)  # validates top_p, temperature and the penalty

    @property
    def lookahead(self) -> int:
        """The streaming lookahead in tokens (explicit, or a third of a chunk, at most 8)."""
        if self.stream_lookahead is not None:
            return self.stream_lookahead
        return min(8, self.stream_chunk_tokens // 3)

    def sampling(self, max_new_tokens: int, seed: int | None = None) -> SamplingConfig:
        """The GPT sampling config for a fragment allowed `max_new_tokens` tokens."""
        return SamplingConfig(
            top_k=self.top_k,
            top_p=self.top_p,
            temperature=self.temperature,
            repetition_penalty=self.repetition_penalty,
            early_stop_num=max_new_tokens
            - 1,  # the decoder stops once it has more than early_stop_num tokens
            max_steps=ORIGINAL_MAX_STEPS,
            seed=seed,
        )


@dataclass(frozen=True)
class TokenCap:
    """Where a fragment's token budget comes from: the model's early_stop_num, and for untrained (deterministic)
    weights, which rarely emit EOS, `tokens_per_phone` target phones (about 2 at a natural speaking rate)."""

    model_cap: int = 54 * 50  # hz * max_sec of the shipped configs
    tokens_per_phone: float | None = None

    def for_fragment(self, n_phones: int, requested: int | None) -> int:
        if requested is not None:
            return min(requested, ORIGINAL_MAX_STEPS)
        cap = min(self.model_cap + 1, ORIGINAL_MAX_STEPS)
        if self.tokens_per_phone is not None:
            cap = min(cap, max(MIN_NEW_TOKENS, math.ceil(self.tokens_per_phone * n_phones)))
        return cap
