"""Checks of the GPT reference vectors: greedy inference with per-step logits, seeded sampling, training forward.

The model is built from the default original config of the set's version (never from a manifest) with the set's
deterministic weights. Sizes come from the arrays and decoding options from the sidecar's recorded call, so sets with
other seeds and inputs are checked the same way.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from timbre.compat.detweights import load_deterministic
from timbre.compat.vectors import ArrayCheck, VectorSet, compare
from timbre.errors import TimbreError
from timbre.infer.gpt_decode import DecodeResult, SamplingConfig, decode
from timbre.infer.gpt_engine import GPTEngine
from timbre.infer.gpt_sampling import MIN_TOKENS_BEFORE_EOS
from timbre.models.gpt import GPTConfig, Text2SemanticDecoder, original_config

_CALL_OPTIONS = {
    "top_k": int,
    "top_p": float,
    "temperature": float,
    "repetition_penalty": float,
    "early_stop_num": int,
}
_LOSS_RTOL = 1e-5  # the README's advice for the ~900-valued summed loss


def _model(vs: VectorSet) -> Text2SemanticDecoder:
    m = re.match(r"gpt_(v\d)_", vs.name.lower())
    if not m:
        raise TimbreError(f"cannot tell the GPT version from vector set name {vs.name!r}")
    model = Text2SemanticDecoder(GPTConfig.from_original(original_config(m.group(1))))
    load_deterministic(model, vs.seed)
    return model.eval()


def _tensor(vs: VectorSet, key: str) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(vs.arrays[key]))


def _call_options(vs: VectorSet, defaults: dict[str, float]) -> SamplingConfig:
    """Decoding options from the sidecar's recorded infer_panel call (defaults where it does not say)."""
    calls = vs.sidecar.get("calls", {})
    text = " ".join(str(v) for v in calls.values()) if isinstance(calls, dict) else str(calls)
    found: dict[str, float] = dict(defaults)
    for name, kind in _CALL_OPTIONS.items():
        m = re.search(rf"\b{name}\s*=\s*(-?[0-9.]+)", text)
        if m:
            found[name] = kind(float(m.group(1)))
    return SamplingConfig(
        top_k=int(found["top_k"]),
        top_p=float(found["top_p"]),
        temperature=float(found["temperature"]),
        repetition_penalty=float(found["repetition_penalty"]),
        early_stop_num=int(found["early_stop_num"]),
    )


def _decode(vs: VectorSet, model: Text2SemanticDecoder, cfg: SamplingConfig) -> DecodeResult:
    prompt = _tensor(vs, "prompt") if "prompt" in vs.arrays else None
    engine = GPTEngine(model, "fp32")
    return decode(engine, _tensor(vs, "phone_ids"), _tensor(vs, "bert_feature"), prompt, cfg, trace=True)


def _decoded_arrays(vs: VectorSet, r: DecodeResult) -> dict[str, torch.Tensor]:
    prompt = (
        _tensor(vs, "prompt").reshape(1, -1) if "prompt" in vs.arrays else torch.zeros(1, 0, dtype=torch.long)
    )
    return {
        "tokens": r.tokens,
        "y_full": torch.cat([prompt, r.tokens[None]], dim=1),
        "idx": torch.tensor(r.idx),
    }


def check_infer(vs: VectorSet) -> list[ArrayCheck]:
    """Greedy infer_panel: embeddings, raw logits at every step, tokens, stop index."""
    model = _model(vs)
    defaults = {"top_k": 1, "top_p": 1.0, "temperature": 1.0, "repetition_penalty": 1.0, "early_stop_num": -1}
    with torch.inference_mode():
        got = {"x_pos": model.embed_text(_tensor(vs, "phone_ids"), _tensor(vs, "bert_feature"))}
        if "prompt" in vs.arrays:
            got["prompt_pos"] = model.embed_semantic(_tensor(vs, "prompt"))
    r = _decode(vs, model, _call_options(vs, defaults))
    assert r.step_logits is not None
    got.update(_decoded_arrays(vs, r), step_logits=r.step_logits)
    ranked = r.step_logits.clone()
    ranked[:MIN_TOKENS_BEFORE_EOS, model.cfg.eos] = -float("inf")
    top2 = ranked.topk(2, dim=-1).values
    got["top2_gap"] = top2[:, 0] - top2[:, 1]
    return [compare(k, v, vs.arrays[k]) for k, v in got.items() if k in vs.arrays]


def check_sample(vs: VectorSet) -> list[ArrayCheck]:
    """Seeded sampling: torch.manual_seed(sample_seed), then decode drawing from the global generator."""
    model = _model(vs)
    defaults = {
        "top_k": 15,
        "top_p": 1.0,
        "temperature": 1.0,
        "repetition_penalty": 1.35,
        "early_stop_num": -1,
    }
    cfg = _call_options(vs, defaults)
    if "sample_seed" in vs.arrays:
        torch.manual_seed(int(vs.arrays["sample_seed"]))
    r = _decode(vs, model, cfg)
    assert r.step_probs is not None and r.step_q is not None
    got = _decoded_arrays(vs, r)
    steps = r.step_probs.shape[0]
    got["step_probs"], got["step_q"] = r.step_probs, r.step_q
    got["step_width"] = torch.tensor(
        [model.cfg.vocab_size - (i < MIN_TOKENS_BEFORE_EOS) for i in range(steps)]
    )
    ratio = (r.step_probs / r.step_q.masked_fill(r.step_q == 0, 1.0)).topk(2, dim=-1).values
    got["rel_margin"] = (ratio[:, 0] - ratio[:, 1]) / ratio[:, 0]
    return [compare(k, v, vs.arrays[k]) for k, v in got.items() if k in vs.arrays]


def check_train_forward(vs: VectorSet) -> list[ArrayCheck]:
    """forward_old on a right-padded batch: logits, summed cross-entropy, top-3 accuracy without EOS."""
    model = _model(vs)
    names = ("phone_ids", "phone_lens", "semantic_ids", "semantic_lens", "bert_feature")
    with torch.inference_mode():
        out = model(*(_tensor(vs, k) for k in names))
    checks = [compare("logits", out.logits, vs.arrays["logits"])]
    if "loss" in vs.arrays:
        checks.append(compare("loss", out.loss, vs.arrays["loss"], atol=0.0, rtol=_LOSS_RTOL))
    if "acc" in vs.arrays:
        checks.append(compare("acc", out.acc, vs.arrays["acc"]))
    return checks
