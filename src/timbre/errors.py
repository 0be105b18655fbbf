"""Project exceptions. User mistakes are `ValueError`s with a message that says what to do."""


class TimbreError(ValueError):
    """A user-facing error: bad input, a wrong path, an unusable file. The message is shown as is."""


class CheckpointError(TimbreError):
    """A checkpoint that cannot be read safely or does not match the expected model."""


class TrainingInterrupted(Exception):
    """Ctrl-C during training: the run finished its current step, saved a checkpoint and stopped (`--resume`
    continues it exactly). Not a user mistake: the CLI says so and exits with 130, like an interrupted program."""

    def __init__(self, stage: str, step: int, folder: str) -> None:
        super().__init__(
            f"{stage} training stopped after step {step} and saved it in {folder}; "
            "run the same command with --resume to continue from there"
        )
        self.stage, self.step, self.folder = stage, step, folder
