"""Text front end: normalization, g2p per language, language split, symbols. Exact to GPT-SoVITS v2."""
