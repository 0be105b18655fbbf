"""Out-of-memory back-off: retry a step as micro-batches, remember the split, probe the largest batch that fits.

When a step runs out of accelerator memory, the same batch is retried split into 2, 4, 8 … micro-batches whose gradients
accumulate, so the effective batch (and the result, up to float rounding) stays the same. The split that worked is
remembered for the rest of the run. On CPU the path is exercised by tests that raise `torch.OutOfMemoryError`.
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from timbre.errors import TimbreError


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def batch_len(batch: Any) -> int:
    """Number of samples in a batch (the leading dimension of its first tensor or list)."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, Mapping):
        return batch_len(next(iter(batch.values())))
    if isinstance(batch, Sequence) and not isinstance(batch, str) and batch:
        first = batch[0]
        return batch_len(first) if isinstance(first, torch.Tensor | Mapping | tuple) else len(batch)
    raise ValueError(f"cannot tell the batch size of {type(batch).__name__}")


def _take(batch: Any, start: int, stop: int) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch[start:stop]
    if isinstance(batch, Mapping):
        return {k: _take(v, start, stop) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # NamedTuple
        return type(batch)(*(_take(v, start, stop) for v in batch))
    if isinstance(batch, tuple):
        return tuple(_take(v, start, stop) for v in batch)
    if isinstance(batch, list):
        return batch[start:stop]
    return batch  # scalars and metadata are shared by every micro-batch


def split_batch(batch: Any, parts: int) -> list[Any]:
    """Split along the sample axis into at most `parts` nearly equal, non-empty micro-batches."""
    n = batch_len(batch)
    parts = max(1, min(parts, n))
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return [_take(batch, a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


@dataclass
class OomBackoff:
    """Runs `step(micro_batch, weight)` over micro-batches; on OOM doubles the split and retries the whole batch.

    `weight` is the micro-batch's share of the batch (scale its loss by it so gradients match the full batch).
    `reset` is called before a retry (zero the gradients the failed attempt accumulated).
    """

    splits: int = 1
    max_splits: int = 64
    # under torchrun a retry would run collectives (DDP's buffer broadcast and gradient reduction) that the other
    # ranks do not: they would wait forever. There an OOM is reported instead.
    distributed: bool = False

    def run(self, batch: Any, step: Callable[[Any, float], Any], reset: Callable[[], None]) -> list[Any]:
        """Call `step` on each micro-batch in turn; returns their results."""
        return self.run_parts([batch], lambda parts: [step(mb, w) for mb, w in parts], reset)

    def run_parts(
        self,
        batches: Sequence[Any],
        work: Callable[[list[tuple[Any, float]]], Any],
        reset: Callable[[], None],
    ) -> Any:
        """Call `work` once with every micro-batch of `batches` and its weight (share of all their samples).

        For loops that need all micro-batches at once (a GAN step updates D between two passes over them).
        """
        total = sum(batch_len(b) for b in batches)
        smallest = min(batch_len(b) for b in batches)
        while True:
            try:
                parts = [mb for b in batches for mb in split_batch(b, self.splits)]
                return work([(mb, batch_len(mb) / total) for mb in parts])
            except Exception as exc:
                if not is_oom(exc):
                    raise
                if self.distributed:
                    raise TimbreError(
                        f"out of memory at a batch of {total}: under torchrun a step is not retried in smaller "
                        "parts; pass a smaller --batch-size (and --accum to keep the effective batch)"
                    ) from exc
                if self.splits >= min(self.max_splits, smallest):
                    raise TimbreError(
                        f"out of memory even with the batch of {total} split into {self.splits} part(s): free the "
                        "device's memory, or use --precision bf16 (fp16 on a GPU without bf16)"
                    ) from exc
            # only now, with the exception (whose traceback holds the failed attempt's activations) gone, can the
            # memory be returned
            reset()
            _free_memory()
            self.splits *= 2
            warnings.warn(
                f"out of memory at a batch of {total}: retrying it as {self.splits} micro-batches from now on",
                RuntimeWarning,
                stacklevel=2,
            )


def probe_batch_size(try_batch: Callable[[int], None], start: int = 1, limit: int = 256) -> int:
    """Largest batch size in start·2^k (≤ limit) for which `try_batch(size)` does not run out of memory."""
    best = 0
    size = start
    while size <= limit:
        try:
            try_batch(size)
        except Exception as exc:
            if not is_oom(exc):
                raise
            break
        best = size
        size *= 2
    _free_memory()  # after the except block: the failed probe's tensors went with its traceback
    if best == 0:
        raise ValueError(
            f"even a batch of {start} does not fit in memory; lower the segment length or model size"
        )
    return best


def _free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
