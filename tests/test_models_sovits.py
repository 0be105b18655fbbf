"""SoVITS SynthesizerTrn: checkpoint layout, reference vectors, inference invariants, training forward."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from timbre.compat.detweights import load_deterministic
from timbre.compat.vectors import VectorSet
from timbre.compat.vectors_sovits import check_decode, check_extract_latent
from timbre.models.losses import kl_loss
from timbre.models.sovits import VERSIONS, SoVITSConfig, SynthesizerTrn

VECTORS = Path(__file__).parent / "fixtures" / "compat" / "vectors_seed0"
MANIFESTS = Path(__file__).parent / "fixtures" / "compat" / "manifests"


def _params() -> dict:
    return json.loads((VECTORS / "index_seed0.json").read_text())["params"]


@pytest.mark.parametrize("version", VERSIONS)
def test_state_dict_matches_manifest(version: str) -> None:
    manifest = json.loads((MANIFESTS / f"sovits_{version}_SynthesizerTrn.json").read_text())
    cfg = SoVITSConfig.from_original(manifest["config"])
    assert cfg == SoVITSConfig.for_version(version)
    assert SoVITSConfig.from_original(manifest["config"]["model"]).version == version
    model = SynthesizerTrn(cfg)
    got = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    want = [(k, shape) for k, shape, _ in manifest["state_dict"]]
    assert got == want  # same keys, same order, same shapes: zero missing, zero unexpected
    assert sum(p.numel() for p in model.parameters()) == manifest["num_parameters"]
    enc_q = sum(p.numel() for n, p in model.named_parameters() if n.startswith("enc_q."))
    assert enc_q == manifest["enc_q_num_parameters"]


def test_config_round_trip() -> None:
    cfg = SoVITSConfig.for_version("v2ProPlus")
    assert SoVITSConfig.from_original(cfg.to_original()) == cfg
    with pytest.raises(ValueError, match="unknown SoVITS version"):
        SoVITSConfig.for_version("v3")


@pytest.mark.parametrize("name", ["sovits_v2_extract_latent"])
def test_extract_latent_vectors(name: str) -> None:
    checks = check_extract_latent(VectorSet.load(VECTORS / f"{name}.npz", _params()))
    assert checks and all(c.ok for c in checks), [c for c in checks if not c.ok]


@pytest.mark.parametrize(
    "name",
    [
        "sovits_v2_decode",
        pytest.param("sovits_v2pro_decode", marks=pytest.mark.slow),
        pytest.param("sovits_v2proplus_decode", marks=pytest.mark.slow),
    ],
)
def test_decode_vectors(name: str) -> None:
    checks = check_decode(VectorSet.load(VECTORS / f"{name}.npz", _params()))
    names = {c.name for c in checks}
    assert {"audio", "z", "m_p", "speed_audio", "speed_z"} <= names
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]


@pytest.fixture(scope="module")
def v2_model() -> SynthesizerTrn:
    return load_deterministic(SynthesizerTrn(SoVITSConfig.for_version("v2")), 0).eval()


def _inputs(batch: int = 1, frames: int = 12, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 1024, (1, batch, frames), generator=g)
    text = torch.randint(1, 732, (batch, 9), generator=g)
    refer = torch.rand(1, 1025, 40, generator=g) * 4
    return codes, text, refer


def test_folding_and_bf16(v2_model: SynthesizerTrn) -> None:
    codes, text, refer = _inputs()
    ref = v2_model.decode(codes, text, refer, noise_scale=0.0)
    assert ref.shape == (1, 1, 12 * 2 * 640)
    v2_model.prepare_for_inference("fp32")
    folded = v2_model.decode(codes, text, refer, noise_scale=0.0)
    assert (folded - ref).abs().max().item() < 1e-5
    v2_model.prepare_for_inference("bf16")
    fast = v2_model.decode(codes, text, refer, noise_scale=0.0)
    snr = 10 * torch.log10(ref.pow(2).sum() / (fast - ref).pow(2).sum())
    assert snr.item() > 30.0
    v2_model.train()  # leaving inference mode drops the folded copies
    v2_model.eval()
    again = v2_model.decode(codes, text, refer, noise_scale=0.0)
    assert torch.equal(again, ref)
    with pytest.raises(ValueError, match="precision"):
        v2_model.prepare_for_inference("fp8")  # type: ignore[arg-type]


def test_batch_equals_single(v2_model: SynthesizerTrn) -> None:
    codes, text, refer = _inputs(batch=2)
    v2_model.prepare_for_inference("fp32")
    both = v2_model.decode(codes, text, refer, noise_scale=0.0)
    for i in range(2):
        one = v2_model.decode(codes[:, i : i + 1], text[i : i + 1], refer, noise_scale=0.0)
        assert (both[i : i + 1] - one).abs().max().item() < 1e-5
    v2_model.eval()


def test_multiple_references_are_averaged(v2_model: SynthesizerTrn) -> None:
    codes, text, refer = _inputs()
    other = refer.flip(-1) * 0.5
    _, ge_a, _ = v2_model.condition(refer)
    _, ge_b, _ = v2_model.condition(other)
    _, ge_ab, _ = v2_model.condition([refer, other])
    assert torch.allclose(ge_ab, (ge_a + ge_b) / 2, atol=1e-6)
    with torch.no_grad():
        s = v2_model.decode_stages(codes, text, [refer, other], noise_scale=0.0, speed=1.25)
    assert s.m_p.shape[-1] == int(24 / 1.25) + 1


def test_pro_needs_speaker_embedding() -> None:
    model = SynthesizerTrn(
        SoVITSConfig(
            version="v2Pro",
            gin_channels=1024,
            hidden_channels=32,
            filter_channels=64,
            inter_channels=16,
            n_layers=2,
            upsample_initial_channel=32,
        )
    ).eval()
    codes, text, refer = _inputs(frames=4)
    with pytest.raises(ValueError, match="sv_emb"):
        model.decode(codes, text, refer)
    audio = model.decode(codes, text, [refer, refer], sv_emb=torch.randn(2, 20480))
    assert audio.shape == (1, 1, 4 * 2 * 640)


def test_training_forward_tiny() -> None:
    torch.manual_seed(0)
    cfg = SoVITSConfig(
        version="v2",
        hidden_channels=32,
        filter_channels=64,
        inter_channels=16,
        n_layers=2,
        upsample_initial_channel=32,
        segment_size_samples=640 * 4,
    )
    model = SynthesizerTrn(cfg).train()
    assert not model.quantizer.training  # frozen quantizer stays in eval mode, as the original
    load_deterministic(model, 3)  # codebook initialised, like a pretrained checkpoint
    ssl = torch.randn(2, 768, 20)
    spec = torch.rand(2, 1025, 20)
    lengths = torch.tensor([20, 16])
    text = torch.randint(1, 732, (2, 7))
    out = model(ssl, spec, lengths, text, torch.tensor([7, 5]))
    assert out.y_hat.shape == (2, 1, 4 * 640)
    assert out.ids_slice.shape == (2,) and int(out.ids_slice.max()) <= 16
    assert out.z.shape == out.m_p.shape == (2, 16, 20)
    assert float(out.commit_loss) == 0.0
    loss = kl_loss(out.z_p, out.logs_q, out.m_p, out.logs_p, out.z_mask) + out.y_hat.abs().mean()
    loss.backward()
    assert model.dec.conv_pre.weight.grad is not None and model.enc_p.proj.weight.grad is not None
    assert model.ssl_proj.weight.grad is None


def test_unfrozen_quantizer_trains_codebook() -> None:
    from timbre.models.sovits import ResidualVectorQuantizer

    q = ResidualVectorQuantizer(dimension=8, n_q=1, bins=4).train()
    x = torch.randn(3, 8, 50)
    out = q(x, layers=[0])  # first call initialises the codebook by k-means
    assert float(q.vq.layers[0]._codebook.inited) == 1.0
    assert out.codes.shape == (1, 3, 50) and out.commit_loss.item() > 0
    assert np.isfinite(out.quantized.detach().numpy()).all()
    q.eval()
    frozen = q(x)
    assert torch.equal(q.decode(frozen.codes), frozen.quantized)
    assert float(frozen.commit_loss) == 0.0


def test_v1_style_encoder_reads_the_full_spectrogram() -> None:
    cfg = SoVITSConfig(version="v1", hidden_channels=32, filter_channels=64, inter_channels=16, n_layers=2,
                       upsample_initial_channel=32)  # fmt: skip
    model = SynthesizerTrn(cfg).eval()
    assert (
        model.ref_enc.spectral[0].fc.in_features == 1025 and model.enc_p.text_embedding.num_embeddings == 322
    )
    codes, _, refer = _inputs(frames=5)
    audio = model.decode(codes, torch.randint(1, 322, (1, 6)), refer, speed=0.8)
    assert audio.shape == (1, 1, (int(10 / 0.8) + 1) * 640)
