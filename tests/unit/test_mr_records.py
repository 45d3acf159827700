"""Line records of splits: every line exactly once, in order, whatever the split sizes."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from mr import records as R
from mr.records import RecordBatch, file_batches, line_records, local_reader


def memory_reader(data: bytes, piece: int | None = None, log: list | None = None) -> R.ReadFn:
    """A ReadFn over bytes, delivering pieces of `piece` bytes (or one piece)."""

    def read(offset: int, length: int | None) -> Iterator[bytes]:
        if log is not None:
            log.append((offset, length))
        end = len(data) if length is None else min(len(data), offset + length)
        step = piece or max(1, end - offset)
        for i in range(offset, end, step):
            yield data[i : min(end, i + step)]

    return read


def expected_lines(data: bytes, path: str = "f") -> list[tuple[tuple[str, int], str]]:
    out = []
    start = 0
    while start < len(data):
        nl = data.find(b"\n", start)
        end = len(data) if nl < 0 else nl
        out.append(((path, start), data[start:end].decode("utf-8", "replace")))
        start = end + 1
    return out


def all_splits(data: bytes, split: int, piece: int | None = None) -> list:
    got = []
    read = memory_reader(data, piece)
    for offset in range(0, max(len(data), 1), split):
        got.extend(line_records("f", offset, split, len(data), read))
    return got


def random_text(rng: random.Random) -> bytes:
    lines = []
    for _ in range(rng.randint(0, 40)):
        kind = rng.random()
        if kind < 0.15:
            lines.append(b"")
        elif kind < 0.25:
            lines.append("é€ ünïcødé ✓ 𝄞".encode()[: rng.randint(1, 20)])  # may cut mid-char
        elif kind < 0.3:
            lines.append(b"x" * rng.randint(50, 300))  # longer than many splits
        elif kind < 0.35:
            lines.append(b"carriage\r")
        else:
            lines.append(bytes(rng.choice(b"abc de\t") for _ in range(rng.randint(1, 12))))
    text = b"\n".join(lines)
    if lines and rng.random() < 0.5:
        text += b"\n"
    return text


def test_random_texts_and_splits_give_every_line_once_in_order() -> None:
    rng = random.Random(4)
    for _ in range(400):
        data = random_text(rng)
        split = rng.randint(1, 64)
        piece = rng.choice([None, 1, 3, 7, 64])
        assert all_splits(data, split, piece) == expected_lines(data), (data, split, piece)


@pytest.mark.parametrize("split", [1, 2, 3, 5, 6, 7, 11, 12, 13, 100])
def test_boundaries_exactly_at_line_ends(split: int) -> None:
    data = b"aaaaa\nbbbbb\n\nccccc\ndd"
    assert all_splits(data, split) == expected_lines(data)


def test_split_starting_at_line_start_owns_that_line() -> None:
    data = b"abc\ndef\nghi\n"
    assert list(line_records("f", 4, 4, len(data), memory_reader(data))) == [(("f", 4), "def")]
    # Starting mid-line: "ef" belongs to the previous split.
    assert list(line_records("f", 5, 4, len(data), memory_reader(data))) == [(("f", 8), "ghi")]


def test_line_crossing_split_end_is_read_whole_lazily() -> None:
    data = b"short\n" + b"y" * 300_000 + b"\nnext\n"
    log: list = []
    got = list(line_records("f", 0, 10, len(data), memory_reader(data, 4096, log)))
    assert got == [(("f", 0), "short"), (("f", 6), "y" * 300_000)]
    # The tail was read in growing pieces, not the rest of the file in one request.
    assert log[0] == (0, 10)
    assert log[1] == (10, R.TAIL_FIRST_READ)
    assert all(length is not None for _, length in log)


def test_last_line_without_newline_and_empty_file() -> None:
    data = b"one\ntwo"
    assert all_splits(data, 3) == [(("f", 0), "one"), (("f", 4), "two")]
    assert list(line_records("f", 0, 10, 0, memory_reader(b""))) == []
    assert list(line_records("f", 0, 0, 5, memory_reader(b"abcde"))) == []


def test_one_long_line_spanning_many_splits_has_one_owner() -> None:
    data = b"z" * 1000
    owners = [
        o for o in range(0, 1000, 10) if list(line_records("f", o, 10, 1000, memory_reader(data)))
    ]
    assert owners == [0]


def test_offsets_are_byte_offsets_with_multibyte_and_invalid_utf8() -> None:
    data = "é\n€uro\n".encode() + b"\xff\xfebad\n" + b"ok\n"
    got = list(line_records("f", 0, len(data), len(data), memory_reader(data)))
    assert got == [
        (("f", 0), "é"),
        (("f", 3), "€uro"),
        (("f", 10), "\ufffd\ufffdbad"),
        (("f", 16), "ok"),
    ]


def test_crlf_is_kept() -> None:
    data = b"a\r\nb\r\n"
    assert all_splits(data, 2) == [(("f", 0), "a\r"), (("f", 3), "b\r")]


def test_batches_report_progress_up_to_one() -> None:
    data = b"".join(b"line %d\n" % i for i in range(200_000))
    batches = list(R.line_batches("f", 0, len(data), len(data), memory_reader(data, 1 << 20)))
    assert len(batches) > 1
    done = [b.done for b in batches]
    assert done == sorted(done) and done[-1] == pytest.approx(1.0, abs=1e-6)
    assert sum(len(b.values) for b in batches) == 200_000


def test_local_reader_and_files_format(tmp_path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(b"alpha\nbeta")
    read = local_reader(path, frame_bytes=3)
    assert b"".join(read(2, 5)) == b"pha\nb"
    assert b"".join(read(0, None)) == b"alpha\nbeta"
    [batch] = list(file_batches(str(path), read))
    assert isinstance(batch, RecordBatch)
    assert list(zip(batch.keys, batch.values, strict=True)) == [(str(path), "alpha\nbeta")]


def test_big_frames_match_reference() -> None:
    rng = random.Random(9)
    data = b"".join(
        bytes(rng.choice(b"abcdefgh ") for _ in range(rng.randint(0, 120))) + b"\n"
        for _ in range(15_000)
    )
    for split in (len(data), 1 << 20, 333_333):
        assert all_splits(data, split, 1 << 20) == expected_lines(data)
