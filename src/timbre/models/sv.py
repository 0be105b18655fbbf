"""Speaker-verification embedding of v2Pro/v2ProPlus: Kaldi log-mel filterbank + ERes2NetV2 (3D-Speaker).

GPT-SoVITS v2Pro conditions SoVITS on a 20480-dim vector: the ERes2NetV2 trunk's fused last-stage feature map
[B, 2048, 10, T'] flattened over (channels, frequency) and averaged over time — not the 192-dim embedding head. The
front end is Kaldi's `compute-fbank-feats` with its defaults (25 ms povey windows every 10 ms, pre-emphasis 0.97, DC
removal, 512-point power spectrum, 80 triangular mel bins from 20 Hz to Nyquist, natural log), computed here in torch.

Weights come from the original's `pretrained_eres2netv2w24s4ep4.ckpt` (a plain state dict), loaded with
`weights_only=True` from a local path the user gives (`load_speaker_encoder`).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbre.errors import CheckpointError

SV_SAMPLE_RATE = 16000
SV_EMBED_DIM = 20480
_EPS = torch.finfo(torch.float32).eps


# -- Kaldi filterbank -----------------------------------------------------------------------------------------------
def _mel(freq: float) -> float:
    return 1127.0 * math.log(1.0 + freq / 700.0)


@functools.cache
def _mel_banks(num_bins: int, n_fft: int, sample_rate: float, low_freq: float, high_freq: float) -> Tensor:
    """Triangular filters on the mel scale, [num_bins, n_fft // 2 + 1] (last FFT bin always zero, as Kaldi)."""
    nyquist = 0.5 * sample_rate
    if high_freq <= 0.0:
        high_freq += nyquist
    mel_low, mel_high = _mel(low_freq), _mel(high_freq)
    delta = (mel_high - mel_low) / (num_bins + 1)
    b = torch.arange(num_bins).unsqueeze(1)
    left, center, right = mel_low + b * delta, mel_low + (b + 1.0) * delta, mel_low + (b + 2.0) * delta
    mel = (1127.0 * (1.0 + sample_rate / n_fft * torch.arange(float(n_fft // 2)) / 700.0).log()).unsqueeze(0)
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    banks = torch.max(torch.zeros(1), torch.min(up, down))
    return F.pad(banks, (0, 1))


@functools.cache
def _povey_window(size: int) -> Tensor:
    return torch.hann_window(size, periodic=False).pow(0.85)


def kaldi_fbank(wav: Tensor, num_mel_bins: int = 80, sample_rate: float = 16000.0) -> Tensor:
    """Kaldi-compatible log-mel filterbank of one mono waveform [n] -> [frames, num_mel_bins] (no dither).

    frames = 1 + (n - 400) // 160 at 16 kHz (edges snipped); raises ValueError for clips shorter than one window.
    """
    if wav.dim() != 1:
        raise ValueError(f"kaldi_fbank expects a 1-D waveform, got shape {tuple(wav.shape)}")
    shift, size = int(sample_rate * 0.010), int(sample_rate * 0.025)
    n_fft = 1 << (size - 1).bit_length()
    if wav.numel() < size:
        raise ValueError(f"audio too short for the speaker embedding: {wav.numel()} samples, need >= {size}")
    frames = 1 + (wav.numel() - size) // shift
    x = wav.as_strided((frames, size), (shift * wav.stride(0), wav.stride(0)))  # [frames, size]
    x = x - x.mean(dim=1, keepdim=True)
    previous = torch.cat([x[:, :1], x[:, :-1]], dim=1)
    x = x - 0.97 * previous
    x = x * _povey_window(size).to(device=x.device, dtype=x.dtype).unsqueeze(0)
    x = F.pad(x, (0, n_fft - size))
    power = torch.fft.rfft(x).abs().pow(2.0)  # [frames, n_fft // 2 + 1]
    banks = _mel_banks(num_mel_bins, n_fft, float(sample_rate), 20.0, 0.0).to(device=x.device, dtype=x.dtype)
    return torch.max(torch.mm(power, banks.T), torch.tensor(_EPS, device=x.device, dtype=x.dtype)).log()


# -- ERes2NetV2 -----------------------------------------------------------------------------------------------------
class _ClippedReLU(nn.Hardtanh):
    """min(max(x, 0), 20), the 3D-Speaker 'ReLU'."""

    def __init__(self) -> None:
        super().__init__(0.0, 20.0, inplace=True)


class AFF(nn.Module):
    """Attentional feature fusion: x * (1 + tanh(a)) + y * (1 - tanh(a)), a from both inputs."""

    def __init__(self, channels: int, r: int = 4) -> None:
        super().__init__()
        inter = channels // r
        self.local_att = nn.Sequential(
            nn.Conv2d(channels * 2, inter, 1), nn.BatchNorm2d(inter), nn.SiLU(inplace=True),
            nn.Conv2d(inter, channels, 1), nn.BatchNorm2d(channels),
        )  # fmt: skip

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        att = 1.0 + torch.tanh(self.local_att(torch.cat((x, y), dim=1)))
        return x * att + y * (2.0 - att)


class Res2Block(nn.Module):
    """Bottleneck with `scale` hierarchical 3x3 branches; `fuse` switches the branch merge from sum to AFF."""

    def __init__(self, in_planes: int, planes: int, stride: int, base_width: int, scale: int, expansion: int,
                 fuse: bool) -> None:  # fmt: skip
        super().__init__()
        width = int(math.floor(planes * (base_width / 64.0)))
        self.width = width
        self.conv1 = nn.Conv2d(in_planes, width * scale, 1, stride=stride, bias=False)
        self.bn1 = nn.BatchNorm2d(width * scale)
        self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1, bias=False) for _ in range(scale))
        self.bns = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(scale))
        if fuse:
            self.fuse_models = nn.ModuleList(AFF(width, r=4) for _ in range(scale - 1))
        self.fuse = fuse
        self.relu = _ClippedReLU()
        self.conv3 = nn.Conv2d(width * scale, planes * expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * expansion)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes * expansion:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes * expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * expansion),
            )

    def forward(self, x: Tensor) -> Tensor:
        splits = torch.split(self.relu(self.bn1(self.conv1(x))), self.width, dim=1)
        outs: list[Tensor] = []
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            if i == 0:
                sp = splits[0]
            elif self.fuse:
                sp = self.fuse_models[i - 1](sp, splits[i])
            else:
                sp = sp + splits[i]
            sp = self.relu(bn(conv(sp)))
            outs.append(sp)
        out = self.bn3(self.conv3(torch.cat(outs, dim=1)))
        return self.relu(out + self.shortcut(x))


class ERes2NetV2(nn.Module):
    """3D-Speaker ERes2NetV2 as GPT-SoVITS configures it (baseWidth 24, scale 4, expansion 4, 64 channels)."""

    def __init__(self, num_blocks: tuple[int, ...] = (3, 4, 6, 3), m_channels: int = 64, feat_dim: int = 80,
                 embedding_size: int = 192, base_width: int = 24, scale: int = 4, expansion: int = 4) -> None:  # fmt: skip
        super().__init__()
        self.conv1 = nn.Conv2d(1, m_channels, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(m_channels)
        in_planes = m_channels
        layers = []
        for i, n in enumerate(num_blocks):
            planes = m_channels * 2**i
            blocks = []
            for j in range(n):
                stride = (1 if i == 0 else 2) if j == 0 else 1
                blocks.append(Res2Block(in_planes, planes, stride, base_width, scale, expansion, fuse=i >= 2))
                in_planes = planes * expansion
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        top = m_channels * 8 * expansion
        self.layer3_ds = nn.Conv2d(m_channels * 4 * expansion, top, 3, padding=1, stride=2, bias=False)
        self.fuse34 = AFF(top, r=4)
        stats_dim = (feat_dim // 8) * m_channels * 8 * expansion
        self.seg_1 = nn.Linear(
            stats_dim * 2, embedding_size
        )  # 192-dim head (unused by GPT-SoVITS; kept to load)

    def trunk(self, feats: Tensor) -> Tensor:
        # feats: [B, T, 80] -> fused feature map [B, 2048, 10, T/8]
        x = feats.permute(0, 2, 1).unsqueeze(1)
        x = F.relu(self.bn1(self.conv1(x)))
        out3 = self.layer3(self.layer2(self.layer1(x)))
        return self.fuse34(self.layer4(out3), self.layer3_ds(out3))

    def forward(self, feats: Tensor) -> Tensor:
        """The 20480-dim embedding GPT-SoVITS uses (the original's `forward3`): [B, T, 80] -> [B, 20480]."""
        return self.trunk(feats).flatten(start_dim=1, end_dim=2).mean(-1)

    def embedding(self, feats: Tensor) -> Tensor:
        """The 192-dim speaker embedding (statistics pooling + `seg_1`), for speaker similarity."""
        x = self.trunk(feats).flatten(start_dim=1, end_dim=2)
        stats = torch.cat((x.mean(dim=-1), torch.sqrt(torch.var(x, dim=-1) + 1e-8)), dim=1)
        return self.seg_1(stats)


class SpeakerEncoder(nn.Module):
    """16 kHz waveform(s) -> v2Pro speaker-verification embedding [B, 20480]."""

    def __init__(self, model: ERes2NetV2 | None = None) -> None:
        super().__init__()
        self.model = model if model is not None else ERes2NetV2()

    def features(self, wav: Tensor) -> Tensor:
        """[B, n] or [n] at 16 kHz -> Kaldi fbank [B, frames, 80]."""
        wav = wav.unsqueeze(0) if wav.dim() == 1 else wav
        return torch.stack([kaldi_fbank(w.float()) for w in wav])

    def forward(self, wav: Tensor) -> Tensor:
        return self.model(self.features(wav))


def load_speaker_encoder(path: str | Path, device: str | torch.device = "cpu") -> SpeakerEncoder:
    """Load the original's ERes2NetV2 state dict (`pretrained_eres2netv2w24s4ep4.ckpt`) from a local file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"speaker-verification checkpoint not found: {path} (give the path of "
                              "pretrained_eres2netv2w24s4ep4.ckpt from the original's pretrained_models/sv)")  # fmt: skip
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means the file is unusable or unsafe
        raise CheckpointError(f"cannot read {path} safely as a state dict: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    model = ERes2NetV2()
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors")
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(state[k].shape) != expected[k])
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{path} is not an ERes2NetV2 (w24 s4) checkpoint: {len(missing)} missing keys {missing[:3]}, "
            f"{len(unexpected)} unexpected {unexpected[:3]}, {len(wrong)} with other shapes {wrong[:3]}"
        )
    model.load_state_dict(state)
    return SpeakerEncoder(model).eval().to(device)
