"""Streaming: chunking rules on a fake renderer, and streamed audio against one full render within the seam tolerance.

Tolerance (stated in `timbre.infer.streaming`): with the same tokens (seeded sampling), max |streamed - full| <= 0.5 *
max |full| and the relative RMS difference over the fragment <= 0.35; the last chunk, rendered with every token in its
window, equals the full render. Measured on deterministic weights: 0.37 and 0.26 (45 tokens, chunks of 15). The SoVITS
encoder attends over its whole window, so a chunk rendered before the later tokens exist differs everywhere a little,
not only at its seams (untrained weights attend almost uniformly, the worst case). Run with -s to see the figures.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor

from timbre.infer import factory
from timbre.infer.bundled import voiced_signal
from timbre.infer.options import SynthesisOptions
from timbre.infer.reference import ReferenceClip
from timbre.infer.streaming import StreamDecoder

SR = 32_000
MAX_ABS_TOL = 0.5  # of the full render's peak
REL_RMS_TOL = 0.35


def _fake_render(tokens: Tensor, start: int) -> Tensor:
    """Audio whose samples depend only on the token and its absolute position: streaming must be exact."""
    pos = torch.arange(start, start + tokens.shape[0], dtype=torch.float32)
    return (tokens.float() * 1000 + pos).repeat_interleave(4)


def test_stream_decoder_concatenates_exactly_and_emits_early() -> None:
    tokens = torch.arange(100) % 17
    decoder = StreamDecoder(_fake_render, chunk_tokens=10, context=5, lookahead=3)
    chunks: list[Tensor] = []
    first_at = None
    for i in range(tokens.shape[0]):
        for chunk in decoder.push(tokens[i : i + 1]):
            chunks.append(chunk)
            first_at = i + 1 if first_at is None else first_at
    assert first_at == 10  # the first chunk leaves as soon as the first chunk of tokens exists
    assert chunks[0].shape[0] == (10 - 3) * 4  # the lookahead tokens wait for their right context
    chunks += list(decoder.finish())
    torch.testing.assert_close(torch.cat(chunks), _fake_render(tokens, 0), rtol=0, atol=0)


def test_stream_decoder_with_token_groups_and_short_input() -> None:
    decoder = StreamDecoder(_fake_render, chunk_tokens=6, context=2, lookahead=2)
    out = [c for group in torch.arange(20).split(7) for c in decoder.push(group)]
    out += list(decoder.finish())
    torch.testing.assert_close(torch.cat(out), _fake_render(torch.arange(20), 0), rtol=0, atol=0)
    short = StreamDecoder(_fake_render, chunk_tokens=25)
    assert list(short.push(torch.arange(5))) == []
    assert torch.equal(next(short.finish()), _fake_render(torch.arange(5), 0))
    with pytest.raises(ValueError):
        StreamDecoder(_fake_render, chunk_tokens=4, lookahead=4)


@pytest.mark.slow
def test_streamed_audio_matches_full_render_within_tolerance() -> None:
    torch.set_num_threads(1)
    synth = factory.deterministic(0)
    clip = ReferenceClip.from_array(voiced_signal(3.2, SR, seed=1), SR, "voiced")
    ref = synth.prepare_reference(clip, "Hello there", "en")
    text = "Hello there, this is a streaming test of the pipeline."
    opts = SynthesisOptions(
        seed=11,
        max_new_tokens=45,
        cut_method="cut0",
        stream_chunk_tokens=15,
        stream_lookahead=5,
        stream_context=50,
    )
    full = synth.synthesize(text, "en", ref, opts)
    chunks = list(synth.stream(text, "en", ref, opts))
    speech = [c.audio for c in chunks if c.kind == "speech"]
    assert [c.kind for c in chunks][-1] == "pause"
    assert [c.shape[0] // 1280 for c in speech] == [
        10,
        15,
        15,
        5,
    ]  # chunk - lookahead first, the rest at the end
    streamed = np.concatenate(speech)
    reference = full.fragments[0].audio
    assert streamed.shape == reference.shape
    diff = np.abs(streamed - reference)
    max_rel = diff.max() / np.abs(reference).max()
    rms_rel = np.sqrt(np.mean(diff**2) / np.mean(reference**2))
    print(f"streaming seam error: max |diff| / peak = {max_rel:.4f}, relative RMS = {rms_rel:.4f}")
    assert max_rel <= MAX_ABS_TOL
    assert rms_rel <= REL_RMS_TOL
    # the last chunk is rendered with every token in its window: it equals the full render
    tail = speech[-1].shape[0]
    np.testing.assert_allclose(streamed[-tail:], reference[-tail:], rtol=0, atol=1e-5)
