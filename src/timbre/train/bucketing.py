"""Length-bucketed batches by frame budget: deterministic per (seed, epoch), split across ranks, resumable."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class BucketConfig:
    max_frames: int = 20_000  # sum of padded lengths in one batch (batch_size × longest item)
    max_batch: int = 32
    bucket_width: int = 50  # items whose lengths fall in the same window are batched together


def make_batches(lengths: Sequence[int], cfg: BucketConfig, seed: int, epoch: int) -> list[list[int]]:
    """Index batches: items sorted into length buckets, each batch within the frame budget, order shuffled."""
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    order.sort(key=lambda i: lengths[i] // cfg.bucket_width)  # stable: shuffled within a bucket
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        longest_if_added = max(longest, lengths[i])
        if current and (
            len(current) >= cfg.max_batch or longest_if_added * (len(current) + 1) > cfg.max_frames
        ):
            batches.append(current)
            current, longest_if_added = [], lengths[i]
        current.append(i)
        longest = longest_if_added
    if current:
        batches.append(current)
    rng.shuffle(batches)
    return batches


class BucketBatchSampler:
    """A batch sampler for DataLoader. Every rank sees the same batch list and takes every world_size-th batch
    (the list is padded by repetition so all ranks run the same number of steps). `skip` resumes mid-epoch."""

    def __init__(
        self, lengths: Sequence[int], cfg: BucketConfig, seed: int = 1234, rank: int = 0, world_size: int = 1
    ) -> None:
        if not lengths:
            raise ValueError("the dataset is empty: nothing to batch")
        self.lengths = list(lengths)
        self.cfg = cfg
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch = epoch
        self.skip = skip

    def _rank_batches(self) -> list[list[int]]:
        batches = make_batches(self.lengths, self.cfg, self.seed, self.epoch)
        while len(batches) % self.world_size:
            batches.append(batches[len(batches) % max(1, len(batches))])
        return batches[self.rank :: self.world_size]

    def __len__(self) -> int:
        return len(self._rank_batches()) - self.skip

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._rank_batches()[self.skip :]
