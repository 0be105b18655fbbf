"""RoBERTa phone features: hidden_states[-3] without [CLS]/[SEP], word2ph expansion, zeros for non-Chinese."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch

from timbre.errors import TimbreError
from timbre.features import BERT_DIM, PhoneText, RobertaPhoneFeatures, zero_phone_features

transformers = pytest.importorskip("transformers")

VOCAB = "[PAD] [UNK] [CLS] [SEP] [MASK] 你 好 世 界 ， 。 我 是 中 国 人 说 话 ？".split()


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory) -> Path:
    """A random 4-layer masked-LM BERT (as chinese-roberta-wwm-ext-large is stored) and a per-character tokenizer."""
    folder = tmp_path_factory.mktemp("roberta")
    transformers.BertTokenizer(vocab={t: i for i, t in enumerate(VOCAB)}).save_pretrained(folder)
    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    transformers.BertForMaskedLM(config).eval().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def roberta(bert_dir) -> RobertaPhoneFeatures:
    return RobertaPhoneFeatures.from_folder(bert_dir)


def original_features(bert_dir: Path, text: str, word2ph: list[int]) -> torch.Tensor:
    """The original's recipe on the full masked-LM model: hidden_states[-3], drop [CLS]/[SEP], repeat per word2ph."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(bert_dir)
    model = transformers.BertForMaskedLM.from_pretrained(bert_dir).eval()
    with torch.inference_mode():
        hidden = model(**tokenizer(text, return_tensors="pt"), output_hidden_states=True).hidden_states
    chars = hidden[-3][0][1:-1]
    return torch.cat([chars[i].repeat(n, 1) for i, n in enumerate(word2ph)]).T


def test_matches_the_original_recipe(roberta, bert_dir):
    text, word2ph = "你好，世界。", [2, 2, 1, 2, 2, 1]
    ours = roberta(text, word2ph)
    assert ours.shape == (16, sum(word2ph))
    assert len(roberta.model.encoder.layer) == 2  # the last two layers are never needed
    torch.testing.assert_close(ours, original_features(bert_dir, text, word2ph), atol=1e-5, rtol=1e-5)
    # each character's vector is repeated word2ph[i] times
    torch.testing.assert_close(ours[:, 0], ours[:, 1])
    assert not torch.equal(ours[:, 1], ours[:, 2])


def test_other_languages_get_zeros(roberta):
    features = roberta("hello world", [1] * 11, lang="en")
    assert torch.equal(features, torch.zeros(16, 11))
    assert zero_phone_features(7).shape == (BERT_DIM, 7)


def test_batched_equals_unbatched(roberta):
    texts = [
        PhoneText("你好，世界。", (2, 2, 1, 2, 2, 1)),
        PhoneText("我是中国人", (2, 2, 2, 2, 2)),
        PhoneText("abc", (1, 1, 1), "en"),
        PhoneText("说话？", (2, 2, 1)),
    ]
    batched = roberta.run_batch(texts)
    for text, got in zip(texts, batched, strict=True):
        torch.testing.assert_close(got, roberta.run_batch([text])[0], atol=1e-5, rtol=1e-5)
        assert got.shape == (16, text.n_phones)


def test_engine_serves_threads(roberta):
    texts = [PhoneText("你好" * (i + 1), (2,) * (2 * i + 2)) for i in range(6)]
    expected = [roberta.run_batch([t])[0] for t in texts]
    results: dict[int, torch.Tensor] = {}
    with roberta.engine() as engine:
        threads = [
            threading.Thread(
                target=lambda i=i: results.__setitem__(i, engine.submit(texts[i]).result(timeout=30))
            )
            for i in range(len(texts))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for i, exp in enumerate(expected):
        torch.testing.assert_close(results[i], exp, atol=1e-5, rtol=1e-5)


def test_word2ph_must_fit_the_text(roberta):
    with pytest.raises(TimbreError, match="word2ph has 2 entries"):
        roberta("你好，", [2, 2])
    with roberta.engine() as engine, pytest.raises(TimbreError):
        engine.submit(PhoneText("你好", (2,)))
    with pytest.raises(TimbreError, match="more than RoBERTa's 62"):
        roberta("你" * 63, [2] * 63)
    assert roberta("你" * 62, [1] * 62).shape == (16, 62)


def test_folder_errors(tmp_path, bert_dir):
    with pytest.raises(TimbreError, match="folder not found"):
        RobertaPhoneFeatures.from_folder(tmp_path / "nope")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "hubert"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(TimbreError, match="expected bert or roberta"):
        RobertaPhoneFeatures.from_folder(tmp_path)
