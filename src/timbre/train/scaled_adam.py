"""ScaledAdam, the optimizer the original trains its GPT with (`--gpt-optimizer scaled-adam`).

An Adam variant (Povey et al., icefall) whose update for a tensor is proportional to that tensor's root-mean-square
value, and which also learns each tensor's overall scale, within [param_min_rms, param_max_rms]. For a parameter p with
rms r (refreshed every `size_update_period` steps) and gradient g:

- momentum is kept on the change itself: delta = beta1 * delta + (update terms); p += delta;
- the main term is -lr (1 - beta1) max(r, param_min_rms) g / (sqrt(v / c) + eps), with v the running mean of g^2 and
  c = 1 - beta2^(step + 1) (no correction once c >= 0.99, none for the first moment);
- every `size_update_period` steps the scale term adds (1 - beta1) p s, where s is an Adam step on the summed
  <p, g> of the period (learning rate lr * scalar_lr_scale; s = 0 below param_min_rms, -lr * scalar_lr_scale *
  period above param_max_rms);
- one-element parameters take a plain Adam step at lr * scalar_lr_scale and are clamped to +-scalar_max;
- gradient clipping: the norm of the rms-weighted gradients of the whole group, sum ||g r||^2 (||g||^2 for
  one-element tensors), is kept over `clipping_update_period` steps; from then on a gradient whose norm exceeds
  clipping_scale times the median of the last period (re-estimated at each multiple of the period) is scaled down
  to it.

The original stacks equal-shaped parameters into batches for speed; every quantity above is per parameter (the
clipping norm sums over all of them), so stepping them one by one is the same update up to float rounding. The
original's GPT recipe: lr 0.01 for the first step, 0.002 after (its cosine schedule is overridden by a constant),
betas (0.9, 0.95), clipping_scale 2.0, clipping_update_period 1000.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

log = logging.getLogger(__name__)

ORIGINAL_GPT_LR = (
    0.01  # the original's GPT rate on the first step; `original_gpt_lr_factor` gives 0.002 after
)


class ScaledAdam(torch.optim.Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float = ORIGINAL_GPT_LR,
        betas: tuple[float, float] = (0.9, 0.95),
        clipping_scale: float | None = 2.0,
        clipping_update_period: int = 1000,
        scalar_lr_scale: float = 0.1,
        eps: float = 1e-8,
        param_min_rms: float = 1e-5,
        param_max_rms: float = 3.0,
        scalar_max: float = 10.0,
        size_update_period: int = 4,
    ) -> None:
        if not (0.0 < betas[0] <= betas[1] < 1.0):
            raise ValueError(f"ScaledAdam needs 0 < beta1 <= beta2 < 1, got {betas}")
        if lr <= 0.0 or size_update_period < 1 or clipping_update_period < 1:
            raise ValueError("ScaledAdam needs lr > 0 and update periods >= 1")
        defaults = dict(
            lr=lr,
            betas=betas,
            clipping_scale=clipping_scale,
            clipping_update_period=clipping_update_period,
            scalar_lr_scale=scalar_lr_scale,
            eps=eps,
            param_min_rms=param_min_rms,
            param_max_rms=param_max_rms,
            scalar_max=scalar_max,
            size_update_period=size_update_period,
        )
        super().__init__(params, defaults)
        self.last_clip_factor = 1.0  # the factor the last step scaled the gradients by (1.0: not clipped)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params: list[Tensor] = group["params"]
            if not params:
                continue
            grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in params]  # as the original
            factor = self._clip_factor(group, params, grads)
            self.last_clip_factor = factor
            for p, grad in zip(params, grads, strict=True):
                state = self.state[p]
                if not state:
                    self._init_state(group, p, state)
                self._step_one(group, p, grad if factor == 1.0 else grad * factor, state)
        return loss

    @staticmethod
    def _init_state(group: dict[str, Any], p: Tensor, state: dict[str, Any]) -> None:
        state["step"] = 0
        state["delta"] = torch.zeros_like(p)
        state["exp_avg_sq"] = torch.zeros_like(p)
        if p.numel() > 1:
            state["param_rms"] = _rms(p)
            state["scale_exp_avg_sq"] = torch.zeros((), dtype=p.dtype, device=p.device)
            state["scale_grads"] = torch.zeros(group["size_update_period"], dtype=p.dtype, device=p.device)

    def _clip_factor(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> float:
        """The factor (<= 1) this step's gradients are scaled by; the norm history lives in the first parameter's
        state, so that it is saved and restored with the optimizer."""
        first = self.state[params[0]]
        scale = group["clipping_scale"]
        if scale is None or not first or first["step"] == 0:
            return 1.0
        step, period = first["step"], group["clipping_update_period"]
        norms = [
            torch.linalg.vector_norm(grad, dtype=torch.float32)
            if p.numel() == 1
            else torch.linalg.vector_norm(grad, dtype=torch.float32) * self.state[p]["param_rms"]
            for p, grad in zip(params, grads, strict=True)
        ]
        norm = torch.linalg.vector_norm(torch.stack(norms))  # sqrt of the sum of the squared weighted norms
        if "model_norms" not in first:
            first["model_norms"] = torch.zeros(period, device=norm.device)
        first["model_norms"][step % period] = norm
        if step % period == 0:
            ordered = first["model_norms"].sort().values
            first["model_norm_threshold"] = scale * float(ordered[min(period - 1, (period // 4) * 2)])
            log.info(
                "ScaledAdam: clipping threshold %.3e (%s x the median gradient norm of the last %d steps), %d clipped",
                first["model_norm_threshold"],
                scale,
                period,
                first.get("num_clipped", 0),
            )
            first["num_clipped"] = 0
        if step < period or "model_norm_threshold" not in first:
            return 1.0  # no norm estimated yet
        factor = min(1.0, first["model_norm_threshold"] / (float(norm) + 1e-20))
        if factor < 1.0:
            first["num_clipped"] = first.get("num_clipped", 0) + 1
        return factor

    @staticmethod
    def _step_one(group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        step, delta = state["step"], state["delta"]
        delta.mul_(beta1)
        if p.numel() == 1:
            _scalar_update(group, p, grad, state)
        else:
            period = group["size_update_period"]
            state["scale_grads"][step % period] = torch.dot(p.reshape(-1), grad.reshape(-1))  # <p, g>
            if step % period == period - 1:
                state["param_rms"].copy_(_rms(p))
                if step > 0:
                    _scale_update(group, p, state)
            exp_avg_sq = state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = exp_avg_sq.sqrt()
            correction = 1 - beta2 ** (step + 1)
            if correction < 0.99:
                denom.div_(math.sqrt(correction))
            rms = max(float(state["param_rms"]), group["param_min_rms"])
            delta.addcdiv_(grad, denom.add_(group["eps"]), value=-group["lr"] * (1 - beta1) * rms)
            p.add_(delta)
        state["step"] = step + 1


def _rms(p: Tensor) -> Tensor:
    """The root-mean-square value of p, a 0-d tensor."""
    return torch.linalg.vector_norm(p) / math.sqrt(p.numel())


def _scale_update(group: dict[str, Any], p: Tensor, state: dict[str, Any]) -> None:
    """Learn p's overall scale: an Adam step on the period's summed <p, g>, added to the momentum."""
    beta1, beta2 = group["betas"]
    scale_grads: Tensor = state["scale_grads"]  # [period]
    period = scale_grads.shape[0]
    size_lr = group["lr"] * group["scalar_lr_scale"]
    beta2_period = beta2**period  # one update per period: a faster decay
    avg_sq = (
        state["scale_exp_avg_sq"].mul_(beta2_period).add_(scale_grads.square().mean(), alpha=1 - beta2_period)
    )
    size_step = (state["step"] + 1) // period
    correction = 1 - beta2_period**size_step
    scale_step = -size_lr * math.sqrt(correction) * scale_grads.sum() / (avg_sq.sqrt() + group["eps"])
    rms = float(state["param_rms"])
    if rms < group["param_min_rms"]:
        scale_step = torch.zeros_like(scale_step)  # too small: do not shrink it further
    elif rms > group["param_max_rms"]:
        scale_step = torch.full_like(scale_step, -size_lr * period)  # too large: shrink it
    state["delta"].add_(p * scale_step, alpha=1 - beta1)


def _scalar_update(group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]) -> None:
    """One-element parameters: Adam without first-moment correction, at lr * scalar_lr_scale, clamped."""
    beta1, beta2 = group["betas"]
    exp_avg_sq = state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    correction = 1 - beta2 ** (state["step"] + 1)
    denom = (exp_avg_sq / correction).sqrt() + group["eps"]
    state["delta"].add_(grad / denom, alpha=-group["lr"] * group["scalar_lr_scale"] * (1 - beta1))
    p.clamp_(-group["scalar_max"], group["scalar_max"])
    p.add_(state["delta"])


def original_gpt_lr_factor(step: int) -> float:
    """The original's effective GPT learning rate relative to ORIGINAL_GPT_LR: 0.01 on the first step, then 0.002 (its warmup +
    cosine scheduler ends every step by setting 0.002)."""
    return 1.0 if step == 0 else 0.2
