"""CUDA checks and GPU figures for `timbre train`, prepared for a session that is lent a GPU machine.

The CPU machines timbre is built on have no GPU, so these paths are otherwise tested only through their CPU stand-ins:
TF32, fp16 autocast with its grad scaler, bf16, a real CUDA out-of-memory error (the micro-batch back-off and
`--batch-size auto`), the NCCL process group (`cpu:gloo,cuda:nccl`) with DDP, the whole tiny `timbre train` recipe on
the device, `--compile`, and training throughput.

Run from the repository root (the device machine has PyTorch; `tools/gpu_check.sh` adds timbre's other needs):

    python tools/gpu_check.py OUT_DIR [--budget SECONDS] [--quick]

Every check prints one JSON line as it ends ({"check", "ok", "seconds", ...figures or "error"}); all of them are also
written to OUT_DIR/gpu_check.json. A check that would start after `--budget` seconds is skipped, so the run ends inside
a device lease. Without CUDA (`--quick` on a CPU machine) the same checks run on tiny models, to keep this script
itself working; their figures mean nothing there.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from timbre.eval.train_bench import (  # noqa: E402
    GPT_SHAPE,
    SOVITS_SHAPE,
    StepBench,
    bench_gpt_step,
    bench_sovits_step,
    gpt_items,
    gpt_model,
    sovits_items,
    sovits_models,
)
from timbre.train import autobatch  # noqa: E402
from timbre.train.gpt_trainer import train_gpt  # noqa: E402
from timbre.train.loop import RunConfig  # noqa: E402
from timbre.train.sovits_trainer import train_sovits  # noqa: E402

Check = Callable[[argparse.Namespace], dict[str, Any]]
CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"


def _size(args: argparse.Namespace) -> str:
    return "tiny" if args.quick or not CUDA else "full"


def _run(out: Path, **changes: Any) -> RunConfig:
    settings: dict[str, Any] = dict(
        out_dir=out, epochs=1, device=DEVICE, progress=False, save_every=1, keep_last=1
    )
    return RunConfig(**(settings | changes))


def _finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def _metrics(folder: Path, stage: str) -> list[dict[str, str]]:
    import csv

    path = next(folder.rglob(f"{stage}*.csv"), None)
    if path is None:
        return []
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# ---- checks -----------------------------------------------------------------------------------------------------------
def check_environment(args: argparse.Namespace) -> dict[str, Any]:
    from timbre.train.precision import enable_tf32

    figures: dict[str, Any] = {"torch": torch.__version__, "cuda": torch.version.cuda, "device": DEVICE}
    if CUDA:
        props = torch.cuda.get_device_properties(0)
        figures |= {
            "name": props.name,
            "capability": list(torch.cuda.get_device_capability()),
            "memory_gib": round(props.total_memory / 2**30, 1),
            "bf16": torch.cuda.is_bf16_supported(),
            "nccl": torch.distributed.is_nccl_available(),
        }
        enable_tf32()
        figures["tf32"] = torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        if torch.cuda.get_device_capability()[0] >= 8 and not figures["tf32"]:
            raise AssertionError("enable_tf32() left TF32 off on an Ampere+ GPU")
    return figures


def check_mixed_precision(args: argparse.Namespace) -> dict[str, Any]:
    """Both trainers for a few steps in fp16 (autocast + GradScaler) and bf16: finite weights and losses."""
    figures: dict[str, Any] = {}
    for precision in ("fp16", "bf16"):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            frames, phones = SOVITS_SHAPE["tiny"]
            model, disc, cfg = sovits_models("tiny", 0)
            items = sovits_items(cfg, 8, frames, phones, seed=0)
            trained = train_sovits(
                model, disc, items, _run(out / "s", max_batch=2, max_frames=2 * frames, precision=precision)
            )  # type: ignore[arg-type]
            rows = _metrics(out / "s", "sovits")
            gpt, gcfg = gpt_model("tiny", 0)
            trained_gpt = train_gpt(
                gpt,
                gpt_items(gcfg, 8, *GPT_SHAPE["tiny"], seed=0),
                _run(out / "g", max_batch=2, max_frames=2 * sum(GPT_SHAPE["tiny"]), precision=precision),
            )
            grows = _metrics(out / "g", "gpt")
        losses = [float(r["loss_g"]) for r in rows] + [float(r["loss"]) for r in grows if "loss" in r]
        figures[precision] = {
            "sovits_steps": len(rows),
            "gpt_steps": len(grows),
            "finite_weights": _finite(trained) and _finite(trained_gpt),
            "finite_losses": all(math.isfinite(v) for v in losses),
            "last_loss_g": float(rows[-1]["loss_g"]) if rows else None,
        }
        if not (figures[precision]["finite_weights"] and figures[precision]["finite_losses"]):
            raise AssertionError(f"{precision}: non-finite weights or losses: {figures[precision]}")
    return figures


def _limit_memory(extra_bytes: int) -> float:
    """Let this process allocate only what it holds now plus `extra_bytes`; returns the fraction set."""
    total = torch.cuda.get_device_properties(0).total_memory
    fraction = min(1.0, (torch.cuda.memory_allocated() + extra_bytes) / total)
    torch.cuda.set_per_process_memory_fraction(fraction)
    return fraction


def check_out_of_memory(args: argparse.Namespace) -> dict[str, Any]:
    """A real CUDA OOM: memory capped at ~2.5 items' activations, then `--batch-size auto`'s probe and a batch of 8
    (the back-off must split it and finish the epoch)."""
    if not CUDA:
        return {"skipped": "no CUDA (the CPU tests inject the exception instead)"}
    size = _size(args)
    frames, phones = SOVITS_SHAPE[size]
    model, disc, cfg = sovits_models(size, 0)
    items = sovits_items(cfg, 8, frames, phones, seed=0)
    device = torch.device("cuda")
    probe = autobatch.sovits_probe(model, disc, items, device, "fp32")
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    probe(1)
    one = torch.cuda.max_memory_allocated() - base
    torch.cuda.empty_cache()
    # room for the weights (there now), their gradients, AdamW's two moments, and the activations of about 2.5 items
    # (the probe's peak is one item's activations plus the gradients)
    grads = sum(
        p.numel() * p.element_size() for m in (model, disc) for p in m.parameters() if p.requires_grad
    )
    activations = max(one - grads, one // 4)
    fraction = _limit_memory(3 * grads + int(2.5 * activations))
    figures: dict[str, Any] = {"batch1_peak_gib": round(one / 2**30, 2), "fraction": round(fraction, 4)}
    try:
        figures["auto_batch"] = autobatch.probe(probe, limit=8)
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trained = train_sovits(model, disc, items, _run(Path(tmp), max_batch=8, max_frames=8 * frames))  # type: ignore[arg-type]
            state = torch.load(next(Path(tmp).rglob("*.pt")), map_location="cpu", weights_only=True)
        figures["micro_splits"] = int(state.get("micro_splits", 1))
        figures["warnings"] = [str(w.message) for w in caught if "out of memory" in str(w.message)]
        figures["finite_weights"] = _finite(trained)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    if figures["micro_splits"] < 2 or not figures["warnings"]:
        raise AssertionError(f"the capped batch of 8 did not back off: {figures}")
    return figures


def check_ddp_nccl(args: argparse.Namespace) -> dict[str, Any]:
    """One-rank torchrun environment on the GPU: the `cpu:gloo,cuda:nccl` group, DDP, metrics reduced on the CPU,
    `any_rank`/`min_over_ranks` on the device, and a tiny GPT + SoVITS training through DDP."""
    from timbre.train.distributed import DistEnv, all_reduce_mean, any_rank, min_over_ranks

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env_vars = {
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
    }
    saved = {k: os.environ.get(k) for k in env_vars}
    os.environ.update(env_vars)
    figures: dict[str, Any] = {}
    try:
        device = DistEnv.from_environ().device()
        import torch.distributed as dist

        # the trainers' group (`distributed`) is made only for a world size over 1: make it here as they would
        backend = "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, rank=0, world_size=1)
        try:
            figures["backend"] = str(dist.get_backend())
            figures["cpu_mean"] = float(all_reduce_mean(torch.tensor(3.0)))
            t = torch.ones(4, device=device)
            dist.all_reduce(t)
            figures["device_sum"] = float(t.sum())
            figures["any_rank"] = any_rank(True, device)
            figures["min_over_ranks"] = min_over_ranks(5, device)
            model = torch.nn.parallel.DistributedDataParallel(
                torch.nn.Linear(8, 8).to(device), device_ids=[device.index] if device.type == "cuda" else None
            )
            model(torch.randn(2, 8, device=device)).sum().backward()
            figures["ddp_step"] = True
        finally:
            dist.destroy_process_group()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return figures


def check_ddp_two_ranks(args: argparse.Namespace) -> dict[str, Any]:
    """The repository's 2-rank DDP tests (torchrun, gloo) on that machine's CPUs: with one GPU, two ranks cannot
    each have their own, so the GPU is hidden from them. This checks the launch there, not NCCL (`ddp_nccl` does)."""
    import subprocess

    test = ROOT / "tests" / "test_train_ddp.py"
    if not test.is_file():
        return {"skipped": f"{test} not found"}
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603  (this interpreter and a fixed path)
        [sys.executable, "-m", "pytest", "-q", "-x", str(test), "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=os.environ | {"CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
    if done.returncode not in (0, 5):
        raise AssertionError(f"pytest exit {done.returncode}: {tail}")
    return {"pytest": tail[-1] if tail else "", "seconds": round(time.perf_counter() - started, 1)}


def _throughput(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    size = _size(args)
    bench_fn = bench_sovits_step if kind == "sovits" else bench_gpt_step
    batches = (2, 16) if kind == "sovits" else (4, 32)
    figures: dict[str, Any] = {"size": size}
    for batch in batches if size == "full" else batches[:1]:
        for precision in ("fp32", "bf16", "fp16"):
            bench = StepBench(
                size=size,
                batch=batch,
                warmup=3,
                steps=10 if size == "full" else 1,
                precision=precision,
                device=DEVICE,
            )
            timing = bench_fn(bench)
            figures[f"b{batch}_{precision}"] = {
                "step_s": round(timing.step_s, 4),
                "items_per_s": round(batch / timing.step_s, 2),
            }
        if CUDA:
            figures[f"b{batch}_peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            torch.cuda.reset_peak_memory_stats()
    return figures


def check_sovits_throughput(args: argparse.Namespace) -> dict[str, Any]:
    """SoVITS G+D step (4 s utterances, 20480-sample slices), segments/s at fp32, bf16 and fp16."""
    return _throughput("sovits", args)


def check_gpt_throughput(args: argparse.Namespace) -> dict[str, Any]:
    """GPT step (60 phones + 200 codes), utterances/s at fp32, bf16 and fp16."""
    return _throughput("gpt", args)


def check_compile(args: argparse.Namespace) -> dict[str, Any]:
    """`--compile` on the GPT trainer: compiles, trains, and the step time against eager."""
    size = _size(args)
    figures: dict[str, Any] = {}
    for compile_ in (False, True):
        model, cfg = gpt_model(size, 0)
        phones, codes = GPT_SHAPE[size]
        items = gpt_items(cfg, 4 * 8, phones, codes, seed=0)
        marks: list[float] = []
        with tempfile.TemporaryDirectory() as tmp:
            if CUDA:
                torch.cuda.synchronize()
            run = _run(
                Path(tmp),
                max_batch=4,
                max_frames=4 * (phones + codes),
                compile=compile_,
                save_every=0,
                on_step=lambda step, marks=marks: marks.append(time.perf_counter()),
            )
            started = time.perf_counter()
            train_gpt(model, items, run)
        steps = [b - a for a, b in zip(marks[-5:-1], marks[-4:], strict=True)]
        figures["compiled" if compile_ else "eager"] = {
            "first_step_s": round(marks[0] - started, 2),
            "step_s": round(sorted(steps)[len(steps) // 2], 4) if steps else None,
        }
    return figures


def check_recipe(args: argparse.Namespace) -> dict[str, Any]:
    """The whole `timbre train --config tiny` on the GPU (features with the batch engine, both stages, export), in
    bf16, then a resume of the finished voice; and a `--batch-size auto` run (the probe on the real device)."""
    from timbre.train.recipe import TrainOptions, train_voice
    from timbre.train.tiny import write_tiny_dataset

    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        dataset = write_tiny_dataset(Path(tmp) / "dataset", seconds=3.5)
        for name, changes in (("bf16", {"precision": "bf16"}), ("auto_batch", {"batch_size": "auto"})):
            started = time.perf_counter()
            opts = TrainOptions(
                dataset_dir=dataset,
                out_dir=Path(tmp) / name,
                config="tiny",
                device=DEVICE,
                progress=False,
                **changes,
            )
            result = train_voice(opts)
            figures[name] = {
                "trained": result.trained,
                "segments": result.segments,
                "files": sorted(p.name for p in result.files.values()),
                "seconds": round(time.perf_counter() - started, 1),
            }
            if result.trained != ["sovits", "gpt"]:
                raise AssertionError(f"{name}: trained {result.trained}")
        resumed = train_voice(
            TrainOptions(
                dataset_dir=dataset,
                out_dir=Path(tmp) / "bf16",
                config="tiny",
                device=DEVICE,
                progress=False,
                resume=True,
            )
        )
        figures["resume_of_finished"] = resumed.trained  # finished stages are skipped: []
    return figures


CHECKS: list[tuple[str, Check]] = [
    ("environment", check_environment),
    ("mixed_precision", check_mixed_precision),
    ("out_of_memory", check_out_of_memory),
    ("ddp_nccl", check_ddp_nccl),
    ("recipe", check_recipe),
    ("sovits_throughput", check_sovits_throughput),
    ("gpt_throughput", check_gpt_throughput),
    ("compile", check_compile),
    ("ddp_two_ranks", check_ddp_two_ranks),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for gpu_check.json")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds after which no check starts")
    parser.add_argument("--quick", action="store_true", help="tiny models (a smoke test of this script)")
    parser.add_argument("--only", nargs="*", default=None, help="run only these checks")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    for name, check in CHECKS:
        if args.only is not None and name not in args.only:
            continue
        elapsed = time.perf_counter() - started
        if elapsed > args.budget:
            result: dict[str, Any] = {"check": name, "ok": None, "skipped": f"budget spent ({elapsed:.0f} s)"}
        else:
            t0 = time.perf_counter()
            try:
                result = {"check": name, "ok": True, **check(args)}
            except Exception as exc:  # noqa: BLE001  (every check reports; one failure must not hide the rest)
                result = {
                    "check": name,
                    "ok": False,
                    "error": f"{type(exc).__name__}: {exc}",
                    "trace": traceback.format_exc().splitlines()[-6:],
                }
            result["seconds"] = round(time.perf_counter() - t0, 1)
        results.append(result)
        print(json.dumps(result), flush=True)
        (args.out / "gpu_check.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0 if all(r["ok"] is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
