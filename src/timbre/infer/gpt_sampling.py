"""Sampling for the GPT decoder: options, logit filters in the original's order, and the exponential-race sampler.

Order (as the original): repetition penalty -> top-p -> temperature -> top-k -> softmax -> argmax(p / q) with
q ~ Exponential(1) drawn by `torch.empty(...).exponential_(1)`. Drawing q exactly like the original (one draw of the
row's full width, from the global torch generator unless a seed is given) makes seeded runs token-identical to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from timbre.errors import TimbreError

# A filter maps logits [B, W] (and the per-row "token already seen" mask [B, W]) to new logits [B, W].
LogitFilter = Callable[[Tensor, Tensor], Tensor]

MIN_TOKENS_BEFORE_EOS = (
    11  # the original drops the EOS column for steps 0..10 (no stop before ~0.4 s of audio)
)
ORIGINAL_MAX_STEPS = 1500  # the original's decoding loop length


@dataclass(frozen=True)
class SamplingConfig:
    """Decoding options. Defaults are the original inference defaults (top_k 15, top_p 1, temperature 1, penalty 1.35).

    early_stop_num: stop once more than this many tokens were generated (-1: no cap; the original's TTS pipeline
    passes hz * max_sec = 2700, see `for_model`). max_steps: hard loop length (the original's 1500).
    seed: None draws from the global torch generator (as the original: `torch.manual_seed(s)` before decoding
    reproduces its tokens); an int uses a private generator seeded with it, for the same stream without global state.
    """

    top_k: int = 15
    top_p: float = 1.0
    temperature: float = 1.0
    repetition_penalty: float = 1.35
    early_stop_num: int = -1
    max_steps: int = ORIGINAL_MAX_STEPS
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise TimbreError(f"temperature must be > 0 (got {self.temperature})")
        if not 0 < self.top_p <= 1:
            raise TimbreError(f"top_p must be in (0, 1] (got {self.top_p})")
        if self.repetition_penalty <= 0:
            raise TimbreError(f"repetition_penalty must be > 0 (got {self.repetition_penalty})")
        if self.max_steps < 1:
            raise TimbreError(f"max_steps must be >= 1 (got {self.max_steps})")

    @classmethod
    def greedy(cls, **overrides: object) -> SamplingConfig:
        """top_k=1 and no penalty: the argmax token every step (the exponential race cannot change a single choice)."""
        kw: dict[str, object] = {"top_k": 1, "repetition_penalty": 1.0, **overrides}
        return cls(**kw)  # type: ignore[arg-type]

    @classmethod
    def for_model(cls, hz: int, max_sec: int, **overrides: object) -> SamplingConfig:
        """The original pipeline's setting: early_stop_num = hz * max_sec (50 * 54 = 2700 for shipped configs)."""
        kw: dict[str, object] = {"early_stop_num": hz * max_sec, **overrides}
        return cls(**kw)  # type: ignore[arg-type]


def repetition_penalty(penalty: float) -> LogitFilter:
    """Every token seen before (prompt included, counted once): negative logits * penalty, positive / penalty."""

    def apply(logits: Tensor, seen: Tensor) -> Tensor:
        scaled = torch.where(logits < 0, logits * penalty, logits / penalty)
        return torch.where(seen, scaled, logits)

    return apply


def top_p(p: float) -> LogitFilter:
    """Nucleus: drop tokens once the sorted cumulative softmax exceeds p, always keeping the most likely one."""

    def apply(logits: Tensor, seen: Tensor) -> Tensor:
        sorted_logits, order = torch.sort(logits, descending=True)
        drop_sorted = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1) > p
        drop_sorted[:, 0] = False
        drop = drop_sorted.scatter(1, order, drop_sorted)
        return logits.masked_fill(drop, -float("inf"))

    return apply


def temperature(t: float) -> LogitFilter:
    def apply(logits: Tensor, seen: Tensor) -> Tensor:
        return logits / max(t, 1e-5)

    return apply


def top_k(k: int) -> LogitFilter:
    """Keep logits >= the k-th largest (ties at the pivot survive, as the original)."""

    def apply(logits: Tensor, seen: Tensor) -> Tensor:
        pivot = torch.topk(logits, min(k, logits.shape[-1])).values[:, -1:]
        return logits.masked_fill(logits < pivot, -float("inf"))

    return apply


class SampleStep(NamedTuple):
    tokens: Tensor  # [B] int64
    probs: Tensor  # [B, W] what the race drew from
    penalized: (
        Tensor  # [B, W] logits after the repetition penalty only (the original's EOS test looks at these)
    )
    q: Tensor  # [B, W] the Exponential(1) draws of the race


@dataclass(frozen=True)
class Sampler:
    """The filter chain for one SamplingConfig: the repetition penalty, then the other filters, then the race."""

    penalty: LogitFilter | None
    filters: tuple[LogitFilter, ...]

    @classmethod
    def from_config(cls, cfg: SamplingConfig) -> Sampler:
        """Filters in the original's order; a filter that cannot change anything is left out."""
        chain: list[LogitFilter] = []
        if cfg.top_p < 1.0:
            chain.append(top_p(cfg.top_p))
        if cfg.temperature != 1.0:
            chain.append(temperature(cfg.temperature))
        if cfg.top_k > 0:
            chain.append(top_k(cfg.top_k))
        penalty = repetition_penalty(cfg.repetition_penalty) if cfg.repetition_penalty != 1.0 else None
        return cls(penalty, tuple(chain))

    def __call__(
        self, logits: Tensor, seen: Tensor, generators: Sequence[torch.Generator | None]
    ) -> SampleStep:
        """logits [B, W], seen [B, W] bool -> one token per row."""
        penalized = self.penalty(logits, seen) if self.penalty is not None else logits
        filtered = penalized
        for f in self.filters:
            filtered = f(filtered, seen)
        probs = torch.softmax(filtered, dim=-1)
        tokens, q = exponential_race(probs, generators)
        return SampleStep(tokens, probs, penalized, q)


def exponential_race(probs: Tensor, generators: Sequence[torch.Generator | None]) -> tuple[Tensor, Tensor]:
    """One token per row: argmax(p / q), q ~ Exponential(1) drawn row by row with that row's generator.

    probs [B, W] -> (tokens [B], q [B, W]).
    Row i draws `W` values exactly like the original's `torch.empty_like(probs).exponential_(1)` does for a batch of
    one, so a request gets the same tokens alone or inside a batch when it has its own generator.
    """
    q = torch.empty_like(probs)
    for row, gen in enumerate(generators):
        q[row].exponential_(1, generator=gen)
    return torch.argmax(probs / q, dim=-1), q
