"""Semantic tokens and inference-time reference features (prompt codes, spectrogram, speaker embedding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from timbre.errors import TimbreError
from timbre.features import check_reference_length, prompt_codes, reference_features, semantic_codes
from timbre.features.reference import REF_PAD_SAMPLES, reference_audio_32k


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pair_argmax(ssl: torch.Tensor) -> torch.Tensor:
    """A stand-in for SoVITS extract_latent: k2 s2 pooling then a per-frame code, [B, C, T] -> [B, 1, T // 2]."""
    frames = ssl.shape[-1] // 2
    pooled = ssl[..., : 2 * frames].reshape(*ssl.shape[:2], frames, 2).mean(-1)
    return pooled.argmax(1)[:, None]


def test_semantic_codes_of_a_padded_batch():
    g = torch.Generator().manual_seed(0)
    items = [torch.randn(8, n, generator=g) for n in (30, 17, 24)]
    padded = torch.zeros(3, 8, 30)
    for i, x in enumerate(items):
        padded[i, :, : x.shape[-1]] = x
    batched = semantic_codes(pair_argmax, padded, [x.shape[-1] for x in items])
    for x, codes in zip(items, batched, strict=True):
        assert codes.dtype == torch.int64
        assert torch.equal(codes, semantic_codes(pair_argmax, x[None])[0])
        assert len(codes) == x.shape[-1] // 2


def test_semantic_codes_with_sovits_and_the_reference_vector(compat_dir):
    """The real `extract_latent` with the deterministic weights: the original's codes, also inside a padded batch."""
    sovits = pytest.importorskip("timbre.models.sovits.model")
    from timbre.compat.detweights import deterministic_arrays
    from timbre.models.sovits.config import SoVITSConfig

    model = sovits.SynthesizerTrn(SoVITSConfig.for_version("v2")).eval()
    shapes = {
        k: tuple(v.shape) for k, v in model.state_dict().items() if k.startswith(("ssl_proj.", "quantizer."))
    }
    weights = {k: torch.from_numpy(a) for k, a in deterministic_arrays(shapes, seed=0).items()}
    model.load_state_dict(weights, strict=False)
    vectors = np.load(compat_dir / "vectors_seed0" / "sovits_v2_extract_latent.npz")
    ssl = torch.from_numpy(vectors["ssl"])  # [1, 768, 80]
    expected = torch.from_numpy(vectors["codes"])[0, 0]  # [40]
    padded = torch.zeros(2, 768, 80)
    padded[0] = ssl[0]
    padded[1, :, :51] = ssl[0, :, :51]
    full, short = semantic_codes(model.extract_latent, padded, [80, 51])
    assert torch.equal(full, expected)
    assert torch.equal(short, expected[:25])


def test_reference_length_limits():
    check_reference_length(torch.zeros(48_000))
    check_reference_length(torch.zeros(160_000))
    for bad in (47_999, 160_001):
        with pytest.raises(TimbreError, match="3 to 10 seconds"):
            check_reference_length(torch.zeros(bad))


def test_prompt_codes_appends_the_original_zeros():
    seen: list[torch.Tensor] = []

    def content(wav: torch.Tensor) -> torch.Tensor:  # [T] -> [C, T50]
        seen.append(wav)
        return wav[: len(wav) // 320 * 320].reshape(-1, 320).T[:8]

    wav = torch.rand(50_000) + 0.5
    codes = prompt_codes(wav, content, pair_argmax)
    assert len(seen[0]) == 50_000 + REF_PAD_SAMPLES == 59_600
    assert torch.equal(seen[0][:50_000], wav) and not seen[0][50_000:].any()
    assert codes.shape == (59_600 // 320 // 2,)
    with pytest.raises(TimbreError):
        prompt_codes(torch.zeros(16_000), content, pair_argmax)
    assert prompt_codes(torch.ones(16_000), content, pair_argmax, check_length=False).shape == (40,)


def test_reference_audio_and_spectrogram():
    stereo = torch.stack([torch.full((3200,), 1.5), torch.full((3200,), 2.5)])  # mean 2.0 -> divided by 2
    audio = reference_audio_32k(stereo)
    assert audio.shape == (1, 3200) and torch.allclose(audio, torch.ones(1, 3200))
    loud = torch.full((3200,), 3.0)
    assert torch.allclose(reference_audio_32k(loud), torch.full((1, 3200), 1.5))  # min(2, peak)
    quiet = torch.full((3200,), 0.5)
    assert torch.equal(reference_audio_32k(quiet), quiet[None])

    pytest.importorskip("timbre.audio.spectrogram")
    g = torch.Generator().manual_seed(0)
    wav16k = 0.1 * torch.randn(48_000, generator=g)
    wav32k = 0.1 * torch.randn(96_000, generator=g)

    def content(wav: torch.Tensor) -> torch.Tensor:
        return wav[: len(wav) // 320 * 320].reshape(-1, 320).T[:8]

    def speaker(audio: torch.Tensor) -> torch.Tensor:
        assert audio.shape == (1, 96_000)
        return audio[:, :20480]

    ref = reference_features(wav16k, wav32k, content, pair_argmax, speaker)
    assert ref.spec.shape == (1, 1025, 150)
    assert ref.prompt_codes.shape == (90,)
    assert ref.sv_emb is not None and ref.sv_emb.shape == (1, 20480)
    assert reference_features(wav16k, wav32k, content, pair_argmax).sv_emb is None
