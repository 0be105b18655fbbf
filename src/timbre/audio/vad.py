"""Voice-activity probabilities from silero-vad's bundled ONNX model (onnxruntime only; no torch, no torchaudio).

The model reads 16 kHz audio in frames of 512 samples (32 ms), each preceded by the last 64 samples of the frame
before, and carries an LSTM state from frame to frame. Its "sequence" export runs a whole block of frames in one
call while keeping that recurrence, so a minute of audio is a handful of calls.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from timbre.audio.io import resample

VAD_RATE = 16000
FRAME = 512  # samples per probability at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous frame the model sees before each frame
STATE = (1, 1, 128)
BLOCK_FRAMES = 512  # frames per ONNX call (~16 s)
MODEL_FILE = "silero_vad_16k_sequence.onnx"


class SpeechProbs(NamedTuple):
    probs: np.ndarray  # [frames] float32 in [0, 1]
    frame_seconds: float  # seconds per probability


def _model_path() -> Path:
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or spec.origin is None:
        raise ValueError("silero-vad is not installed; install the timbre-tts package with its dependencies")
    path = Path(spec.origin).parent / "data" / MODEL_FILE
    if not path.is_file():
        raise ValueError(f"silero-vad's model file {path} is missing; reinstall silero-vad")
    return path


@functools.cache
def _session() -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(_model_path()), sess_options=options, providers=["CPUExecutionProvider"])


def _blocks(audio: np.ndarray) -> list[np.ndarray]:
    """Frames with their left context, grouped in blocks: each [n, CONTEXT + FRAME]."""
    n_frames = -(-audio.size // FRAME)
    frames = np.zeros((n_frames, FRAME), dtype=np.float32)
    frames.reshape(-1)[: audio.size] = audio
    previous = np.zeros((n_frames, CONTEXT), dtype=np.float32)
    previous[1:] = frames[:-1, -CONTEXT:]
    framed = np.concatenate([previous, frames], axis=1)  # [n_frames, CONTEXT + FRAME]
    return [framed[i : i + BLOCK_FRAMES] for i in range(0, n_frames, BLOCK_FRAMES)]


def speech_probabilities(wav: np.ndarray, sr: int) -> SpeechProbs:
    """Per-frame speech probability of a mono signal at any rate (resampled to 16 kHz first)."""
    audio = np.ascontiguousarray(resample(wav, sr, VAD_RATE), dtype=np.float32)
    if audio.size == 0:
        return SpeechProbs(np.zeros(0, dtype=np.float32), FRAME / VAD_RATE)
    session = _session()
    hidden = np.zeros(STATE, dtype=np.float32)
    cell = np.zeros(STATE, dtype=np.float32)
    out = []
    for block in _blocks(audio):
        probs, hidden, cell = session.run(
            ["speech_probs", "hn", "cn"], {"input": block, "h": hidden, "c": cell}
        )
        out.append(np.asarray(probs, dtype=np.float32).reshape(-1))
    return SpeechProbs(np.concatenate(out), FRAME / VAD_RATE)


def speech_mask(probs: np.ndarray, threshold: float = 0.5, release: float = 0.15) -> np.ndarray:
    """Frame-level speech decision with hysteresis: on above `threshold`, off below `threshold - release`."""
    mask = np.zeros(probs.size, dtype=bool)
    active = False
    for i, p in enumerate(probs):
        if active:
            active = p >= threshold - release
        else:
            active = p >= threshold
        mask[i] = active
    return mask
