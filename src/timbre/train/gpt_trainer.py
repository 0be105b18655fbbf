"""Stage 2: fine-tune the GPT (Text2SemanticDecoder) with teacher-forced cross-entropy, as the original's forward.

One loop: bucketed batches → (micro-batches on OOM) → autocast forward/backward with loss scaled for accumulation →
unscale, clip, step every `accum` batches → checkpoint every `save_every` steps and at each epoch end. AdamW with linear
warmup and cosine decay by default; `optimizer="scaled-adam"` trains as the original does (`timbre.train.scaled_adam`:
ScaledAdam, 0.01 on the first step and 0.002 after). Resuming restores weights, optimizer, scheduler, scaler,
RNG and the position inside the epoch, so an interrupted run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from timbre.models.gpt import Text2SemanticDecoder
from timbre.train.checkpoints import CheckpointManager, stage_checkpoints
from timbre.train.data import GPTBatch, GPTItem, ListDataset, collate_gpt
from timbre.train.loop import (
    Position,
    RunConfig,
    adamw,
    clip_gradients,
    make_loader,
    maybe_compile,
    progress_bar,
    read_logs,
    restore_state,
    run_signature,
    save_state,
    stop_if_requested,
    stop_on_signals,
    training_session,
    unwrap,
    wrap_ddp,
)
from timbre.train.lora import LoRAConfig, apply_lora, lora_parameters, merge_lora
from timbre.train.metrics import MetricsLogger
from timbre.train.oom import OomBackoff
from timbre.train.scaled_adam import ORIGINAL_GPT_LR, ScaledAdam, original_gpt_lr_factor

GPT_OPTIMIZERS = ("adamw", "scaled-adam")


@dataclass(frozen=True)
class GPTTrainConfig:
    lr: float = 1e-4
    lr_end_ratio: float = 0.1
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float | None = 1.0  # total-norm clipping; None: measure only
    lora: LoRAConfig | None = None
    # "scaled-adam": the original's optimizer and rate (ORIGINAL_GPT_LR, then 0.2 x it; `lr`, `betas`, `weight_decay`
    # and the warmup/decay fields are AdamW's); it clips by its own rule, so leave grad_clip None to match it
    optimizer: Literal["adamw", "scaled-adam"] = "adamw"

    def __post_init__(self) -> None:
        if self.optimizer not in GPT_OPTIMIZERS:
            raise ValueError(
                f"GPT optimizer must be one of {', '.join(GPT_OPTIMIZERS)}, got {self.optimizer!r}"
            )


def lr_lambda(total_steps: int, cfg: GPTTrainConfig) -> Any:
    warmup = max(1, int(total_steps * cfg.warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return cfg.lr_end_ratio + (1 - cfg.lr_end_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def train_gpt(
    model: Text2SemanticDecoder, items: Sequence[GPTItem], run: RunConfig, cfg: GPTTrainConfig | None = None
) -> Text2SemanticDecoder:
    """Fine-tune `model` in place on `items`; returns the trained model (LoRA merged, on CPU, eval mode)."""
    cfg = cfg or GPTTrainConfig()
    if not items:
        raise ValueError("no GPT training items: the dataset has no usable segments")
    with training_session(run) as (env, device, amp):
        model.to(device).train()
        if cfg.lora is not None:
            apply_lora(model, cfg.lora)
        params = (
            lora_parameters(model)
            if cfg.lora is not None
            else [p for p in model.parameters() if p.requires_grad]
        )
        net = maybe_compile(wrap_ddp(model, env, device), run)
        lengths = [len(it.phone_ids) + len(it.semantic) for it in items]
        sampler, loader = make_loader(ListDataset(items), lengths, run, env, collate_gpt, device)
        optimizer: torch.optim.Optimizer
        if cfg.optimizer == "scaled-adam":
            optimizer = ScaledAdam(params, ORIGINAL_GPT_LR)  # its defaults are the original's GPT settings
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, original_gpt_lr_factor)
        else:
            optimizer = adamw(params, cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
            total_steps = max(1, run.epochs * math.ceil(len(sampler) / run.accum))
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(total_steps, cfg))
        scaler = amp.grad_scaler()
        backoff = OomBackoff(distributed=env.is_distributed)
        signature = run_signature(run, env, lengths)
        if cfg.optimizer != "adamw":  # (absent for AdamW, so that earlier checkpoints still match)
            signature["optimizer"] = cfg.optimizer  # its state does not load into the other optimizer
        ckpts = CheckpointManager(stage_checkpoints(run.out_dir, "gpt"), run.keep_last, signature)
        modules = {"gpt": model}
        states = {"optimizer": optimizer, "scheduler": scheduler, "scaler": scaler}
        pos = restore_state(ckpts, modules, states, backoff, env) if run.resume else Position()
        metrics = MetricsLogger(
            run.out_dir, "gpt", tensorboard=env.is_main, resume_step=pos.step if run.resume else None
        )

        def micro_step(batch: GPTBatch, weight: float) -> tuple[torch.Tensor, torch.Tensor]:
            # targets incl. the EOS after each sequence, counted while the lengths are still on the CPU
            tokens = int((batch.semantic_lens + 1).sum())
            batch = GPTBatch(*(t.to(device, non_blocking=True) for t in batch))
            with amp.autocast():
                out = net(
                    batch.phone_ids, batch.phone_lens, batch.semantic_ids, batch.semantic_lens, batch.bert
                )
            loss = out.loss.float() / tokens
            scaler.scale(loss * weight / run.accum).backward()
            return loss.detach() * weight, out.acc.detach().float() * weight  # read at log time (`read_logs`)

        with (
            progress_bar(run.progress and env.is_main) as bar,
            stop_on_signals() as stop,
        ):
            task = bar.add_task(
                "GPT", total=run.epochs * len(sampler), completed=pos.epoch * len(sampler), metrics=""
            )
            bar.advance(task, pos.batch_in_epoch)
            for epoch in range(pos.epoch, run.epochs):
                sampler.set_epoch(epoch, skip=pos.batch_in_epoch)
                pending = 0
                for batch in loader():
                    parts = backoff.run(batch, micro_step, reset=optimizer.zero_grad)
                    loss = sum(p[0] for p in parts)
                    acc = sum(p[1] for p in parts)
                    pos.batch_in_epoch += 1
                    pending += 1
                    bar.advance(task)
                    if pending < run.accum and pos.batch_in_epoch < len(sampler) + sampler.skip:
                        continue
                    pending = 0
                    scaler.unscale_(optimizer)
                    grad_norm = clip_gradients(params, cfg.grad_clip)
                    scaler.step(optimizer)
                    scaler.update()
                    optimizer.zero_grad(set_to_none=True)
                    lr = float(scheduler.get_last_lr()[0])  # the rate this step used, for the log
                    scheduler.step()
                    pos.step += 1
                    if pos.step % run.log_every == 0:
                        values = read_logs({"loss": loss, "top3_acc": acc, "grad_norm": grad_norm})
                        values["lr"] = lr
                        if env.is_main:
                            metrics.log(pos.step, values)
                        bar.update(task, metrics=f"loss {values['loss']:.3f} acc {values['top3_acc']:.2f}")
                    if run.save_every and pos.step % run.save_every == 0:
                        save_state(ckpts, pos, modules, states, backoff, env)
                    if run.on_step is not None:
                        run.on_step(pos.step)
                    stop_if_requested(stop, "GPT", ckpts, pos, modules, states, backoff, metrics, env)
                pos.epoch, pos.batch_in_epoch = epoch + 1, 0
                save_state(ckpts, pos, modules, states, backoff, env)
        if env.is_main:
            metrics.plot()
        metrics.close()
    trained = unwrap(net)
    if cfg.lora is not None:
        merge_lora(trained)
    return trained.cpu().eval()  # type: ignore[return-value]
