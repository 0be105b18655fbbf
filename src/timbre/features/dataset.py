"""`extract_dataset`: every per-segment feature training needs, written under `DATASET_DIR/features/`.

Stages, as the original's dataset steps 1-3 (+ the v2Pro speaker step) do them:
  text      phones, phone ids, word2ph, normalized text (`timbre.text.cleaner.clean_text`)
  audio32k  the loudness-scaled int16 32 kHz audio SoVITS trains on; hubert: content features [C, T50] of it
  bert      RoBERTa phone features [1024, n_phones], Chinese segments only (others use zeros, as the original)
  semantic  SoVITS `extract_latent` codes [T25] of the stored content features (the GPT's training targets)
  spec      linear spectrogram [1025, T50] of the stored 32 kHz audio
  sv        speaker-verification embedding [20480] of the stored 32 kHz audio (v2Pro/v2ProPlus)
Each file is skipped when its key (inputs' hash + extractor identity) is unchanged; see `timbre.features.store`.
`features/index.json` lists the segments whose features are complete.
"""

from __future__ import annotations

import functools
import json
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from timbre.errors import TimbreError
from timbre.features.batching import BatchConfig
from timbre.features.hubert import HubertExtractor
from timbre.features.listfile import ListSegment, find_list_file, read_segments
from timbre.features.loading import INDEX_NAME
from timbre.features.prep import INT16_SCALE, load_mono, training_audio
from timbre.features.reference import ExtractLatent, SpeakerFn, semantic_codes
from timbre.features.roberta import FEATURE_LANGUAGES, PhoneText, RobertaPhoneFeatures
from timbre.features.store import FEATURES_DIR, FeatureStore, content_key, file_digest
from timbre.files import atomic_path, exclusive_dir, remove_stale_temp_files

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class Extractors:
    """The models extraction uses; `extract_latent`/`speaker` take tensors on the HuBERT's device."""

    hubert: HubertExtractor
    roberta: RobertaPhoneFeatures | None = None
    extract_latent: ExtractLatent | None = None
    sovits_identity: str = "sovits"  # e.g. a hash of the pretrained SoVITS file; part of the semantic key
    speaker: SpeakerFn | None = None
    speaker_identity: str = "sv"
    clean_text: Callable[[str, str], Any] | None = None  # default: timbre.text.cleaner.clean_text
    text_version: str = "v2"  # symbol table of the default cleaner (v1 or v2)
    spectrogram: bool = True
    allow_zero_bert: bool = False  # Chinese segments without a RoBERTa model get zeros instead of an error
    batch: BatchConfig | None = None


@dataclass
class ExtractionReport:
    segments: list[str] = field(default_factory=list)  # complete segments, in list order
    computed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # up to date, not recomputed
    failures: dict[str, str] = field(default_factory=dict)  # segment -> reason
    seconds: float = 0.0


def _default_cleaner(version: str) -> Callable[[str, str], Any]:
    from timbre.text.cleaner import clean_text

    return functools.partial(clean_text, version=version)


def extract_dataset(
    dataset_dir: str | Path,
    extractors: Extractors,
    list_file: str | Path | None = None,
    progress: Progress | None = None,
    wav_dir: Path | None = None,
) -> ExtractionReport:
    """Extract (or bring up to date) every segment's features; returns what was computed, skipped and failed.
    `wav_dir`: where to find the listed audio files by name when the paths in the list do not exist."""
    root = Path(dataset_dir).resolve()
    segments = read_segments(Path(list_file) if list_file else find_list_file(root), wav_dir)
    if extractors.roberta is None and not extractors.allow_zero_bert:
        chinese = [s.name for s in segments if s.lang in FEATURE_LANGUAGES]
        if chinese:
            raise TimbreError(
                f"{len(chinese)} Chinese segments need RoBERTa features; pass the chinese-roberta-wwm-ext-large folder"
            )
    # one run at a time extracts a dataset: another one (a second training of the same data) waits, then finds its
    # work done; and the temp files still here were left by killed runs
    with exclusive_dir(root / FEATURES_DIR, "feature extraction", wait=lambda: _waiting(root)):
        remove_stale_temp_files(root / FEATURES_DIR, held=True)
        run = _Extraction(root, extractors, progress or (lambda stage, done, total: None))
        started = time.perf_counter()
        run.all(segments)
        run.report.seconds = time.perf_counter() - started
    return run.report


def _waiting(root: Path) -> None:
    warnings.warn(
        f"another run is extracting the features of {root}; waiting for it to finish",
        UserWarning,
        stacklevel=2,
    )


class _Extraction:
    def __init__(self, root: Path, ex: Extractors, progress: Progress) -> None:
        self.root = root
        self.ex = ex
        self.store = FeatureStore(root)
        self.progress = progress
        self.report = ExtractionReport()
        self.keys: dict[tuple[str, str], str] = {}
        self.texts: dict[str, PhoneText] = {}

    def all(self, segments: list[ListSegment]) -> None:
        live = self.text_stage(segments)
        live = self.audio_stage(live)
        if self.ex.roberta is not None:
            live = self.bert_stage(live)
        if self.ex.extract_latent is not None:
            live = self.semantic_stage(live)
        if self.ex.spectrogram:
            live = self.simple_stage("spec", live, self._spec)
        if self.ex.speaker is not None:
            live = self.simple_stage("sv", live, self._speaker)
        self.report.segments = [s.name for s in live]
        self.write_index(live)

    # ---- helpers -----------------------------------------------------------------------------------------------
    def _fresh(self, kind: str, seg: ListSegment, key: str) -> bool:
        self.keys[kind, seg.name] = key
        if self.store.is_fresh(kind, seg.name, key):
            self.report.skipped[kind] += 1
            return True
        return False

    def _save(
        self, kind: str, seg: ListSegment, arrays: dict[str, np.ndarray], meta: dict[str, str] | None = None
    ):
        self.store.save(kind, seg.name, self.keys[kind, seg.name], arrays, meta)
        self.report.computed[kind] += 1

    def _fail(self, seg: ListSegment, reason: str) -> None:
        self.report.failures[seg.name] = reason

    def _chunks(self, items: list[ListSegment], size: int) -> Iterator[list[ListSegment]]:
        for start in range(0, len(items), size):
            yield items[start : start + size]

    def _audio(self, seg: ListSegment) -> torch.Tensor:
        """The stored int16 32 kHz audio as float [1, T], on the HuBERT's device."""
        pcm = self.store.load("audio32k", seg.name)["audio"]
        return torch.from_numpy(pcm.astype(np.float32) / INT16_SCALE)[None].to(self.ex.hubert.device)

    # ---- stages ------------------------------------------------------------------------------------------------
    def text_stage(self, segments: list[ListSegment]) -> list[ListSegment]:
        clean = self.ex.clean_text or _default_cleaner(self.ex.text_version)
        live = []
        for done, seg in enumerate(segments, start=1):
            key = content_key("text/1", self.ex.text_version, seg.lang, seg.text)
            try:
                if not self._fresh("text", seg, key):
                    # the original's dataset step replaces these two characters before cleaning
                    cleaned = clean(seg.text.replace("%", "-").replace("￥", ","), seg.lang)
                    word2ph = np.asarray(cleaned.word2ph or [], dtype=np.int64)
                    arrays = {"phone_ids": np.asarray(cleaned.phone_ids, dtype=np.int64), "word2ph": word2ph}
                    meta = {
                        "norm_text": cleaned.norm_text,
                        "phones": " ".join(cleaned.phones),
                        "lang": seg.lang,
                    }
                    self._save("text", seg, arrays, meta)
                stored = self.store.metadata("text", seg.name) or {}
                word2ph_saved = self.store.load("text", seg.name)["word2ph"]
                self.texts[seg.name] = PhoneText(
                    stored.get("norm_text", ""), tuple(word2ph_saved.tolist()), seg.lang
                )
                live.append(seg)
            except ValueError as exc:
                self._fail(seg, f"text: {exc}")
            self.progress("text", done, len(segments))
        return live

    def audio_stage(self, segments: list[ListSegment]) -> list[ListSegment]:
        hubert = self.ex.hubert
        live: list[ListSegment] = []
        done = 0
        with hubert.engine(self.ex.batch) as engine:
            for chunk in self._chunks(segments, 32):
                pending = []
                for seg in chunk:
                    try:
                        digest = file_digest(seg.wav) if seg.wav.is_file() else ""
                        if not digest:
                            raise TimbreError(f"audio file not found: {seg.wav}")
                        audio_fresh = self._fresh("audio32k", seg, content_key("audio32k/1", digest))
                        hubert_key = content_key("hubert/1", digest, hubert.fingerprint)
                        if audio_fresh and self._fresh("hubert", seg, hubert_key):
                            live.append(seg)
                            continue
                        self.keys["hubert", seg.name] = hubert_key
                        audio = training_audio(load_mono(seg.wav))
                        if not audio_fresh:
                            self._save("audio32k", seg, {"audio": audio.audio32k}, {"sample_rate": "32000"})
                        pending.append((seg, engine.submit(torch.from_numpy(audio.hubert16k))))
                    except ValueError as exc:
                        self._fail(seg, f"audio: {exc}")
                for seg, future in pending:
                    try:
                        ssl = future.result()
                        if not bool(torch.isfinite(ssl).all()):
                            raise TimbreError("HuBERT gave non-finite features")
                        self._save("hubert", seg, {"ssl": ssl.cpu().numpy()})
                        live.append(seg)
                    except ValueError as exc:
                        self._fail(seg, f"hubert: {exc}")
                done += len(chunk)
                self.progress("hubert", done, len(segments))
        order = {s.name: i for i, s in enumerate(segments)}
        return sorted(live, key=lambda s: order[s.name])

    def bert_stage(self, segments: list[ListSegment]) -> list[ListSegment]:
        roberta = self.ex.roberta
        assert roberta is not None
        pending = []
        with roberta.engine() as engine:  # batches the texts; a failing text fails alone
            for seg in segments:
                if seg.lang in FEATURE_LANGUAGES:
                    key = content_key("bert/1", self.keys["text", seg.name], roberta.fingerprint)
                    if not self._fresh("bert", seg, key):
                        pending.append((seg, engine.submit(self.texts[seg.name])))
            failed = set()
            for done, (seg, future) in enumerate(pending, start=1):
                try:
                    self._save("bert", seg, {"bert": future.result().cpu().numpy()})
                except ValueError as exc:
                    self._fail(seg, f"bert: {exc}")
                    failed.add(seg.name)
                self.progress("bert", done, len(pending))
        return [s for s in segments if s.name not in failed]

    def semantic_stage(self, segments: list[ListSegment]) -> list[ListSegment]:
        extract_latent = self.ex.extract_latent
        assert extract_latent is not None
        todo = []
        for seg in segments:
            key = content_key("semantic/1", self.keys["hubert", seg.name], self.ex.sovits_identity)
            if not self._fresh("semantic", seg, key):
                todo.append(seg)
        frames = {s.name: self.store.shape("hubert", s.name, "ssl")[-1] for s in todo}
        todo.sort(key=lambda s: frames[s.name])  # similar lengths share a padded batch
        for done, chunk in enumerate(self._chunks(todo, 8), start=1):
            ssl = [torch.from_numpy(self.store.load("hubert", s.name)["ssl"]) for s in chunk]
            lengths = [x.shape[-1] for x in ssl]
            padded = torch.zeros(len(chunk), ssl[0].shape[0], max(lengths))
            for row, x in zip(padded, ssl, strict=True):
                row[:, : x.shape[-1]] = x
            codes = semantic_codes(extract_latent, padded.to(self.ex.hubert.device), lengths)
            for seg, seg_codes in zip(chunk, codes, strict=True):
                self._save("semantic", seg, {"codes": seg_codes.cpu().numpy().astype(np.int64)})
            self.progress("semantic", min(done * 8, len(todo)), len(todo))
        return segments

    def simple_stage(
        self, kind: str, segments: list[ListSegment], compute: Callable[[ListSegment], dict[str, np.ndarray]]
    ) -> list[ListSegment]:
        identity = self.ex.speaker_identity if kind == "sv" else "n_fft=2048,hop=640,win=2048"
        live = []
        for done, seg in enumerate(segments, start=1):
            key = content_key(f"{kind}/1", self.keys["audio32k", seg.name], identity)
            try:
                if not self._fresh(kind, seg, key):
                    self._save(kind, seg, compute(seg))
                live.append(seg)
            except ValueError as exc:
                self._fail(seg, f"{kind}: {exc}")
            self.progress(kind, done, len(segments))
        return live

    def _spec(self, seg: ListSegment) -> dict[str, np.ndarray]:
        from timbre.audio.spectrogram import linear_spectrogram

        with torch.inference_mode():
            spec = linear_spectrogram(self._audio(seg), n_fft=2048, hop=640, win=2048)[0]  # [1025, T50]
        return {"spec": spec.float().cpu().numpy()}

    def _speaker(self, seg: ListSegment) -> dict[str, np.ndarray]:
        assert self.ex.speaker is not None
        with torch.inference_mode():
            emb = self.ex.speaker(self._audio(seg))  # [1, 20480]
        return {"sv_emb": emb.reshape(-1).float().cpu().numpy()}

    def write_index(self, segments: Sequence[ListSegment]) -> None:
        entries = []
        for seg in segments:
            meta = self.store.metadata("text", seg.name) or {}
            wav = os.path.relpath(seg.wav, self.root) if seg.wav.is_relative_to(self.root) else str(seg.wav)
            entries.append(
                {"name": seg.name, "wav": wav, "speaker": seg.speaker, "lang": seg.lang, "text": seg.text}
                | {"norm_text": meta.get("norm_text", ""), "phones": meta.get("phones", "")}
            )
        path = self.root / FEATURES_DIR / INDEX_NAME
        with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
            json.dump(
                {"segments": entries, "failures": self.report.failures}, handle, ensure_ascii=False, indent=1
            )
