"""`timbre bench train-sovits` / `train-gpt` on tiny models (a smoke test, never a timed assertion), the calibration
child process and the normalization against the original's figures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from timbre.cli._app import run_app
from timbre.eval.train_bench import StepBench, bench_gpt_step, normalized, run_calibration

FAKE_CALIB = """
import json, sys, time
# what the bench's child passes on: threads and runs; the clock it patched in
print("warming up")
print(json.dumps({"gpt_tok_s": 50.0, "hifigan_s": 0.5, "args": sys.argv[1:],
                  "cpu_clock": time.perf_counter is time.process_time}))
"""


def _bench_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    with pytest.raises(SystemExit) as done:
        run_app(["bench", *args, "--quick", "--json"])
    assert done.value.code in (0, None)
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow
def test_bench_train_sovits_quick(capsys: pytest.CaptureFixture[str], one_thread: None) -> None:
    figures = _bench_json(["train-sovits", "--threads", "1"], capsys)
    assert figures["size"] == "tiny" and figures["batch"] == 2 and figures["precision"] == "fp32"
    assert len(figures["times"]) == 1 and figures["step_s"] > 0 and figures["min_s"] == figures["step_s"]
    assert figures["items_per_s"] == pytest.approx(2 / figures["step_s"])


def test_bench_train_gpt_quick_with_calibration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], one_thread: None
) -> None:
    script = tmp_path / "calib.py"
    script.write_text(FAKE_CALIB, encoding="utf-8")
    figures = _bench_json(["train-gpt", "--threads", "1", "--cpu-time", "--calib", str(script)], capsys)
    assert figures["size"] == "tiny" and figures["batch"] == 4 and figures["clock"] == "cpu"
    assert figures["calib"] == {"gpt_tok_s": 50.0, "hifigan_s": 0.5}
    assert figures["ratio"] == pytest.approx(figures["step_s"] * 50.0)
    assert figures["original"] == 194.0 and figures["target"] == 129.0


def test_repeat_alternates_steps_and_calibration_and_reports_the_median(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], one_thread: None
) -> None:
    script = tmp_path / "calib.py"
    script.write_text(FAKE_CALIB, encoding="utf-8")
    figures = _bench_json(["train-gpt", "--threads", "1", "--calib", str(script), "--repeat", "3"], capsys)
    runs = figures["runs"]
    assert len(runs) == 3 and all(r["calib"] == {"gpt_tok_s": 50.0, "hifigan_s": 0.5} for r in runs)
    assert all(r["ratio"] == pytest.approx(r["step_s"] * 50.0) for r in runs)
    assert figures["ratio"] == sorted(r["ratio"] for r in runs)[1]
    assert figures["step_s"] == sorted(r["step_s"] for r in runs)[1]
    assert figures["speedup_vs_original"] == pytest.approx(194.0 / figures["ratio"])
    assert "calib" not in figures and figures["target"] == 129.0


def test_repeat_needs_the_calibration(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        run_app(["bench", "train-gpt", "--quick", "--repeat", "2"])
    assert done.value.code == 2 and "--calib" in capsys.readouterr().err


def test_steps_are_timed_inside_the_trainer(one_thread: None) -> None:
    timing = bench_gpt_step(StepBench(size="tiny", warmup=2, steps=3, batch=2))
    assert len(timing.times) == 3 and timing.batch == 2
    assert timing.step_s == sorted(timing.times)[1] and all(t > 0 for t in timing.times)


def test_calibration_child_process(tmp_path: Path) -> None:
    script = tmp_path / "calib.py"
    script.write_text(FAKE_CALIB, encoding="utf-8")
    assert run_calibration(script, threads=2) == {"gpt_tok_s": 50.0, "hifigan_s": 0.5}
    broken = tmp_path / "broken.py"
    broken.write_text("raise SystemExit('no torch here')\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no torch here"):
        run_calibration(broken, threads=1)
    with pytest.raises(ValueError, match="not found"):
        run_calibration(tmp_path / "missing.py", threads=1)


def test_calibration_clock_and_arguments(tmp_path: Path) -> None:
    import subprocess

    from timbre.eval import train_bench

    script = tmp_path / "calib.py"
    script.write_text(FAKE_CALIB, encoding="utf-8")
    for clock, patched in (("cpu", True), ("wall", False)):
        out = subprocess.run(
            [sys.executable, "-c", train_bench._CALIB_CHILD, str(script), "1", "5", clock],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        figures = json.loads(out.strip().splitlines()[-1])
        assert figures["args"] == ["1", "5"] and figures["cpu_clock"] is patched


def test_normalized_against_the_original() -> None:
    calib = {"gpt_tok_s": 40.0, "hifigan_s": 0.8}
    sovits = normalized("sovits", 2.0, calib)
    assert sovits["ratio"] == pytest.approx(2.5) and sovits["meets_target"] is False
    assert sovits["speedup_vs_original"] == pytest.approx(3.5 / 2.5)
    gpt = normalized("gpt", 3.0, calib)
    assert gpt["ratio"] == pytest.approx(120.0) and gpt["meets_target"] is True


def test_bench_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="size"):
        StepBench(size="huge")
    with pytest.raises(ValueError, match="at least 1"):
        StepBench(steps=0)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(ValueError, match="--threads 1"):
            StepBench(cpu_time=True)
    finally:
        torch.set_num_threads(before)


FAKE_CALIB_WITH_WORK = (
    FAKE_CALIB
    + """
import torch


def hifigan_s():  # a known amount of work: one [4, 8] x [8, 16] matmul = 2 * 4 * 8 * 16 operations
    torch.randn(4, 8) @ torch.randn(8, 16)
    return 0.5
"""
)


def test_flops_count_one_extra_untimed_step(one_thread: None) -> None:
    from timbre.eval.train_bench import bench_sovits_step

    timing = bench_sovits_step(StepBench(size="tiny", warmup=1, steps=2, flops=True))
    assert len(timing.times) == 2 and timing.gflop is not None and timing.gflop > 0
    figures = timing.as_dict()
    assert figures["gflop_per_s"] == pytest.approx(timing.gflop / timing.step_s)
    again = bench_sovits_step(StepBench(size="tiny", warmup=2, steps=1, flops=True))
    assert again.gflop == pytest.approx(timing.gflop)  # the same shapes do the same work every step
    assert "gflop" not in bench_gpt_step(StepBench(size="tiny", warmup=1, steps=1)).as_dict()


def test_calibration_work_is_counted_in_a_child(tmp_path: Path) -> None:
    from timbre.eval.train_bench import calibration_gflop

    script = tmp_path / "calib.py"
    script.write_text(FAKE_CALIB_WITH_WORK, encoding="utf-8")
    assert calibration_gflop(script) == pytest.approx(2 * 4 * 8 * 16 / 1e9)
    script.write_text(FAKE_CALIB, encoding="utf-8")  # no hifigan_s to count
    with pytest.raises(ValueError, match="could not count"):
        calibration_gflop(script)


def test_arithmetic_splits_the_ratio_into_work_and_speed() -> None:
    from timbre.eval.train_bench import arithmetic

    calib = {"gpt_tok_s": 40.0, "hifigan_s": 2.0}
    split = arithmetic(step_gflop=600.0, step_s=5.0, calib=calib, hifigan_gflop=200.0)
    assert split["gflop_ratio"] == pytest.approx(3.0) and split["calib_gflop_per_s"] == pytest.approx(100.0)
    assert split["speed_vs_calib"] == pytest.approx(1.2)
    ratio = normalized("sovits", 5.0, calib)["ratio"]
    assert ratio == pytest.approx(split["gflop_ratio"] / split["speed_vs_calib"])


@pytest.mark.slow
def test_bench_flops_with_calibration_and_repeat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], one_thread: None
) -> None:
    script = tmp_path / "calib.py"
    script.write_text(FAKE_CALIB_WITH_WORK, encoding="utf-8")
    args = ["train-sovits", "--threads", "1", "--flops", "--calib", str(script), "--repeat", "2"]
    figures = _bench_json(args, capsys)
    assert figures["gflop"] > 0 and "gflop" in figures["runs"][0] and "gflop" not in figures["runs"][1]
    assert figures["gflop_per_s"] == pytest.approx(figures["gflop"] / figures["step_s"])
    assert figures["calib_gflop"] == pytest.approx(2 * 4 * 8 * 16 / 1e9)
    assert figures["ratio"] == pytest.approx(figures["gflop_ratio"] / figures["speed_vs_calib"])
