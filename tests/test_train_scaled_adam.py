"""ScaledAdam (`--gpt-optimizer scaled-adam`): its update rules checked on cases with known results, its clipping,
save/restore, and the GPT trainer and CLI taking it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from tests.helpers.tiny_train import tiny_gpt, tiny_gpt_items

from timbre.errors import CheckpointError, TimbreError
from timbre.train.gpt_trainer import GPTTrainConfig, train_gpt
from timbre.train.loop import RunConfig
from timbre.train.recipe import TrainOptions, gpt_config
from timbre.train.scaled_adam import ScaledAdam, original_gpt_lr_factor


def _rms(t: torch.Tensor) -> float:
    return float(t.detach().square().mean().sqrt())


def test_first_step_moves_every_weight_by_lr_times_its_tensors_rms() -> None:
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(8, 16) * 0.3)
    before, rms = p.detach().clone(), _rms(p)
    p.grad = torch.randn(8, 16)
    ScaledAdam([p], lr=0.01).step()
    # v = (1 - beta2) g^2, bias-corrected to g^2: each weight moves by lr (1 - beta1) rms sign(g)
    expected = before - 0.01 * 0.1 * rms * p.grad.sign()
    torch.testing.assert_close(p.detach(), expected, atol=1e-7, rtol=1e-6)


def test_momentum_carries_the_change_on() -> None:
    p = torch.nn.Parameter(torch.full((4,), 2.0))
    opt = ScaledAdam([p], lr=0.01)
    p.grad = torch.ones(4)
    opt.step()
    first = 2.0 - float(p.detach()[0])
    p.grad = torch.zeros(4)  # no gradient: the change decays by beta1 = 0.9
    opt.step()
    assert 2.0 - first - float(p.detach()[0]) == pytest.approx(0.9 * first, rel=1e-4)


def test_one_element_parameters_take_a_clamped_adam_step() -> None:
    alpha = torch.nn.Parameter(torch.tensor([20.0]))
    alpha.grad = torch.tensor([3.0])
    ScaledAdam([alpha], lr=0.01).step()
    # clamped to scalar_max 10, then moved by lr * scalar_lr_scale (1 - beta1) sign(g)
    assert float(alpha.detach()) == pytest.approx(10.0 - 0.01 * 0.1 * 0.1, abs=1e-6)


def test_a_tensor_over_the_largest_rms_is_shrunk_every_size_period() -> None:
    p = torch.nn.Parameter(torch.full((3, 3), 5.0))  # rms 5 > param_max_rms 3
    opt = ScaledAdam([p], lr=0.01)
    for _ in range(3):
        p.grad = torch.zeros(3, 3)
        opt.step()
    assert torch.equal(p.detach(), torch.full((3, 3), 5.0))  # nothing to do between size updates
    p.grad = torch.zeros(3, 3)
    opt.step()  # the 4th step: rms refreshed, the scale step is -lr * scalar_lr_scale * period, times (1 - beta1)
    assert float(p.detach()[0, 0]) == pytest.approx(5.0 * (1 - 0.1 * 0.01 * 0.1 * 4), rel=1e-6)
    assert float(opt.state[p]["param_rms"]) == pytest.approx(5.0)


def test_gradients_far_over_the_recent_median_norm_are_clipped() -> None:
    torch.manual_seed(1)
    p = torch.nn.Parameter(torch.randn(32))
    opt = ScaledAdam([p], lr=1e-4, clipping_update_period=4)
    direction = torch.randn(32)
    for _ in range(4):
        p.grad = direction.clone()
        opt.step()
        assert opt.last_clip_factor == 1.0  # no threshold before a whole period
    p.grad = direction * 100  # the median of [n, n, n, 100 n] is n: clipped to 2 n
    opt.step()
    assert opt.last_clip_factor == pytest.approx(0.02, rel=1e-2)
    p.grad = direction.clone()
    opt.step()
    assert opt.last_clip_factor == 1.0
    with pytest.raises(ValueError, match="beta"):
        ScaledAdam([p], betas=(0.99, 0.9))


def _run(steps: int, opt: ScaledAdam, model: torch.nn.Module, data: torch.Tensor) -> None:
    for i in range(steps):
        opt.zero_grad()
        model(data[i]).square().mean().backward()
        opt.step()


def test_saved_and_restored_state_continues_exactly(tmp_path: Path) -> None:
    torch.manual_seed(2)
    data = torch.randn(10, 5, 8)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    twin = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    twin.load_state_dict(model.state_dict())
    opt = ScaledAdam(model.parameters(), lr=0.01, clipping_update_period=3)
    _run(10, opt, model, data)

    first = ScaledAdam(twin.parameters(), lr=0.01, clipping_update_period=3)
    _run(5, first, twin, data)
    torch.save(first.state_dict(), tmp_path / "opt.pt")
    second = ScaledAdam(twin.parameters(), lr=0.01, clipping_update_period=3)
    second.load_state_dict(torch.load(tmp_path / "opt.pt", weights_only=True))
    _run(5, second, twin, data[5:])
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)


def test_gpt_trainer_with_the_original_optimizer(tmp_path: Path) -> None:
    items = tiny_gpt_items()
    run = RunConfig(out_dir=tmp_path, epochs=8, max_frames=60, max_batch=4, seed=7, progress=False)
    train_gpt(tiny_gpt(), items, run, GPTTrainConfig(optimizer="scaled-adam", grad_clip=None))
    lines = (tmp_path / "gpt.csv").read_text().splitlines()
    header, rows = lines[0].split(","), [r.split(",") for r in lines[1:]]
    lrs = [float(r[header.index("lr")]) for r in rows]
    assert lrs == pytest.approx([0.01 * original_gpt_lr_factor(i) for i in range(len(rows))])
    assert lrs[:2] == pytest.approx([0.01, 0.002])
    losses = [float(r[header.index("loss")]) for r in rows]
    assert (
        sum(losses[-5:]) < sum(losses[:5]) - 0.5
    )  # slowly: its steps scale with the tiny weights' small rms
    with pytest.raises(CheckpointError, match="--gpt-optimizer scaled-adam -> adamw"):
        train_gpt(tiny_gpt(), items, replace(run, resume=True, epochs=9))  # its state is not AdamW's
    with pytest.raises(ValueError, match="GPT optimizer"):
        GPTTrainConfig(optimizer="sgd")  # type: ignore[arg-type]


def test_recipe_option(tmp_path: Path) -> None:
    opts = TrainOptions(tmp_path / "data", tmp_path / "voice", config="tiny", gpt_optimizer="scaled-adam")
    cfg = gpt_config(opts)
    assert cfg.optimizer == "scaled-adam" and cfg.grad_clip is None  # as the original: its own clipping only
    assert gpt_config(replace(opts, grad_clip=0.5)).grad_clip == 0.5
    assert gpt_config(replace(opts, gpt_optimizer="adamw")).grad_clip == 1.0
    with pytest.raises(TimbreError, match="--gpt-optimizer must be one of adamw, scaled-adam"):
        replace(opts, gpt_optimizer="adam")
