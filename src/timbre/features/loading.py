"""Reading extracted features back (training data sets): the index and one segment's arrays."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from timbre.errors import TimbreError
from timbre.features.prep import INT16_SCALE
from timbre.features.roberta import BERT_DIM
from timbre.features.store import FEATURES_DIR, FeatureStore

INDEX_NAME = "index.json"


class SegmentFeatures(NamedTuple):
    name: str
    phone_ids: np.ndarray  # [N] int64 (v2 symbol ids)
    word2ph: np.ndarray  # [n_chars] int64, empty unless zh/yue
    norm_text: str
    bert: np.ndarray  # [D, N] float32; zeros for non-Chinese text (as the original)
    ssl: np.ndarray  # [C, T50] float32 HuBERT features
    codes: np.ndarray | None  # [T25] int64 semantic tokens, when extracted
    audio: np.ndarray  # [T] float32 32 kHz audio in [-1, 1] (the stored int16 / 32768)
    spec: np.ndarray | None  # [1025, T50] float32, when extracted
    sv_emb: np.ndarray | None  # [20480] float32 (v2Pro), when extracted


def load_index(dataset_dir: str | Path) -> list[dict[str, Any]]:
    """The segments whose features are complete: dicts with name, wav, speaker, lang, text, norm_text, phones."""
    path = Path(dataset_dir) / FEATURES_DIR / INDEX_NAME
    if not path.is_file():
        raise TimbreError(f"{path} not found; extract the dataset's features first")
    return list(json.loads(path.read_text(encoding="utf-8"))["segments"])


def _optional(store: FeatureStore, kind: str, name: str, array: str) -> np.ndarray | None:
    return store.load(kind, name)[array] if store.path(kind, name).is_file() else None


def load_segment(dataset_dir: str | Path, name: str, bert_dim: int = BERT_DIM) -> SegmentFeatures:
    """All stored features of one segment (missing optional kinds are None; missing bert is zeros)."""
    store = FeatureStore(dataset_dir)
    text = store.load("text", name)
    meta = store.metadata("text", name) or {}
    phone_ids = text["phone_ids"]
    bert = _optional(store, "bert", name, "bert")
    if bert is None:
        bert = np.zeros((bert_dim, len(phone_ids)), dtype=np.float32)
    audio = store.load("audio32k", name)["audio"].astype(np.float32) / INT16_SCALE
    return SegmentFeatures(
        name=name,
        phone_ids=phone_ids,
        word2ph=text["word2ph"],
        norm_text=meta.get("norm_text", ""),
        bert=bert,
        ssl=store.load("hubert", name)["ssl"],
        codes=_optional(store, "semantic", name, "codes"),
        audio=audio,
        spec=_optional(store, "spec", name, "spec"),
        sv_emb=_optional(store, "sv", name, "sv_emb"),
    )
