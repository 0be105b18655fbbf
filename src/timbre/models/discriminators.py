"""HiFi-GAN discriminators used to train SoVITS: one scale discriminator plus period discriminators.

v1/v2 use periods 2, 3, 5, 7, 11; v2Pro/v2ProPlus add 17 and 23. Parameter names follow the original checkpoints
(`discriminators.<i>.convs.<j>.weight_g/weight_v`, `conv_post`). All convolutions are weight-normalised.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbre.errors import TimbreError
from timbre.models.polyphase import conv_rows, polyphase_conv1d
from timbre.models.sovits.layers import LRELU_SLOPE, WNConv1d, WNConv2d
from timbre.models.winograd import R_TAPS, conv_k5, weight_normed_kernel


def _k_major(module: nn.Module) -> None:
    """Re-store `weight_v` ([C_out, C_in, 5(, 1)]) with the taps outermost in memory, same shape and values.

    The state dict, optimizer state and checkpoints see the usual shape; the Winograd path reads the kernel as a
    contiguous [5, C_out, C_in] view, so its transform is one contiguous GEMM instead of a stride-5 gather.
    """
    assert isinstance(module, WNConv1d | WNConv2d)
    v = module.weight_v.detach()
    stored = _taps_first(v).permute(1, 2, 0)  # a contiguous [5, C_out, C_in] seen as [C_out, C_in, 5]
    module.weight_v = nn.Parameter(stored if v.dim() == 3 else stored.unsqueeze(-1))
    module.k_major = True  # type: ignore[assignment]
    module.winograd_constants = None  # type: ignore[assignment]


def _taps_first(v: Tensor) -> Tensor:
    """weight_v as [5, C_out, C_in] (a view when stored by `_k_major`)."""
    return (v if v.dim() == 3 else v.squeeze(-1)).permute(2, 0, 1).contiguous()  # views: no copy in backward


def _wide_conv(conv: nn.Module, x: Tensor) -> Tensor:
    """The kernel-5, stride-1, 1024-channel layer: Winograd F(4, 5) when training on the CPU, else the conv itself.

    Weight norm is applied as a per-channel gain on the output (g / ||v||), so the kernel transform reads `weight_v`
    directly. On CUDA cuDNN picks its own algorithm (Winograd among them); in eval mode (the compatibility vectors)
    the direct convolution keeps outputs bit-equal to the original's.
    """
    assert isinstance(conv, WNConv1d | WNConv2d)
    if not _winograd_applies(conv, x):
        return conv(x)
    cached = getattr(conv, "winograd_constants", None)
    kernel, scale = cached if cached is not None else _winograd_kernel(conv)
    if x.dim() == 3:  # [B, C, T] as [B, C, T, 1]
        return conv_k5(x.unsqueeze(-1), kernel, scale, conv.bias).squeeze(-1)
    return conv_k5(x, kernel, scale, conv.bias)


def _winograd_applies(conv: WNConv1d | WNConv2d, x: Tensor) -> bool:
    fast = conv.training and x.device.type == "cpu" and x.dtype == torch.float32 and conv._folded is None
    return fast and conv.weight_v.shape[2] == R_TAPS


def _winograd_kernel(conv: WNConv1d | WNConv2d) -> tuple[Tensor, Tensor]:
    """(transformed kernel [8, C_out, C_in], weight-norm gain g / ||v|| [C_out])."""
    return weight_normed_kernel(_taps_first(conv.weight_v), conv.weight_g.reshape(-1))


def _strided_conv(conv: nn.Module, x: Tensor) -> Tensor:
    """The scale discriminator's grouped stride-4 layers: over the input's polyphase components when training on the
    CPU (stride 1, about a quarter of the taps; 2-3.5x faster forward + backward, see `polyphase_conv1d`), else the
    conv itself (eval mode keeps the original's summation order)."""
    assert isinstance(conv, WNConv1d)
    if not (conv.training and x.device.type == "cpu"):
        return conv(x)
    stride, padding = conv.stride[0], conv.padding[0]
    assert isinstance(padding, int) and conv.dilation[0] == 1
    weight, bias = conv.effective_weight(), conv.bias
    if bias is not None and bias.dtype != weight.dtype:
        bias = bias.to(weight.dtype)
    return polyphase_conv1d(x, weight, bias, stride, padding, conv.groups)


def _column_conv(conv: nn.Module, x: Tensor) -> Tensor:
    """A period discriminator's strided (5 x 1) layer: one GEMM over the unfolded rows when training on the CPU
    without autocast (`conv_rows`; up to 2x faster forward + backward for the narrow periods), else the conv itself
    (eval mode keeps the original's summation order; autocast keeps its own choice of precision per layer)."""
    assert isinstance(conv, WNConv2d)
    if not (conv.training and x.device.type == "cpu") or torch.is_autocast_enabled("cpu"):
        return conv(x)
    stride, padding = conv.stride[0], conv.padding
    assert isinstance(padding, tuple) and padding[1] == 0 and conv.stride[1] == 1
    assert conv.dilation == (1, 1) and conv.groups == 1
    return conv_rows(x, conv.effective_weight(), conv.bias, stride, padding[0])


@contextmanager
def constant_weights(discriminator: nn.Module) -> Iterator[None]:
    """Within the block the discriminator's weights are constants: every weight norm (and Winograd kernel transform)
    is computed once, without autograd, and reused by every forward. For the generator's pass, which wants no
    gradient for the discriminator and scores real and generated audio with the same weights."""
    convs = [m for m in discriminator.modules() if isinstance(m, WNConv1d | WNConv2d)]
    try:
        with torch.no_grad():
            for conv in convs:
                if getattr(conv, "k_major", False) and conv.training and conv.weight_v.device.type == "cpu":
                    conv.winograd_constants = _winograd_kernel(conv)  # type: ignore[assignment]
                else:
                    conv.fold()
        yield
    finally:
        for conv in convs:
            conv.unfold()
            if getattr(conv, "k_major", False):
                conv.winograd_constants = None  # type: ignore[assignment]


def periods_for(version: str) -> tuple[int, ...]:
    if version in ("v1", "v2"):
        return (2, 3, 5, 7, 11)
    if version in ("v2Pro", "v2ProPlus"):
        return (2, 3, 5, 7, 11, 17, 23)
    raise TimbreError(
        f"unknown SoVITS version {version!r} for the discriminator; expected v1, v2, v2Pro or v2ProPlus"
    )


class DiscriminatorP(nn.Module):
    """Folds the waveform into [B, 1, T/period, period] and applies (k x 1) 2-D convolutions."""

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3) -> None:
        super().__init__()
        self.period = period
        pad = ((kernel_size - 1) // 2, 0)
        chans = [1, 32, 128, 512, 1024, 1024]
        self.convs = nn.ModuleList(
            WNConv2d(chans[i], chans[i + 1], (kernel_size, 1), (stride if i < 4 else 1, 1), padding=pad)
            for i in range(5)
        )
        self.conv_post = WNConv2d(1024, 1, (3, 1), 1, padding=(1, 0))
        _k_major(self.convs[4])

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        # x: [B, 1, T] -> scores [B, N], feature maps
        b, c, t = x.shape
        if t % self.period:
            n_pad = self.period - t % self.period
            x = F.pad(x, (0, n_pad), "reflect")
            t += n_pad
        x = x.view(b, c, t // self.period, self.period)
        fmap = []
        for i, conv in enumerate(self.convs):
            x = F.leaky_relu(_wide_conv(conv, x) if i == 4 else _column_conv(conv, x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class DiscriminatorS(nn.Module):
    """Grouped strided 1-D convolutions on the raw waveform."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            [
                WNConv1d(1, 16, 15, 1, padding=7),
                WNConv1d(16, 64, 41, 4, groups=4, padding=20),
                WNConv1d(64, 256, 41, 4, groups=16, padding=20),
                WNConv1d(256, 1024, 41, 4, groups=64, padding=20),
                WNConv1d(1024, 1024, 41, 4, groups=256, padding=20),
                WNConv1d(1024, 1024, 5, 1, padding=2),
            ]
        )
        self.conv_post = WNConv1d(1024, 1, 3, 1, padding=1)
        _k_major(self.convs[5])

    def _conv(self, i: int, x: Tensor) -> Tensor:
        if i == 5:
            return _wide_conv(self.convs[i], x)
        if i in (1, 2, 3):  # the last grouped layer (1024 channels, 320 samples) is faster direct
            return _strided_conv(self.convs[i], x)
        return self.convs[i](x)  # type: ignore[no-any-return]

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        fmap = []
        for i in range(len(self.convs)):
            x = F.leaky_relu(self._conv(i, x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class DiscriminatorOutput(NamedTuple):
    real_scores: list[Tensor]  # per discriminator [B, N_i]
    fake_scores: list[Tensor]
    real_fmaps: list[list[Tensor]]  # per discriminator, per layer
    fake_fmaps: list[list[Tensor]]


class MultiPeriodDiscriminator(nn.Module):
    def __init__(self, version: str = "v2") -> None:
        super().__init__()
        self.periods = periods_for(version)
        discs: list[nn.Module] = [DiscriminatorS()]
        discs += [DiscriminatorP(p) for p in self.periods]
        self.discriminators = nn.ModuleList(discs)

    def forward(self, y: Tensor, y_hat: Tensor, real_grad: bool = True) -> DiscriminatorOutput:
        """y, y_hat: [B, 1, T] real and generated waveforms.

        By default both are scored as one batch of 2B (wider GEMMs, one weight normalisation per layer); every
        convolution treats batch rows independently, so this equals scoring them apart. With `real_grad=False` (the
        generator's pass: its feature-matching targets are constants and the discriminator gets no gradient) the
        weights are constants (see `constant_weights`), the real audio is scored without autograd and apart, so that
        backward computes input gradients for the generated rows only.
        """
        if not real_grad:
            with constant_weights(self):
                return self._score_apart(y, y_hat)
        out = DiscriminatorOutput([], [], [], [])
        n = y.shape[0]
        both = torch.cat([y, y_hat.to(y.dtype)])
        for d in self.discriminators:
            scores, fmaps = d(both)
            out.real_scores.append(scores[:n])
            out.fake_scores.append(scores[n:])
            out.real_fmaps.append([f[:n] for f in fmaps])
            out.fake_fmaps.append([f[n:] for f in fmaps])
        return out

    def _score_apart(self, y: Tensor, y_hat: Tensor) -> DiscriminatorOutput:
        out = DiscriminatorOutput([], [], [], [])
        for d in self.discriminators:
            with torch.no_grad():
                score_r, fmap_r = d(y)
            score_g, fmap_g = d(y_hat)
            out.real_scores.append(score_r)
            out.fake_scores.append(score_g)
            out.real_fmaps.append(fmap_r)
            out.fake_fmaps.append(fmap_g)
        return out
