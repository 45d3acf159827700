"""Counters: merging, ordering, and the job-code API."""

from __future__ import annotations

import pytest

from mr import counters as C
from mr.api import increment_counter
from mr.counters import Counters, activate


def test_merge_sum_and_order() -> None:
    a = Counters({"user.z": 1, C.REDUCE_OUTPUT_RECORDS: 2})
    b = Counters({C.MAP_INPUT_RECORDS: 5, "user.z": 2})
    total = Counters.sum([a, b, {C.DATA_LOCAL_MAPS: 1}])
    assert total.to_dict() == {
        C.MAP_INPUT_RECORDS: 5,
        C.REDUCE_OUTPUT_RECORDS: 2,
        C.DATA_LOCAL_MAPS: 1,
        "user.z": 3,
    }
    assert list(total.to_dict()) == [
        C.MAP_INPUT_RECORDS,
        C.REDUCE_OUTPUT_RECORDS,
        C.DATA_LOCAL_MAPS,
        "user.z",
    ]
    assert total["missing"] == 0 and "missing" not in total


def test_increment_counter_targets_the_active_task() -> None:
    counters = Counters()
    with activate(counters):
        increment_counter("seen")
        increment_counter("seen", 4)
        increment_counter("minus", -2)
    increment_counter("after")  # no task: dropped
    assert counters.to_dict() == {"user.minus": -2, "user.seen": 5}
    with pytest.raises(ValueError):
        increment_counter("")
    with pytest.raises(TypeError):
        increment_counter("x", 1.5)  # type: ignore[arg-type]
