"""Project exceptions. User mistakes are `ValueError`s with a message that says what to do."""


class TimbreError(ValueError):
    """A user-facing error: bad input, a wrong path, an unusable file. The message is shown as is."""


class CheckpointError(TimbreError):
    """A checkpoint that cannot be read safely or does not match the expected model."""
