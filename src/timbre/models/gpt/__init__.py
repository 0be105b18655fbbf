"""The text-to-semantic GPT of GPT-SoVITS (v1/v2): config and network."""

from timbre.models.gpt.config import ORIGINAL_V1_CONFIG, ORIGINAL_V2_CONFIG, GPTConfig, original_config
from timbre.models.gpt.model import Text2SemanticDecoder, TrainOutput

__all__ = [
    "ORIGINAL_V1_CONFIG",
    "ORIGINAL_V2_CONFIG",
    "GPTConfig",
    "Text2SemanticDecoder",
    "TrainOutput",
    "original_config",
]
