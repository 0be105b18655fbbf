"""Tiny models and data for training tests; also run as a script by the kill-and-resume test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

from timbre.models.gpt import GPTConfig, Text2SemanticDecoder
from timbre.train.data import GPTItem
from timbre.train.gpt_trainer import GPTTrainConfig, train_gpt
from timbre.train.loop import RunConfig

TINY_GPT = GPTConfig(
    phoneme_vocab_size=40,
    vocab_size=33,
    eos=32,
    embedding_dim=32,
    hidden_dim=32,
    n_head=2,
    n_layer=2,
    ffn_dim=128,
    bert_dim=16,
)


def tiny_gpt(seed: int = 0) -> Text2SemanticDecoder:
    torch.manual_seed(seed)
    return Text2SemanticDecoder(TINY_GPT)


def tiny_gpt_items(n: int = 12, seed: int = 0) -> list[GPTItem]:
    g = torch.Generator().manual_seed(seed)
    items = []
    for i in range(n):
        nx, ny = 5 + i % 4, 8 + (i * 3) % 7
        items.append(
            GPTItem(
                torch.randint(1, 40, (nx,), generator=g),
                torch.randn(16, nx, generator=g),
                torch.randint(0, 32, (ny,), generator=g),
            )
        )
    return items


def run_tiny_gpt(
    out: Path,
    resume: bool,
    kill_at: int | None = None,
    epochs: int = 3,
    sig: int = signal.SIGKILL,
    workers: int = 0,
) -> Text2SemanticDecoder:
    """`workers` > 0: DataLoader worker processes, and the signal goes to the whole process group (as a terminal's
    Ctrl-C, `kill -- -PGID`, Slurm or docker would send it), workers included."""

    def on_step(step: int) -> None:
        if kill_at is not None and step == kill_at:
            if (
                workers
            ):  # sent by another process (a worker takes a SIGTERM from its trainer as its cue to exit)
                subprocess.run(["kill", f"-{int(sig)}", "--", f"-{os.getpgid(0)}"], check=False)  # noqa: S603, S607
            else:
                os.kill(os.getpid(), sig)

    run = RunConfig(
        out_dir=out,
        epochs=epochs,
        max_frames=60,
        max_batch=4,
        save_every=2,
        seed=7,
        resume=resume,
        progress=False,
        on_step=on_step,
        num_workers=workers,
    )
    return train_gpt(tiny_gpt(), tiny_gpt_items(), run, GPTTrainConfig(lr=3e-3))


if __name__ == "__main__":
    from timbre.errors import TrainingInterrupted

    torch.set_num_threads(1)
    # a shell starts background jobs with SIGINT ignored, and Python then leaves it ignored (so would timbre): give
    # this script a terminal's Ctrl-C whatever the test suite was started from
    signal.signal(signal.SIGINT, signal.default_int_handler)
    out_dir, mode = Path(sys.argv[1]), sys.argv[2]
    try:
        model = run_tiny_gpt(
            out_dir,
            resume=(mode == "resume"),
            kill_at=int(sys.argv[3]) if mode in ("kill", "interrupt", "terminate") else None,
            sig={"interrupt": signal.SIGINT, "terminate": signal.SIGTERM}.get(mode, signal.SIGKILL),
            workers=2 if mode == "terminate" else 0,
        )
    except TrainingInterrupted as exc:
        print(exc)
        sys.exit(130)
    torch.save(model.state_dict(), out_dir / "final.pt")


def tiny_sovits_config(version: str = "v2"):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from timbre.models.sovits import SoVITSConfig

    return replace(
        SoVITSConfig.for_version(version),
        filter_channels=64,
        n_layers=1,
        upsample_rates=(10, 8, 8),
        upsample_kernel_sizes=(20, 16, 16),
        upsample_initial_channel=32,
        resblock_kernel_sizes=(3,),
        resblock_dilation_sizes=((1, 3),),
        n_layers_q=1,
        segment_size_samples=640 * 8,
    )


def tiny_sovits_items(n: int = 4, seed: int = 0):  # type: ignore[no-untyped-def]
    from timbre.audio.spectrogram import linear_spectrogram
    from timbre.train.data import SoVITSItem

    g = torch.Generator().manual_seed(seed)
    items = []
    for i in range(n):
        frames = 20 + 4 * i
        t = torch.arange(frames * 640) / 32000
        wav = 0.3 * torch.sin(2 * torch.pi * (120 + 20 * i) * t) + 0.01 * torch.randn(
            frames * 640, generator=g
        )
        spec = linear_spectrogram(wav[None])[0]
        items.append(
            SoVITSItem(
                torch.randn(768, frames, generator=g), spec, wav, torch.randint(1, 700, (6 + i,), generator=g)
            )
        )
    return items


class TinyDiscriminator(torch.nn.Module):
    """Two small period/scale critics returning the same structure as the real multi-period discriminator."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.ModuleList(
            [torch.nn.Conv1d(1, 4, 15, 4, padding=7), torch.nn.Conv1d(4, 1, 3, padding=1)]
        )
        self.period = torch.nn.ModuleList(
            [
                torch.nn.Conv2d(1, 4, (5, 1), (3, 1), padding=(2, 0)),
                torch.nn.Conv2d(4, 1, (3, 1), padding=(1, 0)),
            ]
        )

    def _run(self, layers: torch.nn.ModuleList, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        fmaps = []
        for i, layer in enumerate(layers):
            x = layer(x)
            if i < len(layers) - 1:
                x = torch.nn.functional.leaky_relu(x, 0.1)
            fmaps.append(x)
        return x.flatten(1), fmaps

    def forward(self, y: torch.Tensor, y_hat: torch.Tensor):  # type: ignore[no-untyped-def]
        from timbre.models.discriminators import DiscriminatorOutput

        scores_r, scores_g, fm_r, fm_g = [], [], [], []
        for x, scores, fmaps in ((y, scores_r, fm_r), (y_hat, scores_g, fm_g)):
            s, f = self._run(self.scale, x)
            scores.append(s)
            fmaps.append(f)
            p, f = self._run(self.period, x.view(x.shape[0], 1, -1, 2))
            scores.append(p)
            fmaps.append(f)
        return DiscriminatorOutput(scores_r, scores_g, fm_r, fm_g)
