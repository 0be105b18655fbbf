"""`timbre bench train-sovits` and `timbre bench train-gpt`: one training step, timed inside the real training loop.

With `--calib ../shared/bench/calib.py` the calibration runs right after the benchmark, in a child process with the
same thread count, and the step time is also given in its units beside the original's figure and timbre's target.
On a shared machine both figures drift from minute to minute, and not together: `--repeat N` alternates the two N times
(a fresh trainer each time) and reports every pair's ratio and their median. `--flops` counts one more, untimed
step's floating-point operations; with `--calib` the SoVITS ratio is then split into the step's work over the
calibration's (fixed by the algorithms, the same on every machine) and its speed per operation relative to the
calibration's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from timbre.cli._app import console
from timbre.cli.bench import bench_app

Threads = Annotated[int, typer.Option(help="torch CPU threads")]
Steps = Annotated[int, typer.Option(help="timed steps (the median is reported)")]
Warmup = Annotated[int, typer.Option(help="untimed steps first")]
Batch = Annotated[int | None, typer.Option(help="batch size (default: the benchmark's)")]
Precision = Annotated[str, typer.Option(help="fp32, bf16 or fp16 (equal-precision comparisons use fp32)")]
Device = Annotated[str, typer.Option(help="cpu, cuda or auto")]
Quick = Annotated[bool, typer.Option("--quick", help="tiny models and one timed step (a smoke test)")]
CpuTime = Annotated[
    bool,
    typer.Option("--cpu-time", help="time with the CPU clock (needs --threads 1): robust on a busy machine"),
]
Calib = Annotated[Path | None, typer.Option(help="path to calib.py: run it after the step and report ratios")]
AsJson = Annotated[bool, typer.Option("--json", help="print one JSON object")]
Flops = Annotated[
    bool,
    typer.Option(
        "--flops",
        help="count one more (untimed) step's floating-point operations and report GFLOP/s; "
        "with --calib, also the calibration's (SoVITS)",
    ),
]
Repeat = Annotated[
    int, typer.Option(help="alternate the timed steps and the calibration N times; report the median ratio")
]


def _run(
    kind: str,
    threads: int,
    steps: int,
    warmup: int,
    batch: int | None,
    precision: str,
    device: str,
    quick: bool,
    cpu_time: bool,
    calib: Path | None,
    as_json: bool,
    repeat: int = 1,
    flops: bool = False,
) -> None:
    import statistics
    from dataclasses import replace

    import torch

    from timbre.eval.train_bench import (
        StepBench,
        arithmetic,
        bench_gpt_step,
        bench_sovits_step,
        calibration_gflop,
        normalized,
        run_calibration,
    )

    if threads < 1:
        raise ValueError("--threads must be at least 1")
    if repeat < 1:
        raise ValueError("--repeat must be at least 1")
    if repeat > 1 and calib is None:
        raise ValueError("--repeat alternates the steps with the calibration: give --calib too")
    torch.set_num_threads(threads)
    bench = StepBench(
        size="tiny" if quick else "full",
        batch=batch,
        warmup=warmup,
        steps=1 if quick else steps,
        precision=precision,
        device=device,
        cpu_time=cpu_time,
        flops=flops,
    )
    runs: list[dict[str, Any]] = []
    for i in range(repeat):  # the operations are the same every run: counted in the first only
        timing = (bench_sovits_step if kind == "sovits" else bench_gpt_step)(
            replace(bench, flops=flops and i == 0)
        )
        run: dict[str, Any] = timing.as_dict()
        if calib is not None:
            run["calib"] = run_calibration(calib, threads, cpu_time=cpu_time)
            run.update(normalized(kind, timing.step_s, run["calib"]))
        runs.append(run)
    figures: dict[str, Any] = {
        **runs[0],
        "size": bench.size,
        "precision": precision,
        "device": device,
        "threads": threads,
        "clock": "cpu" if cpu_time else "wall",
    }
    if repeat > 1:  # the medians over the runs; each run's own figures stay under "runs"
        ratio = statistics.median(r["ratio"] for r in runs)
        for key in ("calib", "times", "min_s", "items_per_s", "gflop_per_s"):
            figures.pop(key, None)
        figures.update(
            runs=runs,
            step_s=statistics.median(r["step_s"] for r in runs),
            ratio=ratio,
            speedup_vs_original=figures["original"] / ratio,
            meets_target=ratio <= figures["target"],
        )
        if flops:
            figures["gflop_per_s"] = figures["gflop"] / figures["step_s"]
    if flops and calib is not None and kind == "sovits":
        figures.update(
            arithmetic(
                figures["gflop"], figures["step_s"], _calib_of(figures, runs), calibration_gflop(calib)
            )
        )
    if as_json:
        print(json.dumps(figures))
        return
    shape = "2 × 4 s, 20480-sample slices, G + D" if kind == "sovits" else "4 × (60 phones + 200 codes)"
    for i, run in enumerate(runs, 1):
        console.print(
            f"{f'[{i}/{repeat}] ' if repeat > 1 else ''}"
            f"{'SoVITS' if kind == 'sovits' else 'GPT'} training step ({bench.size}, {shape}, {precision}, "
            f"{threads} threads): {run['step_s']:.3f} s median of {len(run['times'])} "
            f"({', '.join(f'{t:.3f}' for t in run['times'])})"
        )
        if calib is not None:  # a single run's ratio is the summary line below
            console.print(
                f"calibration {run['calib']}" + (f": {run['ratio']:.2f} {run['unit']}" if repeat > 1 else "")
            )
    if flops:
        console.print(
            f"arithmetic: {figures['gflop']:.1f} GFLOP a step, {figures['gflop_per_s']:.0f} GFLOP/s"
            + (
                f"; the calibration's {figures['calib_gflop']:.1f} GFLOP at {figures['calib_gflop_per_s']:.0f} "
                f"GFLOP/s: {figures['gflop_ratio']:.2f} × its work at {figures['speed_vs_calib']:.2f} × its speed"
                if "gflop_ratio" in figures
                else ""
            )
        )
    if calib is not None and bench.size == "tiny":
        console.print(
            f"{figures['ratio']:.2f} {figures['unit']} (tiny models: not comparable with the original's figure)"
        )
    elif calib is not None:
        console.print(
            f"{'median ' if repeat > 1 else ''}{figures['ratio']:.2f} {figures['unit']} "
            f"(original {figures['original']:g}, target {figures['target']:g}; "
            f"{figures['speedup_vs_original']:.2f}× the original; "
            f"{'meets' if figures['meets_target'] else 'misses'} the target)"
        )


def _calib_of(figures: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, float]:
    """The calibration to split the ratio with: the run's, or with --repeat the one implied by the median ratio."""
    if "calib" in figures:
        return figures["calib"]  # type: ignore[no-any-return]
    return {"hifigan_s": figures["step_s"] / figures["ratio"]}


@bench_app.command("train-sovits")
def bench_train_sovits(
    threads: Threads = 2,
    steps: Steps = 3,
    warmup: Warmup = 1,
    batch: Batch = None,
    precision: Precision = "fp32",
    device: Device = "cpu",
    quick: Quick = False,
    cpu_time: CpuTime = False,
    calib: Calib = None,
    as_json: AsJson = False,
    repeat: Repeat = 1,
    flops: Flops = False,
) -> None:
    """One SoVITS v2 training step (generator + discriminator), batch 2 × 4 s, deterministic weights."""
    _run("sovits", **locals())  # every option, by name


@bench_app.command("train-gpt")
def bench_train_gpt(
    threads: Threads = 2,
    steps: Steps = 3,
    warmup: Warmup = 1,
    batch: Batch = None,
    precision: Precision = "fp32",
    device: Device = "cpu",
    quick: Quick = False,
    cpu_time: CpuTime = False,
    calib: Calib = None,
    as_json: AsJson = False,
    repeat: Repeat = 1,
    flops: Flops = False,
) -> None:
    """One GPT v2 training step, batch 4 padded to 60 phones + 200 semantic codes, deterministic weights."""
    _run("gpt", **locals())  # every option, by name
