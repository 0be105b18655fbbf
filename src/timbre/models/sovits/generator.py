"""HiFi-GAN generator (`dec`): latent frames [B, 192, T] -> waveform [B, 1, T * prod(upsample_rates)].

For inference `prepare_for_inference(dtype)` builds a `GeneratorPlan`: the upsampling and residual convolutions (all
but a few percent of the work) run with folded weights in channels-last layout, in fp32 or bf16; `conv_pre`, `cond`
and `conv_post` stay in fp32.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbre.models.dilated import dilated_conv1d
from timbre.models.sovits.generator_plan import GeneratorPlan
from timbre.models.sovits.layers import LRELU_SLOPE, WNConv1d, WNConvTranspose1d


def _same_padding(kernel_size: int, dilation: int) -> int:
    return (kernel_size * dilation - dilation) // 2


def _dilated(conv: nn.Module, x: Tensor) -> Tensor:
    """A resblock's dilated convolution: with the fast CPU backward of `dilated_conv1d` when training on the CPU
    without autocast, else the conv itself (inference and autocast are unchanged)."""
    if not isinstance(conv, WNConv1d):
        return conv(x)  # type: ignore[no-any-return]
    padding, dilation = conv.padding[0], conv.dilation[0]
    fast = conv.training and dilation > 1 and conv.groups == 1 and x.device.type == "cpu"
    if not fast or not isinstance(padding, int) or torch.is_autocast_enabled("cpu"):
        return conv(x)
    return dilated_conv1d(x, conv.effective_weight(), conv.bias, padding, dilation)


class ResBlock1(nn.Module):
    """Three (dilated conv, conv) pairs, each with a residual connection (`convs1`, `convs2`)."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, dilation=d, padding=_same_padding(kernel_size, d))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, padding=_same_padding(kernel_size, 1))
            for _ in dilations
        )

    def forward(self, x: Tensor) -> Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            xt = c2(F.leaky_relu(_dilated(c1, F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
            x = xt + x
        return x


class ResBlock2(nn.Module):
    """Single dilated convs with residual connections (`convs`)."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            WNConv1d(channels, channels, kernel_size, dilation=d, padding=_same_padding(kernel_size, d))
            for d in dilations
        )

    def forward(self, x: Tensor) -> Tensor:
        for c in self.convs:
            x = _dilated(c, F.leaky_relu(x, LRELU_SLOPE)) + x
        return x


class Generator(nn.Module):
    def __init__(
        self,
        initial_channel: int,
        resblock: str,
        resblock_kernel_sizes: tuple[int, ...],
        resblock_dilation_sizes: tuple[tuple[int, ...], ...],
        upsample_rates: tuple[int, ...],
        upsample_initial_channel: int,
        upsample_kernel_sizes: tuple[int, ...],
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        self.num_kernels = len(resblock_kernel_sizes)
        self.conv_pre = nn.Conv1d(initial_channel, upsample_initial_channel, 7, 1, padding=3)
        block = ResBlock1 if resblock == "1" else ResBlock2
        self.ups = nn.ModuleList()
        for i, (u, k) in enumerate(zip(upsample_rates, upsample_kernel_sizes, strict=True)):
            c_in, c_out = upsample_initial_channel // 2**i, upsample_initial_channel // 2 ** (i + 1)
            self.ups.append(WNConvTranspose1d(c_in, c_out, k, u, padding=(k - u) // 2))
        self.resblocks = nn.ModuleList()
        ch = upsample_initial_channel
        for i in range(len(self.ups)):
            ch = upsample_initial_channel // 2 ** (i + 1)
            for k, d in zip(resblock_kernel_sizes, resblock_dilation_sizes, strict=True):
                self.resblocks.append(block(ch, k, tuple(d)))
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3, bias=False)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, upsample_initial_channel, 1)
        self.plan: GeneratorPlan | None = None

    def prepare_for_inference(self, dtype: torch.dtype = torch.float32) -> None:
        """Build the channels-last inference plan with weights folded into `dtype` (see `GeneratorPlan`)."""
        self.plan = GeneratorPlan(self.ups, self.resblocks, self.num_kernels, dtype)

    def train(self, mode: bool = True) -> Generator:
        super().train(mode)
        if mode:
            self.plan = None
        return self

    def forward(self, x: Tensor, g: Tensor | None = None) -> Tensor:
        # x: [B, inter, T], g: [B, gin, 1] -> [B, 1, T * 640]
        x = self.conv_pre(x)
        if g is not None:
            x = x + self.cond(g)
        if self.plan is not None and not self.training:
            x = self.plan(x)
            return torch.tanh(self.conv_post(F.leaky_relu(x.float()).contiguous()))
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            xs = blocks[0](x)
            for block in blocks[1:]:
                xs += block(x)
            x = xs / self.num_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))
