"""SoVITS (VITS-based acoustic model + HiFi-GAN vocoder) of GPT-SoVITS v1/v2/v2Pro/v2ProPlus."""

from timbre.models.sovits.config import PRO_VERSIONS, VERSIONS, SoVITSConfig
from timbre.models.sovits.layers import (
    fold_weight_norm,
    rand_slice_segments,
    slice_segments,
    unfold_weight_norm,
)
from timbre.models.sovits.model import DecodeStages, Precision, SoVITSTrainOutput, SynthesizerTrn
from timbre.models.sovits.quantizer import QuantizerOutput, ResidualVectorQuantizer

__all__ = [
    "PRO_VERSIONS",
    "VERSIONS",
    "DecodeStages",
    "Precision",
    "QuantizerOutput",
    "ResidualVectorQuantizer",
    "SoVITSConfig",
    "SoVITSTrainOutput",
    "SynthesizerTrn",
    "fold_weight_norm",
    "rand_slice_segments",
    "slice_segments",
    "unfold_weight_norm",
]
