"""HuBERT content features from a local folder: loading, equality with transformers, padding-exact batching."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from timbre.errors import TimbreError
from timbre.features import BatchConfig, HubertExtractor, HubertOptions

transformers = pytest.importorskip("transformers")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread; two threads on the shared cores spin and are far slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_hubert(folder: Path, norm: str = "group", hidden: int = 24, seed: int = 0) -> Path:
    """A random HubertModel saved like a downloaded one (hidden size deliberately not 768)."""
    config = transformers.HubertConfig(
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=48,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        feat_extract_norm=norm,
        do_stable_layer_norm=norm == "layer",
        conv_bias=norm == "layer",
    )
    torch.manual_seed(seed)
    model = transformers.HubertModel(config).eval()
    model.save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(
        json.dumps({"do_normalize": True, "sampling_rate": 16000})
    )
    return folder


@pytest.fixture(scope="module")
def hubert_dir(tmp_path_factory) -> Path:
    return tiny_hubert(tmp_path_factory.mktemp("hubert"))


@pytest.fixture(scope="module")
def extractor(hubert_dir) -> HubertExtractor:
    return HubertExtractor.from_folder(hubert_dir)


def waves(*lengths: int, seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [0.3 * torch.randn(n, generator=g) + 0.05 for n in lengths]


def reference(model, wav: torch.Tensor) -> torch.Tensor:
    """What the original does: the model called directly on the unnormalized waveform, [C, T50]."""
    with torch.inference_mode():
        return model(wav[None]).last_hidden_state[0].T


def test_single_clip_equals_transformers(extractor):
    for wav in waves(8000, 5555):
        ours = extractor(wav)
        assert ours.shape == (24, int(extractor.frame_lengths(torch.tensor(len(wav)))))
        assert ours.shape[1] == len(wav) // 320 - (1 if len(wav) % 320 < 80 else 0)
        torch.testing.assert_close(ours, reference(extractor.model, wav), atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize(("norm", "batch_conv"), [("group", True), ("group", False), ("layer", True)])
def test_batched_equals_unbatched(tmp_path, norm, batch_conv):
    """Batched == unbatched, with the conv front end run as one padded batch (GPU default) or item by item."""
    hubert = HubertExtractor.from_folder(tiny_hubert(tmp_path, norm), HubertOptions(batch_conv=batch_conv))
    clips = waves(8000, 4500, 6173, 400, 3001)
    batched = hubert.run_batch(clips)
    for clip, features in zip(clips, batched, strict=True):
        torch.testing.assert_close(features, reference(hubert.model, clip), atol=2e-5, rtol=1e-4)


def test_naive_padding_would_differ(extractor):
    """Why the masked group norm exists: transformers' own padded batch changes the short item."""
    clips = waves(8000, 3000)
    padded = torch.zeros(2, 8000)
    mask = torch.zeros(2, 8000, dtype=torch.long)
    for i, c in enumerate(clips):
        padded[i, : len(c)] = c
        mask[i, : len(c)] = 1
    with torch.inference_mode():
        naive = extractor.model(padded, attention_mask=mask).last_hidden_state[1, :9].T
    assert (naive - reference(extractor.model, clips[1])).abs().max() > 1e-2


def test_normalize_matches_the_feature_extractor(hubert_dir):
    hubert = HubertExtractor.from_folder(hubert_dir, HubertOptions(normalize=True))
    fe = transformers.Wav2Vec2FeatureExtractor.from_pretrained(hubert_dir)
    clips = waves(8000, 5000)
    for clip, ours in zip(clips, hubert.run_batch(clips), strict=True):
        values = fe(clip.numpy(), sampling_rate=16000, return_tensors="pt").input_values[0]
        torch.testing.assert_close(ours, reference(hubert.model, values), atol=2e-5, rtol=1e-4)
    assert hubert.fingerprint != HubertExtractor.from_folder(hubert_dir).fingerprint


def test_engine_threads_equal_unbatched(extractor):
    clips = waves(2000, 4000, 2500, 6000, 1500, 3500, 4500, 3000)
    expected = [reference(extractor.model, c) for c in clips]
    got: dict[int, torch.Tensor] = {}
    with extractor.engine(BatchConfig(max_batch_size=8, max_wait_s=0.02)) as engine:

        def caller(i: int) -> None:
            got[i] = engine.submit(clips[i]).result(timeout=30)

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(len(clips))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for i, exp in enumerate(expected):
        torch.testing.assert_close(got[i], exp, atol=2e-5, rtol=1e-4)
    assert engine.stats.mean_batch_size > 1


def test_input_checks(extractor):
    with pytest.raises(ValueError, match="too short"):
        extractor(torch.zeros(100))
    with pytest.raises(ValueError, match=r"mono waveform \[T\]"):
        extractor(torch.zeros(2, 16000))
    assert extractor(np.zeros(800, dtype=np.float32)).shape == (24, 2)


def test_folder_errors(tmp_path, hubert_dir):
    with pytest.raises(TimbreError, match="folder not found"):
        HubertExtractor.from_folder(tmp_path / "missing")
    with pytest.raises(TimbreError, match="no config.json"):
        HubertExtractor.from_folder(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(TimbreError, match="expected hubert"):
        HubertExtractor.from_folder(tmp_path)
    (tmp_path / "config.json").write_text((hubert_dir / "config.json").read_text())
    with pytest.raises(TimbreError, match="no weight file"):
        HubertExtractor.from_folder(tmp_path)


def test_wrong_weights_are_refused(tmp_path, hubert_dir):
    """A weight file that does not fit the config leaves parameters random: refuse instead of warning."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(hubert_dir / "model.safetensors"))
    partial = {k: v for k, v in state.items() if not k.startswith("encoder.layers.1.")}
    (tmp_path / "config.json").write_text((hubert_dir / "config.json").read_text())
    save_file(partial, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(TimbreError, match="parameters missing"):
        HubertExtractor.from_folder(tmp_path)
