"""Training-step benchmarks, timed inside the real training loops (`train_sovits`, `train_gpt`).

Each benchmark builds full-size v2 models with deterministic weights (or tiny ones for tests), feeds the trainer an
in-memory dataset whose every batch has the benchmark's shape, and timestamps the loop's per-step callback: the time
between two callbacks is one whole optimizer step as a user gets it (batch collation, forward, losses, backward,
clipping, optimizer step(s), metric logging). The first `warmup` steps are left out; the median of the rest is
reported. The run stops from inside the callback, before any epoch-end checkpoint is written.

- SoVITS v2: batch 2 × 4 s utterances (200 frames), the decoder trained on 20480-sample slices, G and D steps.
- GPT v2: batch 4 padded to 60 phones + 200 semantic codes, the padded shape of the reference batch
  (phones 60/55/50/45, codes 200/180/160/150); the step's tensors, and so its cost, are the same.
"""

from __future__ import annotations

import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch.utils.flop_counter import FlopCounterMode

from timbre.audio.spectrogram import linear_spectrogram
from timbre.compat.detweights import load_deterministic
from timbre.models.discriminators import MultiPeriodDiscriminator
from timbre.models.gpt import GPTConfig, Text2SemanticDecoder
from timbre.models.sovits import SoVITSConfig, SynthesizerTrn
from timbre.train import tiny
from timbre.train.data import HOP, GPTItem, SoVITSItem
from timbre.train.loop import RunConfig

SIZES = ("full", "tiny")


class Baseline(NamedTuple):
    original: float  # the original's step time in calibration units (../shared/bench/README.md)
    target: float  # timbre's target in the same units (1.5x the original)
    unit: str


BASELINES = {
    "sovits": Baseline(3.5, 2.3, "step_s / hifigan_s"),
    "gpt": Baseline(194.0, 129.0, "step_s * gpt_tok_s"),
}


@dataclass(frozen=True)
class StepBench:
    size: str = "full"  # full: the v2 models; tiny: narrow models and short items (tests)
    batch: int | None = None  # default: 2 (SoVITS), 4 (GPT)
    warmup: int = 1
    steps: int = 3
    precision: str = "fp32"
    device: str = "cpu"
    seed: int = 0
    # time with the process CPU clock (one thread only): robust on a shared, busy machine
    cpu_time: bool = False
    # count the floating-point operations of one more, untimed step (torch.utils.flop_counter)
    flops: bool = False

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ValueError(f"unknown size {self.size!r}; use one of {', '.join(SIZES)}")
        if self.warmup < 1 or self.steps < 1 or (self.batch is not None and self.batch < 1):
            raise ValueError("--warmup, --steps and --batch must be at least 1")
        if self.cpu_time and (self.device != "cpu" or torch.get_num_threads() != 1):
            raise ValueError("--cpu-time measures one CPU thread: use it with --threads 1 on the CPU")


class StepTiming(NamedTuple):
    step_s: float  # median over the timed steps
    times: list[float]
    batch: int
    # one step's floating-point operations (matmuls and convolutions), when counted
    gflop: float | None = None

    def as_dict(self) -> dict[str, Any]:
        figures = {
            "step_s": self.step_s,
            "min_s": min(self.times),
            "times": self.times,
            "batch": self.batch,
            "items_per_s": self.batch / self.step_s,
        }
        if self.gflop is not None:
            figures |= {"gflop": self.gflop, "gflop_per_s": self.gflop / self.step_s}
        return figures


class _Enough(Exception):
    """Raised from the step callback once every timed step has been seen."""


class _StepClock:
    """The trainer's step callback: marks the end of every step; with `count` the step after the timed ones runs
    under a FLOP counter (so that counting never slows a timed step)."""

    def __init__(self, warmup: int, steps: int, clock: Callable[[], float], count: bool = False) -> None:
        self.warmup, self.steps, self.clock = warmup, steps, clock
        self.marks: list[float] = []
        self.counter = FlopCounterMode(display=False) if count else None
        self.gflop: float | None = None

    def __call__(self, step: int) -> None:
        if len(self.marks) == self.warmup + self.steps:  # the counted step just ended
            assert self.counter is not None
            self.counter.__exit__(None, None, None)
            self.gflop = self.counter.get_total_flops() / 1e9
            self.marks.append(self.clock())
            raise _Enough
        self.marks.append(self.clock())
        if len(self.marks) == self.warmup + self.steps:
            if self.counter is None:
                raise _Enough
            self.counter.__enter__()

    def stop(self) -> None:
        """Leave the counter if the run ended inside the counted step."""
        if self.counter is not None and self.gflop is None and len(self.marks) == self.warmup + self.steps:
            self.counter.__exit__(None, None, None)

    def timing(self, batch: int) -> StepTiming:
        marks = self.marks[self.warmup - 1 : self.warmup + self.steps]
        times = [b - a for a, b in zip(marks[:-1], marks[1:], strict=True)]
        return StepTiming(statistics.median(times), times, batch, self.gflop)


def _run_config(
    out_dir: Path, bench: StepBench, batch: int, max_len: int, on_step: Callable[[int], None]
) -> RunConfig:
    return RunConfig(
        out_dir=out_dir,
        epochs=1,
        max_frames=batch * max_len,
        max_batch=batch,
        precision=bench.precision,
        device=bench.device,
        seed=bench.seed,
        progress=False,
        on_step=on_step,
    )


def _timed(train: Callable[[RunConfig], Any], bench: StepBench, batch: int, max_len: int) -> StepTiming:
    clock = _StepClock(
        bench.warmup, bench.steps, time.process_time if bench.cpu_time else time.perf_counter, bench.flops
    )
    # The run is cut short, so the trainer's TensorBoard writer is never closed and its background thread may still
    # touch the folder while it is removed: collect it first, and do not fail on what it leaves behind.
    with tempfile.TemporaryDirectory(prefix="timbre-bench-", ignore_cleanup_errors=True) as tmp:
        try:
            train(_run_config(Path(tmp), bench, batch, max_len, clock))
        except _Enough:
            pass
        finally:
            clock.stop()
        gc.collect()
    if len(clock.marks) < _step_count(bench):
        raise RuntimeError("the training loop ended before every timed (and counted) step ran")
    return clock.timing(batch)


def _step_count(bench: StepBench) -> int:
    """Steps the benchmark's one epoch must hold: warm-up, timed, and the counted one."""
    return bench.warmup + bench.steps + bench.flops


# ---- SoVITS ---------------------------------------------------------------------------------------------------------
def sovits_items(cfg: SoVITSConfig, count: int, frames: int, phones: int, seed: int) -> list[SoVITSItem]:
    """`count` utterances of `frames` 50 Hz frames: noise audio, its spectrogram, random HuBERT features and phones."""
    g = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(count):
        wav = 0.1 * torch.randn(frames * HOP, generator=g)  # [T * 640]
        spec = linear_spectrogram(wav)[0, :, :frames]  # [1025, T]
        ssl = torch.randn(768, frames, generator=g)  # [768, T]
        ids = torch.randint(1, cfg.n_symbols, (phones,), generator=g)  # [N]
        items.append(SoVITSItem(ssl, spec, wav, ids))
    return items


# (frames, phones) of a benchmark utterance: 4 s of speech is 200 spectrogram frames and ~12 phones/s
SOVITS_SHAPE = {"full": (200, 48), "tiny": (16, 8)}


def sovits_models(size: str, seed: int) -> tuple[SynthesizerTrn, torch.nn.Module, SoVITSConfig]:
    """The benchmark's generator, discriminator and config: v2 (full) or tiny, with deterministic weights."""
    full = size == "full"
    cfg = SoVITSConfig.for_version("v2") if full else tiny.tiny_sovits_config()
    disc: torch.nn.Module = (
        load_deterministic(MultiPeriodDiscriminator("v2"), seed + 1)
        if full
        else tiny.tiny_discriminator(seed + 1)
    )
    return load_deterministic(SynthesizerTrn(cfg), seed), disc, cfg  # type: ignore[return-value]


def bench_sovits_step(bench: StepBench) -> StepTiming:
    """One SoVITS v2 training step (generator + multi-period discriminator)."""
    from timbre.train.sovits_trainer import train_sovits

    model, disc, cfg = sovits_models(bench.size, bench.seed)
    frames, phones = SOVITS_SHAPE[bench.size]
    batch = bench.batch or 2
    items = sovits_items(cfg, batch * _step_count(bench), frames, phones, bench.seed)
    return _timed(
        lambda run: train_sovits(model, disc, items, run),  # type: ignore[arg-type]
        bench,
        batch,
        frames,
    )


# ---- GPT ------------------------------------------------------------------------------------------------------------
def gpt_items(cfg: GPTConfig, count: int, phones: int, codes: int, seed: int) -> list[GPTItem]:
    g = torch.Generator().manual_seed(seed)
    return [
        GPTItem(
            torch.randint(1, cfg.phoneme_vocab_size, (phones,), generator=g),  # [N]
            torch.randn(cfg.bert_dim, phones, generator=g),  # [1024, N]
            torch.randint(0, cfg.eos, (codes,), generator=g),  # [T25]
        )
        for _ in range(count)
    ]


# (phones, semantic codes) of a benchmark item
GPT_SHAPE = {"full": (60, 200), "tiny": (12, 30)}


def gpt_model(size: str, seed: int) -> tuple[Text2SemanticDecoder, GPTConfig]:
    """The benchmark's GPT and config: v2 (full) or tiny, with deterministic weights."""
    cfg = GPTConfig.v2() if size == "full" else tiny.TINY_GPT
    return load_deterministic(Text2SemanticDecoder(cfg), seed, zero_eos_row=True), cfg  # type: ignore[return-value]


def bench_gpt_step(bench: StepBench) -> StepTiming:
    """One GPT v2 training step (teacher-forced cross-entropy, AdamW)."""
    from timbre.train.gpt_trainer import train_gpt

    model, cfg = gpt_model(bench.size, bench.seed)
    phones, codes = GPT_SHAPE[bench.size]
    batch = bench.batch or 4
    items = gpt_items(cfg, batch * _step_count(bench), phones, codes, bench.seed)
    return _timed(lambda run: train_gpt(model, items, run), bench, batch, phones + codes)  # type: ignore[arg-type]


# ---- calibration ----------------------------------------------------------------------------------------------------
_CALIB_CHILD = """
import runpy, sys, time
script, threads, runs, clock = sys.argv[1:5]
if clock == "cpu":
    time.perf_counter = time.process_time  # the script's timings become CPU seconds of this (1-thread) process
sys.argv = [script, threads, runs]
runpy.run_path(script, run_name="__main__")
"""


def _calib_child(script: Path, program: str, args: list[str], failure: str) -> dict[str, Any]:
    """Run `program` with the calibration script's path and `args` in a child process of this interpreter; its last
    stdout line, as JSON."""
    script = script.expanduser().resolve()
    if not script.is_file():
        raise ValueError(f"{script}: calibration script not found (it is ../shared/bench/calib.py)")
    done = subprocess.run(  # noqa: S603  (this interpreter, a fixed program, the script path as an argument)
        [sys.executable, "-c", program, str(script), *args], capture_output=True, text=True, check=False
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise ValueError(f"{failure.format(script=script)}: {done.stderr.strip()[-500:]}")
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def run_calibration(script: Path, threads: int, runs: int = 3, cpu_time: bool = False) -> dict[str, float]:
    """Run ../shared/bench/calib.py in a child process (same interpreter, same thread count, same clock)."""
    args = [str(threads), str(runs), "cpu" if cpu_time else "wall"]
    figures = _calib_child(script, _CALIB_CHILD, args, "{script} failed")
    return {"gpt_tok_s": float(figures["gpt_tok_s"]), "hifigan_s": float(figures["hifigan_s"])}


_CALIB_FLOPS_CHILD = """
import json, runpy, sys
from torch.utils.flop_counter import FlopCounterMode
namespace = runpy.run_path(sys.argv[1], run_name="timbre_calib_flops")
with FlopCounterMode(display=False) as counter:
    namespace["hifigan_s"]()
print(json.dumps({"hifigan_gflop": counter.get_total_flops() / 1e9}))
"""


def calibration_gflop(script: Path) -> float:
    """The floating-point operations of calib.py's `hifigan_s` workload (its convolutions), counted in a child
    process: the step's count over this one is the ratio the step would have at the calibration's speed."""
    figures = _calib_child(script, _CALIB_FLOPS_CHILD, [], "could not count {script}'s hifigan_s operations")
    return float(figures["hifigan_gflop"])


def arithmetic(
    step_gflop: float, step_s: float, calib: dict[str, float], hifigan_gflop: float
) -> dict[str, float]:
    """The SoVITS ratio split into work and speed: step_s / hifigan_s = (step GFLOP / calibration GFLOP) /
    (step GFLOP/s / calibration GFLOP/s). The first factor is fixed by the step's algorithms, not by the machine."""
    step_rate, calib_rate = step_gflop / step_s, hifigan_gflop / calib["hifigan_s"]
    return {
        "calib_gflop": hifigan_gflop,
        "calib_gflop_per_s": calib_rate,
        "gflop_ratio": step_gflop / hifigan_gflop,
        "speed_vs_calib": step_rate / calib_rate,
    }


def normalized(kind: str, step_s: float, calib: dict[str, float]) -> dict[str, float | str | bool]:
    """The step time in calibration units, beside the original's figure and timbre's target."""
    base = BASELINES[kind]
    ratio = step_s / calib["hifigan_s"] if kind == "sovits" else step_s * calib["gpt_tok_s"]
    return {
        "ratio": ratio,
        "unit": base.unit,
        "original": base.original,
        "target": base.target,
        "speedup_vs_original": base.original / ratio,
        "meets_target": ratio <= base.target,
    }
