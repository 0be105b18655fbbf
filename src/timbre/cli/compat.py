"""`timbre compat …` commands."""
