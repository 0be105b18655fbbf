"""Small building blocks shared by the SoVITS networks and the discriminators.

Weight normalisation is implemented here rather than with `torch.nn.utils.weight_norm`, so that the parameter names
are the checkpoint's (`weight_g`, `weight_v`, dim 0) on every PyTorch version and so that folding it for inference
is a plain, cached tensor instead of a module surgery. For a transposed convolution dim 0 is the input-channel axis,
exactly as the original checkpoints store it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LRELU_SLOPE = 0.1


def sequence_mask(lengths: Tensor, max_len: int) -> Tensor:
    """[B] lengths -> [B, max_len] bool, True inside each sequence."""
    return torch.arange(max_len, dtype=lengths.dtype, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(
        1
    )


def gated_tanh(x: Tensor, n_channels: int) -> Tensor:
    """WaveNet gate: tanh(first half) * sigmoid(second half) along channels."""
    return torch.tanh(x[:, :n_channels]) * torch.sigmoid(x[:, n_channels:])


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of a [B, C, T] tensor (parameters `gamma` / `beta`)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        x = F.layer_norm(x.transpose(1, -1), (self.channels,), self.gamma, self.beta, self.eps)
        return x.transpose(1, -1)


class _WeightNormMixin:
    """weight = weight_g * weight_v / ||weight_v|| (norm over all axes but 0), or a folded copy once `fold()` ran."""

    weight_g: nn.Parameter
    weight_v: nn.Parameter
    _folded: Tensor | None

    def _init_weight_norm(self) -> None:
        module: nn.Module = self  # type: ignore[assignment]
        weight = module._parameters.pop("weight")
        assert weight is not None
        v = weight.detach().clone()
        g = torch.linalg.vector_norm(v.reshape(v.shape[0], -1), dim=1).reshape(-1, *([1] * (v.dim() - 1)))
        module.register_parameter("weight_g", nn.Parameter(g))
        module.register_parameter("weight_v", nn.Parameter(v))
        self._folded = None

    def effective_weight(self) -> Tensor:
        if self._folded is not None:
            return self._folded
        return torch._weight_norm(self.weight_v, self.weight_g, 0)

    def fold(self, dtype: torch.dtype | None = None) -> None:
        """Cache the effective weight (inference only; the parameters stay for saving)."""
        with torch.no_grad():
            weight = torch._weight_norm(self.weight_v, self.weight_g, 0)
        self._folded = weight if dtype is None else weight.to(dtype)

    def unfold(self) -> None:
        self._folded = None


class WNConv1d(_WeightNormMixin, nn.Conv1d):
    def __init__(self, *args, **kwargs) -> None:  # same arguments as nn.Conv1d
        super().__init__(*args, **kwargs)
        self._init_weight_norm()

    def forward(self, x: Tensor) -> Tensor:
        bias = self.bias
        weight = self.effective_weight()
        if bias is not None and bias.dtype != weight.dtype:
            bias = bias.to(weight.dtype)
        return self._conv_forward(x, weight, bias)


class WNConv2d(_WeightNormMixin, nn.Conv2d):
    def __init__(self, *args, **kwargs) -> None:  # same arguments as nn.Conv2d
        super().__init__(*args, **kwargs)
        self._init_weight_norm()

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.effective_weight(), self.bias)


class WNConvTranspose1d(_WeightNormMixin, nn.ConvTranspose1d):
    def __init__(self, *args, **kwargs) -> None:  # same arguments as nn.ConvTranspose1d
        super().__init__(*args, **kwargs)
        self._init_weight_norm()

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        weight = self.effective_weight()
        bias = self.bias
        if bias is not None and bias.dtype != weight.dtype:
            bias = bias.to(weight.dtype)
        pad = self.padding[0]
        assert isinstance(pad, int)
        return F.conv_transpose1d(
            x, weight, bias, self.stride, pad, self.output_padding, self.groups, self.dilation
        )


def fold_weight_norm(module: nn.Module, dtype: torch.dtype | None = None) -> None:
    """Fold every weight-normed convolution under `module` (see `_WeightNormMixin.fold`)."""
    for m in module.modules():
        if isinstance(m, _WeightNormMixin):
            m.fold(dtype)


def unfold_weight_norm(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, _WeightNormMixin):
            m.unfold()


def slice_segments(x: Tensor, starts: Tensor, size: int) -> Tensor:
    """[B, C, T] -> [B, C, size]: row b from starts[b] (all slices must lie inside T)."""
    index = starts.to(x.device).view(-1, 1) + torch.arange(size, device=x.device).view(1, -1)  # [B, size]
    return x.gather(2, index.unsqueeze(1).expand(-1, x.size(1), -1))


def rand_slice_segments(x: Tensor, lengths: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """A random window of `size` frames inside each row's length; draws torch.rand([B]) as the original does."""
    max_start = lengths - size + 1
    starts = (torch.rand([x.size(0)]).to(device=x.device) * max_start).to(dtype=torch.long)
    return slice_segments(x, starts, size), starts
