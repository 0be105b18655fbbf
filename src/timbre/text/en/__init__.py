"""English front end (the original v2 ``english`` module): ``normalize`` then ``g2p``."""

from timbre.text.en.normalization import normalize
from timbre.text.en.phonemes import g2p

__all__ = ["g2p", "normalize"]
