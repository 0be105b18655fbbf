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

# Allocates and frees a 64 MiB tensor twice and reports the page faults of the second round.
_PROBE = """
import json, resource, sys, torch
from timbre.train.host import keep_freed_memory
applied = keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(2):
    before = faults()
    x = torch.ones(16 * 1024 * 1024)  # 64 MiB, every page written
    del x
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
    pages = 64 * 1024 * 1024 // os.sysconf("SC_PAGE_SIZE")
    assert int(default["faults"]) > pages // 2  # glibc's default maps the block afresh each time
    assert int(kept["faults"]) < pages // 20  # kept in the heap: already mapped


def test_opt_out_and_idempotence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host, "_applied", None)
    monkeypatch.setenv("TIMBRE_KEEP_FREED_MEMORY", "0")
    assert host.keep_freed_memory() is False
    monkeypatch.delenv("TIMBRE_KEEP_FREED_MEMORY")
    assert host.keep_freed_memory() is False  # decided once per process
