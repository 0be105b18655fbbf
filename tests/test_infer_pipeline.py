"""The synthesis pipeline end to end on deterministic weights: audio, lengths, seeds, batching, speed, references."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from timbre.errors import TimbreError
from timbre.infer import factory
from timbre.infer.bundled import voiced_signal
from timbre.infer.options import SynthesisOptions, TokenCap
from timbre.infer.pipeline import PreparedReference, Synthesizer
from timbre.infer.reference import ReferenceClip, ReferenceLimits, finish_reference_text
from timbre.infer.render import NoiseBank, render

SR = 32_000
SAMPLES_PER_TOKEN = 1280
THREE_FRAGMENTS = "Good morning, see you soon, take care."


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    torch.set_num_threads(1)
    return factory.deterministic(0)


@pytest.fixture(scope="module")
def ref(synth: Synthesizer) -> PreparedReference:
    clip = ReferenceClip.from_array(voiced_signal(3.2, SR, seed=1), SR, "voiced")
    return synth.prepare_reference(clip, "Hello there", "en")


def test_end_to_end_audio_is_plausible_and_seeded(synth: Synthesizer, ref: PreparedReference) -> None:
    opts = SynthesisOptions(seed=3)
    result = synth.synthesize("Hello world.", "en", ref, opts)
    assert result.sample_rate == SR and result.seed == 3
    assert len(result.fragments) == 1
    frag = result.fragments[0]
    # deterministic weights: 2 tokens per target phone, 1,280 samples per token, then the 0.3 s pause
    assert frag.tokens.shape[0] == max(12, 2 * frag.phones)
    assert frag.audio.shape[0] == frag.tokens.shape[0] * SAMPLES_PER_TOKEN
    assert result.audio.shape[0] == frag.audio.shape[0] + int(0.3 * SR)
    assert result.audio.dtype == np.float32 and np.all(np.isfinite(result.audio))
    assert np.abs(result.audio).max() > 0.01
    assert set(result.timings) == {"text", "gpt", "sovits"}
    again = synth.synthesize("Hello world.", "en", ref, opts)
    assert np.array_equal(again.audio, result.audio)
    other = synth.synthesize("Hello world.", "en", ref, SynthesisOptions(seed=4, max_new_tokens=12))
    assert not np.array_equal(other.audio[: 12 * SAMPLES_PER_TOKEN], result.audio[: 12 * SAMPLES_PER_TOKEN])


def test_batched_fragments_equal_one_by_one(synth: Synthesizer, ref: PreparedReference) -> None:
    batched = synth.synthesize(
        THREE_FRAGMENTS, "en", ref, SynthesisOptions(seed=5, batch_size=3, max_new_tokens=14)
    )
    single = synth.synthesize(
        THREE_FRAGMENTS, "en", ref, SynthesisOptions(seed=5, batch_size=1, max_new_tokens=14)
    )
    assert len(batched.fragments) == 3
    for a, b in zip(batched.fragments, single.fragments, strict=True):
        assert torch.equal(a.tokens, b.tokens)
    assert np.array_equal(batched.audio, single.audio)
    gaps = len(batched.fragments) * int(0.3 * SR)
    assert batched.audio.shape[0] == sum(f.audio.shape[0] for f in batched.fragments) + gaps


def test_speed_changes_duration(synth: Synthesizer, ref: PreparedReference) -> None:
    opts = SynthesisOptions(seed=2, fragment_interval=0.0, max_new_tokens=12)
    normal = synth.synthesize("Hello world.", "en", ref, opts)
    fast = synth.synthesize("Hello world.", "en", ref, replace(opts, speed=2.0))
    assert torch.equal(normal.fragments[0].tokens, fast.fragments[0].tokens)
    assert normal.audio.shape[0] == 12 * SAMPLES_PER_TOKEN
    assert fast.audio.shape[0] == (int(2 * 12 / 2.0) + 1) * 640  # the encoder's int(T / speed) + 1 frames


def test_max_new_tokens_and_fragment_interval(synth: Synthesizer, ref: PreparedReference) -> None:
    result = synth.synthesize(
        "Hello world.", "en", ref, SynthesisOptions(seed=1, max_new_tokens=13, fragment_interval=0.5)
    )
    assert result.fragments[0].tokens.shape[0] == 13
    assert result.fragments[0].stop == "cap"
    assert result.audio.shape[0] == 13 * SAMPLES_PER_TOKEN + SR // 2
    assert not result.audio[-SR // 2 :].any()


def test_render_without_noise_equals_sovits_decode(synth: Synthesizer, ref: PreparedReference) -> None:
    tokens = torch.arange(15) * 31 % 1024
    phones = synth.phones("Hello world.", "en").phone_ids
    spec = ref.cond  # the condition of the single reference clip
    ours = render(synth.sovits, tokens, phones, spec, NoiseBank(0, 192), noise_scale=0.0)
    clip = ReferenceClip.from_array(voiced_signal(3.2, SR, seed=1), SR)
    from timbre.features.reference import reference_spectrogram

    theirs = synth.sovits.decode(
        tokens.view(1, 1, -1), phones[None], [reference_spectrogram(clip.wav32k)], 0.0
    )
    torch.testing.assert_close(ours, theirs[0, 0], rtol=0, atol=1e-5)


def test_noise_bank_slices_are_consistent() -> None:
    bank = NoiseBank(7, 4)
    whole = bank.frames(0, 200)
    assert whole.shape == (1, 4, 200)
    torch.testing.assert_close(NoiseBank(7, 4).frames(70, 150), whole[:, :, 70:150], rtol=0, atol=0)
    assert not torch.equal(NoiseBank(8, 4).frames(0, 200), whole)


def test_multiple_references_are_averaged(synth: Synthesizer, ref: PreparedReference) -> None:
    other = ReferenceClip.from_array(voiced_signal(4.0, SR, seed=9), SR, "other")
    main = ReferenceClip.from_array(voiced_signal(3.2, SR, seed=1), SR, "voiced")
    both = synth.prepare_reference(main, "Hello there", "en", extra=[other])
    alone = synth.prepare_reference(other, "Hello there", "en")
    assert both.clips == 2
    assert torch.equal(both.prompt, ref.prompt)  # prompt tokens come from the main clip only
    torch.testing.assert_close(both.cond.ge, (ref.cond.ge + alone.cond.ge) / 2, rtol=1e-5, atol=1e-6)
    opts = SynthesisOptions(seed=1, max_new_tokens=12)
    a = synth.synthesize("Hello world.", "en", ref, opts)
    b = synth.synthesize("Hello world.", "en", both, opts)
    assert a.audio.shape == b.audio.shape and not np.array_equal(a.audio, b.audio)


def test_reference_length_limits(synth: Synthesizer) -> None:
    short = ReferenceClip.from_array(voiced_signal(2.0, SR), SR, "short.wav")
    with pytest.raises(
        TimbreError, match=r"short.wav: the reference clip is 2.00 s long; use a clip of 3 to 10 s"
    ):
        synth.prepare_reference(short, "Hi there", "en")
    long = ReferenceClip.from_array(np.zeros(11 * SR, dtype=np.float32), SR, "long.wav")
    with pytest.raises(TimbreError, match="11.00 s long"):
        synth.prepare_reference(long, "Hi there", "en")
    relaxed = replace(synth, limits=ReferenceLimits(1.5, 10))
    assert relaxed.prepare_reference(short, "Hi there", "en").seconds == pytest.approx(2.0)
    with pytest.raises(TimbreError):
        ReferenceLimits(5, 4)


def test_reference_transcript_gets_a_final_mark() -> None:
    assert finish_reference_text("Hello there", "en") == "Hello there."
    assert finish_reference_text("你好\n", "zh") == "你好。"
    assert finish_reference_text("Done!", "en") == "Done!"
    with pytest.raises(TimbreError, match="transcript is empty"):
        finish_reference_text(" \n", "en")


def test_bad_inputs(synth: Synthesizer, ref: PreparedReference) -> None:
    with pytest.raises(ValueError):
        synth.synthesize("...", "en", ref)
    with pytest.raises(ValueError, match="speed"):
        SynthesisOptions(speed=10)
    with pytest.raises(ValueError):
        SynthesisOptions(cut_method="cut9")
    with pytest.raises(TimbreError, match="GPT is v1 but the SoVITS model is v2"):
        factory.check_versions("v1", "v2")


def test_token_cap() -> None:
    cap = TokenCap(model_cap=2700, tokens_per_phone=2.0)
    assert cap.for_fragment(10, None) == 20
    assert cap.for_fragment(3, None) == 12
    assert cap.for_fragment(10, 5) == 5
    assert TokenCap().for_fragment(10, None) == 1500  # the original's loop length bounds its early_stop_num


def test_streaming_options() -> None:
    assert SynthesisOptions().lookahead == 8
    assert SynthesisOptions(stream_chunk_tokens=10).lookahead == 3
    assert SynthesisOptions(stream_chunk_tokens=1).lookahead == 0
    assert SynthesisOptions(stream_chunk_tokens=10, stream_lookahead=0).lookahead == 0
    with pytest.raises(ValueError, match="stream_lookahead"):
        SynthesisOptions(stream_chunk_tokens=5, stream_lookahead=5)


def test_chinese_without_roberta_gets_zero_features_and_a_warning(synth: Synthesizer) -> None:
    import warnings

    fresh = replace(synth)  # a synthesizer that has not warned yet
    assert fresh.roberta is None
    with pytest.warns(UserWarning, match="Chinese text without the Chinese RoBERTa model"):
        zh = fresh.phones("你好。", "zh")
    assert not zh.features.any()  # the original's zeros, as for other languages
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per synthesizer; other languages use zeros by design
        fresh.phones("再见。", "zh")
        fresh.phones("Hello world.", "en")
        replace(synth).phones("Hello world.", "en")
