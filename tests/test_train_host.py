"""The training process keeps freed memory mapped (glibc mallopt), so a step's reallocations cost no page faults."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from typing import Any

import pytest

from timbre.train import host

glibc = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="mallopt tuning is glibc-only"
)

# Ten "steps" that each make four 40 MiB tensors and free them (above glibc's largest dynamic mmap threshold, 32 MiB,
# as many of a SoVITS step's tensors are), after ten steps of warm-up; prints the page faults of the measured steps.
_PROBE = """
import json, resource, torch
from timbre.train.host import keep_freed_memory
applied = keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def step():
    made = [torch.ones(10 * 1024 * 1024) for _ in range(4)]
    return sum(float(t[0]) for t in made)
for _ in range(10):
    step()
before = faults()
for _ in range(10):
    step()
print(json.dumps({"applied": applied, "faults": faults() - before}))
"""


def _probe(keep: str) -> dict[str, Any]:
    env = {**os.environ, "TIMBRE_KEEP_FREED_MEMORY": keep}
    done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)  # noqa: S603
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@glibc
def test_reallocation_is_free_of_page_faults_when_kept() -> None:
    kept, default = _probe("1"), _probe("0")
    assert kept["applied"] is True and default["applied"] is False
    pages = 10 * 4 * 40 * 1024 * 1024 // os.sysconf("SC_PAGE_SIZE")  # every page of every step's tensors
    assert default["faults"] > pages // 2  # glibc's default maps each block afresh and unmaps it on free
    assert kept["faults"] < pages // 100  # kept in the heap: already mapped


def test_opt_out_and_idempotence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "_applied", None)
    monkeypatch.setenv("TIMBRE_KEEP_FREED_MEMORY", "0")
    assert host.keep_freed_memory() is False
    monkeypatch.delenv("TIMBRE_KEEP_FREED_MEMORY")
    assert host.keep_freed_memory() is False  # decided once per process
