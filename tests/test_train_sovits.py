"""SoVITS trainer on a tiny model: finite losses written to CSV/PNG, an injected OOM retried as micro-batches with
weights matching the plain run, and LoRA on the text-encoder/flow weights merged back under the original names."""

from __future__ import annotations

import csv
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from timbre.audio.spectrogram import linear_spectrogram
from timbre.models.dropout import Dropout
from timbre.models.sovits import SynthesizerTrn
from timbre.models.sovits import model as sovits_model
from timbre.models.sovits.layers import slice_segments
from timbre.train.data import SoVITSItem
from timbre.train.loop import RunConfig
from timbre.train.lora import LoRAConfig
from timbre.train.recipe import SOVITS_LORA_TARGETS
from timbre.train.sovits_trainer import SoVITSTrainConfig, train_sovits
from timbre.train.tiny import TinyDiscriminator, tiny_sovits_config, voiced_clip

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def tiny_sovits_items(n: int, step: int = 3) -> list[SoVITSItem]:
    """n short voiced segments (21, 24, 27, … frames: odd and even lengths) with random HuBERT features."""
    g = torch.Generator().manual_seed(0)
    items = []
    for i in range(n):
        frames = 21 + step * i
        wav = torch.from_numpy(voiced_clip(frames * 640 / 32000, i))
        ssl = torch.randn(768, frames, generator=g)
        items.append(
            SoVITSItem(
                ssl, linear_spectrogram(wav[None])[0], wav, torch.randint(1, 700, (6 + i,), generator=g)
            )
        )
    return items


def _models(seed: int = 0) -> tuple[SynthesizerTrn, TinyDiscriminator]:
    torch.manual_seed(seed)
    generator = SynthesizerTrn(replace(tiny_sovits_config(), p_dropout=0.0))
    return generator, TinyDiscriminator()


def _run(out: Path, **changes) -> RunConfig:
    settings = dict(out_dir=out, epochs=1, max_frames=10_000, max_batch=2, seed=3, progress=False)
    return RunConfig(**(settings | changes))


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_losses_are_finite_and_written(tmp_path: Path) -> None:
    generator, discriminator = _models()
    before = _state(generator)
    trained = train_sovits(generator, discriminator, tiny_sovits_items(4), _run(tmp_path))
    with (tmp_path / "sovits.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2  # 4 items, batches of 2
    for key in (
        "loss_d",
        "loss_g",
        "loss_mel",
        "loss_kl",
        "loss_fm",
        "loss_gen",
        "grad_norm_g",
        "grad_norm_d",
        "lr",
    ):
        assert all(math.isfinite(float(r[key])) for r in rows), key
    assert (tmp_path / "sovits_losses.png").is_file()
    assert list((tmp_path / "checkpoints" / "sovits").glob("*.pt"))
    after = trained.state_dict()
    assert not trained.training and all(v.device.type == "cpu" for v in after.values())
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("dec."))


def _without_noise(monkeypatch: pytest.MonkeyPatch, generator: SynthesizerTrn) -> None:
    """No posterior noise, centred slices, no dropout: a batch and its micro-batches then see the same numbers
    (with noise they draw the same random stream in a different order, which is not a trainer property)."""
    monkeypatch.setattr(torch, "randn_like", lambda x, **_: torch.zeros_like(x))

    def centred(x: torch.Tensor, lengths: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        starts = ((lengths - size) // 2).long()
        return slice_segments(x, starts, size), starts

    monkeypatch.setattr(sovits_model, "rand_slice_segments", centred)
    for module in generator.modules():
        if isinstance(module, torch.nn.Dropout | Dropout):
            module.p = 0.0


def test_injected_oom_becomes_micro_batches_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # unequal lengths: the KL term (a mean over the batch's frames) is weighted by frames, the others by samples
    items = tiny_sovits_items(4, step=4)
    start, discriminator = _models()
    before = _state(start)
    _without_noise(monkeypatch, start)
    plain = train_sovits(start, discriminator, items, _run(tmp_path / "plain"))

    original = SynthesizerTrn.forward
    calls = {"oom": 0}

    def flaky(self, ssl, *args):  # type: ignore[no-untyped-def]
        if ssl.shape[0] > 1:
            calls["oom"] += 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB (injected)")
        return original(self, ssl, *args)

    monkeypatch.setattr(SynthesizerTrn, "forward", flaky)
    generator, discriminator = _models()
    _without_noise(monkeypatch, generator)
    split = train_sovits(generator, discriminator, items, _run(tmp_path / "split"))
    assert calls["oom"] == 1  # the split is remembered after the first failure
    ckpt = sorted((tmp_path / "split" / "checkpoints" / "sovits").glob("*.pt"))[-1]
    assert torch.load(ckpt, weights_only=True)["micro_splits"] == 2
    a, b = plain.state_dict(), split.state_dict()
    moved = sum(float((a[k].float() - before[k].float()).abs().sum()) for k in a)
    differ = sum(float((a[k].float() - b[k].float()).abs().sum()) for k in a)
    # measured 1.5e-4: float rounding, amplified where a near-zero gradient flips the sign of an Adam step
    assert moved > 0 and differ / moved < 1e-3, differ / moved


def test_lora_trains_only_text_and_flow_weights(tmp_path: Path) -> None:
    generator, discriminator = _models()
    before = _state(generator)
    cfg = SoVITSTrainConfig(lr=1e-3, lora=LoRAConfig(rank=2, alpha=4, targets=SOVITS_LORA_TARGETS))
    trained = train_sovits(generator, discriminator, tiny_sovits_items(4), _run(tmp_path), cfg)
    after = trained.state_dict()
    assert sorted(after) == sorted(before)  # LoRA merged: the original parameter names, nothing added
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("enc_p.") for k in changed) and any(k.startswith("flow.") for k in changed)
    assert all(k.startswith(("enc_p.", "flow.")) for k in changed), sorted(changed)[:5]
    assert any(".weight_v" in k for k in changed if k.startswith("flow."))  # weight-normed convs adapted too


def test_ctrl_c_saves_the_step_it_stopped_after(tmp_path: Path) -> None:
    import signal

    from timbre.errors import TrainingInterrupted

    def ctrl_c(step: int) -> None:
        if step == 1:
            signal.raise_signal(signal.SIGINT)  # handled: the loop finishes this step, checkpoints and stops

    generator, discriminator = _models()
    run = _run(tmp_path, epochs=3, max_batch=1, on_step=ctrl_c)
    with pytest.raises(TrainingInterrupted, match="SoVITS training stopped after step 1 .*--resume"):
        train_sovits(generator, discriminator, tiny_sovits_items(2), run)
    state = torch.load(tmp_path / "checkpoints" / "sovits" / "step-000000001.pt", weights_only=True)
    assert state["position"] == {"epoch": 0, "batch_in_epoch": 1, "step": 1}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Python's handler is back
