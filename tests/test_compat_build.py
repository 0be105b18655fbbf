"""Modules from checkpoints (strict loading) and timbre's modules against the reference manifests."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from timbre.compat.build import build_model, check_manifest
from timbre.compat.checkpoints import (
    GPTCheckpoint,
    SoVITSCheckpoint,
    load_gpt,
    load_sovits,
    save_gpt_ckpt,
    save_sovits_pth,
)
from timbre.errors import CheckpointError

MANIFESTS = sorted(p.stem for p in (Path(__file__).parent / "fixtures/compat/manifests").glob("*.json"))


def _manifest(compat_dir: Path, name: str) -> dict:
    return json.loads((compat_dir / "manifests" / f"{name}.json").read_text("utf-8"))


@pytest.mark.parametrize("name", MANIFESTS)
def test_models_match_reference_manifests(compat_dir: Path, name: str) -> None:
    report = check_manifest(_manifest(compat_dir, name))
    assert report.ok, report.summary()


def _small_sovits(compat_dir: Path) -> SoVITSCheckpoint:
    from timbre.models.sovits import SoVITSConfig, SynthesizerTrn

    config = copy.deepcopy(_manifest(compat_dir, "sovits_v2_SynthesizerTrn")["config"])
    config["model"].update(
        inter_channels=8,
        hidden_channels=8,
        filter_channels=16,
        n_layers=1,
        upsample_initial_channel=64,
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1]],
    )
    torch.manual_seed(0)
    model = SynthesizerTrn(SoVITSConfig.from_original(config))
    return SoVITSCheckpoint("v2", config, dict(model.state_dict()), "1epoch_1iteration")


def _small_gpt() -> GPTCheckpoint:
    from timbre.models.gpt import GPTConfig, Text2SemanticDecoder, original_config

    config = original_config("v2")
    config["model"].update(embedding_dim=32, hidden_dim=32, head=2, linear_units=128, n_layer=1)
    torch.manual_seed(0)
    model = Text2SemanticDecoder(GPTConfig.from_original(config))
    return GPTCheckpoint("v2", config, dict(model.state_dict()), "GPT-e1")


def test_build_sovits_from_pth(tmp_path: Path, compat_dir: Path) -> None:
    ckpt = _small_sovits(compat_dir)
    loaded = load_sovits(save_sovits_pth(ckpt, tmp_path / "s.pth", half=False))  # enc_q.* dropped on save
    model = build_model(loaded)
    assert not model.training
    for key, value in model.state_dict().items():
        if not key.startswith("enc_q."):
            assert torch.equal(value, ckpt.state_dict[key]), key


def test_build_gpt_from_ckpt(tmp_path: Path) -> None:
    ckpt = _small_gpt()
    model = build_model(load_gpt(save_gpt_ckpt(ckpt, tmp_path / "g.ckpt", half=False)))
    got = model.state_dict()
    assert sorted(got) == sorted(ckpt.state_dict)
    assert all(torch.equal(got[k], v) for k, v in ckpt.state_dict.items())


def test_build_refuses_weights_that_do_not_fit() -> None:
    ckpt = _small_gpt()
    state = ckpt.state_dict
    first = next(iter(state))
    broken = {
        "missing": {k: v for k, v in state.items() if k != first},
        "unexpected": {**state, "extra.weight": torch.zeros(1)},
        "shape": {**state, first: torch.zeros(3, 3)},
    }
    for problem, state_dict in broken.items():
        with pytest.raises(CheckpointError, match=problem):
            build_model(GPTCheckpoint("v2", ckpt.config, state_dict))
