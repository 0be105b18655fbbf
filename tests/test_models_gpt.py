"""The text-to-semantic GPT: manifest-exact parameters, config round trip, the training forward against the original."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from timbre.compat import vectors_gpt
from timbre.compat.vectors import VectorSet
from timbre.errors import TimbreError
from timbre.models.gpt import GPTConfig, Text2SemanticDecoder, original_config

COMPAT = Path(__file__).parent / "fixtures" / "compat"
TINY = GPTConfig(embedding_dim=32, hidden_dim=32, n_head=4, n_layer=2, ffn_dim=128)


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def _manifest(name: str) -> dict:
    return json.loads((COMPAT / "manifests" / f"{name}.json").read_text())


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_state_dict_equals_manifest_in_order_and_loads_strictly(version: str) -> None:
    manifest = _manifest(f"gpt_{version}_Text2SemanticDecoder")
    model = Text2SemanticDecoder(GPTConfig.from_original(manifest["config"]))
    ours = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    assert ours == [(k, shape) for k, shape, _ in manifest["state_dict"]]
    assert sum(p.numel() for p in model.parameters()) == manifest["num_parameters"]
    state = {k: torch.zeros(shape) for k, shape, _ in manifest["state_dict"]}
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_config_from_embedded_dict_matches_defaults_and_round_trips() -> None:
    assert GPTConfig.from_original(_manifest("gpt_v2_Text2SemanticDecoder")["config"]) == GPTConfig.v2()
    assert GPTConfig.from_original(original_config("v1")).phoneme_vocab_size == 512
    assert GPTConfig.from_original(GPTConfig.v1().to_original()) == GPTConfig.v1()
    assert GPTConfig.v2().early_stop_num == 2700


def test_bad_configs_are_clear_errors() -> None:
    with pytest.raises(TimbreError, match="'model' section"):
        GPTConfig.from_original({"data": {}})
    with pytest.raises(TimbreError, match="lacks 'head'"):
        GPTConfig.from_original(
            {"model": {k: v for k, v in original_config()["model"].items() if k != "head"}}
        )
    with pytest.raises(TimbreError, match="EOS"):
        GPTConfig(eos=3)
    with pytest.raises(TimbreError, match="v1"):
        original_config("v3")


def test_training_forward_equals_the_reference_vector() -> None:
    vs = VectorSet.load(COMPAT / "vectors_seed0" / "gpt_v2_train_forward.npz")
    checks = vectors_gpt.check_train_forward(vs)
    assert [c.name for c in checks] == ["logits", "loss", "acc"]
    assert all(c.ok for c in checks), checks


def test_training_forward_backpropagates_and_ignores_padding_values() -> None:
    torch.manual_seed(0)
    model = Text2SemanticDecoder(TINY)
    phones = torch.randint(0, 700, (2, 7))
    bert = torch.randn(2, 1024, 7)
    semantic = torch.randint(0, 1024, (2, 9))
    lens_x, lens_y = torch.tensor([7, 5]), torch.tensor([9, 6])
    model.eval()
    out = model(phones, lens_x, semantic, lens_y, bert)
    assert out.logits.shape == (2, 10, TINY.vocab_size)
    other = semantic.clone()
    other[1, 6:] = 17  # semantic padding is replaced by EOS before use: its value must not matter
    torch.testing.assert_close(model(phones, lens_x, other, lens_y, bert).loss, out.loss)
    model.train()
    loss = model(phones, lens_x, semantic, lens_y, bert).loss
    loss.backward()
    assert model.h.layers[0].self_attn.in_proj_weight.grad is not None
    assert 0.0 <= float(out.acc) <= 1.0
