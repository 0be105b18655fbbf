"""Which segments each stage trains on, and how many times an epoch visits them, as the original's data loaders do.

The original leaves out SoVITS segments outside 0.6-54 s and GPT segments over 54 s of semantic tokens (25 per
second), with more than 54 × 25 / 2.5 phones, or whose phones per second fall outside 3-25 (a transcript that does
not match its audio). A dataset of fewer than 100 segments is repeated `max(2, 100 // n)` times in every epoch, so
that "8 SoVITS epochs, 15 GPT epochs" on a minute of speech means the same amount of training as in the original
WebUI. The tiny CPU configuration turns all of this off (`Selection()`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from timbre.errors import TimbreError
from timbre.train.data import GPTItem, SoVITSItem

SAMPLE_RATE = 32000
SEMANTIC_HZ = 25

T = TypeVar("T")


@dataclass(frozen=True)
class Selection:
    min_epoch_items: int = 0  # 0: an epoch visits every segment once
    sovits_seconds: tuple[float, float] | None = None  # (shortest, longest), both excluded
    gpt_max_seconds: float | None = None
    phones_per_second: tuple[float, float] | None = None


ORIGINAL = Selection(
    min_epoch_items=100, sovits_seconds=(0.6, 54.0), gpt_max_seconds=54.0, phones_per_second=(3.0, 25.0)
)


def epoch_repeats(count: int, min_items: int) -> int:
    """How many times an epoch visits each of `count` segments: `max(2, min_items // count)` below `min_items`."""
    if count == 0 or count >= min_items:
        return 1
    return max(2, min_items // count)


def sovits_reason(item: SoVITSItem, sel: Selection) -> str | None:
    if sel.sovits_seconds is None:
        return None
    seconds = item.wav.shape[-1] / SAMPLE_RATE
    low, high = sel.sovits_seconds
    if not low < seconds < high:
        return f"{seconds:.1f} s long (SoVITS trains on {low:g}-{high:g} s)"
    return None


def gpt_reason(item: GPTItem, sel: Selection) -> str | None:
    tokens, phones = len(item.semantic), len(item.phone_ids)
    seconds = tokens / SEMANTIC_HZ
    if sel.gpt_max_seconds is not None:
        if seconds > sel.gpt_max_seconds:
            return f"{seconds:.1f} s long (the GPT trains on up to {sel.gpt_max_seconds:g} s)"
        if phones > sel.gpt_max_seconds * SEMANTIC_HZ / 2.5:
            return f"{phones} phones (the GPT trains on up to {sel.gpt_max_seconds * SEMANTIC_HZ / 2.5:g})"
    if sel.phones_per_second is not None and seconds > 0:
        rate = phones / seconds
        low, high = sel.phones_per_second
        if not low <= rate <= high:
            return f"{rate:.1f} phones per second, outside {low:g}-{high:g}: does the transcript match the audio?"
    return None


def select(
    stage: str,
    names: Sequence[str],
    items: Sequence[T],
    reasons: Sequence[str | None],
    sel: Selection,
    warn: bool = True,
) -> list[T]:
    """The items of one stage without those that have a reason to be left out (warned about, by one process of a
    torchrun job), each repeated as the original repeats a small dataset."""
    kept = [item for item, reason in zip(items, reasons, strict=True) if reason is None]
    left_out = [
        f"{name}: {reason}" for name, reason in zip(names, reasons, strict=True) if reason is not None
    ]
    if not kept:
        raise TimbreError(
            f"no segment is usable for {stage} training: {'; '.join(left_out[:3])}"
            + (f" (and {len(left_out) - 3} more)" if len(left_out) > 3 else "")
        )
    if left_out and warn:
        shown = "; ".join(left_out[:5]) + (f"; and {len(left_out) - 5} more" if len(left_out) > 5 else "")
        warnings.warn(
            f"{stage} leaves out {len(left_out)} of {len(items)} segments, as the original does: {shown}",
            stacklevel=2,
        )
    return kept * epoch_repeats(len(kept), sel.min_epoch_items)


def select_sovits(
    names: Sequence[str], items: Sequence[SoVITSItem], sel: Selection, warn: bool = True
) -> list[SoVITSItem]:
    return select("SoVITS", names, items, [sovits_reason(it, sel) for it in items], sel, warn)


def select_gpt(
    names: Sequence[str], items: Sequence[GPTItem], sel: Selection, warn: bool = True
) -> list[GPTItem]:
    return select("GPT", names, items, [gpt_reason(it, sel) for it in items], sel, warn)
