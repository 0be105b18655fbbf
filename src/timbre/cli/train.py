"""`timbre train` commands."""
