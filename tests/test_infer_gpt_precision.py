"""Reduced-precision decoding: fp16 weights give fp32's greedy tokens; compile falls back; `timbre bench gpt` runs."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from typer.testing import CliRunner

from timbre.cli._app import app
from timbre.compat.detweights import load_deterministic
from timbre.infer import gpt_engine
from timbre.infer.gpt_decode import SamplingConfig, decode
from timbre.infer.gpt_engine import DEFAULT_PRECISION, PRECISIONS, GPTEngine
from timbre.models.gpt import GPTConfig, Text2SemanticDecoder

TINY = GPTConfig(embedding_dim=32, hidden_dim=32, n_head=4, n_layer=2, ffn_dim=128)


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def _inputs(cfg: GPTConfig, n_phones: int, n_prompt: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randint(0, cfg.phoneme_vocab_size, (n_phones,), generator=g),
        torch.randn(cfg.bert_dim, n_phones, generator=g),
        torch.randint(0, cfg.eos, (n_prompt,), generator=g),
    )


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_decodes_close_to_fp32(precision: str) -> None:
    torch.manual_seed(0)
    model = Text2SemanticDecoder(TINY).eval()
    phones, bert, prompt = _inputs(TINY, 7, 5)
    cfg = SamplingConfig.greedy(early_stop_num=11)
    ref = decode(GPTEngine(model, "fp32"), phones, bert, prompt, cfg, trace=True)
    got = decode(GPTEngine(model, precision), phones, bert, prompt, cfg, trace=True)
    assert got.tokens.shape == ref.tokens.shape
    assert got.step_logits is not None and ref.step_logits is not None
    # Step 0 comes from the prefill, which always uses the fp32 weights except for the head.
    tol = {"fp32": 1e-6, "fp16": 5e-3, "bf16": 5e-2, "int8": 1e-1}[precision]
    torch.testing.assert_close(got.step_logits[0], ref.step_logits[0], atol=tol, rtol=0)


@pytest.mark.slow
def test_default_fp16_weights_give_the_fp32_greedy_tokens_over_250_steps() -> None:
    """The benchmark setting: v2 shape, deterministic weights, 50 phones + 75 prompt tokens, 250 greedy steps."""
    assert DEFAULT_PRECISION == "fp16"
    model = load_deterministic(Text2SemanticDecoder(GPTConfig.v2()).eval(), 0, zero_eos_row=True)
    phones, bert, prompt = _inputs(model.cfg, 50, 75)
    cfg = SamplingConfig.greedy(early_stop_num=249)
    ref = decode(GPTEngine(model, "fp32"), phones, bert, prompt, cfg, trace=True)
    got = decode(GPTEngine(model, "fp16"), phones, bert, prompt, cfg, trace=True)
    assert ref.tokens.numel() == 250
    assert torch.equal(got.tokens, ref.tokens)
    assert got.step_logits is not None and ref.step_logits is not None
    assert float((got.step_logits - ref.step_logits).abs().max()) < 5e-3


def test_compile_failure_falls_back_to_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(gpt_engine.torch, "compile", broken)
    torch.manual_seed(0)
    model = Text2SemanticDecoder(TINY).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        engine = GPTEngine(model, "fp32", compile=True)
    assert any("torch.compile" in str(w.message) for w in caught)
    phones, bert, prompt = _inputs(TINY, 5, 3)
    eager = decode(GPTEngine(model, "fp32"), phones, bert, prompt, SamplingConfig.greedy(early_stop_num=4))
    assert torch.equal(
        decode(engine, phones, bert, prompt, SamplingConfig.greedy(early_stop_num=4)).tokens, eager.tokens
    )


def test_bench_gpt_cli_prints_json() -> None:
    args = ["bench", "gpt", "--threads", "1", "--steps", "3", "--runs", "1", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["tokens_per_s"] > 0 and figures["precision"] == DEFAULT_PRECISION


def test_huge_page_advice_keeps_memory_contents() -> None:
    """The engine's huge-page requests (packed weights, KV cache) are best effort and never change data."""
    before = gpt_engine._anonymous_mappings()
    data = torch.arange(3 << 20, dtype=torch.float32)  # 12 MiB: a fresh mapping
    expected = data.clone()
    gpt_engine._collapse_to_huge_pages(gpt_engine._anonymous_mappings() - before)
    assert torch.equal(data, expected)
    fresh = gpt_engine._advise_huge_pages(torch.empty(3 << 20))
    fresh.copy_(expected)
    assert torch.equal(fresh, expected)
    gpt_engine._advise_huge_pages(torch.empty(3))  # smaller than a huge page: nothing to do
