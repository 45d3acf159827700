"""The default partitioner is stable across processes and respects key equality."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from mr.errors import TaskError
from mr.partition import encode_key, partition

CHILD_TIMEOUT = 120  # seconds; not conftest's: child processes import this module

KEYS = [
    "the",
    "",
    "ünïcødé ✓",
    b"bytes",
    0,
    1,
    -7,
    2**80,
    3.5,
    None,
    ("a", 1),
    ("a", ("b", 2.0)),
    ["list", 1],
    frozenset({"x", "y"}),
]


def _partitions() -> list[int]:
    return [partition(k, 97) for k in KEYS]


def test_stable_across_hash_seeds() -> None:
    code = (
        "import json, sys; sys.path.insert(0, '.');"
        "from tests.unit.test_mr_partition import _partitions;"
        "print(json.dumps(_partitions()))"
    )
    here = _partitions()
    for seed in ("1", "12345", "random"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            check=True,
            timeout=CHILD_TIMEOUT,
        )
        assert json.loads(out.stdout) == here


def test_in_range_and_str_fast_path_matches_encoding() -> None:
    import zlib

    for n in (1, 2, 7, 1000):
        for k in KEYS:
            assert 0 <= partition(k, n) < n
    assert partition("word", 13) == zlib.crc32(b"word") % 13
    assert encode_key("word") == b"word"


def test_equal_keys_share_a_partition() -> None:
    groups = [
        [1, 1.0, True, Decimal(1), Fraction(2, 2)],
        [0, 0.0, -0.0, False],
        [("a", 1), ("a", 1.0), ["a", True]],
        [frozenset({1, 2}), {2, 1}],
    ]
    for group in groups:
        assert len({partition(k, 1009) for k in group}) == 1, group


def test_nan_is_stable_and_addresses_are_refused() -> None:
    assert partition(float("nan"), 31) == partition(float("nan"), 31)

    class Opaque:
        pass

    with pytest.raises(TaskError, match="no stable encoding"):
        partition(Opaque(), 3)
