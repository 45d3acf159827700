"""Job counters: name -> int, summed over every successful task attempt.

Built-in names are the constants below. The runtime fills the record and byte counters of
each attempt; the master adds the scheduling ones (data-local maps, failed attempts, ...).
User counters (see mr.api.increment_counter) are stored as "user.<name>".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

# Filled by the runtime (mr/runtime.py), per attempt.
MAP_INPUT_RECORDS = "map_input_records"
MAP_OUTPUT_RECORDS = "map_output_records"
MAP_OUTPUT_BYTES = "map_output_bytes"  # bytes of the final map output files (run format)
COMBINE_INPUT_RECORDS = "combine_input_records"
COMBINE_OUTPUT_RECORDS = "combine_output_records"
SPILLED_RECORDS = "spilled_records"  # records written to spill files (before the final merge)
REDUCE_INPUT_GROUPS = "reduce_input_groups"
REDUCE_INPUT_RECORDS = "reduce_input_records"
REDUCE_OUTPUT_RECORDS = "reduce_output_records"
GFS_BYTES_READ = "gfs_bytes_read"  # map input bytes read (local files for run-local)
GFS_BYTES_WRITTEN = "gfs_bytes_written"  # reduce output bytes written
# Filled by the master (scheduling).
LAUNCHED_MAPS = "launched_maps"
LAUNCHED_REDUCES = "launched_reduces"
DATA_LOCAL_MAPS = "data_local_maps"
REMOTE_MAPS = "remote_maps"
FAILED_ATTEMPTS = "failed_attempts"
KILLED_ATTEMPTS = "killed_attempts"
LOST_ATTEMPTS = "lost_attempts"
REDUCE_SHUFFLE_BYTES = "reduce_shuffle_bytes"

RUNTIME_COUNTERS = (
    MAP_INPUT_RECORDS,
    MAP_OUTPUT_RECORDS,
    MAP_OUTPUT_BYTES,
    COMBINE_INPUT_RECORDS,
    COMBINE_OUTPUT_RECORDS,
    SPILLED_RECORDS,
    REDUCE_INPUT_GROUPS,
    REDUCE_INPUT_RECORDS,
    REDUCE_OUTPUT_RECORDS,
    GFS_BYTES_READ,
    GFS_BYTES_WRITTEN,
)
SCHEDULING_COUNTERS = (
    LAUNCHED_MAPS,
    LAUNCHED_REDUCES,
    DATA_LOCAL_MAPS,
    REMOTE_MAPS,
    FAILED_ATTEMPTS,
    KILLED_ATTEMPTS,
    LOST_ATTEMPTS,
    REDUCE_SHUFFLE_BYTES,
)
USER_PREFIX = "user."


class Counters:
    """A bag of named integer counters."""

    __slots__ = ("values",)

    def __init__(self, initial: Mapping[str, int] | None = None) -> None:
        self.values: dict[str, int] = dict(initial or {})

    def incr(self, name: str, amount: int = 1) -> None:
        self.values[name] = self.values.get(name, 0) + amount

    def get(self, name: str) -> int:
        return self.values.get(name, 0)

    def __getitem__(self, name: str) -> int:
        return self.values.get(name, 0)

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Counters):
            return self.values == other.values
        return NotImplemented

    def __repr__(self) -> str:
        return f"Counters({self.values!r})"

    def merge(self, other: Counters | Mapping[str, int]) -> Counters:
        """Add every counter of `other` into this one; returns self."""
        items = other.values if isinstance(other, Counters) else other
        for name, amount in items.items():
            self.incr(name, amount)
        return self

    def to_dict(self) -> dict[str, int]:
        """Built-in counters first (in their documented order), then the rest by name."""
        order = {name: i for i, name in enumerate(RUNTIME_COUNTERS + SCHEDULING_COUNTERS)}
        names = sorted(self.values, key=lambda n: (order.get(n, len(order)), n))
        return {name: self.values[name] for name in names}

    @classmethod
    def sum(cls, many: Iterable[Counters | Mapping[str, int]]) -> Counters:
        total = cls()
        for item in many:
            total.merge(item)
        return total


# The counters of the task running in this process: mr.api.increment_counter adds to them.
# Tasks run one at a time per process (a worker's child, or the local runner), so a module
# global is enough; outside a task, increments land in a throwaway bag.
_current: Counters = Counters()


@contextmanager
def activate(counters: Counters) -> Iterator[Counters]:
    """Make `counters` the target of mr.api.increment_counter for the duration."""
    global _current
    previous = _current
    _current = counters
    try:
        yield counters
    finally:
        _current = previous
