"""The default partitioner: a stable hash of the key, the same in every process.

Python's built-in `hash()` of str and bytes is randomized per process (PYTHONHASHSEED), so
two workers would send one key to two reducers. Instead we hash a canonical byte encoding
with zlib.crc32. The encoding respects `==`: keys that compare equal (1, 1.0 and True;
equal tuples) encode alike, because the reducer groups them as one key and each key must
land in exactly one partition.

    str            its UTF-8 bytes (the hot path: one encode, one crc32)
    bytes-like     the bytes themselves
    numbers        their numeric hash(), which Python does not randomize and which is equal
                   for equal numbers of any type
    None           a fixed tag
    tuple, list    the elements' encodings, length-prefixed
    (frozen)set    the elements' encodings, sorted
    anything else  type name + repr(), refused when the repr shows an address ("at 0x...")
"""

from __future__ import annotations

import numbers
import struct
from typing import Any
from zlib import crc32

from mr.errors import TaskError

_LEN = struct.Struct("<I")


def partition(key: Any, n: int) -> int:
    """The reduce partition of `key` among `n`: 0 <= result < n, stable across processes."""
    if type(key) is str:
        return crc32(key.encode("utf-8", "surrogatepass")) % n
    return crc32(encode_key(key)) % n


def encode_key(key: Any) -> bytes:
    """A canonical byte encoding of a key, equal for keys that compare equal."""
    if isinstance(key, str):
        return key.encode("utf-8", "surrogatepass")
    if isinstance(key, bytes | bytearray | memoryview):
        return bytes(key)
    if key is None:
        return b"\x00None"
    if isinstance(key, numbers.Number):
        if key != key:  # NaN: hash() of a float NaN depends on its address
            return b"\x00nan"
        # hash() of numbers is not randomized and hash(1) == hash(1.0) == hash(True).
        return b"\x00#%d" % hash(key)
    if isinstance(key, tuple | list):
        parts = [encode_key(item) for item in key]
        return b"\x00(" + b"".join(_LEN.pack(len(p)) + p for p in parts)
    if isinstance(key, frozenset | set):
        parts = sorted(encode_key(item) for item in key)
        return b"\x00{" + b"".join(_LEN.pack(len(p)) + p for p in parts)
    text = repr(key)
    if " at 0x" in text:
        raise TaskError(
            f"keys of type {type(key).__name__!r} have no stable encoding for the default "
            "partitioner (their repr shows a memory address); define partitioner(key, n)"
        )
    return b"\x00" + type(key).__qualname__.encode() + b":" + text.encode("utf-8", "surrogatepass")
