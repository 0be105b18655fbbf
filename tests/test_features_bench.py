"""`timbre bench features` runs end to end on a tiny random HuBERT and reports a ratio."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from timbre.cli import app


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_bench_features_json():
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "features",
            "--model",
            "tiny",
            "--clips",
            "4",
            "--callers",
            "2",
            "--threads",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["single"]["callers"] == 1 and report["concurrent"]["callers"] == 2
    assert report["ratio"] > 0 and report["concurrent"]["mean_batch"] >= 1
