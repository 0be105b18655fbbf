"""Data preparation: recordings -> sliced, cleaned 32 kHz segments with transcripts (`timbre prepare`)."""

from timbre.listformat import LIST_LANG, ListEntry, normalize_lang, read_list
from timbre.prepare.config import PrepareConfig
from timbre.prepare.manifest import (
    LIST_NAME,
    MANIFEST_NAME,
    WAV_DIR,
    DatasetManifest,
    SegmentRecord,
    load_manifest,
)
from timbre.prepare.pipeline import PrepareProgress, ProgressFn, prepare_dataset

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
