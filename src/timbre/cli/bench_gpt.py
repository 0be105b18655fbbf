"""`timbre bench gpt`."""
