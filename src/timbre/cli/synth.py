"""`timbre synth` commands."""
