"""Shared test set-up: offline, quiet, deterministic, and light on the 2 CPU cores."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))

# A shell starts a background job with SIGINT ignored, and Python keeps it ignored: the Ctrl-C tests would see no
# signal. Give the suite a terminal's Ctrl-C however it was started.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

FIXTURES = Path(__file__).parent / "fixtures"
COMPAT = FIXTURES / "compat"


@pytest.fixture(scope="session")
def compat_dir() -> Path:
    """The public reference data (a copy of the original's compatibility vectors), shipped with the tests."""
    return COMPAT


@pytest.fixture()
def one_thread() -> Iterator[None]:
    """One intra-op thread: on the shared 2-core machine a second thread mostly waits for a descheduled peer."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
