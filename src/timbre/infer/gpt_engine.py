"""The fast GPT forward used for decoding: prepared weights per precision, a preallocated KV cache, fused attention.

`GPTEngine` wraps a `Text2SemanticDecoder` (embeddings stay the model's own, in fp32) and re-packs the transformer's
projections once: fp32 as is, bf16 (weights and GEMM inputs in bfloat16, residual stream / LayerNorm / attention in
fp32) or int8 (per-output-channel symmetric int8 weights, fp32 activations). Batch-1 decoding is bound by reading the
weights once per token, so halving or quartering their bytes is what makes it fast; `timbre bench gpt` measures it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Literal, NamedTuple, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from timbre.errors import TimbreError
from timbre.models.gpt import Text2SemanticDecoder

Precision = Literal["fp32", "fp16", "bf16", "int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
DEFAULT_PRECISION: Precision = "fp16"
# Inputs with more rows than this (the prefill) use the fp32 weights: reduced precision pays off for GEMV only.
_GEMV_ROWS = 16


class Projection:
    """y = x @ W.T + b for fp32 x, with W also stored in a reduced precision for few-row inputs (decode steps).

    fp16: weights and GEMM input in float16 (fp32 accumulation in the kernel), ~3e-4 relative error per product.
    bf16: the same in bfloat16 (8x coarser mantissa). int8: symmetric per-output-channel int8 weights with bf16
    inputs. Many-row inputs always use the fp32 weights.
    """

    def __init__(self, weight: Tensor, bias: Tensor | None, precision: Precision) -> None:
        self.precision = precision
        self.weight = weight.detach()
        self.bias = None if bias is None else bias.detach()
        w = self.weight.float()
        if precision in ("fp16", "bf16"):
            dtype = torch.float16 if precision == "fp16" else torch.bfloat16
            self.low = w.to(dtype).contiguous()
            self.low_bias = None if self.bias is None else self.bias.to(dtype)
        elif precision == "int8":
            self.scale = (w.abs().amax(dim=1) / 127.0).clamp_min(1e-12).to(torch.bfloat16)  # [N]
            self.low = (
                torch.round(w / self.scale.float()[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
            )
            self.low_bias = None if self.bias is None else self.bias.to(torch.bfloat16)

    def __call__(self, x: Tensor) -> Tensor:  # [..., K] -> [..., N], fp32 in and out
        rows = x.numel() // x.shape[-1]
        if self.precision == "fp32" or rows > _GEMV_ROWS:
            return F.linear(x, self.weight, self.bias)
        if self.precision == "int8":
            flat = x.reshape(rows, x.shape[-1]).to(torch.bfloat16)
            y = torch._weight_int8pack_mm(flat, self.low, self.scale)
            if self.low_bias is not None:
                y = y + self.low_bias
            return y.view(*x.shape[:-1], -1).float()
        return F.linear(x.to(self.low.dtype), self.low, self.low_bias).float()


class LayerWeights(NamedTuple):
    qkv: Projection
    out: Projection
    ff1: Projection
    ff2: Projection
    norm1: tuple[Tensor, Tensor]
    norm2: tuple[Tensor, Tensor]
    eps: float


class KVCache:
    """Keys and values of every layer, [L, B, H, capacity, hd], written in place; grows by doubling when full."""

    def __init__(self, n_layer: int, batch: int, n_head: int, head_dim: int, capacity: int) -> None:
        shape = (n_layer, batch, n_head, capacity, head_dim)
        self.k = torch.empty(shape)
        self.v = torch.empty(shape)
        self.length = 0  # filled positions (same for every row; padding is masked, not skipped)

    @property
    def capacity(self) -> int:
        return self.k.shape[3]

    def reserve(self, length: int) -> None:
        """Make room for `length` positions (copies once per doubling, never per step)."""
        if length <= self.capacity:
            return
        new_cap = max(length, 2 * self.capacity)
        for name in ("k", "v"):
            old = getattr(self, name)
            new = torch.empty(*old.shape[:3], new_cap, old.shape[4])
            new[:, :, :, : self.length] = old[:, :, :, : self.length]
            setattr(self, name, new)

    def keep_rows(self, rows: Tensor) -> None:
        """Drop finished requests from the batch: keep only `rows` (int64 indices)."""
        self.k = self.k.index_select(1, rows)
        self.v = self.v.index_select(1, rows)


class GPTEngine:
    """Inference-only forward of a Text2SemanticDecoder over a KV cache. Build once per model and precision."""

    def __init__(
        self, model: Text2SemanticDecoder, precision: str = DEFAULT_PRECISION, compile: bool = False
    ) -> None:
        if precision not in PRECISIONS:
            raise TimbreError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
        self.model = model.eval()
        self.precision: Precision = precision  # type: ignore[assignment]
        self.cfg = model.cfg
        self.layers = [self._prepare(layer) for layer in model.h.layers]
        self.head = Projection(model.ar_predict_layer.weight, None, self.precision)
        self._blocks: Callable[[Tensor, KVCache, int, Tensor | None], Tensor] = self._run_layers
        if compile:
            self._blocks = _try_compile(self._run_layers)

    def _prepare(self, layer: torch.nn.Module) -> LayerWeights:
        attn = layer.self_attn
        p = self.precision
        return LayerWeights(
            qkv=Projection(attn.in_proj_weight, attn.in_proj_bias, p),
            out=Projection(attn.out_proj.weight, attn.out_proj.bias, p),
            ff1=Projection(layer.linear1.weight, layer.linear1.bias, p),
            ff2=Projection(layer.linear2.weight, layer.linear2.bias, p),
            norm1=(layer.norm1.weight.detach().float(), layer.norm1.bias.detach().float()),
            norm2=(layer.norm2.weight.detach().float(), layer.norm2.bias.detach().float()),
            eps=layer.norm1.eps,
        )

    def new_cache(self, batch: int, capacity: int) -> KVCache:
        return KVCache(self.cfg.n_layer, batch, self.cfg.n_head, self.cfg.head_dim, capacity)

    def _run_layers(self, x: Tensor, cache: KVCache, start: int, attend: Tensor | None) -> Tensor:
        """x [B, T, D] at cache positions start..start+T-1; attend bool broadcastable to [B, H, T, start+T]."""
        b, t, d = x.shape
        h, hd = self.cfg.n_head, self.cfg.head_dim
        end = start + t
        for i, w in enumerate(self.layers):
            q, k, v = w.qkv(x).view(b, t, 3, h, hd).permute(2, 0, 3, 1, 4)  # each [B, H, T, hd]
            cache.k[i, :, :, start:end] = k
            cache.v[i, :, :, start:end] = v
            a = F.scaled_dot_product_attention(
                q, cache.k[i, :, :, :end], cache.v[i, :, :, :end], attn_mask=attend
            )
            x = F.layer_norm(x + w.out(a.transpose(1, 2).reshape(b, t, d)), (d,), *w.norm1, w.eps)
            x = F.layer_norm(x + w.ff2(F.relu(w.ff1(x))), (d,), *w.norm2, w.eps)
        return x

    def forward(self, x: Tensor, cache: KVCache, attend: Tensor | None) -> Tensor:
        """Append x [B, T, D] to the cache and return the logits of its last position [B, vocab]."""
        start = cache.length
        cache.reserve(start + x.shape[1])
        hidden = self._blocks(x, cache, start, attend)
        cache.length = start + x.shape[1]
        return self.head(hidden[:, -1])

    def semantic_input(self, tokens: Tensor, positions: Tensor) -> Tensor:
        """Embedding + position of one new token per row: tokens [B], positions [B] -> [B, 1, D]."""
        pos = self.model.ar_audio_position
        pos.positions(0, int(positions.max()) + 1)  # grow the table if needed
        emb = self.model.ar_audio_embedding.word_embeddings.weight[tokens]
        return (emb + pos.alpha * pos.table[positions]).unsqueeze(1)


def _try_compile(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """torch.compile `fn`, falling back to eager (with one warning) if compiling or the first call fails."""
    try:
        compiled = torch.compile(fn, dynamic=True)
    except Exception as exc:  # noqa: BLE001  compile support varies by platform
        warnings.warn(f"torch.compile unavailable ({exc}); running eagerly", RuntimeWarning, stacklevel=3)
        return fn
    state = {"ok": True}

    def call(*args: object) -> Tensor:
        if state["ok"]:
            try:
                return compiled(*args)
            except Exception as exc:  # noqa: BLE001
                state["ok"] = False
                warnings.warn(f"torch.compile failed ({exc}); running eagerly", RuntimeWarning, stacklevel=2)
        return fn(*args)

    return call
