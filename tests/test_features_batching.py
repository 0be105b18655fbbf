"""The concurrent batch engine: batching, per-caller results and errors, back-pressure, shutdown, asyncio."""

from __future__ import annotations

import asyncio
import queue
import threading
import time

import pytest

from timbre.features.batching import BatchConfig, BatchEngine, EngineClosedError


class Recorder:
    """A runner that doubles numbers, records its batches, and fails on negative items."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, items):
        self.gate.wait()
        self.batches.append(list(items))
        if self.delay:
            time.sleep(self.delay)
        if any(i < 0 for i in items):
            raise KeyError(f"negative in {items}")
        return [2 * i for i in items]


def engine_for(runner, **config) -> BatchEngine[int, int]:
    return BatchEngine(runner, size_of=lambda i: abs(i) + 1, config=BatchConfig(**config))


def test_many_threads_get_their_own_results_in_batches():
    runner = Recorder(delay=0.005)
    with engine_for(runner, max_batch_size=8, max_wait_s=0.01, max_batch_tokens=10_000) as engine:
        results: dict[int, int] = {}

        def caller(base: int) -> None:
            for k in range(5):
                results[base + k] = engine.submit(base + k).result(timeout=10)

        threads = [threading.Thread(target=caller, args=(100 * t,)) for t in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == {100 * t + k: 2 * (100 * t + k) for t in range(6) for k in range(5)}
    assert engine.stats.items == 30
    assert max(len(b) for b in runner.batches) > 1  # concurrent callers were batched
    assert engine.stats.mean_batch_size > 1


def test_budget_and_length_buckets():
    runner = Recorder()
    runner.gate.clear()  # hold the worker so that everything is pending at once
    with engine_for(runner, max_batch_size=4, max_wait_s=0.0, max_batch_tokens=100) as engine:
        first = engine.submit(1)  # the worker takes this one and waits at the gate
        time.sleep(0.05)
        sizes = [2, 90, 3, 91, 4, 5, 89]
        futures = [engine.submit(s) for s in sizes]
        runner.gate.set()
        assert [f.result(timeout=10) for f in futures] == [2 * s for s in sizes]
        assert first.result(timeout=10) == 2
    for batch in runner.batches:
        assert max(abs(i) + 1 for i in batch) * len(batch) <= 100 or len(batch) == 1
        assert len(batch) <= 4
    # long and short items are not mixed: the padded cost would pass the budget
    assert all(max(b) < 50 or min(b) > 50 for b in runner.batches)


def test_exception_reaches_only_the_failing_caller():
    runner = Recorder()
    runner.gate.clear()
    with engine_for(runner, max_batch_size=8, max_wait_s=0.0) as engine:
        engine.submit(0)
        time.sleep(0.05)
        good = [engine.submit(i) for i in (1, 2, 3)]
        bad = engine.submit(-1)
        runner.gate.set()
        assert [f.result(timeout=10) for f in good] == [2, 4, 6]
        with pytest.raises(KeyError, match="negative"):
            bad.result(timeout=10)


def test_validation_fails_in_the_caller_and_closed_engine_refuses():
    def validate(item: int) -> None:
        if item > 1000:
            raise ValueError("too big")

    engine = BatchEngine(Recorder(), size_of=lambda i: 1, validate=validate)
    with pytest.raises(ValueError, match="too big"):
        engine.submit(5000)
    assert engine.submit(3).result(timeout=10) == 6
    engine.close()
    with pytest.raises(EngineClosedError):
        engine.submit(1)


def test_close_serves_queued_requests():
    runner = Recorder(delay=0.01)
    engine = engine_for(runner, max_batch_size=2, max_wait_s=0.0)
    futures = [engine.submit(i) for i in range(10)]
    engine.close()
    assert [f.result(timeout=0) for f in futures] == [2 * i for i in range(10)]


def test_back_pressure_bounded_queue():
    runner = Recorder()
    runner.gate.clear()
    engine = engine_for(runner, max_batch_size=1, max_wait_s=0.0, max_queue=2)
    engine.submit(1)
    time.sleep(0.05)  # the worker holds item 1 at the gate
    engine.submit(2)
    engine.submit(3)
    with pytest.raises(queue.Full):
        engine.submit(4, timeout=0.05)
    runner.gate.set()
    assert engine.submit(5, timeout=5).result(timeout=10) == 10
    engine.close()


def test_cancelled_request_is_skipped():
    runner = Recorder()
    runner.gate.clear()
    with engine_for(runner, max_batch_size=1, max_wait_s=0.0) as engine:
        engine.submit(1)
        time.sleep(0.05)
        doomed = engine.submit(7)
        assert doomed.cancel()
        runner.gate.set()
        assert engine.submit(2).result(timeout=10) == 4
    assert [7] not in runner.batches


def test_asyncio_callers_are_batched():
    runner = Recorder(delay=0.005)

    async def main(engine: BatchEngine[int, int]) -> list[int]:
        return list(await asyncio.gather(*(engine.asubmit(i) for i in range(20))))

    with engine_for(runner, max_batch_size=8, max_wait_s=0.01, max_queue=4) as engine:
        assert asyncio.run(main(engine)) == [2 * i for i in range(20)]
    assert max(len(b) for b in runner.batches) > 1


def test_map_and_wrong_result_count():
    with engine_for(Recorder()) as engine:
        assert engine.map([1, 2, 3]) == [2, 4, 6]
    with BatchEngine(lambda items: [], size_of=lambda i: 1) as broken:
        with pytest.raises(RuntimeError, match="0 results"):
            broken.submit(1).result(timeout=10)
