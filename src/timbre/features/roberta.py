"""RoBERTa phone-level text features: [D, n_phones] (D = 1024 for chinese-roberta-wwm-ext-large).

Facts about the original: for Chinese only, the normalized text is tokenized (one token per character), the BERT
output `hidden_states[-3]` (the third from last) is taken without [CLS]/[SEP], and character i's vector is repeated
`word2ph[i]` times so there is one vector per phone. Every other language gets zeros of the same shape.

`hidden_states[-3]` is the output of the third-from-last encoder layer, and BERT has no norm after its last layer, so
the last two layers are dropped at load time: the model's `last_hidden_state` then is exactly that tensor, at less
compute. Batches are right-padded with an attention mask (absolute positions), which leaves every item unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch

from timbre.errors import TimbreError
from timbre.features._folder import (
    check_model_folder,
    folder_fingerprint,
    quiet_transformers,
    require_complete,
)
from timbre.features.batching import BatchConfig, BatchEngine
from timbre.features.hubert import Precision, inference_context

BERT_DIM = 1024  # the width the GPT's bert_proj expects
LAYER_FROM_END = 3  # hidden_states[-3]
FEATURE_LANGUAGES = frozenset({"zh"})


class PhoneText(NamedTuple):
    """What the features are computed from: a cleaner's normalized text, its per-character phone counts, language."""

    norm_text: str
    word2ph: tuple[int, ...]
    lang: str = "zh"

    @property
    def n_phones(self) -> int:
        return sum(self.word2ph)


def zero_phone_features(n_phones: int, dim: int = BERT_DIM) -> torch.Tensor:
    """The features every non-Chinese text gets: zeros [dim, n_phones]."""
    return torch.zeros(dim, n_phones)


class RobertaPhoneFeatures:
    """A transformers BERT encoder (truncated to `hidden_states[-3]`) plus its tokenizer."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        device: str = "cpu",
        precision: Precision = "fp32",
        fingerprint: str = "custom",
        truncate: bool = True,
    ) -> None:
        layers = model.encoder.layer
        if truncate:
            if len(layers) < LAYER_FROM_END:
                raise TimbreError(
                    f"the BERT model has {len(layers)} layers; hidden_states[-3] needs at least 3"
                )
            model.encoder.layer = layers[: len(layers) - (LAYER_FROM_END - 1)]
        self.device = torch.device(device)
        self.precision = precision
        self.model = model.eval().to(self.device)
        self.tokenizer = tokenizer
        self.dim = int(model.config.hidden_size)
        self.fingerprint = f"roberta:{fingerprint}:layer-{LAYER_FROM_END}"

    @classmethod
    def from_folder(
        cls, folder: str | Path, device: str = "cpu", precision: Precision = "fp32"
    ) -> RobertaPhoneFeatures:
        """Load a BERT/RoBERTa model and tokenizer from a local folder; never downloads."""
        from transformers import AutoTokenizer, BertModel

        path = check_model_folder(folder, "Chinese RoBERTa (BERT)", ("bert", "roberta"))
        try:
            with quiet_transformers():
                loaded: Any = BertModel.from_pretrained(
                    path, local_files_only=True, add_pooling_layer=False, output_loading_info=True
                )
                tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise TimbreError(f"cannot load the RoBERTa model/tokenizer from {path}: {exc}") from None
        model, info = loaded
        require_complete(info, path, "BERT")
        return cls(model, tokenizer, device, precision, folder_fingerprint(path))

    def check_input(self, text: PhoneText) -> None:
        limit = int(self.model.config.max_position_embeddings) - 2
        if text.lang in FEATURE_LANGUAGES and len(text.norm_text) > limit:
            raise TimbreError(
                f"the text has {len(text.norm_text)} characters, more than RoBERTa's {limit}; split it into sentences"
            )
        if len(text.word2ph) != len(text.norm_text):
            raise TimbreError(
                f"word2ph has {len(text.word2ph)} entries for {len(text.norm_text)} characters of {text.norm_text!r}; "
                "pass the cleaner's normalized text with its word2ph"
            )

    def run_batch(self, texts: Sequence[PhoneText]) -> list[torch.Tensor]:
        """Features [dim, n_phones] for each text; the Chinese ones go through the model in one padded batch."""
        results: list[torch.Tensor | None] = [None] * len(texts)
        chinese = [i for i, t in enumerate(texts) if t.lang in FEATURE_LANGUAGES and t.norm_text]
        for i, t in enumerate(texts):
            self.check_input(t)
            if i not in chinese:
                results[i] = zero_phone_features(t.n_phones, self.dim).to(self.device)
        if chinese:
            for i, features in zip(chinese, self._encode([texts[i] for i in chinese]), strict=True):
                results[i] = features
        return [r for r in results if r is not None]

    def _encode(self, texts: list[PhoneText]) -> list[torch.Tensor]:
        inputs = self.tokenizer([t.norm_text for t in texts], return_tensors="pt", padding=True)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with inference_context(self.device, self.precision):
            hidden = self.model(**inputs).last_hidden_state.float()  # [B, L, D]
        out = []
        for row, tokens, text in zip(hidden, inputs["attention_mask"].sum(1).tolist(), texts, strict=True):
            chars = row[1 : tokens - 1]  # drop [CLS] and [SEP]
            if len(chars) < len(text.word2ph):
                raise TimbreError(
                    f"the tokenizer made {len(chars)} tokens from {len(text.word2ph)} characters of {text.norm_text!r}; "
                    "a Chinese RoBERTa tokenizer gives one token per character"
                )
            counts = torch.tensor(text.word2ph, device=chars.device)
            out.append(chars[: len(counts)].repeat_interleave(counts, dim=0).T)  # [D, n_phones]
        return out

    def __call__(self, norm_text: str, word2ph: Sequence[int], lang: str = "zh") -> torch.Tensor:
        """Features [dim, sum(word2ph)] for one text (zeros unless `lang` is zh)."""
        return self.run_batch([PhoneText(norm_text, tuple(word2ph), lang)])[0]

    def engine(self, config: BatchConfig | None = None) -> BatchEngine[PhoneText, torch.Tensor]:
        """A batch engine serving this model: `engine.submit(PhoneText(...)) -> Future[[dim, n_phones]]`."""
        return BatchEngine(
            self.run_batch,
            size_of=lambda t: len(t.norm_text) + 2,
            config=config or BatchConfig(max_batch_tokens=4096),
            validate=self.check_input,
            name="roberta-engine",
        )
