"""One exception root for the store; the CLI prints these as one line and exits 1."""

from __future__ import annotations


class GfsError(Exception):
    """An operation failed for a reason the user can act on."""


class InvalidPath(GfsError):
    pass


class NotFound(GfsError):
    pass


class AlreadyExists(GfsError):
    pass


class NotADirectory(GfsError):
    pass


class IsADirectory(GfsError):
    pass


class DirectoryNotEmpty(GfsError):
    pass


class LeaseError(GfsError):
    """The caller does not hold the write lease of a file (or it expired)."""


class NoDatanodes(GfsError):
    pass


class DataUnavailable(GfsError):
    """No replica of a chunk could be read."""


class ConfigError(GfsError):
    pass


class Unavailable(GfsError):
    """A service could not be reached (not running, or not found in ZooKeeper)."""
