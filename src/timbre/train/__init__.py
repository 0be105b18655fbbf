"""Training: datasets, bucketing, losses, SoVITS and GPT loops, distributed set-up, checkpoints."""
