"""`SynthesizerTrn`: the SoVITS network of GPT-SoVITS v1/v2/v2Pro/v2ProPlus with the checkpoints' parameter names.

Inference: semantic codes [n_q=1, B, T25] + phoneme ids [B, N] + reference spectrogram(s) -> waveform [B, 1, T]:
    ge      = ref_enc(refer)                              style vector (v2Pro*: prelu(ge + sv_emb(speaker emb)))
    prior   = enc_p(quantizer.decode(codes) upsampled x2, text, ge)      -> m_p, logs_p at 50 Hz
    z       = flow^-1(m_p + noise * exp(logs_p) * noise_scale)
    audio   = dec(z, ge)                                   640 samples per frame at 32 kHz
Training additionally runs the posterior encoder `enc_q` on the target spectrogram and decodes a random slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbre.errors import TimbreError
from timbre.models.sovits.config import SoVITSConfig
from timbre.models.sovits.flow import PosteriorEncoder, ResidualCouplingBlock
from timbre.models.sovits.generator import Generator
from timbre.models.sovits.layers import (
    fold_weight_norm,
    rand_slice_segments,
    sequence_mask,
    unfold_weight_norm,
)
from timbre.models.sovits.quantizer import ResidualVectorQuantizer
from timbre.models.sovits.style import MelStyleEncoder
from timbre.models.sovits.text_encoder import TextEncoder

Precision = Literal["fp32", "bf16"]
SSL_DIM = 768


class DecodeStages(NamedTuple):
    """Everything `decode` computes before the vocoder (also what the reference vectors record)."""

    ge_ref: Tensor  # [B, gin, 1] style encoder output (averaged over references; before sv_emb for v2Pro*)
    ge: Tensor  # [B, gin, 1] global condition of flow and decoder
    ge_text: Tensor  # [B, 512, 1] condition given to enc_p (ge_to512(ge) for v2Pro*, else ge)
    quantized: Tensor  # [B, 768, 2T] codebook vectors at 50 Hz
    x: Tensor  # [B, hidden, T'] enc_p hidden output
    m_p: Tensor  # [B, inter, T']
    logs_p: Tensor  # [B, inter, T']
    y_mask: Tensor  # [B, 1, T']
    z_p: Tensor  # [B, inter, T'] flow input
    z: Tensor  # [B, inter, T'] flow output (decoder input before masking)


class SoVITSTrainOutput(NamedTuple):
    y_hat: Tensor  # [B, 1, segment_frames * 640] generated audio of the random slice
    commit_loss: Tensor  # scalar quantizer commitment loss (0 when the quantizer is frozen)
    ids_slice: Tensor  # [B] start frame of each slice
    z_mask: Tensor  # [B, 1, T] spectrogram frame mask
    z: Tensor  # [B, inter, T] posterior sample
    z_p: Tensor  # [B, inter, T] flow(z)
    m_p: Tensor  # [B, inter, T] prior mean
    logs_p: Tensor  # [B, inter, T] prior log-std
    m_q: Tensor  # [B, inter, T] posterior mean
    logs_q: Tensor  # [B, inter, T] posterior log-std
    quantized: Tensor  # [B, 768, T] quantized semantic features at 50 Hz
    ge: Tensor  # [B, gin, 1] global condition


class SynthesizerTrn(nn.Module):
    def __init__(self, cfg: SoVITSConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg
        self.enc_p = TextEncoder(
            c.inter_channels,
            c.hidden_channels,
            c.filter_channels,
            c.n_heads,
            c.n_layers,
            c.kernel_size,
            c.p_dropout,
            c.n_symbols,
        )
        self.dec = Generator(
            c.inter_channels,
            c.resblock,
            c.resblock_kernel_sizes,
            c.resblock_dilation_sizes,
            c.upsample_rates,
            c.upsample_initial_channel,
            c.upsample_kernel_sizes,
            c.gin_channels,
        )
        self.enc_q = PosteriorEncoder(
            c.spec_channels, c.inter_channels, c.hidden_channels, 5, 1, 16, c.gin_channels
        )
        self.flow = ResidualCouplingBlock(
            c.inter_channels, c.hidden_channels, 5, 1, 4, gin_channels=c.gin_channels
        )
        self.ref_enc = MelStyleEncoder(c.ref_channels, style_vector_dim=c.gin_channels)
        if c.semantic_frame_rate == "25hz":
            self.ssl_proj = nn.Conv1d(SSL_DIM, SSL_DIM, 2, stride=2)
        else:
            self.ssl_proj = nn.Conv1d(SSL_DIM, SSL_DIM, 1, stride=1)
        self.quantizer = ResidualVectorQuantizer(dimension=SSL_DIM, n_q=1, bins=1024)
        if c.is_pro:
            self.sv_emb = nn.Linear(20480, c.gin_channels)
            self.ge_to512 = nn.Linear(c.gin_channels, 512)
            self.prelu = nn.PReLU(num_parameters=c.gin_channels)

    # -- modes ------------------------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> SynthesizerTrn:
        super().train(mode)
        if mode:
            unfold_weight_norm(self)
        if self.cfg.freeze_quantizer:  # the original keeps a frozen quantizer in eval mode while training
            self.ssl_proj.train(False)
            self.quantizer.train(False)
        return self

    def prepare_for_inference(self, precision: Precision = "fp32") -> SynthesizerTrn:
        """eval() + weight norm folded into cached weights; `bf16` runs the decoder convolutions in bfloat16.

        Call it after loading weights (the folded copies are taken now); `train()` undoes it.
        """
        if precision not in ("fp32", "bf16"):
            raise TimbreError(f"precision must be 'fp32' or 'bf16', not {precision!r}")
        self.eval()
        fold_weight_norm(self)
        self.dec.prepare_for_inference(torch.bfloat16 if precision == "bf16" else torch.float32)
        return self

    # -- conditioning -----------------------------------------------------------------------------------------
    def _style(self, refer: Tensor, lengths: Tensor | None = None) -> Tensor:
        # refer: [B, spec_channels, T] linear spectrogram -> [B, gin, 1]
        if lengths is None:
            lengths = torch.full((refer.size(0),), refer.size(2), dtype=torch.long, device=refer.device)
        mask = sequence_mask(lengths, refer.size(2)).unsqueeze(1).to(refer.dtype)
        return self.ref_enc(refer[:, : self.cfg.ref_channels] * mask, mask)

    def _speaker(self, ge: Tensor, sv_emb: Tensor | None) -> Tensor:
        if not self.cfg.is_pro:
            return ge
        if sv_emb is None:
            raise TimbreError(
                f"SoVITS {self.cfg.version} needs a speaker-verification embedding (sv_emb) per reference"
            )
        return self.prelu(ge + self.sv_emb(sv_emb).unsqueeze(-1))

    def condition(
        self, refer: Tensor | Sequence[Tensor], sv_emb: Tensor | Sequence[Tensor] | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Reference spectrogram(s) -> (ge_ref, ge, ge_text). Several references are averaged after the speaker
        projection, as the original does; v2Pro* then needs one sv_emb per reference ([n, 20480] or a list)."""
        if isinstance(refer, Tensor):
            ge_ref = self._style(refer)
            ge = self._speaker(ge_ref, sv_emb if sv_emb is None or isinstance(sv_emb, Tensor) else sv_emb[0])
        else:
            if len(refer) == 0:
                raise TimbreError("decode needs at least one reference spectrogram")
            refs = [self._style(r) for r in refer]
            ges = [self._speaker(r, None if sv_emb is None else sv_emb[i]) for i, r in enumerate(refs)]
            ge_ref = torch.stack(refs, 0).mean(0)
            ge = torch.stack(ges, 0).mean(0)
        ge_text = self.ge_to512(ge.transpose(1, 2)).transpose(1, 2) if self.cfg.is_pro else ge
        return ge_ref, ge, ge_text

    # -- semantic tokens --------------------------------------------------------------------------------------
    def extract_latent(self, ssl: Tensor) -> Tensor:
        """HuBERT features [B, 768, T50] -> semantic codes [B, n_q=1, T50 // 2] (the original's layout).

        Note `decode` takes codes as [n_q, B, T] (transpose(0, 1) of this), again as the original does.
        """
        return self.quantizer(self.ssl_proj(ssl)).codes.transpose(0, 1)

    def _upsample_quantized(self, quantized: Tensor) -> Tensor:
        if self.cfg.semantic_frame_rate == "25hz":
            return F.interpolate(quantized, size=int(quantized.shape[-1] * 2), mode="nearest")
        return quantized

    # -- inference --------------------------------------------------------------------------------------------
    def decode_stages(
        self,
        codes: Tensor,
        text: Tensor,
        refer: Tensor | Sequence[Tensor],
        noise_scale: float = 0.5,
        speed: float = 1.0,
        sv_emb: Tensor | Sequence[Tensor] | None = None,
        code_lengths: Tensor | None = None,
        text_lengths: Tensor | None = None,
    ) -> DecodeStages:
        """Everything up to the vocoder; see `decode`."""
        if codes.dim() != 3:
            raise TimbreError(f"codes must be [n_q, B, T]; got shape {tuple(codes.shape)}")
        ge_ref, ge, ge_text = self.condition(refer, sv_emb)
        batch = codes.size(1)
        if code_lengths is None:
            code_lengths = torch.full((batch,), codes.size(2), dtype=torch.long, device=codes.device)
        if text_lengths is None:
            text_lengths = torch.full((text.size(0),), text.size(1), dtype=torch.long, device=text.device)
        quantized = self._upsample_quantized(self.quantizer.decode(codes))
        y_lengths = code_lengths * (quantized.size(2) // codes.size(2))
        x, m_p, logs_p, y_mask = self.enc_p(quantized, y_lengths, text, text_lengths, ge_text, speed)
        z_p = m_p + torch.randn_like(m_p) * torch.exp(logs_p) * noise_scale
        z = self.flow(z_p, y_mask, g=ge, reverse=True)
        return DecodeStages(ge_ref, ge, ge_text, quantized, x, m_p, logs_p, y_mask, z_p, z)

    @torch.inference_mode()
    def decode(
        self,
        codes: Tensor,
        text: Tensor,
        refer: Tensor | Sequence[Tensor],
        noise_scale: float = 0.5,
        speed: float = 1.0,
        sv_emb: Tensor | Sequence[Tensor] | None = None,
        code_lengths: Tensor | None = None,
        text_lengths: Tensor | None = None,
    ) -> Tensor:
        """codes [n_q=1, B, T25], text [B, N], refer [B or 1, spec_channels, Tr] (or a list of [1, …, Tr_i],
        averaged) -> audio [B, 1, T']; T' = 2*T25*640 at speed 1. `sv_emb` [B or 1, 20480] for v2Pro*.
        With padded batches pass `code_lengths` / `text_lengths`; samples past a row's length are not meaningful.
        """
        s = self.decode_stages(codes, text, refer, noise_scale, speed, sv_emb, code_lengths, text_lengths)
        return self.dec(s.z * s.y_mask, g=s.ge)

    # -- training ---------------------------------------------------------------------------------------------
    def forward(
        self,
        ssl: Tensor,
        y: Tensor,
        y_lengths: Tensor,
        text: Tensor,
        text_lengths: Tensor,
        sv_emb: Tensor | None = None,
    ) -> SoVITSTrainOutput:
        """ssl [B, 768, T] HuBERT features, y [B, spec_channels, T] target spectrogram, text [B, N] phoneme ids."""
        y_mask = sequence_mask(y_lengths, y.size(2)).unsqueeze(1).to(y.dtype)
        ge = self._speaker(self.ref_enc(y[:, : self.cfg.ref_channels] * y_mask, y_mask), sv_emb)
        ge_text = self.ge_to512(ge.transpose(1, 2)).transpose(1, 2) if self.cfg.is_pro else ge
        if self.cfg.freeze_quantizer:
            with torch.no_grad():
                q = self.quantizer(self.ssl_proj(ssl), layers=[0])
        else:
            q = self.quantizer(self.ssl_proj(ssl), layers=[0])
        quantized = self._upsample_quantized(q.quantized)
        _, m_p, logs_p, _ = self.enc_p(quantized, y_lengths, text, text_lengths, ge_text)
        z, m_q, logs_q, z_mask = self.enc_q(y, y_lengths, g=ge)
        z_p = self.flow(z, z_mask, g=ge)
        z_slice, ids_slice = rand_slice_segments(z, y_lengths, self.cfg.segment_frames)
        y_hat = self.dec(z_slice, g=ge)
        return SoVITSTrainOutput(
            y_hat, q.commit_loss, ids_slice, z_mask, z, z_p, m_p, logs_p, m_q, logs_q, quantized, ge
        )
