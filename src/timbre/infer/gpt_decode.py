"""GPT decoding: phones + phone features + a semantic prompt -> new semantic tokens, as the original's infer_panel.

One loop serves `decode` (one request), `decode_batch` (several requests of different lengths in one batch, each
giving the tokens it gives alone) and `iter_decode` (tokens as they are produced, for streaming).

Rules kept from the original: the EOS column is dropped for steps 0..10; a request stops when the sampled token or
the argmax of the penalized logits is EOS (that last token is not returned), when it has produced more than
`early_stop_num` tokens (all kept), or at the last of `max_steps` steps. `idx` is the index of the stopping step.

Batches are left-padded: request i occupies the last len(phones_i) + len(prompt_i) positions of the prefill, its
padding is masked out of every attention, and its semantic positions count from its own prompt start.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from timbre.errors import TimbreError
from timbre.infer.gpt_engine import GPTEngine, KVCache
from timbre.infer.gpt_sampling import MIN_TOKENS_BEFORE_EOS, Sampler, SamplingConfig
from timbre.models.gpt import Text2SemanticDecoder
from timbre.models.gpt.model import prefix_lm_mask

__all__ = [
    "DecodeRequest",
    "DecodeResult",
    "SamplingConfig",
    "decode",
    "decode_batch",
    "iter_decode",
]


@dataclass(frozen=True)
class DecodeRequest:
    phone_ids: Tensor  # [Tx] int64 (a leading batch axis of 1 is accepted)
    bert_features: Tensor  # [1024, Tx]
    prompt: Tensor | None = None  # [Tp] semantic ids of the reference clip; None = reference-free
    seed: int | None = None  # overrides SamplingConfig.seed for this request


class DecodeResult(NamedTuple):
    tokens: Tensor  # [T] int64, the new tokens only (prompt excluded, EOS excluded)
    idx: int  # index of the step at which decoding stopped (the original's returned idx)
    stop: str  # "eos", "early_stop" or "max_steps"
    step_logits: Tensor | None = None  # [steps, vocab] raw head output per step (trace=True only)
    step_probs: Tensor | None = (
        None  # [steps, vocab] sampler input, zero-padded where EOS was dropped (trace only)
    )
    step_q: Tensor | None = (
        None  # [steps, vocab] the race's Exponential(1) draws, zero-padded likewise (trace only)
    )


class _Active(NamedTuple):
    request: int  # index into the caller's request list
    prompt_len: int


def _as_request(
    phone_ids: Tensor, bert_features: Tensor, prompt: Tensor | None, seed: int | None
) -> DecodeRequest:
    phones = phone_ids.reshape(-1).long()
    bert = bert_features[0] if bert_features.dim() == 3 else bert_features
    if bert.dim() != 2 or bert.shape[1] != phones.shape[0]:
        raise TimbreError(
            f"bert_features must be [1024, T] with T = number of phones ({phones.shape[0]}), got {tuple(bert.shape)}"
        )
    if phones.numel() == 0:
        raise TimbreError("no phones to decode: the text produced an empty phone sequence")
    prompt_ids = None if prompt is None else prompt.reshape(-1).long()
    return DecodeRequest(phones, bert.float(), prompt_ids, seed)


def _engine(model: GPTEngine | Text2SemanticDecoder) -> GPTEngine:
    return model if isinstance(model, GPTEngine) else GPTEngine(model)


def _prefill_inputs(
    engine: GPTEngine, reqs: Sequence[DecodeRequest]
) -> tuple[Tensor, Tensor | None, Tensor, int]:
    """Left-padded [text; prompt] embeddings [B, S, D], the prefill mask, the key-valid mask [B, S] and S."""
    model = engine.model
    lengths = [r.phone_ids.shape[0] + (0 if r.prompt is None else r.prompt.shape[0]) for r in reqs]
    s = max(lengths)
    xy = torch.zeros(len(reqs), s, engine.cfg.hidden_dim)
    attend = torch.zeros(len(reqs), s, s, dtype=torch.bool)
    key_ok = torch.zeros(len(reqs), s, dtype=torch.bool)
    for i, (r, n) in enumerate(zip(reqs, lengths, strict=True)):
        parts = [model.embed_text(r.phone_ids[None], r.bert_features[None])]
        if r.prompt is not None:
            parts.append(model.embed_semantic(r.prompt[None]))
        off = s - n
        xy[i, off:] = torch.cat(parts, dim=1)[0]
        attend[i, off:, off:] = prefix_lm_mask(r.phone_ids.shape[0], n - r.phone_ids.shape[0])
        attend[i, :off, :off] = torch.eye(off, dtype=torch.bool)  # padding rows see themselves only (no NaN)
        key_ok[i, off:] = True
    if len(reqs) == 1:
        return xy, attend[0], key_ok, s  # [S, S] broadcasts over batch and heads
    return xy, attend.unsqueeze(1), key_ok, s


def _decode_steps(
    engine: GPTEngine, reqs: Sequence[DecodeRequest], cfg: SamplingConfig, trace: bool = False
) -> Iterator[tuple[list[int], list[int], list[DecodeResult | None]]]:
    """Run the batch; per step yield (request indices, their new tokens, finished results aligned with them).

    A finished request's token of that step is withheld when it was dropped (EOS); its DecodeResult comes with it.
    """
    cfg_model = engine.cfg
    eos, vocab = cfg_model.eos, cfg_model.vocab_size
    sampler = Sampler.from_config(cfg)
    b = len(reqs)
    active = [_Active(i, 0 if r.prompt is None else r.prompt.shape[0]) for i, r in enumerate(reqs)]
    generators: list[torch.Generator | None] = []
    for r in reqs:
        seed = r.seed if r.seed is not None else cfg.seed
        generators.append(None if seed is None else torch.Generator().manual_seed(seed))
    seen = torch.zeros(b, vocab, dtype=torch.bool)
    for i, r in enumerate(reqs):
        if r.prompt is not None:
            seen[i, r.prompt] = True
    produced: list[list[int]] = [[] for _ in reqs]
    batched = b > 1
    logs: list[list[Tensor]] = [[] for _ in reqs]
    probs_log: list[list[Tensor]] = [[] for _ in reqs]
    q_log: list[list[Tensor]] = [[] for _ in reqs]

    with torch.inference_mode():
        xy, attend, key_ok, s = _prefill_inputs(engine, reqs)
        budget = cfg.max_steps if cfg.early_stop_num < 0 else min(cfg.max_steps, cfg.early_stop_num + 2)
        cache: KVCache = engine.new_cache(b, s + min(budget, 256))
        logits = engine.forward(xy, cache, attend)  # [B, V]
    for idx in range(cfg.max_steps):
        width = vocab - 1 if idx < MIN_TOKENS_BEFORE_EOS else vocab
        with torch.inference_mode():
            step = sampler(logits[:, :width], seen[:, :width], generators)
            is_eos = (step.tokens == eos) | (step.penalized.argmax(dim=-1) == eos)
            if trace:
                for row, a in enumerate(active):
                    logs[a.request].append(logits[row].clone())
                    probs_log[a.request].append(F.pad(step.probs[row], (0, vocab - width)))
                    q_log[a.request].append(F.pad(step.q[row], (0, vocab - width)))
        out_ids: list[int] = []
        out_tokens: list[int] = []
        out_done: list[DecodeResult | None] = []
        keep: list[int] = []
        for row, (a, tok, stop_eos) in enumerate(
            zip(active, step.tokens.tolist(), is_eos.tolist(), strict=True)
        ):
            seq = produced[a.request]
            seq.append(tok)
            reason = ""
            if cfg.early_stop_num != -1 and len(seq) > cfg.early_stop_num:
                reason = "early_stop"
            if stop_eos:
                reason = "eos"
                seq.pop()
            elif idx == cfg.max_steps - 1 and not reason:
                reason = "max_steps"
            out_ids.append(a.request)
            out_tokens.append(-1 if stop_eos else tok)
            if reason:
                out_done.append(
                    _result(seq, idx, reason, trace, logs[a.request], probs_log[a.request], q_log[a.request])
                )
            else:
                out_done.append(None)
                keep.append(row)
        yield out_ids, out_tokens, out_done
        if not keep:
            return
        with torch.inference_mode():
            step_tokens = step.tokens
            if len(keep) < len(active):
                rows = torch.tensor(keep)
                cache.keep_rows(rows)
                key_ok, seen, step_tokens = key_ok[rows], seen[rows], step_tokens[rows]
                active = [active[r] for r in keep]
                generators = [generators[r] for r in keep]
            seen[torch.arange(len(active)), step_tokens] = True
            positions = [a.prompt_len + idx for a in active]
            x = engine.semantic_input(step_tokens, torch.tensor(positions), max(positions))  # [B, 1, D]
            mask = None
            if batched:
                key_ok = torch.cat([key_ok, torch.ones(len(active), 1, dtype=torch.bool)], dim=1)
                mask = key_ok[:, None, None, :]
            logits = engine.forward(x, cache, mask)


def _result(seq: list[int], idx: int, reason: str, trace: bool, *logs: list[Tensor]) -> DecodeResult:
    tokens = torch.tensor(seq, dtype=torch.long)
    if not trace:
        return DecodeResult(tokens, idx, reason)
    logits, probs, q = (torch.stack(log) for log in logs)
    return DecodeResult(tokens, idx, reason, logits, probs, q)


def decode_batch(
    model: GPTEngine | Text2SemanticDecoder,
    requests: Sequence[DecodeRequest],
    cfg: SamplingConfig | None = None,
    trace: bool = False,
) -> list[DecodeResult]:
    """Decode several requests together; result i belongs to requests[i]."""
    if not requests:
        return []
    engine = _engine(model)
    reqs = [_as_request(r.phone_ids, r.bert_features, r.prompt, r.seed) for r in requests]
    results: list[DecodeResult | None] = [None] * len(reqs)
    for ids, _, done in _decode_steps(engine, reqs, cfg or SamplingConfig(), trace):
        for i, res in zip(ids, done, strict=True):
            if res is not None:
                results[i] = res
    return [r for r in results if r is not None]


def decode(
    model: GPTEngine | Text2SemanticDecoder,
    phone_ids: Tensor,
    bert_features: Tensor,
    prompt: Tensor | None,
    cfg: SamplingConfig | None = None,
    trace: bool = False,
) -> DecodeResult:
    """Decode one request: phone_ids [Tx] or [1, Tx], bert_features [1024, Tx] or [1, 1024, Tx], prompt [Tp] / [1, Tp]."""
    request = DecodeRequest(phone_ids, bert_features, prompt)
    return decode_batch(model, [request], cfg, trace)[0]


def iter_decode(
    model: GPTEngine | Text2SemanticDecoder,
    phone_ids: Tensor,
    bert_features: Tensor,
    prompt: Tensor | None,
    cfg: SamplingConfig | None = None,
    chunk_size: int = 1,
) -> Iterator[Tensor]:
    """Yield the new tokens in chunks of `chunk_size` as they are produced (the last chunk may be shorter).

    The chunks concatenate to `decode(...).tokens` for the same inputs and seed.
    """
    if chunk_size < 1:
        raise TimbreError(f"chunk_size must be >= 1 (got {chunk_size})")
    engine = _engine(model)
    req = _as_request(phone_ids, bert_features, prompt, None)
    pending: list[int] = []
    for _, tokens, _done in _decode_steps(engine, [req], cfg or SamplingConfig()):
        if tokens[0] >= 0:
            pending.append(tokens[0])
        if len(pending) >= chunk_size:
            yield torch.tensor(pending, dtype=torch.long)
            pending = []
    if pending:
        yield torch.tensor(pending, dtype=torch.long)
