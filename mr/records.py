"""Map input records of a split.

INPUT_FORMAT "lines": a split is (path, offset, length) of one file (one chunk in the
cluster). It owns every line whose first byte lies in [offset, offset + length):
- a split that starts mid-line (the byte before `offset` is not a newline) skips to the next
  line start; that line belongs to the previous split;
- the last owned line is read whole, even past the split's end (lazily, in growing pieces,
  so it may span several chunks);
- the file's last line counts even without a final newline; an empty file has no records.
The key is (path, byte offset of the line's first byte), the value the line's text without
its "\\n" (decoded as UTF-8 with errors="replace"; a "\\r" is kept).

INPUT_FORMAT "files": one record per file, key = path, value = the whole text.

Records come in batches (RecordBatch: keys, values, fraction of the split done) cut from
~1 MiB frames with bytes.find/split, so the per-line cost is a few C-level operations.

`read(offset, length)` is any function returning an iterable of the bytes
[offset, offset + length) of the file (to its end when length is None): GfsClient.read_range
bound to a path and its chunk list in the cluster, local_reader(path) for local files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import accumulate, islice, repeat
from pathlib import Path
from typing import Any, NamedTuple

ReadFn = Callable[[int, int | None], Iterable[bytes]]

FRAME_BYTES = 1 << 20  # local reads; GFS reads come in its own ~1 MiB frames
TAIL_FIRST_READ = 64 << 10  # the line crossing a split's end: first piece, doubling...
TAIL_MAX_READ = 4 << 20  # ...up to this per read call
_PLUS_ONE = (1).__add__


class RecordBatch(NamedTuple):
    keys: Iterable[Any]  # one key per value (may be a one-shot iterator)
    values: list[Any]
    done: float  # fraction of the split consumed once this batch is processed (0..1)


def local_reader(path: str | Path, frame_bytes: int = FRAME_BYTES) -> ReadFn:
    """A ReadFn over a local file."""

    def read(offset: int, length: int | None) -> Iterator[bytes]:
        with open(path, "rb") as f:
            f.seek(offset)
            left = length
            while left is None or left > 0:
                want = frame_bytes if left is None else min(frame_bytes, left)
                data = f.read(want)
                if not data:
                    return
                if left is not None:
                    left -= len(data)
                yield data

    return read


def _lines_batch(data: bytes, base: int, path: str, done: float) -> RecordBatch:
    """Records of `data`: whole lines starting at absolute offset `base`, each ending with
    b"\\n" except possibly the last (the file's unterminated last line)."""
    text = data.decode("utf-8", "replace")
    values = text.split("\n")
    if data[-1:] == b"\n":
        values.pop()
    # Offsets need byte lengths. A newline never belongs to a multi-byte sequence, even a
    # malformed one, so text lines and byte lines correspond one to one; for ASCII text
    # (str.isascii() is O(1)) the character lengths are the byte lengths.
    lengths = map(len, values) if text.isascii() else map(len, data.split(b"\n"))
    offsets = accumulate(map(_PLUS_ONE, lengths), initial=base)
    keys = islice(zip(repeat(path), offsets), len(values))
    return RecordBatch(keys, values, done)


def _read_tail(read: ReadFn, position: int, file_size: int) -> Iterator[bytes]:
    """Bytes from `position` on, in growing pieces, for finishing a line lazily."""
    want = TAIL_FIRST_READ
    while position < file_size:
        n = min(want, file_size - position)
        got = 0
        for data in read(position, n):
            got += len(data)
            yield data
        if got == 0:
            return  # the file is shorter than it claimed; stop rather than loop
        position += got
        want = min(want * 2, TAIL_MAX_READ)


def line_batches(
    path: str, offset: int, length: int, file_size: int, read: ReadFn
) -> Iterator[RecordBatch]:
    """The "lines" records of split (path, offset, length) of a file of `file_size` bytes."""
    end = min(offset + length, file_size)
    if offset < 0 or length < 0:
        raise ValueError("split offset and length must not be negative")
    if offset >= end:
        return
    skipping = offset > 0  # until the first line start at or after `offset`
    position = offset - 1 if skipping else 0  # absolute offset of the next byte read
    pending = b""  # an unfinished line, starting at `line_start`
    line_start = position

    def fraction(at: int) -> float:
        return min(1.0, max(0.0, (at - offset) / length)) if length else 1.0

    for chunk in read(position, end - position):
        if not chunk:
            continue
        position += len(chunk)
        if skipping:
            i = chunk.find(b"\n")
            if i < 0:
                continue  # still inside the line that started before this split
            skipping = False
            line_start = position - len(chunk) + i + 1
            chunk = chunk[i + 1 :]
        data = pending + chunk if pending else chunk
        last = data.rfind(b"\n")
        if last < 0:
            pending = data
            continue
        yield _lines_batch(data[: last + 1], line_start, path, fraction(line_start + last + 1))
        line_start += last + 1
        pending = data[last + 1 :]
    if skipping or not pending:
        return
    # The last owned line crosses the split's end: read on until its newline (or EOF).
    parts = [pending]
    for chunk in _read_tail(read, position, file_size):
        i = chunk.find(b"\n")
        if i >= 0:
            parts.append(chunk[: i + 1])
            break
        parts.append(chunk)
    yield _lines_batch(b"".join(parts), line_start, path, 1.0)


def file_batches(path: str, read: ReadFn) -> Iterator[RecordBatch]:
    """The single "files" record of a file: (path, whole text)."""
    text = b"".join(read(0, None)).decode("utf-8", "replace")
    yield RecordBatch([path], [text], 1.0)


def records(batches: Iterable[RecordBatch]) -> Iterator[tuple[Any, Any]]:
    """Flatten batches into (key, value) pairs (tests, debugging, sampling)."""
    for batch in batches:
        yield from zip(batch.keys, batch.values, strict=False)


def line_records(
    path: str, offset: int, length: int, file_size: int, read: ReadFn
) -> Iterator[tuple[tuple[str, int], str]]:
    """The "lines" records of a split as (key, value) pairs."""
    return records(line_batches(path, offset, length, file_size, read))
