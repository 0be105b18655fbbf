"""Dataset extraction: every feature file, skipping what is up to date, redoing what changed, reading back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from timbre.errors import TimbreError
from timbre.features import (
    Extractors,
    FeatureStore,
    HubertExtractor,
    RobertaPhoneFeatures,
    extract_dataset,
    load_index,
    load_segment,
)
from timbre.features.prep import MAX_PEAK, training_audio

transformers = pytest.importorskip("transformers")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def hubert(tmp_path_factory) -> HubertExtractor:
    config = transformers.HubertConfig(
        hidden_size=24,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=48,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("hubert")
    transformers.HubertModel(config).save_pretrained(folder)
    return HubertExtractor.from_folder(folder)


@pytest.fixture(scope="module")
def roberta(tmp_path_factory) -> RobertaPhoneFeatures:
    folder = tmp_path_factory.mktemp("roberta")
    vocab = "[PAD] [UNK] [CLS] [SEP] [MASK] 你 好 世 界 ， 。".split()
    transformers.BertTokenizer(vocab={t: i for i, t in enumerate(vocab)}).save_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=32,
    )
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(folder)
    return RobertaPhoneFeatures.from_folder(folder)


def fake_clean_text(text: str, lang: str) -> SimpleNamespace:
    """A stand-in front end: one phone per letter (two per Chinese character, with word2ph)."""
    norm = text.strip().lower()
    if not norm or norm == "fail":
        raise ValueError(f"nothing pronounceable in {text!r}")
    per_char = 2 if lang == "zh" else 1
    phones = [f"{c}{k}" for c in norm for k in range(per_char)]
    word2ph = [per_char] * len(norm) if lang == "zh" else None
    return SimpleNamespace(
        norm_text=norm, phones=phones, word2ph=word2ph, phone_ids=list(range(1, len(phones) + 1))
    )


def pair_argmax(ssl: torch.Tensor) -> torch.Tensor:
    frames = ssl.shape[-1] // 2
    return ssl[..., : 2 * frames].reshape(*ssl.shape[:2], frames, 2).mean(-1).argmax(1)[:, None]


def fake_speaker(audio: torch.Tensor) -> torch.Tensor:
    return audio[:, :20480] * 2


def write_wav(path: Path, seconds: float, seed: int, peak: float = 0.5) -> None:
    rng = np.random.default_rng(seed)
    wav = rng.standard_normal(int(32000 * seconds)).astype(np.float32)
    sf.write(path, wav / np.abs(wav).max() * peak, 32000, subtype="FLOAT")


def make_dataset(root: Path) -> Path:
    (root / "wavs").mkdir(parents=True)
    write_wav(root / "wavs" / "a.wav", 1.0, 1)
    write_wav(root / "wavs" / "b.wav", 0.7, 2, peak=1.5)
    write_wav(root / "wavs" / "c.wav", 0.8, 3)
    sf.write(root / "wavs" / "silent.wav", np.zeros(16000, dtype=np.float32), 32000)
    lines = [
        "wavs/a.wav|spk|EN|Hello there",
        "wavs/b.wav|spk|ZH|你好，世界。",
        "wavs/c.wav|spk|en|fail",
        "wavs/silent.wav|spk|EN|quiet",
        "wavs/missing.wav|spk|EN|nobody",
    ]
    (root / "dataset.list").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "dataset.json").write_text(json.dumps({"list_file": "dataset.list"}))
    return root


def extractors(hubert, roberta, **changes) -> Extractors:
    settings = dict(
        hubert=hubert,
        roberta=roberta,
        extract_latent=pair_argmax,
        sovits_identity="fake-sovits",
        speaker=fake_speaker,
        clean_text=fake_clean_text,
    )
    return Extractors(**(settings | changes))


def test_a_second_extraction_of_a_dataset_waits_for_the_first(tmp_path, hubert, roberta):
    """Two trainings of one dataset: the second waits while the first extracts, then finds its work done. Holding
    the folder, it also removes every temp file there (a killed run's, whatever its PID)."""
    import threading
    import warnings

    from timbre.files import exclusive_dir

    root = make_dataset(tmp_path / "ds")
    first = extract_dataset(root, extractors(hubert, roberta))
    orphan = root / "features" / "hubert" / f".b.safetensors.tmp-{os.getpid()}-00ff00ff.safetensors"
    orphan.write_bytes(b"partial")  # e.g. from a run on another host, which a PID check cannot see
    held, release = threading.Event(), threading.Event()

    def other_run() -> None:
        with exclusive_dir(root / "features", "feature extraction"):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=other_run)
    holder.start()
    held.wait(10)
    threading.Timer(0.3, release.set).start()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        second = extract_dataset(root, extractors(hubert, roberta))
    holder.join(10)
    assert any("another run is extracting the features of" in str(w.message) for w in caught)
    assert second.segments == first.segments and not any(second.computed.values())
    assert not orphan.exists()


def test_extract_skip_and_redo(tmp_path, hubert, roberta):
    from tests.test_files import dead_pid

    root = make_dataset(tmp_path / "ds")
    killed = root / "features" / "hubert" / f".a.safetensors.tmp-{dead_pid()}-00ff00ff.safetensors"
    killed.parent.mkdir(parents=True)
    killed.write_bytes(b"partial")  # left by an extraction that was killed
    stages: set[str] = set()
    report = extract_dataset(
        root, extractors(hubert, roberta), progress=lambda stage, done, total: stages.add(stage)
    )
    assert report.segments == ["a", "b"]
    assert set(report.failures) == {"c", "silent", "missing"}
    assert "text" in report.failures["c"] and "silent" in report.failures["silent"]
    assert "not found" in report.failures["missing"]
    assert report.computed == {
        "text": 4,
        "audio32k": 2,
        "hubert": 2,
        "bert": 1,
        "semantic": 2,
        "spec": 2,
        "sv": 2,
    }
    assert stages == {"text", "hubert", "bert", "semantic", "spec", "sv"}
    assert [e["name"] for e in load_index(root)] == ["a", "b"]
    assert not killed.exists()

    a = load_segment(root, "a", bert_dim=16)
    assert a.ssl.shape == (24, 49) and a.codes is not None and a.codes.shape == (24,)
    assert a.audio.shape == (32000,) and a.spec is not None and a.spec.shape == (1025, 50)
    assert a.sv_emb is not None and a.sv_emb.shape == (20480,)
    assert a.bert.shape == (16, 11) and not a.bert.any()  # English: zeros
    b = load_segment(root, "b", bert_dim=16)
    assert b.norm_text == "你好，世界。" and b.word2ph.tolist() == [2] * 6
    assert b.bert.shape == (16, 12) and b.bert.any()
    torch.testing.assert_close(torch.from_numpy(b.bert), roberta("你好，世界。", [2] * 6))

    # the stored features are those of the original's scaled audio
    source, _ = sf.read(root / "wavs" / "a.wav", dtype="float32")
    prepared = training_audio(source)
    assert np.array_equal(FeatureStore(root).load("audio32k", "a")["audio"], prepared.audio32k)
    torch.testing.assert_close(torch.from_numpy(a.ssl), hubert(prepared.hubert16k), atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(torch.from_numpy(a.codes), pair_argmax(torch.from_numpy(a.ssl)[None])[0, 0])

    again = extract_dataset(root, extractors(hubert, roberta))
    assert sum(again.computed.values()) == 0
    assert again.skipped == {
        "text": 4,
        "audio32k": 2,
        "hubert": 2,
        "bert": 1,
        "semantic": 2,
        "spec": 2,
        "sv": 2,
    }

    write_wav(root / "wavs" / "a.wav", 1.2, 7)  # new audio for a; new transcript for b
    lines = (root / "dataset.list").read_text(encoding="utf-8").replace("你好，世界。", "世界，你好。")
    (root / "dataset.list").write_text(lines, encoding="utf-8")
    redo = extract_dataset(root, extractors(hubert, roberta, sovits_identity="other-sovits"))
    assert redo.computed == {
        "text": 1,
        "bert": 1,
        "audio32k": 1,
        "hubert": 1,
        "semantic": 2,
        "spec": 1,
        "sv": 1,
    }
    assert load_segment(root, "a").ssl.shape == (24, 59)
    assert not list((root / "features").rglob("*.tmp"))


def test_chinese_needs_roberta_unless_allowed(tmp_path, hubert):
    root = make_dataset(tmp_path / "ds")
    with pytest.raises(TimbreError, match="RoBERTa"):
        extract_dataset(root, extractors(hubert, None))
    report = extract_dataset(
        root, extractors(hubert, None, allow_zero_bert=True, speaker=None, spectrogram=False)
    )
    assert report.segments == ["a", "b"]
    assert "bert" not in report.computed and "sv" not in report.computed
    assert load_segment(root, "b", bert_dim=16).bert.shape == (16, 12)


def test_training_audio_scaling():
    x = np.array([0.0, 0.2, -0.4, 0.1], dtype=np.float32)
    out = training_audio(np.tile(x, 100))
    expected = (x / 0.4 * (0.95 * 0.5 * 32768) + 0.5 * 32768 * x).astype(np.int16)
    assert np.array_equal(out.audio32k[:4], expected)
    assert out.hubert16k.shape == (200,) and out.hubert16k.dtype == np.float32
    with pytest.raises(TimbreError, match="filters such audio"):
        training_audio(np.full(100, MAX_PEAK + 0.1, dtype=np.float32))


def test_store_is_atomic_and_checks_keys(tmp_path):
    store = FeatureStore(tmp_path)
    store.save("hubert", "seg", "k1", {"ssl": np.ones((2, 3), dtype=np.float32)}, {"note": "x"})
    assert store.is_fresh("hubert", "seg", "k1") and not store.is_fresh("hubert", "seg", "k2")
    assert store.metadata("hubert", "seg") == {"note": "x", "key": "k1"}
    store.path("hubert", "seg").write_bytes(b"garbage")
    assert not store.is_fresh("hubert", "seg", "k1")
    assert sorted(p.name for p in (tmp_path / "features" / "hubert").iterdir()) == ["seg.safetensors"]
    with pytest.raises(ValueError, match="segment name"):
        store.path("hubert", "../escape")
    with pytest.raises(TimbreError, match="extract"):
        store.load("semantic", "seg")


def test_bad_lists(tmp_path, hubert):
    (tmp_path / "one.list").write_text("only|three|fields\n", encoding="utf-8")
    with pytest.raises(TimbreError, match="expected 'wav"):
        extract_dataset(tmp_path, extractors(hubert, None))
    (tmp_path / "two.list").write_text("", encoding="utf-8")
    with pytest.raises(TimbreError, match="expected one .list"):
        extract_dataset(tmp_path, extractors(hubert, None))
