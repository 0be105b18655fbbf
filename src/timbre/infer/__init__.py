"""Inference engine: GPT decoding (KV cache, sampling), SoVITS decode, streaming, the text-to-waveform pipeline."""
