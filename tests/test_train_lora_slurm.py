"""LoRA attach/train/merge keeps the original parameter names; the Slurm script is valid bash with the right settings."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from torch import nn

from timbre.train.lora import LoRAConfig, apply_lora, lora_parameters, merge_lora
from timbre.train.slurm import SlurmConfig, sbatch_script


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear1 = nn.Linear(8, 16)
        self.linear2 = nn.Linear(16, 8)
        self.conv = nn.Conv1d(8, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, 8, T]
        h = self.conv(x).transpose(1, 2)
        return self.linear2(torch.relu(self.linear1(h))).transpose(1, 2)


def test_lora_starts_as_identity_trains_and_merges() -> None:
    torch.manual_seed(0)
    model = Block()
    names_before = list(model.state_dict())
    x = torch.randn(2, 8, 5)
    y0 = model(x).detach()
    adapted = apply_lora(model, LoRAConfig(rank=2, alpha=4, targets=("linear*.weight", "conv.weight")))
    assert len(adapted) == 3
    torch.testing.assert_close(model(x), y0)  # B = 0 at the start
    params = lora_parameters(model)
    assert params and all(p.requires_grad for p in params)
    assert not any(p.requires_grad for n, p in model.named_parameters() if "lora_" not in n)
    opt = torch.optim.SGD(params, lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    y_lora = model(x).detach()
    assert not torch.allclose(y_lora, y0)
    merge_lora(model)
    assert sorted(model.state_dict()) == sorted(names_before)
    torch.testing.assert_close(model(x), y_lora, rtol=1e-5, atol=1e-6)


def test_lora_rejects_bad_config() -> None:
    with pytest.raises(ValueError, match="rank"):
        LoRAConfig(rank=0)
    with pytest.raises(ValueError, match="no weight"):
        apply_lora(Block(), LoRAConfig(targets=("nothing.*",)))


def test_sbatch_script(tmp_path: Path) -> None:
    cfg = SlurmConfig(nodes=2, gpus_per_node=4, partition="gpu")
    text = sbatch_script(["data dir", "--out", "voice;rm -rf /"], cfg, tmp_path)
    assert "#SBATCH --nodes=2" in text and "#SBATCH --gpus-per-node=4" in text
    assert "--nproc-per-node=4" in text and "--rdzv-backend=c10d" in text
    assert "'voice;rm -rf /'" in text and "'data dir'" in text
    script = tmp_path / "train.sbatch"
    script.write_text(text)
    bash = shutil.which("bash")
    assert bash
    subprocess.run([bash, "-n", str(script)], check=True)
    with pytest.raises(ValueError):
        SlurmConfig(time="forever")
    with pytest.raises(ValueError):
        SlurmConfig(job_name="x; reboot")
