"""`Text2SemanticDecoder`: phones (+ RoBERTa phone features) and a semantic prompt -> next semantic tokens.

The network is the original's GPT: phone embedding + projected 1024-d phone features with a sine position table,
semantic-token embedding with its own position table, one 24-layer post-norm transformer over [text; semantic]
(text positions see all text, semantic positions see all text and earlier semantic tokens) and a linear head over
1024 codes + EOS. The module here is the reference forward used for training and for checking the fast decoding engine
(`timbre.infer.gpt_decode`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from timbre.models.gpt.config import GPTConfig
from timbre.models.gpt.layers import SinePositionalEmbedding, TokenEmbedding, TransformerStack


class TrainOutput(NamedTuple):
    loss: Tensor  # scalar, cross-entropy summed over every target position (EOS and padding included)
    acc: Tensor  # scalar, detached: top-3 accuracy over targets that are not EOS
    logits: Tensor  # [B, T_y + 1, vocab]


def pad_mask(lengths: Tensor, max_len: int) -> Tensor:
    """[B, max_len] True at padding for right-padded rows (positions >= length)."""
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) >= lengths.unsqueeze(1)


def pad_mask_left(lengths: Tensor, max_len: int) -> Tensor:
    """[B, max_len] True at padding for left-padded rows (the first max_len - length positions)."""
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) < (max_len - lengths).unsqueeze(1)


def prefix_lm_mask(x_len: int, y_len: int, device: torch.device | None = None) -> Tensor:
    """[S, S] bool, True where allowed: text rows see all text, semantic rows see all text and the causal past."""
    s = x_len + y_len
    attend = torch.zeros(s, s, dtype=torch.bool, device=device)
    attend[:x_len, :x_len] = True
    attend[x_len:, :x_len] = True
    attend[x_len:, x_len:] = torch.ones(y_len, y_len, dtype=torch.bool, device=device).tril()
    return attend


def top_k_accuracy(logits: Tensor, targets: Tensor, k: int, ignore_index: int) -> Tensor:
    """Micro-averaged top-k accuracy over targets != ignore_index (0 when there are none). logits [N, V], targets [N]."""
    keep = targets != ignore_index
    k = min(k, logits.shape[-1])
    hits = (logits.topk(k, dim=-1).indices == targets.unsqueeze(-1)).any(-1) & keep
    return hits.sum().float() / keep.sum().clamp_min(1).float()


class Text2SemanticDecoder(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden_dim
        self.bert_proj = nn.Linear(cfg.bert_dim, d)
        self.ar_text_embedding = TokenEmbedding(d, cfg.phoneme_vocab_size, cfg.dropout)
        self.ar_text_position = SinePositionalEmbedding(d, dropout=0.1)
        self.ar_audio_embedding = TokenEmbedding(d, cfg.vocab_size, cfg.dropout)
        self.ar_audio_position = SinePositionalEmbedding(d, dropout=0.1)
        self.h = TransformerStack(cfg.n_layer, d, cfg.n_head, cfg.ffn_dim, dropout=0.1)
        self.ar_predict_layer = nn.Linear(d, cfg.vocab_size, bias=False)

    def embed_text(self, phone_ids: Tensor, bert_feature: Tensor) -> Tensor:
        """phone_ids [B, T], bert_feature [B, 1024, T] -> [B, T, D] with text positions from 0."""
        x = self.ar_text_embedding(phone_ids) + self.bert_proj(bert_feature.transpose(1, 2))
        return self.ar_text_position(x)

    def embed_semantic(self, tokens: Tensor, start: int = 0) -> Tensor:
        """tokens [B, T] -> [B, T, D] with semantic positions start, start+1, ..."""
        return self.ar_audio_position(self.ar_audio_embedding(tokens), start)

    def forward_full(self, phone_ids: Tensor, bert_feature: Tensor, semantic: Tensor) -> Tensor:
        """Logits at every semantic position of one unpadded batch, recomputed from scratch: [B, T_y, vocab].

        Row t predicts the token after semantic[:, t]. This is the slow reference the KV-cache engine is tested against.
        """
        x = self.embed_text(phone_ids, bert_feature)
        y = self.embed_semantic(semantic)
        attend = prefix_lm_mask(x.shape[1], y.shape[1], x.device)
        hidden = self.h(torch.cat([x, y], dim=1), attend)
        return self.ar_predict_layer(hidden[:, x.shape[1] :])

    def forward(
        self,
        phone_ids: Tensor,
        phone_lens: Tensor,
        semantic_ids: Tensor,
        semantic_lens: Tensor,
        bert_feature: Tensor,
    ) -> TrainOutput:
        """Teacher-forced training step, equal to the original's `forward_old`.

        phone_ids [B, Tx] right-padded, semantic_ids [B, Ty] right-padded (any pad value), bert_feature [B, 1024, Tx].
        Targets are the codes followed by EOS (EOS also fills the padding); the last text position predicts the first
        code. As in the original, the text padding mask is built with left-padding semantics although batches are
        right-padded: kept as is so that trained weights and losses match.
        """
        eos = self.cfg.eos
        x_len, y_len = phone_ids.shape[1], semantic_ids.shape[1]
        y_pad = pad_mask(semantic_lens, y_len)  # [B, Ty]
        codes = semantic_ids.long().masked_fill(y_pad, 0)
        targets = F.pad(codes, (0, 1), value=0) + eos * F.pad(y_pad.long(), (0, 1), value=1)  # [B, Ty + 1]
        inputs = targets[:, :-1]  # codes with EOS in the padding

        x = self.embed_text(phone_ids, bert_feature)
        y = self.embed_semantic(inputs)
        key_pad = torch.cat([pad_mask_left(phone_lens, x_len), y_pad], dim=1)  # [B, S]
        attend = prefix_lm_mask(x_len, y_len, x.device).unsqueeze(0) & ~key_pad[:, None, :]  # [B, S, S]
        hidden = self.h(torch.cat([x, y], dim=1), attend.unsqueeze(1))
        logits = self.ar_predict_layer(hidden[:, x_len - 1 :])  # [B, Ty + 1, V]

        flat_logits = logits.reshape(-1, logits.shape[-1])
        loss = F.cross_entropy(flat_logits, targets.reshape(-1), reduction="sum")
        acc = top_k_accuracy(flat_logits.detach(), targets.reshape(-1), 3, eos)
        return TrainOutput(loss, acc, logits)
