"""Distributed set-up read from torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE): NCCL on GPU, gloo on CPU."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

from timbre.errors import TimbreError

T = TypeVar("T")


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environ(cls) -> DistEnv:
        try:
            return cls(
                rank=int(os.environ.get("RANK", 0)),
                local_rank=int(os.environ.get("LOCAL_RANK", 0)),
                world_size=int(os.environ.get("WORLD_SIZE", 1)),
            )
        except ValueError as exc:
            raise ValueError(
                f"RANK/LOCAL_RANK/WORLD_SIZE must be integers (as torchrun sets them): {exc}"
            ) from None

    def device(self, prefer_cuda: bool = True) -> torch.device:
        if prefer_cuda and torch.cuda.is_available():
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")


# How long teardown lets the gloo worker threads finish (see `_quiesce`).
QUIESCE_S = 0.05


@contextmanager
def distributed(env: DistEnv, device: torch.device) -> Iterator[DistEnv]:
    """Initialise the process group for the run (no-op for a single process) and always tear it down.

    Re-entrant: inside an outer `distributed` block (the whole `timbre train` recipe) it reuses that group.
    """
    if not env.is_distributed or (dist.is_available() and dist.is_initialized()):
        yield env
        return
    # NCCL reduces CUDA tensors only; gloo takes the CPU ones (logged metrics, flags) on a GPU run as well
    backend = "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, rank=env.rank, world_size=env.world_size)
    finished = False
    try:
        yield env
        finished = True
    finally:
        _quiesce(synchronize=finished)  # after a failure another rank may never arrive at a barrier
        dist.destroy_process_group()


def _quiesce(synchronize: bool) -> None:
    """Let the process group's worker threads go idle before anything can destroy it.

    gloo's worker threads destroy each finished collective themselves, and dropping a tensor that Python created
    needs the GIL. If the group is destroyed (its destructor joins those threads) while the main thread holds the
    GIL, for instance when the last DDP wrapper is garbage-collected, a thread still finishing the last collective
    waits for the GIL forever: a rank that reached the end first (no checkpoint or plot to write) hung this way in
    about one run of ten. A barrier makes sure every collective of the run has completed; the pause, which releases
    the GIL, lets the threads finish disposing of them.
    """
    if synchronize:
        dist.barrier()
    time.sleep(QUIESCE_S)


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean over all ranks (identity when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        value = value.detach().clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= dist.get_world_size()
    return value


def _reduce_int(
    value: int, op: dist.ReduceOp.RedOpType, device: torch.device, group: dist.ProcessGroup | None = None
) -> int:
    """`value` reduced over every rank by `op` (the value itself when not distributed); also a barrier."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    tensor = torch.tensor([value], device=device)  # on the run's device: NCCL reduces CUDA tensors only
    dist.all_reduce(tensor, op=op, group=group)
    return int(tensor.item())


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when `flag` is true on any (the flag itself when not distributed)."""
    return bool(_reduce_int(int(flag), dist.ReduceOp.MAX, device))


def gather(value: torch.Tensor) -> torch.Tensor:
    """Every rank's `value` (same shape and dtype on all), stacked in rank order: [world_size, ...]."""
    if not (dist.is_available() and dist.is_initialized()):
        return value.unsqueeze(0)
    parts = [torch.empty_like(value) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, value.contiguous())
    return torch.stack(parts)


def min_over_ranks(value: int, device: torch.device) -> int:
    """The smallest of every rank's `value` (the value itself when not distributed)."""
    return _reduce_int(value, dist.ReduceOp.MIN, device)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


# How long the other ranks wait for rank 0 to prepare the dataset (`main_rank_first`).
PREPARE_TIMEOUT = timedelta(hours=12)


def main_rank_first(env: DistEnv, device: torch.device, work: Callable[[], T]) -> T:
    """Run `work` on rank 0 first, then on the other ranks (which find its files written and up to date).

    Used for feature extraction under torchrun: one rank computes and writes, the rest only read. If rank 0 fails,
    every other rank raises instead of waiting forever.
    """
    if not (env.is_distributed and dist.is_available() and dist.is_initialized()):
        return work()
    result: T | None = None
    failure: BaseException | None = None
    if env.is_main:
        try:
            result = work()
        except BaseException as exc:  # noqa: BLE001  (re-raised below, after telling the other ranks)
            failure = exc
    # also the barrier: rank 0 is done when this returns. The other ranks may wait here for as long as extraction
    # takes (a large dataset, or another job's extraction of it): longer than NCCL's 10 minutes (after which its
    # watchdog ends the process) or gloo's 30. So they wait in a gloo group of their own with a long timeout.
    waiting = dist.new_group(backend="gloo", timeout=PREPARE_TIMEOUT)
    failed = bool(_reduce_int(int(failure is not None), dist.ReduceOp.MAX, torch.device("cpu"), waiting))
    if failure is not None:
        raise failure
    if failed:
        raise TimbreError("rank 0 failed while preparing the dataset; see its error above")
    return work() if not env.is_main else result  # type: ignore[return-value]
