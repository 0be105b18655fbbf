"""Text → phones (+ RoBERTa features) → GPT semantic tokens → SoVITS waveform, with a prepared reference clip.

One `Synthesizer` holds the loaded models (no globals) and is safe to share: a reference is prepared once
(`prepare_reference`) and reused for any number of texts. Long text is split by the original's cut methods; fragments
are decoded by the GPT in batches, rendered by SoVITS and joined with `fragment_interval` of silence. `stream` yields
audio as soon as the first chunk of tokens exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from timbre.features.roberta import RobertaPhoneFeatures, zero_phone_features
from timbre.infer import gpt_decode
from timbre.infer.output import SAMPLE_RATE, join_fragments, normalize_fragment
from timbre.infer.reference import ReferenceAudio, ReferenceLimits, finish_reference_text, prompt_codes
from timbre.infer.streaming import StreamDecoder
from timbre.models.gpt import Text2SemanticDecoder
from timbre.models.sovits import SynthesizerTrn
from timbre.text.cuts import split_text
from timbre.text.frontend import text_to_phones


@dataclass(frozen=True)
class SynthesisOptions:
    cut_method: str = "cut5"  # api_v2's default: cut at every punctuation mark
    top_k: int = 15
    top_p: float = 1.0
    temperature: float = 1.0
    repetition_penalty: float = 1.35
    speed: float = 1.0
    noise_scale: float = 0.5
    fragment_interval: float = 0.3
    seed: int | None = None
    batch_size: int = 4  # fragments decoded together by the GPT
    stream_chunk_tokens: int = 25  # 1 s of audio per streamed chunk (25 Hz tokens)

    def __post_init__(self) -> None:
        if not 0.25 <= self.speed <= 4.0:
            raise ValueError(f"speed must be between 0.25 and 4, got {self.speed}")
        if self.top_k < 1 or not 0.0 < self.top_p <= 1.0 or self.temperature <= 0:
            raise ValueError("sampling options out of range: top_k >= 1, 0 < top_p <= 1, temperature > 0")
        if self.batch_size < 1 or self.stream_chunk_tokens < 1:
            raise ValueError("batch_size and stream_chunk_tokens must be at least 1")

    def sampling(self) -> gpt_decode.SamplingConfig:
        return gpt_decode.SamplingConfig(
            top_k=self.top_k,
            top_p=self.top_p,
            temperature=self.temperature,
            repetition_penalty=self.repetition_penalty,
        )


@dataclass(frozen=True)
class PhoneInput:
    phone_ids: torch.Tensor  # [N] int64
    features: torch.Tensor  # [1024, N] float32
    norm_text: str


@dataclass(frozen=True)
class PreparedReference:
    codes: torch.Tensor  # [T25] prompt semantic tokens
    specs: tuple[torch.Tensor, ...]  # one [1, 1025, T50] per reference clip (styles are averaged)
    text: PhoneInput
    sv_emb: torch.Tensor | None = None  # [1, 20480] for v2Pro/v2ProPlus


@dataclass(frozen=True)
class SynthesisResult:
    audio: np.ndarray  # [T] float32 at 32 kHz
    sample_rate: int
    fragments: list[str] = field(default_factory=list)
    tokens: list[torch.Tensor] = field(default_factory=list)


@dataclass
class Synthesizer:
    gpt: Text2SemanticDecoder
    sovits: SynthesizerTrn
    hubert: Callable[[torch.Tensor], torch.Tensor]  # 16 kHz wav [T] -> [768, T50]
    roberta: RobertaPhoneFeatures | None = None
    speaker_embedding: Callable[[np.ndarray], torch.Tensor] | None = None  # 16 kHz wav -> [1, 20480]
    version: str = "v2"
    limits: ReferenceLimits = field(default_factory=ReferenceLimits)

    # ---- text ---------------------------------------------------------------------------------------------------
    def phones(self, text: str, lang: str) -> PhoneInput:
        result = text_to_phones(text, lang, "v1" if self.version == "v1" else "v2")
        parts = []
        for seg in result.segments:
            if seg.lang == "zh" and self.roberta is not None:
                parts.append(self.roberta(seg.norm_text, seg.word2ph, "zh"))
            else:
                parts.append(zero_phone_features(seg.n_phones))
        features = torch.cat(parts, dim=1) if parts else zero_phone_features(0)
        ids = torch.tensor(result.phone_ids, dtype=torch.long)
        return PhoneInput(ids, features.float(), result.norm_text)

    # ---- reference ----------------------------------------------------------------------------------------------
    def prepare_reference(
        self,
        audio: str | Path | ReferenceAudio,
        text: str,
        lang: str,
        extra_refs: Sequence[str | Path | ReferenceAudio] = (),
    ) -> PreparedReference:
        """Prompt tokens from the main clip; style from it and any extra clips (averaged by the decoder)."""
        main = audio if isinstance(audio, ReferenceAudio) else ReferenceAudio.load(audio, self.limits)
        others = [r if isinstance(r, ReferenceAudio) else ReferenceAudio.load(r, self.limits) for r in extra_refs]
        with torch.inference_mode():
            codes = prompt_codes(main.wav16k, self.hubert, self.sovits.extract_latent)
            specs = tuple(r.spectrogram() for r in [main, *others])
            sv_emb = None
            if self.version in ("v2Pro", "v2ProPlus"):
                if self.speaker_embedding is None:
                    raise ValueError(f"a {self.version} voice needs the speaker-verification model (--sv PATH)")
                sv_emb = self.speaker_embedding(main.wav16k)
        return PreparedReference(codes, specs, self.phones(finish_reference_text(text, lang), lang), sv_emb)

    # ---- synthesis ----------------------------------------------------------------------------------------------
    def fragments(self, text: str, lang: str, options: SynthesisOptions) -> list[str]:
        pieces = split_text(text, options.cut_method, lang)
        if not pieces:
            raise ValueError("the text to synthesize is empty after splitting; give some words to speak")
        return pieces

    def _render(self, tokens: torch.Tensor, target: PhoneInput, ref: PreparedReference, options: SynthesisOptions):
        audio = self.sovits.decode(
            tokens.view(1, 1, -1),
            target.phone_ids[None],
            list(ref.specs),
            noise_scale=options.noise_scale,
            speed=options.speed,
            sv_emb=ref.sv_emb,
        )
        return audio[0, 0].float().cpu().numpy()

    def _gpt_inputs(self, ref: PreparedReference, target: PhoneInput) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.cat([ref.text.phone_ids, target.phone_ids])
        feats = torch.cat([ref.text.features, target.features], dim=1)
        return ids, feats

    def synthesize(
        self, text: str, lang: str, ref: PreparedReference, options: SynthesisOptions | None = None
    ) -> SynthesisResult:
        options = options or SynthesisOptions()
        if options.seed is not None:
            torch.manual_seed(options.seed)
        texts = self.fragments(text, lang, options)
        targets = [self.phones(t, lang) for t in texts]
        all_tokens: list[torch.Tensor] = []
        with torch.inference_mode():
            for start in range(0, len(targets), options.batch_size):
                batch = targets[start : start + options.batch_size]
                inputs = [self._gpt_inputs(ref, t) for t in batch]
                results = gpt_decode.decode_batch(
                    self.gpt,
                    [i for i, _ in inputs],
                    [f for _, f in inputs],
                    [ref.codes] * len(batch),
                    options.sampling(),
                )
                all_tokens += [r.tokens for r in results]
            audio = [self._render(tok, tgt, ref, options) for tok, tgt in zip(all_tokens, targets, strict=True)]
        joined = join_fragments(audio, SAMPLE_RATE, options.fragment_interval)
        return SynthesisResult(joined, SAMPLE_RATE, texts, all_tokens)

    def stream(self, text: str, lang: str, ref: PreparedReference, options: SynthesisOptions | None = None) -> Iterator[np.ndarray]:
        """Yield float32 chunks at 32 kHz: each fragment's audio as its tokens arrive, then the fragment pause."""
        options = options or SynthesisOptions()
        if options.seed is not None:
            torch.manual_seed(options.seed)
        gap = np.zeros(int(SAMPLE_RATE * options.fragment_interval), dtype=np.float32)
        for piece in self.fragments(text, lang, options):
            target = self.phones(piece, lang)
            ids, feats = self._gpt_inputs(ref, target)
            renderer = StreamDecoder(lambda toks, t=target: self._render(toks, t, ref, options), options.stream_chunk_tokens)
            with torch.inference_mode():
                for tokens in gpt_decode.iter_decode(self.gpt, ids, feats, ref.codes, options.sampling()):
                    for chunk in renderer.push(tokens):
                        yield normalize_fragment(chunk)
                for chunk in renderer.finish():
                    yield normalize_fragment(chunk)
            yield gap

    def with_limits(self, limits: ReferenceLimits) -> Synthesizer:
        return replace(self, limits=limits)
