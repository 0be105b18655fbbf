"""A concurrent batch engine: many callers submit single items, one worker thread runs them in padded batches.

Callers (threads, asyncio tasks, a training loop) call `submit(item) -> Future` or `await asubmit(item)`. The worker
takes the oldest pending request, waits up to `max_wait_s` for company, then fills a batch with the pending requests
closest in length until the padded cost `longest * count` would pass `max_batch_tokens` (length-bucketed batching).
It calls the runner once per batch and hands every caller its own result. When a batch fails, its items are rerun one
by one so that an exception reaches only the caller whose item caused it. The queue is bounded (back-pressure):
`submit` blocks while `max_queue` requests are waiting.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class EngineClosedError(RuntimeError):
    """The engine was closed before (or while) the request could be queued."""


@dataclass(frozen=True)
class BatchConfig:
    max_batch_tokens: int = 16000 * 60  # padded cost budget per batch, in the runner's length unit
    max_batch_size: int = 32
    max_wait_s: float = 0.005  # how long the first request of a batch waits for others
    max_queue: int = 256  # pending requests before `submit` blocks

    def __post_init__(self) -> None:
        if self.max_batch_tokens < 1 or self.max_batch_size < 1 or self.max_queue < 1 or self.max_wait_s < 0:
            raise ValueError(f"invalid batch engine settings: {self}")


@dataclass
class EngineStats:
    batches: int = 0
    items: int = 0
    padded_tokens: int = 0
    real_tokens: int = 0

    @property
    def mean_batch_size(self) -> float:
        return self.items / self.batches if self.batches else 0.0

    @property
    def padding_fraction(self) -> float:
        return 1.0 - self.real_tokens / self.padded_tokens if self.padded_tokens else 0.0


@dataclass
class _Request(Generic[Item, Result]):
    item: Item
    size: int
    future: Future[Result]
    arrived: float


_STOP = object()


class BatchEngine(Generic[Item, Result]):
    """Runs `runner(items) -> results` (same order, same length) on batches gathered from concurrent callers.

    `size_of(item)` is the item's length in the budget unit (samples, tokens); `validate(item)` runs in the caller's
    thread at submit time, so malformed input fails fast in the right place. Use as a context manager, or call
    `close()`; pending requests are still served before the worker exits.
    """

    def __init__(
        self,
        runner: Callable[[Sequence[Item]], Sequence[Result]],
        size_of: Callable[[Item], int],
        config: BatchConfig | None = None,
        validate: Callable[[Item], None] | None = None,
        name: str = "batch-engine",
    ) -> None:
        self.runner = runner
        self.size_of = size_of
        self.config = config or BatchConfig()
        self.validate = validate
        self.stats = EngineStats()
        self._queue: queue.Queue[object] = queue.Queue(maxsize=self.config.max_queue)
        self._closed = threading.Event()
        self._submit_lock = threading.Lock()
        self._worker = threading.Thread(target=self._serve, name=name, daemon=True)
        self._worker.start()

    # ---- caller side -------------------------------------------------------------------------------------------
    def submit(self, item: Item, timeout: float | None = None) -> Future[Result]:
        """Queue one item; blocks while the queue is full (raises `queue.Full` after `timeout` seconds)."""
        request = self._make_request(item)
        self._enqueue(request, timeout)
        return request.future

    async def asubmit(self, item: Item) -> Result:
        """Awaitable submit: never blocks the event loop, also while the queue is full."""
        request = self._make_request(item)
        try:
            self._enqueue(request, block=False)
        except queue.Full:
            await asyncio.get_running_loop().run_in_executor(None, self._enqueue, request)
        return await asyncio.wrap_future(request.future)

    def map(self, items: Sequence[Item]) -> list[Result]:
        """Submit many items and wait for all results, in order (the first exception is raised)."""
        futures = [self.submit(item) for item in items]
        return [future.result() for future in futures]

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting requests, serve what is queued, and join the worker."""
        with self._submit_lock:
            if not self._closed.is_set():
                self._closed.set()
                self._queue.put(_STOP)
        self._worker.join(timeout)

    def __enter__(self) -> BatchEngine[Item, Result]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _make_request(self, item: Item) -> _Request[Item, Result]:
        if self.validate is not None:
            self.validate(item)
        return _Request(item, int(self.size_of(item)), Future(), time.monotonic())

    def _enqueue(
        self, request: _Request[Item, Result], timeout: float | None = None, block: bool = True
    ) -> None:
        # The lock keeps `close()` from putting the stop marker between the check and the put.
        with self._submit_lock:
            if self._closed.is_set():
                raise EngineClosedError("the batch engine is closed; create a new one")
            self._queue.put(request, block=block, timeout=timeout)

    # ---- worker side -------------------------------------------------------------------------------------------
    def _serve(self) -> None:
        pending: list[_Request[Item, Result]] = []
        stopping = False
        while pending or not stopping:
            if not pending:
                first = self._queue.get()
                if first is _STOP:
                    stopping = True
                    continue
                pending.append(first)  # type: ignore[arg-type]
            stopping = self._gather(pending, stopping)
            batch = self._pick_batch(pending)
            self._run(batch)

    def _gather(self, pending: list[_Request[Item, Result]], stopping: bool) -> bool:
        """Move queued requests into `pending`: wait (until the oldest has waited `max_wait_s`) for a full batch,
        then take whatever else is already queued, so that the batch can be picked by length."""
        deadline = pending[0].arrived + self.config.max_wait_s
        while not stopping and len(pending) < self.config.max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                got = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if got is _STOP:
                stopping = True
            else:
                pending.append(got)  # type: ignore[arg-type]
        while stopping or len(pending) < 4 * self.config.max_batch_size:
            try:
                got = self._queue.get_nowait()
            except queue.Empty:
                break
            if got is _STOP:
                stopping = True
            else:
                pending.append(got)  # type: ignore[arg-type]
        return stopping

    def _pick_batch(self, pending: list[_Request[Item, Result]]) -> list[_Request[Item, Result]]:
        """The oldest request plus the pending ones closest in size, within the padded-token budget."""
        anchor = pending[0]
        others = sorted(pending[1:], key=lambda r: abs(r.size - anchor.size))
        batch = [anchor]
        longest = anchor.size
        for request in others:
            if len(batch) >= self.config.max_batch_size:
                break
            new_longest = max(longest, request.size)
            if new_longest * (len(batch) + 1) > self.config.max_batch_tokens:
                continue
            batch.append(request)
            longest = new_longest
        chosen = {id(r) for r in batch}
        pending[:] = [r for r in pending if id(r) not in chosen]
        return batch

    def _run(self, batch: list[_Request[Item, Result]]) -> None:
        live = [r for r in batch if r.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            results = self.runner([r.item for r in live])
            if len(results) != len(live):
                raise RuntimeError(f"batch runner returned {len(results)} results for {len(live)} items")
        except BaseException as exc:  # noqa: BLE001 - every failure must reach a caller
            if len(live) == 1:
                live[0].future.set_exception(exc)
                return
            for request in live:  # isolate the culprit: rerun alone
                self._run_single(request)
            return
        self._record(live)
        for request, result in zip(live, results, strict=True):
            request.future.set_result(result)

    def _run_single(self, request: _Request[Item, Result]) -> None:
        try:
            (result,) = self.runner([request.item])
        except BaseException as exc:  # noqa: BLE001
            request.future.set_exception(exc)
            return
        self._record([request])
        request.future.set_result(result)

    def _record(self, batch: list[_Request[Item, Result]]) -> None:
        self.stats.batches += 1
        self.stats.items += len(batch)
        self.stats.real_tokens += sum(r.size for r in batch)
        self.stats.padded_tokens += max(r.size for r in batch) * len(batch)
