"""`timbre demo` commands."""
