"""tools/gpu_check.py is run only where a GPU is lent (rarely): its cheap checks run here, on the CPU, so that it
keeps up with the APIs it calls."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "gpu_check.py"


def test_the_gpu_check_runs_its_cheap_checks_on_the_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = runpy.run_path(str(TOOL), run_name="gpu_check")
    names = [name for name, _ in module["CHECKS"]]
    assert {"mixed_precision", "out_of_memory", "ddp_nccl", "recipe", "sovits_throughput"} <= set(names)
    monkeypatch.setattr(sys, "argv", ["gpu_check.py"])
    code = module["main"]([str(tmp_path), "--quick", "--only", "environment", "out_of_memory", "ddp_nccl"])
    results = json.loads((tmp_path / "gpu_check.json").read_text(encoding="utf-8"))
    assert code == 0 and [r["check"] for r in results] == ["environment", "out_of_memory", "ddp_nccl"]
    assert all(r["ok"] for r in results)
    assert "no CUDA" in results[1]["skipped"] and results[2]["min_over_ranks"] == 5
    code = module["main"]([str(tmp_path), "--quick", "--budget", "-1", "--only", "environment"])
    assert code == 0 and "budget spent" in json.loads((tmp_path / "gpu_check.json").read_text())[0]["skipped"]
