"""Stage 1: fine-tune SoVITS (posterior encoder + flow + HiFi-GAN) against the multi-period discriminator.

Losses as the original: generator = LSGAN adversarial + feature matching ×2 + mel L1 × c_mel (45) + KL × c_kl +
quantizer commitment; discriminator = LSGAN. AdamW (lr 1e-4, betas 0.8/0.99, eps 1e-9) for both nets, the text branch
(`enc_p.text_embedding`, `enc_p.encoder_text`, `enc_p.mrte`) at `text_low_lr_rate` × lr, learning rates decayed by
`lr_decay` every epoch. Gradients are not clipped by default (the original logs their norm only); `grad_clip` clips
the total norm.

A step sees a group of micro-batches (the batches of one accumulation window, each possibly split after an
out-of-memory error). Pass 1 runs the generator on each and accumulates the discriminator's gradients; the
discriminator steps; pass 2 scores the generated audio with the updated discriminator and accumulates the generator's
gradients (reusing the pass-1 graph when the group is a single micro-batch, else recomputing it under the same RNG
state); the generator steps. With one micro-batch this is exactly the original's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from timbre.audio.spectrogram import mel_spectrogram, spec_to_mel
from timbre.models.discriminators import MultiPeriodDiscriminator
from timbre.models.losses import discriminator_loss, feature_loss, generator_loss, kl_loss
from timbre.models.sovits import SynthesizerTrn, slice_segments
from timbre.train.checkpoints import CheckpointManager, stage_checkpoints
from timbre.train.data import ListDataset, SoVITSBatch, SoVITSItem, collate_sovits
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

TEXT_BRANCH = ("enc_p.text_embedding.", "enc_p.encoder_text.", "enc_p.mrte.")


@dataclass(frozen=True)
class SoVITSTrainConfig:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.8, 0.99)
    eps: float = 1e-9
    lr_decay: float = 0.999875
    text_low_lr_rate: float = 0.4
    c_mel: float = 45.0
    c_kl: float = 1.0
    grad_clip: float | None = None  # the original only measures the norm (clip_grad_value_(params, None))
    lora: LoRAConfig | None = None  # e.g. targets ("enc_p.*.weight", "flow.*.weight")


def to_device(batch: SoVITSBatch, device: torch.device) -> SoVITSBatch:
    moved = [t.to(device, non_blocking=True) if t is not None else None for t in batch]
    return SoVITSBatch(*moved)  # type: ignore[arg-type]


def _no_sync(net: torch.nn.Module) -> AbstractContextManager[object]:
    """DDP's no_sync (no gradient all-reduce for this forward's backward), or nothing for a plain module."""
    no_sync = getattr(net, "no_sync", None)
    return no_sync() if callable(no_sync) else nullcontext()


def generator_groups(
    model: SynthesizerTrn, cfg: SoVITSTrainConfig, trainable: list[torch.nn.Parameter]
) -> list[dict]:
    ids = {id(p) for p in trainable}
    text = [p for n, p in model.named_parameters() if n.startswith(TEXT_BRANCH) and id(p) in ids]
    text_ids = {id(p) for p in text}
    base = [p for p in trainable if id(p) not in text_ids]
    groups = [{"params": base, "lr": cfg.lr}]
    if text:
        groups.append({"params": text, "lr": cfg.lr * cfg.text_low_lr_rate})
    return groups


def train_sovits(
    model: SynthesizerTrn,
    discriminator: MultiPeriodDiscriminator,
    items: Sequence[SoVITSItem],
    run: RunConfig,
    cfg: SoVITSTrainConfig | None = None,
) -> SynthesizerTrn:
    """Fine-tune `model` (and `discriminator`) in place; returns the generator on CPU in eval mode (LoRA merged)."""
    cfg = cfg or SoVITSTrainConfig()
    seg = model.cfg.segment_frames
    usable = [it for it in items if min(it.spec.shape[-1], it.wav.shape[-1] // model.cfg.hop_length) >= seg]
    if not usable:
        raise ValueError(
            f"no SoVITS training item is at least {seg} frames ({seg * model.cfg.hop_length / 32000:.2f} s)"
        )
    hop = model.cfg.hop_length
    with training_session(run) as (env, device, amp):
        model.to(device).train()
        discriminator.to(device).train()
        if cfg.lora is not None:
            apply_lora(model, cfg.lora)
        g_params = lora_parameters(model) if cfg.lora else [p for p in model.parameters() if p.requires_grad]
        d_params = [p for p in discriminator.parameters() if p.requires_grad]
        # the frozen quantizer's projection runs without a graph, as the original's: its parameters get no gradient
        # (with LoRA only the adapters train, and all of them do; so does every parameter of D and of the GPT)
        net_g = maybe_compile(wrap_ddp(model, env, device, find_unused=cfg.lora is None), run)
        net_d = maybe_compile(wrap_ddp(discriminator, env, device), run)
        optim_g = adamw(generator_groups(model, cfg, g_params), cfg.lr, betas=cfg.betas, eps=cfg.eps)
        optim_d = adamw(d_params, cfg.lr, betas=cfg.betas, eps=cfg.eps)
        sched_g = torch.optim.lr_scheduler.ExponentialLR(optim_g, gamma=cfg.lr_decay)
        sched_d = torch.optim.lr_scheduler.ExponentialLR(optim_d, gamma=cfg.lr_decay)
        scaler = amp.grad_scaler()
        lengths = [it.spec.shape[-1] for it in usable]
        sampler, loader = make_loader(ListDataset(usable), lengths, run, env, collate_sovits, device)
        backoff = OomBackoff(distributed=env.is_distributed)
        ckpts = CheckpointManager(
            stage_checkpoints(run.out_dir, "sovits"), run.keep_last, run_signature(run, env, lengths)
        )
        modules = {"generator": model, "discriminator": discriminator}
        states = {
            "optim_g": optim_g,
            "optim_d": optim_d,
            "sched_g": sched_g,
            "sched_d": sched_d,
            "scaler": scaler,
        }
        pos = restore_state(ckpts, modules, states, backoff, env) if run.resume else Position()
        metrics = MetricsLogger(
            run.out_dir, "sovits", tensorboard=env.is_main, resume_step=pos.step if run.resume else None
        )

        def generate(b: SoVITSBatch) -> tuple[Any, torch.Tensor, torch.Tensor]:
            with amp.autocast():
                out = net_g(b.ssl, b.spec, b.spec_lengths, b.text, b.text_lengths, b.sv_emb)
            y = slice_segments(b.wav, out.ids_slice * hop, seg * hop)  # [B, 1, seg * hop]
            y_mel = slice_segments(spec_to_mel(b.spec.float()), out.ids_slice, seg)
            return out, y, y_mel

        def gan_step(parts: list[tuple[SoVITSBatch, float]]) -> dict[str, torch.Tensor]:
            parts = [(to_device(b, device), w) for b, w in parts]
            # logged values stay tensors on the device until `read_logs` (an `.item()` here would stall the GPU)
            kept, rng_states = [], []
            logs: dict[str, Any] = {}
            for b, w in parts:  # pass 1: generator forward, discriminator gradients
                rng_states.append(torch.get_rng_state())
                out, y, y_mel = generate(b)
                with amp.autocast():
                    scores = net_d(y, out.y_hat.detach())
                loss_d, _, _ = discriminator_loss(scores.real_scores, scores.fake_scores)
                scaler.scale(loss_d * w).backward()
                logs["loss_d"] = logs.get("loss_d", 0.0) + loss_d.detach() * w
                kept.append((out, y, y_mel) if len(parts) == 1 else None)
            scaler.unscale_(optim_d)
            logs["grad_norm_d"] = clip_gradients(d_params, cfg.grad_clip)
            scaler.step(optim_d)
            after_pass1 = torch.get_rng_state()
            frames = sum(float(b.spec_lengths.sum()) for b, _ in parts)  # KL is a mean over all valid frames
            for (b, w), saved, rng in zip(
                parts, kept, rng_states, strict=True
            ):  # pass 2: generator gradients
                if saved is None:
                    torch.set_rng_state(rng)
                    saved = generate(b)
                out, y, y_mel = saved
                with amp.autocast(), _no_sync(net_d):  # D's gradients are not wanted in this pass
                    scores = net_d(y, out.y_hat, real_grad=False)
                y_hat_mel = mel_spectrogram(out.y_hat.squeeze(1).float())
                terms = {
                    "loss_mel": F.l1_loss(y_mel, y_hat_mel) * cfg.c_mel,
                    "loss_kl": kl_loss(out.z_p, out.logs_q, out.m_p, out.logs_p, out.z_mask) * cfg.c_kl,
                    "loss_fm": feature_loss(scores.real_fmaps, scores.fake_fmaps),
                    "loss_gen": generator_loss(scores.fake_scores)[0],
                    "loss_commit": out.commit_loss.float(),
                }
                weights = {k: w for k in terms} | {"loss_kl": float(b.spec_lengths.sum()) / frames}
                total = sum(terms[k] * weights[k] for k in terms)
                # generator gradients only: D already stepped, so its weight gradients would be computed for nothing
                torch.autograd.backward(scaler.scale(total), inputs=g_params)
                for k, v in terms.items():
                    logs[k] = logs.get(k, 0.0) + v.detach() * weights[k]
                logs["loss_g"] = logs.get("loss_g", 0.0) + total.detach()
            torch.set_rng_state(after_pass1)
            scaler.unscale_(optim_g)
            logs["grad_norm_g"] = clip_gradients(g_params, cfg.grad_clip)
            scaler.step(optim_g)
            scaler.update()
            return logs

        def zero_grads() -> None:
            optim_g.zero_grad(set_to_none=True)
            optim_d.zero_grad(set_to_none=True)

        with (
            progress_bar(run.progress and env.is_main) as bar,
            stop_on_signals() as stop,
        ):
            task = bar.add_task(
                "SoVITS", total=run.epochs * len(sampler), completed=pos.epoch * len(sampler), metrics=""
            )
            bar.advance(task, pos.batch_in_epoch)
            for epoch in range(pos.epoch, run.epochs):
                sampler.set_epoch(epoch, skip=pos.batch_in_epoch)
                window: list[SoVITSBatch] = []
                for batch in loader():
                    window.append(batch)
                    pos.batch_in_epoch += 1
                    bar.advance(task)
                    if len(window) < run.accum and pos.batch_in_epoch < len(sampler) + sampler.skip:
                        continue
                    zero_grads()
                    logs = backoff.run_parts(window, gan_step, reset=zero_grads)
                    window = []
                    pos.step += 1
                    if pos.step % run.log_every == 0:
                        values = read_logs(logs)
                        values["lr"] = float(sched_g.get_last_lr()[0])
                        if env.is_main:
                            metrics.log(pos.step, values)
                        bar.update(task, metrics=f"mel {values['loss_mel']:.2f} d {values['loss_d']:.2f}")
                    if run.save_every and pos.step % run.save_every == 0:
                        save_state(ckpts, pos, modules, states, backoff, env)
                    if run.on_step is not None:
                        run.on_step(pos.step)
                    stop_if_requested(stop, "SoVITS", ckpts, pos, modules, states, backoff, metrics, env)
                sched_g.step()
                sched_d.step()
                pos.epoch, pos.batch_in_epoch = epoch + 1, 0
                save_state(ckpts, pos, modules, states, backoff, env)
        if env.is_main:
            metrics.plot()
        metrics.close()
    trained = unwrap(net_g)
    if cfg.lora is not None:
        merge_lora(trained)
    discriminator.cpu()
    return trained.cpu().eval()  # type: ignore[return-value]
