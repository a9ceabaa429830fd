"""The library's exceptions: each message names the bad value and what would work."""


class MLPError(Exception):
    """Base class for every error this library raises on purpose."""


class ConfigError(MLPError, ValueError):
    """A hyperparameter, architecture or argument that cannot work."""


class ModelFileError(MLPError, ValueError):
    """A model file that is unreadable, malformed, inconsistent or fails its checksum.

    ``summary`` says what kind of fault it is without quoting anything read from the file,
    for places that show it to people who may not see the file (an HTTP answer)."""

    def __init__(self, message: str, summary: str = "it is not a valid model file"):
        super().__init__(message)
        self.summary = summary
