"""`--batch-size auto`: the largest batch of the longest training items whose step fits in accelerator memory.

Each probe runs one forward and backward pass (generator and discriminator for SoVITS) on `size` copies of the
longest item, then drops the gradients; `timbre.train.oom.probe_batch_size` doubles the size until it runs out of
memory. The result is only as good as the longest item is representative, and the OOM back-off still guards the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from timbre.train.data import GPTItem, SoVITSItem, collate_gpt, collate_sovits
from timbre.train.oom import probe_batch_size
from timbre.train.precision import AmpPolicy
from timbre.train.sovits_trainer import to_device

Probe = Callable[[int], None]


def probe(try_batch: Probe, limit: int) -> int:
    return probe_batch_size(try_batch, start=1, limit=limit)


def _drop_grads(*modules: nn.Module) -> None:
    for module in modules:
        module.zero_grad(set_to_none=True)


def sovits_probe(
    model: nn.Module,
    discriminator: nn.Module,
    items: Sequence[SoVITSItem],
    device: torch.device,
    precision: str,
) -> Probe:
    longest = max(items, key=lambda it: it.spec.shape[-1])
    amp = AmpPolicy.create(precision, device)

    def try_batch(size: int) -> None:
        b = to_device(collate_sovits([longest] * size), device)
        model.to(device).train()
        discriminator.to(device).train()
        try:
            with amp.autocast():
                out = model(b.ssl, b.spec, b.spec_lengths, b.text, b.text_lengths, b.sv_emb)
                fake = out.y_hat
                scores = discriminator(fake.detach(), fake)
                loss = sum(s.float().mean() for s in scores.fake_scores) + fake.float().abs().mean()
            loss.backward()
        finally:
            _drop_grads(model, discriminator)

    return try_batch


def gpt_probe(model: nn.Module, items: Sequence[GPTItem], device: torch.device, precision: str) -> Probe:
    longest = max(items, key=lambda it: len(it.phone_ids) + len(it.semantic))
    amp = AmpPolicy.create(precision, device)

    def try_batch(size: int) -> None:
        b = collate_gpt([longest] * size)
        b = type(b)(*(t.to(device) for t in b))
        model.to(device).train()
        try:
            with amp.autocast():
                out = model(b.phone_ids, b.phone_lens, b.semantic_ids, b.semantic_lens, b.bert)
            out.loss.float().backward()
        finally:
            _drop_grads(model)

    return try_batch
