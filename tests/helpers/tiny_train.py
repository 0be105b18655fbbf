"""Tiny models and data for training tests; also run as a script by the kill-and-resume test."""

from __future__ import annotations

import os
import signal
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
    out: Path, resume: bool, kill_at: int | None = None, epochs: int = 3
) -> Text2SemanticDecoder:
    def on_step(step: int) -> None:
        if kill_at is not None and step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

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
    )
    return train_gpt(tiny_gpt(), tiny_gpt_items(), run, GPTTrainConfig(lr=3e-3))


if __name__ == "__main__":
    torch.set_num_threads(1)
    out_dir, mode = Path(sys.argv[1]), sys.argv[2]
    model = run_tiny_gpt(
        out_dir, resume=(mode == "resume"), kill_at=int(sys.argv[3]) if mode == "kill" else None
    )
    torch.save(model.state_dict(), out_dir / "final.pt")
