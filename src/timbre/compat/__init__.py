"""Compatibility with the original GPT-SoVITS: checkpoint formats, deterministic weights, reference vectors."""
