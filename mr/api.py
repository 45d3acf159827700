"""Helpers for job code.

    from mr.api import increment_counter

    def mapper(key, line):
        if not line:
            increment_counter("empty_lines")
            return
        for word in line.split():
            yield word, 1

`increment_counter(name, amount=1)` adds to a user counter of the running task. User
counters are shown with the built-in ones at the end of the job and in `mr status`, under
the name "user.<name>" (so they never clash with built-in names). Like every counter they
count the successful attempt of each task only: a failed or killed attempt's increments are
dropped, so a re-executed map does not count twice. Outside a task (calling your mapper from
a unit test) the increments go nowhere and do no harm.

Counters are plain integers; `amount` may be negative.

`identity_reducer` passes every record through unchanged (Hadoop's IdentityReducer):

    from mr.api import identity_reducer as reducer

The framework recognises it and writes the merged, sorted records straight out, with no
call per record (jobs/sort.py uses it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from mr import counters as _counters

__all__ = ["identity_reducer", "increment_counter"]


def increment_counter(name: str, amount: int = 1) -> None:
    """Add `amount` to the user counter "user.<name>" of the running task."""
    if not isinstance(name, str) or not name:
        raise ValueError("counter name must be a non-empty str")
    if not isinstance(amount, int):
        raise TypeError(f"counter amount must be an int, not {type(amount).__name__}")
    values = _counters._current.values
    full = _counters.USER_PREFIX + name
    values[full] = values.get(full, 0) + amount


def identity_reducer(key: Any, values: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
    """Yield (key, value) for every value: the records come out as they went in."""
    for value in values:
        yield key, value
