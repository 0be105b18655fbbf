"""`timbre bench features`."""
