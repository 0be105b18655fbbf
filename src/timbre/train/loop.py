"""What both training loops share: the run settings, device/DDP/AMP set-up, resume state and the progress bar."""

from __future__ import annotations

import hashlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from timbre.errors import CheckpointError, TrainingInterrupted
from timbre.train.bucketing import BucketBatchSampler, BucketConfig
from timbre.train.checkpoints import CheckpointManager, rng_state, set_rng_state
from timbre.train.distributed import DistEnv, all_reduce_mean, any_rank, barrier, distributed, gather
from timbre.train.host import keep_freed_memory
from timbre.train.metrics import MetricsLogger
from timbre.train.oom import OomBackoff
from timbre.train.precision import AmpPolicy, enable_tf32


@dataclass(frozen=True)
class RunConfig:
    """Settings every training stage takes (the model-specific ones live in each trainer's config)."""

    out_dir: Path
    epochs: int = 8
    max_frames: int = 8_000  # bucket budget: padded length × batch size per step
    max_batch: int = 8
    accum: int = 1  # gradient accumulation (batches per optimizer step)
    precision: str = "fp32"  # fp32 | bf16 | fp16 (fp16 falls back to bf16 on CPU)
    save_every: int = 0  # optimizer steps between checkpoints (0: at epoch ends only)
    keep_last: int = 3
    seed: int = 1234
    num_workers: int = 0
    compile: bool = False
    resume: bool = False
    device: str = "auto"
    log_every: int = 1
    progress: bool = True
    on_step: Callable[[int], None] | None = field(
        default=None, compare=False
    )  # called after each optimizer step

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.accum < 1 or self.max_batch < 1 or self.max_frames < 1:
            raise ValueError("epochs, accum, max_batch and max_frames must all be at least 1")


@dataclass
class Position:
    """Where the run is: epoch, batches consumed in that epoch, optimizer steps so far."""

    epoch: int = 0
    batch_in_epoch: int = 0
    step: int = 0


def clip_gradients(params: Sequence[torch.Tensor], max_norm: float | None) -> torch.Tensor:
    """The total L2 norm of the parameters' gradients (before clipping), for logging, as a 0-d tensor on their
    device (read it at log time: reading it here would make the CPU wait for the GPU mid-step); with `max_norm` the
    gradients are also scaled down to that norm (`clip_grad_norm_`). `None` only measures, as the original SoVITS
    trainer does (`clip_grad_value_(params, None)`), and leaves the gradients untouched."""
    if max_norm is not None:
        return torch.nn.utils.clip_grad_norm_(params, max_norm).detach()
    grads = [p.grad for p in params if p.grad is not None]
    return torch.nn.utils.get_total_norm(grads).detach() if grads else torch.zeros(())


def read_logs(logs: Mapping[str, torch.Tensor | float]) -> dict[str, float]:
    """A step's logged values (tensors on the device, or numbers), averaged over the ranks under torchrun, as
    floats: one all-reduce and one device-to-host copy for all of them (a `.item()` each would make the CPU wait for
    the GPU each time, and one collective each would multiply DDP's latency)."""
    if not logs:
        return {}
    tensors = [torch.as_tensor(v).detach().float().reshape(()) for v in logs.values()]
    device = next((t.device for t in tensors if t.device.type != "cpu"), torch.device("cpu"))
    values = all_reduce_mean(torch.stack([t.to(device) for t in tensors])).tolist()
    return dict(zip(logs, values, strict=True))


def resolve_device(run: RunConfig, env: DistEnv) -> torch.device:
    if run.device == "auto":
        return env.device()
    device = torch.device(run.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was requested but no CUDA GPU is available")
    return device


@dataclass
class StopRequest:
    """Set by the first stop signal of a training run; the loop checkpoints and stops after the step it is in."""

    requested: bool = False


# A signal's handler that stop_on_signals replaces: Python's own (Ctrl-C raises KeyboardInterrupt; SIGTERM kills)
STOP_SIGNALS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """While training, the first SIGINT (Ctrl-C; torchrun passes it on to its workers) or SIGTERM (`kill`, `docker
    stop`, Slurm before a time limit or a preemption, torchrun shutting down) asks the loop to stop after its current
    step, with a checkpoint that `--resume` continues exactly. A second Ctrl-C stops at once (KeyboardInterrupt); a
    second SIGTERM is ignored, since one stop can arrive twice (Slurm signals every process of a job step, and
    torchrun passes the signal on as well) and whoever sends it escalates to SIGKILL when tired of waiting.

    Only for a signal whose handler is still Python's default, in the main thread: a program embedding the trainer
    keeps its own handlers. Under torchrun the ranks agree on the step to stop at (`stop_if_requested`).
    """
    request = StopRequest()
    replaced: dict[signal.Signals, Any] = {}
    owner = os.getpid()

    def on_signal(signum: int, frame: Any) -> None:
        if os.getpid() != owner:  # a DataLoader worker forked with this handler: the trainer stops it
            return
        if request.requested:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        request.requested = True
        again = " (Ctrl-C again to stop at once)" if signum == signal.SIGINT else ""
        name = signal.Signals(signum).name
        print(f"{name}: stopping after this step, with a checkpoint{again}", file=sys.stderr)

    if threading.current_thread() is threading.main_thread():
        for sig, default in STOP_SIGNALS.items():
            if signal.getsignal(sig) is default:
                replaced[sig] = signal.signal(sig, on_signal)
    try:
        yield request
    finally:
        for sig, previous in replaced.items():
            signal.signal(sig, previous)


@contextmanager
def training_session(run: RunConfig) -> Iterator[tuple[DistEnv, torch.device, AmpPolicy]]:
    env = DistEnv.from_environ()
    device = resolve_device(run, env)
    enable_tf32()
    if device.type == "cpu":
        keep_freed_memory()  # no page faults for the step's reallocated tensors
    torch.manual_seed(run.seed + env.rank)
    with distributed(env, device):
        yield env, device, AmpPolicy.create(run.precision, device)


def wrap_ddp(model: nn.Module, env: DistEnv, device: torch.device, find_unused: bool = False) -> nn.Module:
    """DDP under torchrun. `find_unused`: some trainable parameters may get no gradient in a step (DDP then walks
    the autograd graph after every forward to find them, which costs time; without it such a parameter is an error)."""
    if not env.is_distributed:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused)


def maybe_compile(model: nn.Module, run: RunConfig) -> nn.Module:
    if not run.compile:
        return model
    # compile is an optional speed-up: a graph inductor cannot compile (it has bugs with some dynamic shapes on the
    # CPU) runs eagerly instead of ending the training run
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True
    try:
        return torch.compile(model)  # type: ignore[return-value]
    except Exception as exc:  # noqa: BLE001  (compile is an optional speed-up)
        import warnings

        warnings.warn(f"torch.compile unavailable ({exc}); training without it", stacklevel=2)
        return model


class LayoutSafeAdamW(torch.optim.AdamW):
    """AdamW whose fused step first gives every gradient and state tensor its parameter's memory layout.

    The fused kernel walks parameter, gradient and moment buffers as flat arrays, so a tensor with other strides than
    its parameter (a k-major discriminator kernel with a contiguous gradient, or moments from a checkpoint written
    before that layout) would be updated silently wrong. Autograd already matches the layouts; this catches the rest.
    """

    def step(self, *args: Any, **kwargs: Any) -> Any:
        if self.defaults.get("fused"):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is not None and p.grad.stride() != p.stride():
                        p.grad = torch.empty_like(p).copy_(p.grad)
                    state = self.state.get(p, {})
                    for key, value in state.items():
                        if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                            state[key] = torch.empty_like(p).copy_(value)
        return super().step(*args, **kwargs)


def adamw(params: Any, lr: float, **kwargs: Any) -> torch.optim.AdamW:
    """AdamW, fused (one kernel over all parameters) where every parameter lives on a CPU or CUDA device.

    On the CPU the fused step is ~3x faster than the per-parameter loop torch uses there by default; the update is the
    same AdamW (equal to the loop within float rounding).
    """
    groups = list(params)
    tensors = [p for g in groups for p in (g["params"] if isinstance(g, dict) else [g])]
    fused = bool(tensors) and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in tensors)
    return LayoutSafeAdamW(groups, lr, fused=fused, **kwargs)


def _worker_ignores_stop_signals(worker_id: int) -> None:
    """A DataLoader worker leaves SIGINT and SIGTERM to the trainer, which stops after its step and then shuts the
    workers down. (PyTorch's own SIGTERM handler in a worker dies of the signal unless the trainer sent it, and the
    trainer then fails with "DataLoader worker is killed by signal" in the middle of its step: what `kill` on the
    process group, Slurm or torchrun would cause.) A worker whose trainer dies still exits: it watches its parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def make_loader(
    dataset: Dataset[Any],
    lengths: Sequence[int],
    run: RunConfig,
    env: DistEnv,
    collate: Callable[[list[Any]], Any],
    device: torch.device,
) -> tuple[BucketBatchSampler, Callable[[], DataLoader[Any]]]:
    """The bucketed sampler and a DataLoader factory. Each loader has its own seeded generator: creating one must
    not draw from the global RNG, or a resumed run would diverge from an uninterrupted one."""
    sampler = BucketBatchSampler(
        lengths, BucketConfig(run.max_frames, run.max_batch), run.seed, env.rank, env.world_size
    )

    def loader() -> DataLoader[Any]:
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=run.num_workers,
            worker_init_fn=_worker_ignores_stop_signals if run.num_workers else None,
            pin_memory=device.type == "cuda",
            persistent_workers=False,
            generator=torch.Generator().manual_seed(run.seed * 7919 + sampler.epoch),
        )

    return sampler, loader


def save_state(
    ckpts: CheckpointManager,
    pos: Position,
    modules: Mapping[str, nn.Module],
    optimizers: Mapping[str, Any],
    backoff: OomBackoff,
    env: DistEnv,
) -> None:
    """Checkpoint the run; called by every rank (each one's random generators go in), written by rank 0."""
    ranks_rng = _ranks_rng(env)  # the ranks draw differently (dropout): each resumes its own generators
    if not env.is_main:
        return
    state: dict[str, Any] = {
        "position": {"epoch": pos.epoch, "batch_in_epoch": pos.batch_in_epoch, "step": pos.step},
        "rng": rng_state(),
        "micro_splits": backoff.splits,
        **ranks_rng,
    }
    for name, module in modules.items():
        state[f"model.{name}"] = unwrap(module).state_dict()
    for name, opt in optimizers.items():
        state[f"state.{name}"] = opt.state_dict()
    ckpts.save(pos.step, state)


def _ranks_rng(env: DistEnv) -> dict[str, torch.Tensor]:
    """Under torchrun, every rank's torch (and CUDA) generator state: [world_size, n] uint8."""
    if not env.is_distributed:
        return {}
    states = {"rank_rng_torch": gather(torch.get_rng_state())}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["rank_rng_cuda"] = gather(torch.cuda.get_rng_state()).cpu()
    return states


def stop_if_requested(
    stop: StopRequest,
    stage: str,
    ckpts: CheckpointManager,
    pos: Position,
    modules: Mapping[str, nn.Module],
    optimizers: Mapping[str, Any],
    backoff: OomBackoff,
    metrics: MetricsLogger,
    env: DistEnv,
) -> None:
    """After a whole optimizer step: if a signal asked to stop, save this step's checkpoint and stop. Under torchrun
    every rank takes part (one signalled rank stops them all at the same step) and rank 0 saves."""
    requested = stop.requested
    if env.is_distributed:
        # over gloo on the CPU: a CUDA tensor would make every step wait for the GPU (the group has both backends)
        requested = any_rank(requested, torch.device("cpu"))
    if not requested:
        return
    save_state(ckpts, pos, modules, optimizers, backoff, env)
    barrier()  # a rank leaving early would make torchrun stop rank 0 while it saves
    metrics.close()
    raise TrainingInterrupted(stage, pos.step, str(ckpts.folder))


def restore_state(
    ckpts: CheckpointManager,
    modules: Mapping[str, nn.Module],
    optimizers: Mapping[str, Any],
    backoff: OomBackoff,
    env: DistEnv,
) -> Position:
    state = ckpts.load_latest()
    if state is None:
        return Position()
    where = ckpts.path_for(int(state["step"]))
    _check_signature(where, state.get("signature"), ckpts.signature)
    try:
        for name, module in modules.items():
            unwrap(module).load_state_dict(state[f"model.{name}"])
        for name, opt in optimizers.items():
            opt.load_state_dict(state[f"state.{name}"])
    except (KeyError, RuntimeError, ValueError) as exc:  # another model: shapes, LoRA, version
        found = (_mismatch(unwrap(m), state.get(f"model.{n}", {})) for n, m in modules.items())
        first = next((d for d in found if d), None) or str(exc).strip().splitlines()[0][:200]
        raise CheckpointError(
            f"cannot resume from {where}: it holds other models than this run builds ({first}); resume with the "
            "options the interrupted run had, or pass --overwrite to start again"
        ) from None
    set_rng_state(state["rng"])
    # the signature check made sure the world size is the same; a row is cloned because set_rng_state reads a
    # tensor's storage from its start (a view at an offset gives another state, or a crash)
    if "rank_rng_torch" in state:
        torch.set_rng_state(state["rank_rng_torch"][env.rank].clone())
    if "rank_rng_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["rank_rng_cuda"][env.rank].clone())
    backoff.splits = int(state.get("micro_splits", 1))
    return Position(**state["position"])


def _mismatch(module: nn.Module, saved: Mapping[str, Any]) -> str | None:
    """How a saved state dict differs from a module's, in a few words (None if the keys and shapes agree)."""
    own = module.state_dict()
    missing = [k for k in own if k not in saved]
    unexpected = [k for k in saved if k not in own]
    shapes = [k for k in own if k in saved and tuple(own[k].shape) != tuple(getattr(saved[k], "shape", ()))]
    parts = [
        f"{len(keys)} {what}, e.g. {keys[0]}"
        for keys, what in ((missing, "missing"), (unexpected, "unexpected"), (shapes, "of another shape"))
        if keys
    ]
    return f"{type(module).__name__}: {'; '.join(parts)}" if parts else None


def run_signature(run: RunConfig, env: DistEnv, lengths: Sequence[int]) -> dict[str, Any]:
    """What fixes a run's batches and their order: a checkpoint continues the run exactly only under the same values
    (the number of epochs may grow, precision and the like may change)."""
    digest = hashlib.sha256(",".join(str(n) for n in lengths).encode()).hexdigest()[:16]
    return {
        "items": len(lengths),
        "item_lengths": digest,
        "max_batch": run.max_batch,
        "max_frames": run.max_frames,
        "accum": run.accum,
        "seed": run.seed,
        "world_size": env.world_size,
    }


_SIGNATURE_NAMES = {
    "items": "training items",
    "item_lengths": "item lengths (hash)",
    "max_batch": "batch size",
    "max_frames": "frames per batch",
    "accum": "--accum",
    "seed": "--seed",
    "world_size": "processes",
    "optimizer": "--gpt-optimizer",
}
_SIGNATURE_DEFAULTS = {"optimizer": "adamw"}  # keys a signature leaves out at their default


def _check_signature(where: Path, saved: Mapping[str, Any] | None, current: Mapping[str, Any] | None) -> None:
    if saved is None or current is None:  # a checkpoint from before signatures, or a caller that sets none
        return
    before, now = {**_SIGNATURE_DEFAULTS, **saved}, {**_SIGNATURE_DEFAULTS, **current}
    changed = [
        f"{_SIGNATURE_NAMES.get(key, key)} {before.get(key)} -> {now.get(key)}"
        for key in sorted(set(before) | set(now))
        if before.get(key) != now.get(key)
    ]
    if changed:
        raise CheckpointError(
            f"cannot resume from {where}: the interrupted run had other data or options ({'; '.join(changed)}); "
            "resume with the same dataset and options, or pass --overwrite to start again"
        )


def unwrap(module: nn.Module) -> nn.Module:
    inner = getattr(module, "module", module)  # DDP
    return getattr(inner, "_orig_mod", inner)  # torch.compile


def progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[metrics]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )
