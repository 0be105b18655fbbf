"""Feature extraction: HuBERT content features, RoBERTa phone features, semantic tokens, reference features, the
per-segment feature store, and the concurrent batch engine that serves HuBERT/RoBERTa to many callers."""

from timbre.features.batching import BatchConfig, BatchEngine, EngineClosedError, EngineStats
from timbre.features.dataset import ExtractionReport, Extractors, extract_dataset
from timbre.features.hubert import ContentBatch, HubertExtractor, HubertOptions
from timbre.features.listfile import ListSegment, find_list_file, read_segments
from timbre.features.loading import SegmentFeatures, load_index, load_segment
from timbre.features.reference import (
    ReferenceFeatures,
    check_reference_length,
    prompt_codes,
    reference_features,
    reference_spectrogram,
    semantic_codes,
)
from timbre.features.roberta import BERT_DIM, PhoneText, RobertaPhoneFeatures, zero_phone_features
from timbre.features.store import FeatureStore, content_key

__all__ = [
    "BERT_DIM",
    "BatchConfig",
    "BatchEngine",
    "ContentBatch",
    "EngineClosedError",
    "EngineStats",
    "ExtractionReport",
    "Extractors",
    "FeatureStore",
    "HubertExtractor",
    "HubertOptions",
    "ListSegment",
    "PhoneText",
    "ReferenceFeatures",
    "RobertaPhoneFeatures",
    "SegmentFeatures",
    "check_reference_length",
    "content_key",
    "extract_dataset",
    "find_list_file",
    "load_index",
    "load_segment",
    "prompt_codes",
    "read_segments",
    "reference_features",
    "reference_spectrogram",
    "semantic_codes",
    "zero_phone_features",
]
