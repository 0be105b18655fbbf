"""Original SoVITS .pth / GPT .ckpt and timbre .safetensors: version detection and save → load round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from timbre.compat.checkpoints import (
    GPTCheckpoint,
    SoVITSCheckpoint,
    load_gpt,
    load_original,
    load_sovits,
    save_gpt_ckpt,
    save_sovits_pth,
)
from timbre.compat.native import config_path, load_checkpoint, load_safetensors, save_safetensors
from timbre.compat.safe_load import read_torch_file, write_torch_file
from timbre.compat.versions import detect_gpt_version, detect_sovits_version, sovits_version_from_weights
from timbre.errors import CheckpointError

SOVITS_MANIFESTS = {
    "v1": "sovits_v1_SynthesizerTrn",
    "v2": "sovits_v2_SynthesizerTrn",
    "v2Pro": "sovits_v2Pro_SynthesizerTrn",
    "v2ProPlus": "sovits_v2ProPlus_SynthesizerTrn",
}


def _meta_state_dict(compat_dir: Path, manifest: str) -> dict[str, torch.Tensor]:
    data = json.loads((compat_dir / "manifests" / f"{manifest}.json").read_text("utf-8"))
    return {key: torch.empty(shape, device="meta") for key, shape, _ in data["state_dict"]}


def fake_sovits(version: str, seed: int = 0) -> SoVITSCheckpoint:
    """A tiny state dict with the tensors that tell the versions apart (real sizes on the telling axis only)."""
    gen = torch.Generator().manual_seed(seed)
    rows, width = (322, 1025) if version == "v1" else (732, 704)
    channels = 768 if version == "v2ProPlus" else 512
    shapes: dict[str, tuple[int, ...]] = {
        "enc_p.text_embedding.weight": (rows, 3),
        "ref_enc.spectral.0.fc.weight": (2, width),
        "dec.conv_pre.weight": (channels, 2, 1),
        "dec.ups.0.weight_g": (channels, 1, 1),
        "quantizer.vq.layers.0._codebook.embed": (1, 4, 3),
        "enc_q.pre.weight": (4, 2, 1),
        "enc_q.enc.in_layers.0.bias": (4,),
    }
    if version in ("v2Pro", "v2ProPlus"):
        shapes.update({"sv_emb.weight": (4, 5), "ge_to512.weight": (3, 4), "prelu.weight": (4,)})
    state_dict = {key: torch.randn(shape, generator=gen) for key, shape in shapes.items()}
    config = {
        "train": {"segment_size": 20480},
        "data": {"sampling_rate": 32000},
        "model": {"gin_channels": 512},
    }
    return SoVITSCheckpoint(version, config, state_dict, "3epoch_120iteration")


def fake_gpt(version: str = "v2", seed: int = 0) -> GPTCheckpoint:
    gen = torch.Generator().manual_seed(seed)
    rows = 512 if version == "v1" else 732
    state_dict = {
        "ar_text_embedding.word_embeddings.weight": torch.randn(rows, 4, generator=gen),
        "ar_audio_embedding.word_embeddings.weight": torch.randn(1025, 4, generator=gen),
        "h.layers.0.linear1.weight": torch.randn(8, 4, generator=gen),
        "ar_text_position.alpha": torch.ones(1),
    }
    config = {"data": {"max_sec": 54}, "model": {"phoneme_vocab_size": rows, "n_layer": 1}}
    return GPTCheckpoint(version, config, state_dict, "GPT-e5")


# ---- version detection ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", list(SOVITS_MANIFESTS))
def test_sovits_version_from_manifest_shapes(compat_dir: Path, version: str) -> None:
    state_dict = _meta_state_dict(compat_dir, SOVITS_MANIFESTS[version])
    assert sovits_version_from_weights(state_dict) == version
    without_enc_q = {k: v for k, v in state_dict.items() if not k.startswith("enc_q.")}
    info = detect_sovits_version(without_enc_q)
    assert (info.version, info.symbols, info.source) == (
        version,
        "v1" if version == "v1" else "v2",
        "weights",
    )


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_gpt_version_from_manifest_shapes(compat_dir: Path, version: str) -> None:
    state_dict = _meta_state_dict(compat_dir, f"gpt_{version}_Text2SemanticDecoder")
    assert detect_gpt_version(state_dict).version == version
    with pytest.raises(CheckpointError, match="phoneme_vocab_size"):
        detect_gpt_version(state_dict, {"model": {"phoneme_vocab_size": 999}})


@pytest.mark.parametrize("version", list(SOVITS_MANIFESTS))
def test_sovits_version_on_fake_state_dicts(version: str) -> None:
    assert sovits_version_from_weights(fake_sovits(version).state_dict) == version


def test_inconsistent_sovits_weights_are_refused() -> None:
    v2 = fake_sovits("v2").state_dict
    v1 = fake_sovits("v1").state_dict
    pro = fake_sovits("v2Pro").state_dict
    cases = {
        "v3/v4": {k: v for k, v in v2.items() if k != "dec.conv_pre.weight"},
        "rows": {**v2, "enc_p.text_embedding.weight": torch.zeros(500, 3)},
        "reference encoder": {**v1, "ref_enc.spectral.0.fc.weight": torch.zeros(2, 704)},
        "only some": {k: v for k, v in pro.items() if k != "prelu.weight"},
        "v1 symbol": {
            **pro,
            "enc_p.text_embedding.weight": torch.zeros(322, 3),
            **{"ref_enc.spectral.0.fc.weight": torch.zeros(2, 1025)},
        },
    }
    for expected, state_dict in cases.items():
        with pytest.raises(CheckpointError, match=expected):
            sovits_version_from_weights(state_dict)


def test_marker_is_cross_checked_with_weights() -> None:
    v2, pro = fake_sovits("v2").state_dict, fake_sovits("v2Pro").state_dict
    assert detect_sovits_version(pro, marker=b"05").source == "marker 05 + weights"
    assert (
        detect_sovits_version(v2, marker=b"00").version == "v2"
    )  # v1/v2 follow the text table, as the original
    with pytest.raises(CheckpointError, match="marked v2Pro but its weights are a v2 model"):
        detect_sovits_version(v2, marker=b"05")
    with pytest.raises(CheckpointError, match="marked v2ProPlus"):
        detect_sovits_version(pro, marker=b"06")
    with pytest.raises(CheckpointError, match="LoRA"):
        detect_sovits_version(v2, marker=b"04")
    with pytest.raises(CheckpointError, match="unknown SoVITS version marker"):
        detect_sovits_version(v2, marker=b"09")
    official = detect_sovits_version(pro, head_hash="c7e9fce2223f3db685cdfa1e6368728a")
    assert official.source == "official s2Gv2Pro.pth + weights"


# ---- original formats -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "head"), [("v1", b"PK"), ("v2", b"PK"), ("v2Pro", b"05"), ("v2ProPlus", b"06")]
)
def test_sovits_pth_round_trip(tmp_path: Path, version: str, head: bytes) -> None:
    ckpt = fake_sovits(version)
    path = save_sovits_pth(ckpt, tmp_path / f"{version}.pth")
    assert path.read_bytes()[:2] == head
    raw = read_torch_file(path).payload  # the structure the original WebUI reads
    assert set(raw) == {"weight", "config", "info"}
    assert not any(k.startswith("enc_q.") for k in raw["weight"])
    assert all(t.dtype == torch.float16 for t in raw["weight"].values())
    assert raw["config"]["model"]["version"] == version

    loaded = load_sovits(path)
    assert loaded.version == version and loaded.info == ckpt.info
    assert loaded.detected is not None and ("marker" in loaded.detected.source) == (head != b"PK")
    expected = {k: v.half() for k, v in ckpt.state_dict.items() if not k.startswith("enc_q.")}
    assert list(loaded.state_dict) == list(expected)
    for key, value in expected.items():
        assert torch.equal(loaded.state_dict[key], value)
    assert (
        loaded.config["model"]["gin_channels"] == 512
        and loaded.config["model"]["semantic_frame_rate"] == "25hz"
    )
    assert load_original(path).version == version


def test_sovits_pth_fp32_keeps_values(tmp_path: Path) -> None:
    ckpt = fake_sovits("v2Pro")
    loaded = load_sovits(save_sovits_pth(ckpt, tmp_path / "a.pth", half=False))
    assert all(
        torch.equal(loaded.state_dict[k], v) for k, v in ckpt.state_dict.items() if not k.startswith("enc_q")
    )


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_gpt_ckpt_round_trip(tmp_path: Path, version: str) -> None:
    ckpt = fake_gpt(version)
    path = save_gpt_ckpt(ckpt, tmp_path / "g.ckpt")
    raw = read_torch_file(path).payload
    assert sorted(raw["weight"]) == sorted("model." + k for k in ckpt.state_dict)
    assert raw["info"] == "GPT-e5" and raw["config"] == ckpt.config
    loaded = load_gpt(path)
    assert loaded.version == version and loaded.config == ckpt.config
    assert all(torch.equal(loaded.state_dict[k], v.half()) for k, v in ckpt.state_dict.items())
    assert isinstance(load_original(path), GPTCheckpoint)
    exact = load_gpt(save_gpt_ckpt(ckpt, tmp_path / "f.ckpt", half=False))
    assert all(torch.equal(exact.state_dict[k], v) for k, v in ckpt.state_dict.items())


def test_wrong_kind_and_unsupported_payloads(tmp_path: Path) -> None:
    gpt_path = save_gpt_ckpt(fake_gpt(), tmp_path / "g.ckpt")
    with pytest.raises(CheckpointError, match="GPT checkpoint"):
        load_sovits(gpt_path)
    sovits_path = save_sovits_pth(fake_sovits("v2Pro"), tmp_path / "s.pth")
    with pytest.raises(CheckpointError, match="version marker"):
        load_gpt(sovits_path)
    payload = {"weight": fake_sovits("v2").state_dict, "config": {"model": {}}, "lora_rank": 32}
    with pytest.raises(CheckpointError, match="LoRA"):
        load_sovits(write_torch_file(payload, tmp_path / "lora.pth"))
    with pytest.raises(CheckpointError, match="'weight'"):
        load_sovits(write_torch_file({"model": {}}, tmp_path / "G_100.pth"))
    with pytest.raises(CheckpointError, match="'config'"):
        load_gpt(write_torch_file({"weight": {"model.x": torch.zeros(1)}}, tmp_path / "noconf.ckpt"))


# ---- timbre's own format --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ckpt", [fake_sovits("v2ProPlus"), fake_sovits("v1"), fake_gpt("v2")], ids=["sovits", "v1", "gpt"]
)
def test_safetensors_round_trip_is_bit_identical(tmp_path: Path, ckpt) -> None:
    path = save_safetensors(ckpt, tmp_path / "model.safetensors")
    document = json.loads(config_path(path).read_text("utf-8"))
    assert (document["kind"], document["version"]) == (ckpt.kind, ckpt.version)
    loaded = load_safetensors(path)
    assert type(loaded) is type(ckpt) and loaded.version == ckpt.version and loaded.info == ckpt.info
    assert sorted(loaded.state_dict) == sorted(ckpt.state_dict)
    for key, value in ckpt.state_dict.items():
        got = loaded.state_dict[key]
        assert got.dtype == value.dtype and got.shape == value.shape
        assert got.numpy().tobytes() == value.numpy().tobytes()
    assert load_checkpoint(path).version == ckpt.version


def test_safetensors_problems_are_reported(tmp_path: Path) -> None:
    path = save_safetensors(fake_sovits("v2"), tmp_path / "m.safetensors")
    document = json.loads(config_path(path).read_text("utf-8"))
    config_path(path).write_text(json.dumps({**document, "version": "v2Pro"}), "utf-8")
    with pytest.raises(CheckpointError, match="do not belong together"):
        load_safetensors(path)
    config_path(path).unlink()
    with pytest.raises(CheckpointError, match="is missing"):
        load_safetensors(path)
    with pytest.raises(CheckpointError, match=".safetensors"):
        save_safetensors(fake_gpt(), tmp_path / "m.bin")
