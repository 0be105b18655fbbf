"""Data preparation: recordings -> sliced, cleaned 32 kHz segments with transcripts (`timbre prepare`)."""

from timbre.prepare.config import LIST_LANG, PrepareConfig, normalize_lang
from timbre.prepare.manifest import (
    LIST_NAME,
    MANIFEST_NAME,
    WAV_DIR,
    DatasetManifest,
    SegmentRecord,
    load_manifest,
)
from timbre.prepare.pipeline import PrepareProgress, ProgressFn, prepare_dataset
from timbre.prepare.transcripts import ListEntry, read_list

__all__ = [
    "LIST_LANG",
    "LIST_NAME",
    "MANIFEST_NAME",
    "WAV_DIR",
    "DatasetManifest",
    "ListEntry",
    "PrepareConfig",
    "PrepareProgress",
    "ProgressFn",
    "SegmentRecord",
    "load_manifest",
    "normalize_lang",
    "prepare_dataset",
    "read_list",
]
