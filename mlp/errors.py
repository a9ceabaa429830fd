"""The library's exceptions: each message names the bad value and what would work."""


class MLPError(Exception):
    """Base class for every error this library raises on purpose."""


class ConfigError(MLPError, ValueError):
    """A hyperparameter, architecture or argument that cannot work."""


class ModelFileError(MLPError, ValueError):
    """A model file that is unreadable, malformed, inconsistent or fails its checksum."""
