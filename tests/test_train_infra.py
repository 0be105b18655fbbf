"""Training infrastructure: checkpoints, RNG state, OOM back-off, bucketing, metrics, precision."""

from __future__ import annotations

import contextlib
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from timbre.train.bucketing import BucketBatchSampler, BucketConfig, make_batches
from timbre.train.checkpoints import CheckpointManager, atomic_save, rng_state, set_rng_state
from timbre.train.distributed import DistEnv
from timbre.train.metrics import MetricsLogger
from timbre.train.oom import OomBackoff, probe_batch_size, split_batch
from timbre.train.precision import AmpPolicy


def test_rng_state_round_trip() -> None:
    state = rng_state()
    a = (random.random(), np.random.rand(), torch.rand(3))
    set_rng_state(state)
    b = (random.random(), np.random.rand(), torch.rand(3))
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])


def test_checkpoints_keep_last_and_skip_corrupt(tmp_path: Path) -> None:
    mgr = CheckpointManager(tmp_path, keep=2)
    for step in (10, 20, 30):
        mgr.save(step, {"w": torch.full((2,), float(step)), "rng": rng_state()})
    assert [p.name for p in mgr.checkpoints()] == ["step-000000020.pt", "step-000000030.pt"]
    mgr.path_for(40).write_bytes(b"PK\x03\x04 truncated")  # a torn write from another tool
    (tmp_path / ".step-000000050.pt.123.tmp").write_bytes(b"partial")  # our own interrupted write
    with pytest.warns(UserWarning, match="skipping unreadable checkpoint"):
        latest = mgr.load_latest()
    assert latest is not None and latest["step"] == 30
    assert torch.equal(latest["w"], torch.full((2,), 30.0))


def test_atomic_save_leaves_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "ckpt.pt"
    atomic_save({"v": 1}, target)

    class Boom:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_save({"v": Boom()}, target)
    assert torch.load(target, weights_only=True) == {"v": 1}
    assert list(tmp_path.iterdir()) == [target]


def test_oom_backoff_splits_and_remembers() -> None:
    batch = {"x": torch.arange(8.0), "names": [f"n{i}" for i in range(8)]}
    calls: list[int] = []
    resets: list[int] = []

    def step(mb: dict, weight: float) -> float:
        calls.append(len(mb["x"]))
        if len(mb["x"]) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        assert mb["names"] == [f"n{int(i)}" for i in mb["x"]]
        return weight

    backoff = OomBackoff()
    with pytest.warns(RuntimeWarning, match="out of memory at a batch of 8: retrying it as 4 micro-batches"):
        weights = backoff.run(batch, step, reset=lambda: resets.append(1))
    assert backoff.splits == 4 and sum(weights) == pytest.approx(1.0) and len(resets) == 2
    calls.clear()
    backoff.run(batch, step, reset=lambda: None)
    assert calls == [2, 2, 2, 2]  # the split is remembered


def test_a_failed_attempts_tensors_are_freed_before_the_retry_and_the_cache_emptied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An OOM's traceback holds the failed attempt's activations: memory is returned only once it is gone (inside
    the `except` block `torch.cuda.empty_cache()` could free nothing)."""
    import gc
    import weakref

    import timbre.train.oom as oom

    held: list[weakref.ref[torch.Tensor]] = []
    alive_at_free: list[bool] = []
    monkeypatch.setattr(oom, "_free_memory", lambda: alive_at_free.append(held[-1]() is not None))

    def step(mb: torch.Tensor, weight: float) -> None:
        activations = torch.ones(1024) * len(
            mb
        )  # a local of the failing frame, as a forward pass leaves them
        held.append(weakref.ref(activations))
        if len(mb) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    gc.disable()  # freed by reference counting alone, as CUDA tensors must be for the retry to find the memory
    try:
        OomBackoff().run(torch.zeros(2), step, reset=lambda: None)
        assert probe_batch_size(lambda n: step(torch.zeros(n), 1.0), start=1, limit=4) == 1
    finally:
        gc.enable()
    assert alive_at_free == [False, False]


def test_oom_backoff_reraises_other_errors_and_gives_up() -> None:
    with pytest.raises(KeyError):
        OomBackoff().run(torch.zeros(4), lambda mb, w: {}["missing"], reset=lambda: None)

    def always_oom(mb: torch.Tensor, w: float) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(ValueError, match=r"out of memory even with the batch of 4 split into 4 part\(s\)"):
        OomBackoff().run(torch.zeros(4), always_oom, reset=lambda: None)


def test_oom_under_torchrun_is_a_clear_error_not_a_retry() -> None:
    """A retry would run DDP collectives the other ranks do not run: they would wait forever."""

    def always_oom(mb: torch.Tensor, w: float) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory")

    backoff = OomBackoff(distributed=True)
    with pytest.raises(
        ValueError, match=r"out of memory at a batch of 4: under torchrun.*smaller --batch-size"
    ):
        backoff.run(torch.zeros(4), always_oom, reset=lambda: None)
    assert backoff.splits == 1


def test_probe_batch_size() -> None:
    def try_batch(n: int) -> None:
        if n > 12:
            raise RuntimeError("CUDA error: out of memory")

    assert probe_batch_size(try_batch, start=1, limit=64) == 8
    with pytest.raises(ValueError, match="does not fit"):
        probe_batch_size(lambda n: try_batch(n * 100), start=1)


def test_split_batch_keeps_everything() -> None:
    parts = split_batch((torch.arange(5), torch.arange(5) * 2), 3)
    assert [len(p[0]) for p in parts] == [2, 1, 2]
    assert torch.equal(torch.cat([p[1] for p in parts]), torch.arange(5) * 2)


def test_bucketing_budget_determinism_and_ranks() -> None:
    lengths = [random.Random(i).randint(50, 400) for i in range(100)]
    cfg = BucketConfig(max_frames=1600, max_batch=8)
    batches = make_batches(lengths, cfg, seed=1, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(100))
    assert all(len(b) * max(lengths[i] for i in b) <= 1600 or len(b) == 1 for b in batches)
    assert batches == make_batches(lengths, cfg, seed=1, epoch=0)
    assert batches != make_batches(lengths, cfg, seed=1, epoch=1)
    r0 = list(BucketBatchSampler(lengths, cfg, seed=1, rank=0, world_size=2))
    r1 = list(BucketBatchSampler(lengths, cfg, seed=1, rank=1, world_size=2))
    padded = batches + batches[: len(batches) % 2]
    assert len(r0) == len(r1) and r0 == padded[0::2] and r1 == padded[1::2]
    sampler = BucketBatchSampler(lengths, cfg, seed=1)
    sampler.set_epoch(0, skip=3)
    assert list(sampler) == batches[3:]


def test_metrics_csv_resume_and_plot(tmp_path: Path) -> None:
    log = MetricsLogger(tmp_path, "gpt", tensorboard=True)
    for step in range(1, 6):
        log.log(step, {"loss": 1.0 / step, "acc": step / 10})
    log.close()
    resumed = MetricsLogger(tmp_path, "gpt", tensorboard=False, resume_step=3)
    assert [r["step"] for r in resumed.rows] == [1, 2, 3]
    resumed.log(4, {"loss": 0.2})
    png = resumed.plot()
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "gpt.csv").read_text().count("\n") == 5
    assert any((tmp_path / "tensorboard" / "gpt").iterdir())


def test_a_metric_that_overflowed_is_marked_not_left_out(tmp_path: Path) -> None:
    """A gradient norm that was inf for most steps (a tiny model's first steps) used to leave an empty panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from timbre.train.metrics import plot_panel

    fig, ax = plt.subplots()
    plot_panel(ax, "grad_norm_g", [(1, math.inf), (2, math.nan), (3, math.inf), (4, 2e18)])
    assert ax.get_title() == "grad_norm_g (3 of 4 steps inf/NaN: x)"
    curve, crosses = ax.get_lines()
    assert list(curve.get_xdata()) == [4] and list(crosses.get_xdata()) == [1, 2, 3]
    plt.close(fig)
    log = MetricsLogger(tmp_path, "sovits", tensorboard=False)
    for step, norm in enumerate((math.inf, math.inf, 3.0), start=1):
        log.log(step, {"grad_norm_g": norm})
    assert [r["grad_norm_g"] for r in MetricsLogger(tmp_path, "sovits", False, resume_step=3).rows][:2] == [
        math.inf,
        math.inf,
    ]  # the CSV keeps them
    assert log.plot().read_bytes()[:4] == b"\x89PNG"


def test_amp_policy_on_cpu() -> None:
    cpu = torch.device("cpu")
    with pytest.warns(UserWarning, match="fp16 runs as bf16 on cpu"):
        assert AmpPolicy.create("fp16", cpu).precision == "bf16"
    policy = AmpPolicy.create("bf16", cpu)
    with policy.autocast():
        y = torch.nn.Linear(4, 4)(torch.randn(2, 4))
    assert y.dtype == torch.bfloat16
    assert not policy.grad_scaler().is_enabled()
    assert policy.grad_scaler("fp16").is_enabled()
    with pytest.raises(ValueError, match="unknown precision"):
        AmpPolicy.create("fp8", cpu)


def test_dist_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    env = DistEnv.from_environ()
    assert env.is_distributed and not env.is_main
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="torchrun"):
        DistEnv.from_environ()


@pytest.mark.parametrize("fails", [False, True])
def test_distributed_teardown_waits_for_every_rank_unless_this_one_failed(
    monkeypatch: pytest.MonkeyPatch, fails: bool
) -> None:
    """gloo's worker threads must be idle before the group can be destroyed (see `distributed._quiesce`): after a
    normal run every rank meets at a barrier and pauses; after a failure it only pauses (the others may never come)."""
    from timbre.train import distributed as dist_mod

    calls: list[str] = []
    state = {"initialized": False}
    fake = dist_mod.dist
    monkeypatch.setattr(fake, "is_initialized", lambda: state["initialized"])
    monkeypatch.setattr(
        fake, "init_process_group", lambda **_: (calls.append("init"), state.update(initialized=True))
    )
    monkeypatch.setattr(fake, "barrier", lambda: calls.append("barrier"))
    monkeypatch.setattr(fake, "destroy_process_group", lambda: calls.append("destroy"))
    monkeypatch.setattr(dist_mod.time, "sleep", lambda s: calls.append(f"sleep {s}"))
    env = DistEnv(rank=1, local_rank=1, world_size=2)
    with pytest.raises(RuntimeError) if fails else contextlib.nullcontext():
        with dist_mod.distributed(env, torch.device("cpu")):
            with dist_mod.distributed(env, torch.device("cpu")):  # re-entrant: the outer block owns the group
                calls.append("work")
            if fails:
                raise RuntimeError("rank 1 failed")
    pause = f"sleep {dist_mod.QUIESCE_S}"
    expected = ["init", "work", pause, "destroy"] if fails else ["init", "work", "barrier", pause, "destroy"]
    assert calls == expected


def test_adamw_is_fused_on_cpu_and_takes_the_same_steps_as_the_loop() -> None:
    from timbre.train.loop import adamw

    torch.manual_seed(0)
    a = [torch.nn.Parameter(torch.randn(7, 5)), torch.nn.Parameter(torch.randn(3))]
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    fused = adamw([{"params": a[:1]}, {"params": a[1:], "lr": 5e-4}], 1e-3, betas=(0.8, 0.99), eps=1e-9)
    loop = torch.optim.AdamW(
        [{"params": b[:1]}, {"params": b[1:], "lr": 5e-4}], 1e-3, betas=(0.8, 0.99), eps=1e-9
    )
    assert fused.defaults["fused"] is True and not loop.defaults.get("fused")
    for _ in range(5):
        for params, opt in ((a, fused), (b, loop)):
            opt.zero_grad()
            sum((p.square() * (i + 1)).sum() for i, p in enumerate(params)).backward()
            opt.step()
    for p, q in zip(a, b, strict=True):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-6)


def test_fused_adamw_is_safe_for_parameters_stored_with_other_strides() -> None:
    from timbre.train.loop import adamw

    base = torch.randn(5, 16, 8, generator=torch.Generator().manual_seed(0))

    def k_major() -> (
        torch.nn.Parameter
    ):  # the discriminator's wide kernels: [16, 8, 5, 1] with the taps outermost
        return torch.nn.Parameter(base.clone().permute(1, 2, 0).unsqueeze(-1))

    fused_p, loop_p = k_major(), k_major()
    fused = adamw([fused_p], 1e-2)
    loop = torch.optim.AdamW([loop_p], 1e-2)
    for step in range(3):
        grad = torch.randn(fused_p.shape, generator=torch.Generator().manual_seed(step + 1))  # contiguous
        for p, opt in ((fused_p, fused), (loop_p, loop)):
            p.grad = grad.clone()
            opt.step()
        if step == 1:  # moments as a checkpoint of the contiguous layout would restore them
            state = fused.state_dict()
            for s in state["state"].values():
                s["exp_avg"], s["exp_avg_sq"] = s["exp_avg"].contiguous(), s["exp_avg_sq"].contiguous()
            fused.load_state_dict(state)
    assert fused.defaults["fused"] is True and fused_p.stride() == loop_p.stride()
    torch.testing.assert_close(fused_p, loop_p, atol=1e-6, rtol=1e-6)


def test_a_steps_logs_are_read_in_one_reduction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Logged values stay tensors through the step (reading each one would make the CPU wait for the GPU) and are
    averaged over the ranks in one all-reduce at log time."""
    import timbre.train.loop as loop

    reduced: list[torch.Tensor] = []
    monkeypatch.setattr(loop, "all_reduce_mean", lambda t: reduced.append(t) or t / 2)  # as if 2 ranks summed
    logs = {
        "loss": torch.tensor(3.0),
        "acc": torch.tensor([0.5]),
        "grad_norm": 8.0,
        "bf16": torch.tensor(2.0).bfloat16(),
    }
    assert loop.read_logs(logs) == {"loss": 1.5, "acc": 0.25, "grad_norm": 4.0, "bf16": 1.0}
    assert len(reduced) == 1 and reduced[0].shape == (4,) and reduced[0].dtype == torch.float32
    assert loop.read_logs({}) == {}


def test_clip_gradients_measures_without_touching_or_clips_to_the_norm() -> None:
    from timbre.train.loop import clip_gradients

    params = [
        torch.nn.Parameter(torch.zeros(3)),
        torch.nn.Parameter(torch.zeros(2, 2)),
        torch.nn.Parameter(torch.zeros(1)),
    ]
    params[0].grad = torch.tensor([3.0, 0.0, 0.0])
    params[1].grad = torch.tensor([[0.0, 4.0], [0.0, 0.0]])  # the third has no gradient
    before = [p.grad.clone() for p in params[:2]]
    norm = clip_gradients(params, None)  # the original SoVITS trainer: measure only
    assert isinstance(norm, torch.Tensor) and float(norm) == pytest.approx(5.0)  # read at log time
    assert all(torch.equal(p.grad, b) for p, b in zip(params, before, strict=False))
    assert float(clip_gradients(params, 1.0)) == pytest.approx(
        5.0
    )  # the norm before clipping is what gets logged
    total = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in params[:2]]))
    assert total.item() == pytest.approx(1.0, rel=1e-5)
    assert float(clip_gradients([torch.nn.Parameter(torch.zeros(1))], None)) == 0.0


def test_trainers_clip_as_the_original_by_default() -> None:
    from timbre.train.gpt_trainer import GPTTrainConfig
    from timbre.train.sovits_trainer import SoVITSTrainConfig

    # s2_train.py: clip_grad_value_(params, None) only measures the norm
    assert SoVITSTrainConfig().grad_clip is None
    assert GPTTrainConfig().grad_clip == 1.0
