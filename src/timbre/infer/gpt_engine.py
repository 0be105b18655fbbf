"""The fast GPT forward used for decoding: prepared weights per precision, a preallocated KV cache, fused attention.

`GPTEngine` wraps a `Text2SemanticDecoder` (embeddings stay the model's own, in fp32) and re-packs the transformer's
projections once for the decode steps: fp32 as is, fp16 (weights only; the default: greedy tokens equal fp32's over
250 steps), bf16 or int8 (weights and GEMM inputs reduced). The residual stream, LayerNorm, attention and the KV cache
stay fp32, and the prefill uses the fp32 weights. Batch-1 decoding is bound by reading the weights once per token, so
halving their bytes is what makes it fast; `timbre bench gpt` measures it. On Linux the packed weights and the KV cache
are also moved onto transparent huge pages (best effort), which spares a TLB miss per 4 KiB page read every token.
"""

from __future__ import annotations

import ctypes
import functools
import sys
import warnings
from collections.abc import Callable
from typing import Literal, NamedTuple, cast, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from timbre.errors import TimbreError
from timbre.models.gpt import Text2SemanticDecoder
from timbre.models.gpt.layers import TransformerLayer

Precision = Literal["fp32", "fp16", "bf16", "int8"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
DEFAULT_PRECISION: Precision = "fp16"
# Inputs with more rows than this (the prefill) use the fp32 weights: reduced precision pays off for GEMV only.
_GEMV_ROWS = 16
_HUGE_PAGE = 2 << 20
_MADV_HUGEPAGE = 14  # Linux: use transparent huge pages when the range is first written
_MADV_COLLAPSE = 25  # Linux >= 6.1: back a range with transparent huge pages now (synchronously)


@functools.cache
def _fbgemm_fp16() -> bool:
    """Whether this torch build has fbgemm's fp16-weight GEMM (x86 builds do)."""
    return "fbgemm" in torch.backends.quantized.supported_engines and hasattr(
        torch.ops.quantized, "linear_prepack_fp16"
    )


class Projection:
    """y = x @ W.T + b for fp32 x, with W also stored in a reduced precision for few-row inputs (decode steps).

    fp16: weights rounded to float16, activations and accumulation in fp32 (fbgemm's packed fp16 GEMM; ~1e-3 relative
    error per product). bf16: weights and GEMM input in bfloat16 (8x coarser). int8: symmetric per-output-channel int8
    weights with bf16 inputs. Many-row inputs (the prefill) always use the fp32 weights.
    """

    def __init__(self, weight: Tensor, bias: Tensor | None, precision: Precision) -> None:
        self.precision = precision
        self.weight = weight.detach()
        self.bias = None if bias is None else bias.detach()
        self.packed = None
        w = self.weight.float()
        if precision == "fp16" and _fbgemm_fp16():
            self.packed = torch.ops.quantized.linear_prepack_fp16(
                w, None if self.bias is None else self.bias.float()
            )
        elif precision in ("fp16", "bf16"):
            dtype = torch.float16 if precision == "fp16" else torch.bfloat16
            self.low = w.to(dtype).contiguous()
            self.low_bias = None if self.bias is None else self.bias.to(dtype)
        elif precision == "int8":
            self.scale = (w.abs().amax(dim=1) / 127.0).clamp_min(1e-12).to(torch.bfloat16)  # [N]
            self.low = (
                torch.round(w / self.scale.float()[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
            )
            self.low_bias = None if self.bias is None else self.bias.to(torch.bfloat16)

    def __call__(self, x: Tensor, keep_low: bool = False) -> Tensor:
        """[..., K] -> [..., N]. Output fp32, or the low dtype when `keep_low` (to feed another projection)."""
        rows = x.numel() // x.shape[-1]
        if self.precision == "fp32" or rows > _GEMV_ROWS:
            return F.linear(x.float(), self.weight, self.bias)
        if self.packed is not None:
            return torch.ops.quantized.linear_dynamic_fp16(x.float(), self.packed)
        if self.precision == "int8":
            flat = x.reshape(rows, x.shape[-1]).to(torch.bfloat16)
            y = torch._weight_int8pack_mm(flat, self.low, self.scale)
            if self.low_bias is not None:
                y = y + self.low_bias
            y = y.view(*x.shape[:-1], -1)
        else:
            y = F.linear(x.to(self.low.dtype), self.low, self.low_bias)
        return y if keep_low else y.float()


class LayerWeights(NamedTuple):
    qkv: Projection
    out: Projection
    ff1: Projection
    ff2: Projection
    norm1: tuple[Tensor, Tensor]
    norm2: tuple[Tensor, Tensor]
    eps: float


class KVCache:
    """Keys and values of every layer, kv [L, B, 2, H, capacity, hd], written in place; grows by doubling when full."""

    def __init__(self, n_layer: int, batch: int, n_head: int, head_dim: int, capacity: int) -> None:
        self.kv = _advise_huge_pages(torch.empty(n_layer, batch, 2, n_head, capacity, head_dim))
        self.length = 0  # filled positions (same for every row; padding is masked, not skipped)

    @property
    def capacity(self) -> int:
        return self.kv.shape[4]

    def reserve(self, length: int) -> None:
        """Make room for `length` positions (copies once per doubling, never per step)."""
        if length <= self.capacity:
            return
        old = self.kv
        self.kv = _advise_huge_pages(
            torch.empty(*old.shape[:4], max(length, 2 * self.capacity), old.shape[5])
        )
        self.kv[:, :, :, :, : self.length] = old[:, :, :, :, : self.length]

    def keep_rows(self, rows: Tensor) -> None:
        """Drop finished requests from the batch: keep only `rows` (int64 indices)."""
        self.kv = self.kv.index_select(1, rows)


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
        before = _anonymous_mappings()
        self.layers = [self._prepare(cast(TransformerLayer, layer)) for layer in model.h.layers]
        self.head = Projection(model.ar_predict_layer.weight, None, self.precision)
        # Every decode step streams all decode weights from memory; on 4 KiB pages that pays a TLB miss per page.
        _collapse_to_huge_pages(_anonymous_mappings() - before)
        self._blocks: Callable[[Tensor, KVCache, int, Tensor | None], Tensor] = self._run_layers
        if compile:
            self._blocks = _try_compile(self._run_layers)

    def _prepare(self, layer: TransformerLayer) -> LayerWeights:
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
            qkv = w.qkv(x).view(b, t, 3, h, hd).permute(0, 2, 3, 1, 4)  # [B, 3, H, T, hd]
            kv = cache.kv[i]  # [B, 2, H, capacity, hd]
            kv[:, :, :, start:end] = qkv[:, 1:]
            a = F.scaled_dot_product_attention(
                qkv[:, 0], kv[:, 0, :, :end], kv[:, 1, :, :end], attn_mask=attend
            )
            x = F.layer_norm(x + w.out(a.transpose(1, 2).reshape(b, t, d)), (d,), *w.norm1, w.eps)
            x = F.layer_norm(x + w.ff2(F.relu(w.ff1(x, keep_low=True))), (d,), *w.norm2, w.eps)
        return x

    def forward(self, x: Tensor, cache: KVCache, attend: Tensor | None) -> Tensor:
        """Append x [B, T, D] to the cache and return the logits of its last position [B, vocab]."""
        start = cache.length
        cache.reserve(start + x.shape[1])
        hidden = self._blocks(x, cache, start, attend)
        cache.length = start + x.shape[1]
        return self.head(hidden[:, -1])

    def semantic_input(self, tokens: Tensor, positions: Tensor, max_position: int) -> Tensor:
        """Embedding + position of one new token per row: tokens [B], positions [B] (all <= max_position) -> [B, 1, D]."""
        pos = self.model.ar_audio_position
        pos.reserve(max_position + 1)
        emb = self.model.ar_audio_embedding.word_embeddings.weight[tokens]
        return (emb + pos.alpha * pos.table[positions]).unsqueeze(1)


def _anonymous_mappings() -> set[tuple[int, int]]:
    """(start, end) of this process's writable anonymous memory mappings; empty where /proc/self/maps is absent."""
    try:
        with open("/proc/self/maps") as maps:
            lines = maps.readlines()
    except OSError:
        return set()
    spans = set()
    for line in lines:
        fields = line.split()  # address perms offset dev inode [path]
        if fields[1].startswith("rw") and (len(fields) == 5 or fields[5] == "[heap]"):
            start, end = fields[0].split("-")
            spans.add((int(start, 16), int(end, 16)))
    return spans


def _collapse_to_huge_pages(spans: set[tuple[int, int]]) -> None:
    """Best effort: back the whole 2 MiB pages inside each span with transparent huge pages, now.

    The packed weights live in memory that fbgemm allocates, so the spans are the mappings created while packing.
    Where the call is unsupported (older kernel, THP disabled, not Linux) the memory simply keeps its small pages.
    """
    for start, end in spans:
        _madvise(start, end, _MADV_COLLAPSE)


def _advise_huge_pages(buffer: Tensor) -> Tensor:
    """Ask for huge pages for a freshly allocated, not yet written buffer (the KV cache); returns it."""
    start = buffer.data_ptr()
    _madvise(start, start + buffer.numel() * buffer.element_size(), _MADV_HUGEPAGE)
    return buffer


def _madvise(start: int, end: int, advice: int) -> None:
    """madvise() the 2 MiB-aligned part of [start, end); silently nothing where libc or the advice is unavailable."""
    low = -(-start // _HUGE_PAGE) * _HUGE_PAGE
    high = end // _HUGE_PAGE * _HUGE_PAGE
    if high <= low:
        return
    madvise = _libc_madvise()
    if madvise is not None:
        madvise(low, high - low, advice)


@functools.cache
def _libc_madvise() -> Callable[[int, int, int], int] | None:
    """libc's madvise on Linux only (the advice numbers above are Linux's; elsewhere they may mean something else)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return cast(Callable[[int, int, int], int], madvise)


def _try_compile(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """torch.compile `fn`, falling back to eager (with one warning) if compiling or the first call fails."""
    try:
        compiled = torch.compile(fn, dynamic=True)
    except Exception as exc:  # compile support varies by platform
        warnings.warn(f"torch.compile unavailable ({exc}); running eagerly", RuntimeWarning, stacklevel=3)
        return fn
    state = {"ok": True}

    def call(*args: object) -> Tensor:
        if state["ok"]:
            try:
                return compiled(*args)
            except Exception as exc:  # any failure means: run eagerly
                state["ok"] = False
                warnings.warn(f"torch.compile failed ({exc}); running eagerly", RuntimeWarning, stacklevel=2)
        return fn(*args)

    return call
