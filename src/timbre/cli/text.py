"""`timbre text`: run the text front end (placeholder until the front end lands)."""
