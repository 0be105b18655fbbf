"""`timbre audio` commands."""
