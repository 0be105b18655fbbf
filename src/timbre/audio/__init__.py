"""Audio front end: load/resample/write, loudness and peak limiting, validation, spectrograms, denoising, VAD
slicing. Submodules import their heavy dependencies (onnxruntime, pyrnnoise, pyloudnorm) only when used."""

from timbre.audio.denoise import denoise
from timbre.audio.io import SUPPORTED_SUFFIXES, load_audio, resample, write_wav
from timbre.audio.loudness import integrated_loudness, limit_peaks, normalize_loudness
from timbre.audio.slicing import Segment, SliceConfig, SlicePlan, plan_segments, slice_recording
from timbre.audio.spectrogram import linear_spectrogram, mel_filterbank, mel_spectrogram, spec_to_mel
from timbre.audio.vad import SpeechProbs, speech_probabilities
from timbre.audio.validate import AudioValidationError, ValidationConfig, validate_audio

__all__ = [
    "SUPPORTED_SUFFIXES",
    "AudioValidationError",
    "Segment",
    "SliceConfig",
    "SlicePlan",
    "SpeechProbs",
    "ValidationConfig",
    "denoise",
    "integrated_loudness",
    "limit_peaks",
    "linear_spectrogram",
    "load_audio",
    "mel_filterbank",
    "mel_spectrogram",
    "normalize_loudness",
    "plan_segments",
    "resample",
    "slice_recording",
    "spec_to_mel",
    "speech_probabilities",
    "validate_audio",
    "write_wav",
]
