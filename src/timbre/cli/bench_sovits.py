"""`timbre bench sovits`."""
