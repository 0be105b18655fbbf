"""timbre's C kernels: built once into a cache, optional (off without a compiler), and equal to the PyTorch paths."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from timbre import native
from timbre.models.dropout import dropout, relu_dropout
from timbre.models.gpt.blocked_attention import AttentionPlan, blocked_attention
from timbre.models.gpt.model import pad_mask, pad_mask_left, prefix_lm_mask


@pytest.fixture
def fresh_load() -> Iterator[None]:
    native._load.cache_clear()
    yield
    native._load.cache_clear()  # later tests load from the default cache again


def lib() -> object:
    kernels = native.kernels()
    if kernels is None:
        pytest.skip("no C compiler here: the native kernels are off")
    return kernels


def kernel_keep(n: int, seed: int, p: float) -> torch.Tensor:
    """The kernels' keep decision for elements [0, n) of a call with this seed."""
    keep = torch.empty(n, dtype=torch.uint8)
    lib().timbre_dropout_keep(keep.data_ptr(), n, seed, native.threshold(p))  # type: ignore[attr-defined]
    return keep.bool()


def test_built_once_into_the_cache_then_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_load: None
) -> None:
    monkeypatch.setenv("TIMBRE_NATIVE_CACHE", str(tmp_path))
    lib()
    (built,) = tmp_path.glob("kernels-*.so")
    native._load.cache_clear()

    def no_compiler(*args: object) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(native, "_compile", no_compiler)
    assert native.kernels() is not None
    assert list(tmp_path.glob("kernels-*.so")) == [built]


def test_off_by_setting_and_without_a_working_compiler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fresh_load: None
) -> None:
    monkeypatch.setenv("TIMBRE_NATIVE", "0")
    assert native.kernels() is None
    monkeypatch.setenv("TIMBRE_NATIVE", "1")
    monkeypatch.setenv("TIMBRE_NATIVE_CACHE", str(tmp_path))
    failing = tmp_path / "cc"
    failing.write_text("#!/bin/sh\necho 'cc: broken' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setenv("CC", str(failing))
    with caplog.at_level(logging.WARNING, logger="timbre.native"):
        assert native.kernels() is None
    assert "broken" in caplog.text and "off" in caplog.text
    assert not list(tmp_path.glob("kernels-*.so"))
    native._load.cache_clear()
    monkeypatch.setattr(native.shutil, "which", lambda name: None)
    with caplog.at_level(logging.WARNING, logger="timbre.native"):
        assert native.kernels() is None
    assert "no C compiler" in caplog.text
    x = torch.randn(100, 50)
    assert torch.count_nonzero(dropout(x, 0.5)) < x.numel()  # the PyTorch path still drops


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropout_rate_seed_and_gradient(p: float) -> None:
    lib()
    x = torch.randn(1000, 1000, requires_grad=True)
    torch.manual_seed(2)
    y = dropout(x, p)
    kept = y != 0
    assert abs(kept.float().mean().item() - (1 - native.threshold(p) / 2**32)) < 0.002
    torch.testing.assert_close(y[kept], x.detach()[kept] * (1 / (1 - p)), rtol=0, atol=0)
    y.backward(torch.full_like(y, 3.0))
    assert x.grad is not None
    torch.testing.assert_close(x.grad, kept.float() * 3.0 / (1 - p))
    torch.manual_seed(2)
    seed = native.new_seed()
    assert torch.equal(kept.flatten(), kernel_keep(x.numel(), seed, p))  # the documented draw
    torch.manual_seed(2)
    assert torch.equal(dropout(x.detach(), p), y.detach())  # follows torch's seed
    assert not torch.equal(dropout(x.detach(), p), y.detach())  # and changes between calls


def test_dropout_does_not_depend_on_the_thread_count() -> None:
    lib()
    threads = torch.get_num_threads()
    x = torch.randn(3, 70001)  # over PARALLEL_ELEMENTS
    try:
        results = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            torch.manual_seed(4)
            results.append(dropout(x, 0.2))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(results[0], results[1]) and torch.equal(results[0], results[2])


@pytest.mark.parametrize("threads", [1, 2])
def test_relu_dropout_equals_dropout_of_relu(threads: int) -> None:
    lib()
    saved = torch.get_num_threads()
    x = torch.randn(5, 40001, dtype=torch.float64).float()  # over PARALLEL_ELEMENTS
    x[0, :100] = 0.0  # ReLU's gradient at 0 is 0
    g = torch.randn_like(x)
    try:
        torch.set_num_threads(threads)
        results = []
        for fused in (True, False):
            a = x.clone().requires_grad_(True)
            torch.manual_seed(7)
            y = relu_dropout(a, 0.1) if fused else dropout(F.relu(a), 0.1)
            y.backward(g)
            assert a.grad is not None
            results.append((y.detach(), a.grad))
    finally:
        torch.set_num_threads(saved)
    (y_fused, dx_fused), (y_plain, dx_plain) = results
    assert torch.equal(y_fused, y_plain) and torch.equal(dx_fused, dx_plain)  # the same draw, bit for bit
    assert 0.4 < (y_fused > 0).float().mean().item() < 0.5  # half negative, a tenth of the rest dropped
    assert torch.equal(relu_dropout(x, 0.1, training=False), F.relu(x))
    assert torch.equal(relu_dropout(x.double(), 0.0), F.relu(x.double()))


def padded_mask(phones: list[int], codes: list[int]) -> torch.Tensor:
    """[B, 1, S, S] bool: the GPT training mask of a padded batch (the original's left-pad text quirk included)."""
    x_len, y_len = max(phones), max(codes)
    key_pad = torch.cat(
        [pad_mask_left(torch.tensor(phones), x_len), pad_mask(torch.tensor(codes), y_len)], dim=1
    )
    return (prefix_lm_mask(x_len, y_len).unsqueeze(0) & ~key_pad[:, None, :]).unsqueeze(1)


def reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attend: torch.Tensor, keep: torch.Tensor, p: float
) -> torch.Tensor:
    """Float64 attention with the dropout decision `keep` [B, H, S, S] given."""
    q, k, v = q.double(), k.double(), v.double()
    scores = (q / math.sqrt(q.shape[-1])) @ k.transpose(-1, -2)
    prob = torch.softmax(scores.masked_fill(~attend, float("-inf")), dim=-1)
    return (prob * keep / (1 - p)) @ v


@pytest.mark.parametrize("mask_kind", ["padded", "shared 2-D", "none"])
@pytest.mark.parametrize("rows_per_block", [7, 64])
def test_attention_equals_the_reference_with_the_kernels_dropout(mask_kind: str, rows_per_block: int) -> None:
    lib()
    b, h, d, p = 3, 2, 8, 0.3
    if mask_kind == "padded":
        attend = padded_mask([5, 4, 3], [9, 7, 8])
    elif mask_kind == "shared 2-D":
        attend = prefix_lm_mask(5, 9)
    else:
        attend = None
    s = 14
    plan = AttentionPlan.from_mask(attend, s, torch.float32, rows_per_block=rows_per_block)
    torch.manual_seed(0)
    q, k, v = (torch.randn(b, h, s, d, requires_grad=True) for _ in range(3))
    torch.manual_seed(11)
    got = blocked_attention(q, k, v, plan, p)
    torch.manual_seed(11)  # the blocks' seeds, in order
    keep = torch.zeros(b, h, s, s, dtype=torch.bool)
    for blk in plan.blocks:
        rows = blk.stop - blk.start
        drawn = kernel_keep(b * h * rows * blk.keys, native.new_seed(), p)
        keep[:, :, blk.start : blk.stop, : blk.keys] = drawn.view(b, h, rows, blk.keys)
    full = torch.ones(s, s, dtype=torch.bool) if attend is None else attend
    q64, k64, v64 = (t.detach().double().requires_grad_() for t in (q, k, v))
    want = reference(q64, k64, v64, full, keep, p)
    assert 0.55 < keep[full.expand(b, h, s, s)].float().mean().item() < 0.85
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=1e-5)
    grad = torch.randn(b, h, s, d)
    got.backward(grad)
    want.backward(grad.double())
    for ours, theirs in ((q, q64), (k, k64), (v, v64)):
        assert ours.grad is not None and theirs.grad is not None
        torch.testing.assert_close(ours.grad.double(), theirs.grad, atol=1e-5, rtol=1e-5)


def test_attention_without_dropout_equals_sdpa() -> None:
    lib()
    attend = padded_mask([6, 2], [11, 13])
    s = attend.shape[-1]
    plan = AttentionPlan.from_mask(attend, s, torch.float32)
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 4, s, 16, requires_grad=True) for _ in range(3))
    got = blocked_attention(q, k, v, plan, 0.0)
    want = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    grads = torch.autograd.grad(got.square().sum(), (q, k, v))
    wants = torch.autograd.grad(want.square().sum(), (q, k, v))
    for ours, theirs in zip(grads, wants, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_kernels_refuse_tensors_they_cannot_address() -> None:
    kernels = lib()
    scores = torch.randn(4, 3, 5)
    with pytest.raises(ValueError, match="attention mask"):
        native.attention_forward(
            kernels, scores, torch.ones(1, 3, 5, dtype=torch.uint8), 2, 0, 0.1
        )  # needs 2
    with pytest.raises(ValueError, match="attention scores"):
        native.attention_forward(
            kernels, scores.transpose(1, 2), torch.ones(2, 5, 3, dtype=torch.uint8), 2, 0, 0.1
        )
    with pytest.raises(ValueError, match="probabilities"):
        native.attention_backward(kernels, scores, scores, scores.double())
    with pytest.raises(ValueError, match="dropout input"):
        native.dropout(kernels, torch.randn(3).double(), 0, 0.1)
    with pytest.raises(ValueError, match="relu-dropout gradient"):
        native.relu_dropout_backward(kernels, torch.randn(4), torch.randn(3), 0.1)
