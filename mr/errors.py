"""One exception root for MapReduce; the CLI prints these as one line and exits 1 (2 for
a UsageError).

User code exceptions (a mapper that raises ValueError, ...) are never wrapped: they propagate
as they are, so the worker can report their type, message and traceback.
"""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (its type name when it has no message)."""
    return " ".join((str(exc) or type(exc).__name__).split())


class MrError(Exception):
    """An operation failed for a reason the user can act on."""


class JobError(MrError):
    """A job file or job definition is unusable (missing, does not load, bad hooks)."""


class TaskError(MrError):
    """The framework cannot run a task as asked (unorderable keys, bad partitioner result,
    a mapper that yields something other than (key, value) pairs, a corrupt run file)."""


class UsageError(MrError):
    """The command line asks for something impossible: the CLI exits 2."""
