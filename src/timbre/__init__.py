"""timbre: few-shot voice cloning, weight-compatible with GPT-SoVITS v2/v2Pro."""

__version__ = "0.1.0"
