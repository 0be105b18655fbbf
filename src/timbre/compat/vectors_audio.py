"""Check the audio front end against the `sovits_v2_spectrogram` reference vectors."""

from __future__ import annotations

import numpy as np
import torch

from timbre.audio.spectrogram import linear_spectrogram, mel_filterbank, mel_spectrogram, spec_to_mel
from timbre.compat.vectors import ArrayCheck, VectorSet, compare


def check_spectrogram(vs: VectorSet) -> list[ArrayCheck]:
    """Linear spectrogram, mel filterbank, mel-from-spec and mel-from-audio against the stored arrays.

    `spec` holds values up to ~120, so it is compared with a relative tolerance only; `mel_from_spec` is computed
    from the stored `spec` so that each stage is checked on its own input.
    """
    wav = torch.from_numpy(np.ascontiguousarray(vs.arrays["wav"], dtype=np.float32))  # [1, T]
    stored_spec = torch.from_numpy(
        np.ascontiguousarray(vs.arrays["spec"], dtype=np.float32)
    )  # [1, 1025, frames]
    with torch.no_grad():
        spec = linear_spectrogram(wav)
        mel_from_spec = spec_to_mel(stored_spec)
        mel = mel_spectrogram(wav)
    return [
        compare("spec", spec, vs.arrays["spec"], atol=0.0, rtol=1e-4),
        compare("mel_basis", mel_filterbank(), vs.arrays["mel_basis"]),
        compare("mel_from_spec", mel_from_spec, vs.arrays["mel_from_spec"]),
        compare("mel", mel, vs.arrays["mel"]),
    ]
