"""Local Hugging Face folders (HuBERT, Chinese RoBERTa): tiny random models saved and read back, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from timbre.compat.hf import inspect_hf_folder, load_hubert, load_roberta
from timbre.errors import CheckpointError


@pytest.fixture(scope="module")
def hubert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import HubertConfig, HubertModel

    config = HubertConfig(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_stride=(5, 2),
        conv_kernel=(10, 3),
        num_conv_pos_embeddings=4,
        num_conv_pos_embedding_groups=2,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("hubert")
    HubertModel(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def roberta_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    path = tmp_path_factory.mktemp("roberta")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "你", "好", "世", "界"]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", "utf-8")
    BertTokenizer(str(path / "vocab.txt")).save_pretrained(path)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
    )
    torch.manual_seed(0)
    BertForMaskedLM(config).save_pretrained(path)
    return path


def test_hubert_folder_loads_locally(hubert_dir: Path) -> None:
    info = inspect_hf_folder(hubert_dir)
    assert (info.kind, info.model_type, info.hidden_size, info.num_layers) == ("hubert", "hubert", 16, 1)
    model = load_hubert(hubert_dir)
    assert not model.training
    with torch.no_grad():
        out = model(torch.randn(1, 1600)).last_hidden_state
    assert out.shape[0] == 1 and out.shape[-1] == 16


def test_roberta_folder_loads_locally(roberta_dir: Path) -> None:
    assert inspect_hf_folder(roberta_dir, "roberta").has_tokenizer
    tokenizer, model = load_roberta(roberta_dir)
    inputs = tokenizer("你好世界", return_tensors="pt")
    assert inputs["input_ids"].tolist() == [[2, 5, 6, 7, 8, 3]]
    with torch.no_grad():
        hidden = model(**inputs, output_hidden_states=True).hidden_states
    assert len(hidden) == 3 and hidden[-1].shape == (1, 6, 16)


def test_folder_problems_are_clear(tmp_path: Path, hubert_dir: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        inspect_hf_folder(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="no config.json"):
        inspect_hf_folder(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "hubert"}), "utf-8")
    with pytest.raises(CheckpointError, match="no weights"):
        load_hubert(tmp_path)
    with pytest.raises(CheckpointError, match="'hubert' model"):
        load_roberta(hubert_dir)
