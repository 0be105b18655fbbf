"""GPT decoding: the original's vectors, KV cache == recomputation, batch == alone, streaming, stop rules, filters."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from timbre.compat import vectors_gpt
from timbre.compat.vectors import VectorSet
from timbre.errors import TimbreError
from timbre.infer.gpt_decode import DecodeRequest, SamplingConfig, decode, decode_batch, iter_decode
from timbre.infer.gpt_engine import GPTEngine
from timbre.infer.gpt_sampling import Sampler, repetition_penalty, top_k, top_p
from timbre.models.gpt import GPTConfig, Text2SemanticDecoder

VECTORS = Path(__file__).parent / "fixtures" / "compat" / "vectors_seed0"
TINY = GPTConfig(embedding_dim=32, hidden_dim=32, n_head=4, n_layer=2, ffn_dim=128)


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.fixture(scope="module")
def tiny_model() -> Text2SemanticDecoder:
    torch.manual_seed(0)
    model = Text2SemanticDecoder(TINY).eval()
    with torch.no_grad():
        model.ar_predict_layer.weight.mul_(8.0)  # peaky logits: sampling is not uniform noise
        model.ar_predict_layer.weight[TINY.eos] = 0.0  # no early EOS unless a test asks for it
    return model


@pytest.fixture(scope="module")
def tiny(tiny_model: Text2SemanticDecoder) -> GPTEngine:
    return GPTEngine(tiny_model, "fp32")


def _inputs(
    seed: int, n_phones: int, n_prompt: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(seed)
    phones = torch.randint(0, TINY.phoneme_vocab_size, (n_phones,), generator=g)
    bert = torch.randn(TINY.bert_dim, n_phones, generator=g)
    prompt = torch.randint(0, TINY.eos, (n_prompt,), generator=g) if n_prompt else None
    return phones, bert, prompt


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gpt_v2_infer", "gpt_v2_sample"])
def test_reference_vectors(name: str) -> None:
    vs = VectorSet.load(VECTORS / f"{name}.npz")
    checks = vectors_gpt.check_infer(vs) if name.endswith("infer") else vectors_gpt.check_sample(vs)
    assert {"tokens", "y_full", "idx"} <= {c.name for c in checks}
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]


def test_kv_cache_decode_equals_full_recomputation(tiny: GPTEngine) -> None:
    phones, bert, prompt = _inputs(1, 9, 6)
    assert prompt is not None
    r = decode(tiny, phones, bert, prompt, SamplingConfig(early_stop_num=29, seed=3), trace=True)
    assert r.step_logits is not None and r.tokens.shape == (30,)
    with torch.no_grad():
        semantic = torch.cat([prompt, r.tokens[:-1]])[None]
        full = tiny.model.forward_full(phones[None], bert[None], semantic)[0, prompt.shape[0] - 1 :]
    torch.testing.assert_close(r.step_logits, full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_batched_decoding_equals_each_request_alone(tiny_model: Text2SemanticDecoder, precision: str) -> None:
    engine = GPTEngine(tiny_model, precision)
    shapes = [(9, 6), (4, 11), (13, 0), (6, 3)]
    requests = [DecodeRequest(*_inputs(i, n, p), seed=100 + i) for i, (n, p) in enumerate(shapes)]
    for cfg in (SamplingConfig(early_stop_num=24), SamplingConfig.greedy(early_stop_num=24)):
        together = decode_batch(engine, requests, cfg)
        for req, res in zip(requests, together, strict=True):
            own = SamplingConfig(**{**vars(cfg), "seed": req.seed})
            alone = decode(engine, req.phone_ids, req.bert_features, req.prompt, own)
            assert torch.equal(res.tokens, alone.tokens) and res.idx == alone.idx


def test_requests_finishing_early_leave_the_batch(tiny: GPTEngine) -> None:
    requests = [DecodeRequest(*_inputs(i, 5 + i, 4), seed=i) for i in range(3)]
    caps = [3, 17, 9]
    results = [
        decode_batch(tiny, [r], SamplingConfig(early_stop_num=c))[0]
        for r, c in zip(requests, caps, strict=True)
    ]
    # One batch with the largest cap; each result cut to its own cap equals its own run.
    together = decode_batch(tiny, requests, SamplingConfig(early_stop_num=max(caps)))
    for res, own, cap in zip(together, results, caps, strict=True):
        assert torch.equal(res.tokens[: cap + 1], own.tokens)


def test_streaming_chunks_concatenate_to_the_full_result(tiny: GPTEngine) -> None:
    phones, bert, prompt = _inputs(2, 7, 5)
    cfg = SamplingConfig(early_stop_num=22, seed=11)
    chunks = list(iter_decode(tiny, phones, bert, prompt, cfg, chunk_size=5))
    assert [c.numel() for c in chunks] == [5, 5, 5, 5, 3]
    assert torch.equal(torch.cat(chunks), decode(tiny, phones, bert, prompt, cfg).tokens)


def test_seed_reproduces_the_global_generator_stream(tiny: GPTEngine) -> None:
    phones, bert, prompt = _inputs(3, 6, 4)
    torch.manual_seed(42)
    global_run = decode(tiny, phones, bert, prompt, SamplingConfig(early_stop_num=15))
    seeded = decode(tiny, phones, bert, prompt, SamplingConfig(early_stop_num=15, seed=42))
    assert torch.equal(global_run.tokens, seeded.tokens)


def test_stop_rules(tiny: GPTEngine) -> None:
    phones, bert, prompt = _inputs(4, 6, 4)
    r = decode(tiny, phones, bert, prompt, SamplingConfig(early_stop_num=5))
    assert (r.tokens.numel(), r.idx, r.stop) == (6, 5, "early_stop")
    r = decode(tiny, phones, bert, prompt, SamplingConfig(max_steps=8))
    assert (r.tokens.numel(), r.idx, r.stop) == (8, 7, "max_steps")
    eos_model = Text2SemanticDecoder(TINY).eval()
    eos_model.load_state_dict(tiny.model.state_dict())
    with torch.no_grad():  # final hidden ~ +5 everywhere, EOS row +1: EOS is by far the largest logit
        eos_model.h.layers[-1].norm2.weight.fill_(0.01)
        eos_model.h.layers[-1].norm2.bias.fill_(5.0)
        eos_model.ar_predict_layer.weight[TINY.eos] = 1.0
    r = decode(GPTEngine(eos_model, "fp32"), phones, bert, prompt, SamplingConfig.greedy())
    # EOS is dropped for steps 0..10, then wins at step 11 and is not returned.
    assert (r.tokens.numel(), r.idx, r.stop) == (11, 11, "eos")


def test_reference_free_decoding(tiny: GPTEngine) -> None:
    phones, bert, _ = _inputs(5, 8, 0)
    r = decode(tiny, phones, bert, None, SamplingConfig(early_stop_num=9, seed=1), trace=True)
    assert r.tokens.numel() == 10 and r.step_logits is not None
    with torch.no_grad():
        full = tiny.model.forward_full(phones[None], bert[None], r.tokens[None, :-1])[0]
    torch.testing.assert_close(r.step_logits[1:], full, rtol=1e-5, atol=1e-5)


def test_filters_follow_the_original_definitions() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0, -2.0]])
    seen = torch.tensor([[True, True, False, False, False]])
    out = repetition_penalty(2.0)(logits, seen)
    assert out.tolist() == [[1.0, -2.0, 0.5, 3.0, -2.0]]
    kept = top_k(2)(torch.tensor([[1.0, 3.0, 3.0, 2.0]]), seen[:, :4])
    assert torch.isfinite(kept).tolist() == [[False, True, True, False]]  # ties at the pivot survive
    nucleus = top_p(0.5)(torch.tensor([[0.0, 5.0, 1.0]]), seen[:, :3])
    assert torch.isfinite(nucleus).tolist() == [[False, True, False]]  # the most likely token always stays
    sampler = Sampler.from_config(SamplingConfig(top_k=1, repetition_penalty=1.0))
    assert sampler.penalty is None and len(sampler.filters) == 1


def test_invalid_options_and_inputs_are_clear_errors(tiny: GPTEngine) -> None:
    with pytest.raises(TimbreError, match="temperature"):
        SamplingConfig(temperature=0)
    with pytest.raises(TimbreError, match="top_p"):
        SamplingConfig(top_p=1.5)
    with pytest.raises(TimbreError, match="precision"):
        GPTEngine(tiny, "fp8")
    phones, bert, prompt = _inputs(6, 5, 3)
    with pytest.raises(TimbreError, match="bert_features"):
        decode(tiny, phones, bert[:, :4], prompt)
