"""Text -> phones (+ RoBERTa features) -> GPT semantic tokens -> SoVITS waveform, with a prepared reference clip.

One `Synthesizer` holds the loaded models (no globals). A reference is prepared once (`prepare_reference`: prompt
tokens from HuBERT + the SoVITS quantizer, the style condition from one or more clips) and reused for any number of
texts. `synthesize` splits the text by a cut method, decodes the fragments with the GPT in batches, renders each with
SoVITS and joins them with `fragment_interval` of silence after every fragment (as the original). `stream` yields the
audio of each fragment in chunks while its tokens are being produced. Build one with `timbre.infer.factory`
(`from_files`, `from_voice`, `deterministic`).
"""

from __future__ import annotations

import functools
import random
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from timbre.errors import TimbreError
from timbre.features.reference import prompt_codes, reference_audio_32k, reference_spectrogram
from timbre.features.roberta import RobertaPhoneFeatures, zero_phone_features
from timbre.infer import gpt_decode
from timbre.infer.gpt_engine import GPTEngine
from timbre.infer.options import SynthesisOptions, TokenCap
from timbre.infer.output import SAMPLE_RATE, join_fragments
from timbre.infer.reference import ReferenceClip, ReferenceLimits, as_clip, finish_reference_text
from timbre.infer.render import Condition, NoiseBank, condition, render
from timbre.infer.streaming import StreamDecoder
from timbre.models.sovits import SynthesizerTrn
from timbre.text.cuts import split_text
from timbre.text.frontend import text_to_phones

NO_ROBERTA_WARNING = (
    "Chinese text without the Chinese RoBERTa model: its phone features are zeros, where the original (and a voice "
    "trained with --roberta) uses RoBERTa features; pass --roberta DIR for the prosody it was trained with"
)

ContentFn = Callable[[Tensor], Tensor]  # 16 kHz wav [T] -> HuBERT features [768, T50]
SpeakerFn = Callable[[Tensor], Tensor]  # 32 kHz wav [1, T] -> speaker embedding [1, 20480] (v2Pro*)


class PhoneInput(NamedTuple):
    phone_ids: Tensor  # [N] int64
    features: Tensor  # [1024, N] float32 (RoBERTa for zh runs, zeros otherwise)
    norm_text: str


@dataclass(frozen=True)
class PreparedReference:
    prompt: Tensor  # [T25] semantic tokens of the main clip
    text: PhoneInput  # the transcript (with its final mark)
    cond: Condition  # style condition, averaged over all clips
    clips: int  # number of clips the condition was averaged over
    seconds: float  # length of the main clip


@dataclass(frozen=True)
class FragmentResult:
    text: str
    norm_text: str
    phones: int
    tokens: Tensor  # [T25] semantic tokens (EOS excluded)
    stop: str  # eos | early_stop | max_steps | cap
    audio: np.ndarray  # [samples] float32, raw decoder output (before the peak guard)


@dataclass(frozen=True)
class SynthesisResult:
    audio: np.ndarray  # [T] float32 at 32 kHz, fragments joined with their pauses
    sample_rate: int
    seed: int
    fragments: list[FragmentResult]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage: text, gpt, sovits

    @property
    def seconds(self) -> float:
        return self.audio.shape[0] / self.sample_rate


class StreamChunk(NamedTuple):
    audio: (
        np.ndarray
    )  # [samples] float32 at 32 kHz (not peak-normalized: fragment peaks are unknown in advance)
    fragment: int
    kind: str  # "speech" or "pause" (the fragment_interval after a fragment)


def fragment_seed(seed: int, index: int) -> int:
    return (seed + index) % 2**62


@dataclass
class Synthesizer:
    gpt: GPTEngine
    sovits: SynthesizerTrn
    hubert: ContentFn
    roberta: RobertaPhoneFeatures | None = None
    speaker: SpeakerFn | None = None
    limits: ReferenceLimits = field(default_factory=ReferenceLimits)
    cap: TokenCap = field(default_factory=TokenCap)
    description: str = ""
    _warned_no_roberta: bool = field(default=False, init=False, repr=False, compare=False)

    # ---- construction (see timbre.infer.factory) ---------------------------------------------------------------
    @classmethod
    def from_files(cls, gpt: str | Path, sovits: str | Path, hubert: str | Path, **kw: Any) -> Synthesizer:
        """Original GPT `.ckpt` + SoVITS `.pth` (or `.safetensors`) + HuBERT folder; kw: roberta, sv, precision,
        limits."""
        from timbre.infer import factory

        return factory.from_files(gpt, sovits, hubert, **kw)

    @classmethod
    def from_voice(cls, folder: str | Path, **kw: Any) -> Synthesizer:
        """A voice folder (`timbre.infer.voice`); kw: hubert, roberta, sv, precision, limits."""
        from timbre.infer import factory

        return factory.from_voice(folder, **kw)

    @classmethod
    def deterministic(cls, seed: int = 0, **kw: Any) -> Synthesizer:
        """Untrained deterministic weights and a tiny random HuBERT; kw: precision, limits, hubert_layers."""
        from timbre.infer import factory

        return factory.deterministic(seed, **kw)

    @property
    def version(self) -> str:
        return self.sovits.cfg.version

    @property
    def text_version(self) -> str:
        return "v1" if self.version == "v1" else "v2"

    # ---- text ---------------------------------------------------------------------------------------------------
    def phones(self, text: str, lang: str) -> PhoneInput:
        """Phone ids and features [1024, N]: RoBERTa for zh runs when configured, the original's zeros otherwise."""
        result = text_to_phones(text, lang, self.text_version)
        parts = []
        for seg in result.segments:
            if seg.lang == "zh" and self.roberta is not None and seg.word2ph is not None:
                parts.append(self.roberta(seg.norm_text, seg.word2ph, "zh").float().cpu())
            else:
                if seg.lang == "zh" and self.roberta is None and not self._warned_no_roberta:
                    self._warned_no_roberta = True  # once per synthesizer
                    warnings.warn(NO_ROBERTA_WARNING, UserWarning, stacklevel=2)
                parts.append(zero_phone_features(seg.n_phones))
        features = torch.cat(parts, dim=1)
        ids = torch.tensor(result.phone_ids, dtype=torch.long)
        if features.shape[1] != ids.shape[0]:
            raise TimbreError(
                f"internal: {features.shape[1]} feature columns for {ids.shape[0]} phones of {text!r}"
            )
        return PhoneInput(ids, features, result.norm_text)

    # ---- reference ----------------------------------------------------------------------------------------------
    def prepare_reference(
        self,
        audio: str | Path | ReferenceClip,
        text: str,
        lang: str,
        extra: Sequence[str | Path | ReferenceClip] = (),
    ) -> PreparedReference:
        """Prompt tokens from the main clip; the style condition from it and every extra clip (averaged)."""
        clips = [as_clip(audio), *(as_clip(a) for a in extra)]
        for clip in clips:
            self.limits.check(clip.wav16k.shape[0], clip.source)
        main = clips[0]
        with torch.inference_mode():
            codes = prompt_codes(main.wav16k, self.hubert, self.sovits.extract_latent, check_length=False)
            specs = [reference_spectrogram(c.wav32k) for c in clips]
            sv_embs = None
            if self.sovits.cfg.is_pro:
                if self.speaker is None:
                    raise TimbreError(
                        f"a {self.version} voice needs the speaker-verification model (--sv PATH)"
                    )
                sv_embs = [self.speaker(reference_audio_32k(c.wav32k)) for c in clips]
            cond = condition(self.sovits, specs, sv_embs)
        phones = self.phones(finish_reference_text(text, lang), lang)
        return PreparedReference(codes, phones, cond, len(clips), main.seconds)

    # ---- synthesis ----------------------------------------------------------------------------------------------
    def fragments(self, text: str, lang: str, options: SynthesisOptions) -> list[tuple[str, PhoneInput]]:
        """The text's pieces by the cut method, with their phones; pieces with nothing to pronounce are skipped."""
        pieces = split_text(text, options.cut_method, lang)
        out: list[tuple[str, PhoneInput]] = []
        first_error: ValueError | None = None
        for piece in pieces:
            try:
                out.append((piece, self.phones(piece, lang)))
            except ValueError as exc:
                first_error = first_error or exc
        if not out:
            raise first_error or TimbreError("the text to synthesize is empty; give some words to speak")
        return out

    def _request(self, ref: PreparedReference, target: PhoneInput, seed: int) -> gpt_decode.DecodeRequest:
        ids = torch.cat([ref.text.phone_ids, target.phone_ids])
        feats = torch.cat([ref.text.features, target.features], dim=1)
        return gpt_decode.DecodeRequest(ids, feats, ref.prompt, seed)

    def _render(
        self,
        tokens: Tensor,
        target: PhoneInput,
        ref: PreparedReference,
        noise: NoiseBank,
        options: SynthesisOptions,
        token_offset: int = 0,
    ) -> Tensor:
        offset = round(2 * token_offset / options.speed)
        return render(
            self.sovits, tokens, target.phone_ids, ref.cond, noise,
            noise_scale=options.noise_scale, speed=options.speed, frame_offset=offset,
        )  # fmt: skip

    def _render_window(
        self,
        tokens: Tensor,
        start: int,
        *,
        target: PhoneInput,
        ref: PreparedReference,
        noise: NoiseBank,
        options: SynthesisOptions,
    ) -> Tensor:
        return self._render(tokens, target, ref, noise, options, start)

    def _noise(self, seed: int) -> NoiseBank:
        return NoiseBank(seed, self.sovits.cfg.inter_channels)

    def synthesize(
        self, text: str, lang: str, ref: PreparedReference, options: SynthesisOptions | None = None
    ) -> SynthesisResult:
        options = options or SynthesisOptions()
        seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
        t0 = time.perf_counter()
        pieces = self.fragments(text, lang, options)
        t1 = time.perf_counter()
        decoded: list[tuple[Tensor, str]] = []
        for start in range(0, len(pieces), options.batch_size):
            batch = pieces[start : start + options.batch_size]
            caps = [self.cap.for_fragment(len(p.phone_ids), options.max_new_tokens) for _, p in batch]
            requests = [
                self._request(ref, p, fragment_seed(seed, start + i)) for i, (_, p) in enumerate(batch)
            ]
            results = gpt_decode.decode_batch(self.gpt, requests, options.sampling(max(caps)))
            for res, cap in zip(results, caps, strict=True):
                # A longer batch cap only adds tokens after this fragment's own cap: cutting them gives its own run.
                decoded.append((res.tokens[:cap], "cap" if res.tokens.shape[0] >= cap else res.stop))
        t2 = time.perf_counter()
        fragments = []
        for i, ((piece, target), (tokens, stop)) in enumerate(zip(pieces, decoded, strict=True)):
            audio = self._render(tokens, target, ref, self._noise(fragment_seed(seed, i)), options)
            fragments.append(
                FragmentResult(piece, target.norm_text, len(target.phone_ids), tokens, stop, audio.numpy())
            )
        t3 = time.perf_counter()
        joined = join_fragments([f.audio for f in fragments], SAMPLE_RATE, options.fragment_interval)
        timings = {"text": t1 - t0, "gpt": t2 - t1, "sovits": t3 - t2}
        return SynthesisResult(joined, SAMPLE_RATE, seed, fragments, timings)

    def stream(
        self, text: str, lang: str, ref: PreparedReference, options: SynthesisOptions | None = None
    ) -> Iterator[StreamChunk]:
        """Yield chunks at 32 kHz: each fragment's speech as its tokens arrive, then its pause.

        With the same seed the tokens equal `synthesize`'s, and the concatenated speech chunks of a fragment match
        its `FragmentResult.audio` within the seam tolerance documented in `timbre.infer.streaming`.
        """
        options = options or SynthesisOptions()
        seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
        gap = np.zeros(int(SAMPLE_RATE * options.fragment_interval), dtype=np.float32)
        for index, (_, target) in enumerate(self.fragments(text, lang, options)):
            fseed = fragment_seed(seed, index)
            noise = self._noise(fseed)
            request = self._request(ref, target, fseed)
            cap = self.cap.for_fragment(len(target.phone_ids), options.max_new_tokens)
            window = functools.partial(
                self._render_window, target=target, ref=ref, noise=noise, options=options
            )
            decoder = StreamDecoder(
                window,
                options.stream_chunk_tokens,
                options.stream_context,
                options.lookahead,
            )
            tokens = gpt_decode.iter_decode(
                self.gpt,
                request.phone_ids,
                request.bert_features,
                request.prompt,
                options.sampling(cap, fseed),
            )
            for new in tokens:
                for chunk in decoder.push(new):
                    yield StreamChunk(chunk.numpy(), index, "speech")
            for chunk in decoder.finish():
                yield StreamChunk(chunk.numpy(), index, "speech")
            yield StreamChunk(gap, index, "pause")
