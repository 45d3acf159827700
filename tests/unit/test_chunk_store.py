"""ChunkStore on a temp directory: layout, checksums, corruption, recovery. No sockets."""

from __future__ import annotations

import errno
import os
import random
import threading
import zlib
from pathlib import Path

import pytest

import gfs.datanode.store as store_module
from gfs.datanode.store import (
    BLOCK_BYTES,
    BufferPool,
    ChunkNotFound,
    ChunkStore,
    CorruptChunk,
    DirectFile,
    decode_meta,
    read_replica_file,
    replica_paths,
)

BLOCK = BLOCK_BYTES
MIB = 1024 * 1024


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def put(store: ChunkStore, handle: int, data: bytes, frame: int = MIB) -> int:
    writer = store.begin_write(handle)
    for start in range(0, len(data), frame):
        writer.write(data[start : start + frame])
    return writer.commit()


def read_all(store: ChunkStore, handle: int, offset: int = 0, length: int = 0) -> bytes:
    return b"".join(store.read(handle, offset, length))


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        old = f.read(1)
        f.seek(offset)
        f.write(bytes([old[0] ^ 0xFF]))


@pytest.mark.parametrize("direct", [True, False], ids=["o_direct", "buffered"])
@pytest.mark.parametrize(
    "size",
    [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * MIB + 12345, 3 * store_module.DIRECT_BUFFER_BYTES],
    ids=["empty", "1B", "block-1", "block", "block+1", "several-MiB", "3-io-buffers"],
)
def test_round_trip(
    tmp_path: Path, size: int, direct: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "USE_DIRECT_IO", direct)
    store = ChunkStore(tmp_path / "dn")
    data = payload(size, seed=size)
    assert put(store, 7, data) == size
    assert read_all(store, 7) == data
    assert store.report() == [(7, size)]
    assert store.has(7)
    assert store.used_bytes() == size
    # The chunk file holds the raw bytes and nothing else; the CRCs live beside it.
    paths = replica_paths(tmp_path / "dn", 7)
    assert store.chunk_path(7) == paths.chunk
    assert paths.chunk.name == "0000000000000007.chunk"
    assert paths.chunk.read_bytes() == data
    meta = decode_meta(7, paths.meta.read_bytes())
    assert meta.length == size and len(meta.crcs) == -(-size // BLOCK)
    assert list((tmp_path / "dn" / "tmp").iterdir()) == []
    # Pieces of a read are at most 1 MiB.
    assert all(len(piece) <= MIB for piece in store.read(7))


def test_odd_frame_sizes_give_the_same_checksums(tmp_path: Path) -> None:
    data = payload(5 * BLOCK + 777, seed=3)
    a = ChunkStore(tmp_path / "a")
    b = ChunkStore(tmp_path / "b")
    put(a, 1, data, frame=MIB)
    put(b, 1, data, frame=1000)  # frames straddle block boundaries
    assert replica_paths(a.root, 1).meta.read_bytes() == replica_paths(b.root, 1).meta.read_bytes()
    assert read_all(b, 1) == data


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, 1),
        (BLOCK - 1, 2),  # crosses the first block boundary
        (BLOCK, BLOCK),  # exactly the second block
        (BLOCK - 10, 3 * BLOCK + 20),  # several blocks, unaligned at both ends
        (MIB - 5, 10),  # crosses a 1 MiB read piece
        (123, 0),  # to the end
        (2 * MIB + 5, 10**9),  # length past the end is clamped
    ],
)
def test_ranged_reads(tmp_path: Path, offset: int, length: int) -> None:
    store = ChunkStore(tmp_path / "dn")
    data = payload(2 * MIB + 4321, seed=1)
    put(store, 9, data)
    end = len(data) if length == 0 else offset + length
    assert read_all(store, 9, offset, length) == data[offset:end]


def test_read_at_end_is_empty_and_past_end_is_refused(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "dn")
    put(store, 1, b"abc")
    assert read_all(store, 1, 3) == b""
    with pytest.raises(ValueError, match="past the end"):
        read_all(store, 1, 4)


def test_missing_chunk(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "dn")
    with pytest.raises(ChunkNotFound):
        read_all(store, 42)
    assert not store.has(42)


def test_flipped_byte_is_refused_by_read_and_reported(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "dn")
    data = payload(3 * BLOCK, seed=2)
    put(store, 5, data)
    put(store, 6, b"fine")
    flip_byte(store.chunk_path(5), BLOCK + 17)
    # Reads of blocks not touched by the flip still work (the replica is not yet known bad).
    assert read_all(store, 5, 0, BLOCK) == data[:BLOCK]
    with pytest.raises(CorruptChunk, match="0000000000000005"):
        read_all(store, 5, BLOCK + 10, 20)
    assert store.corrupt_handles() == [5]
    assert store.report() == [(6, 4)]
    assert not store.has(5)
    with pytest.raises(CorruptChunk):  # stays refused
        read_all(store, 5, 0, 1)


def test_changed_only_scan_finds_a_flipped_byte(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "dn")
    data = payload(BLOCK * 2 + 5, seed=4)
    put(store, 1, data)
    put(store, 2, data)
    assert store.scan(changed_only=True) == []
    flip_byte(store.chunk_path(2), 3)
    assert store.scan(changed_only=True) == [2]
    assert store.corrupt_handles() == [2]
    assert store.scan(changed_only=True) == []  # only newly corrupt ones are returned
    assert store.report() == [(1, len(data))]


def test_changed_only_scan_sees_a_flip_that_restores_mtime(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "dn")
    put(store, 1, payload(1000))
    path = store.chunk_path(1)
    st = os.stat(path)
    flip_byte(path, 10)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # ctime still moves
    assert store.scan(changed_only=True) == [1]


def test_full_scan_finds_corruption_even_when_stat_is_unchanged(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "dn")
    put(store, 1, payload(1000))
    # Corrupt the checksum file instead: the chunk file's stat does not change.
    meta = replica_paths(store.root, 1).meta
    raw = bytearray(meta.read_bytes())
    raw[-1] ^= 0xFF
    meta.write_bytes(bytes(raw))
    assert store.scan(changed_only=True) == []
    assert store.scan(changed_only=False) == [1]


def test_truncated_chunk_is_corrupt(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "dn")
    put(store, 1, payload(BLOCK + 100))
    with open(store.chunk_path(1), "r+b") as f:
        f.truncate(BLOCK)
    assert store.scan(changed_only=True) == [1]


def test_abort_and_context_manager_leave_nothing(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "dn")
    writer = store.begin_write(1)
    writer.write(b"x" * 1000)
    writer.abort()
    writer.abort()  # idempotent
    with pytest.raises(RuntimeError), store.begin_write(2) as w:
        w.write(b"y")
        raise RuntimeError("upstream died")
    assert store.report() == []
    assert list(store.tmp_dir.iterdir()) == []
    assert list(store.chunks_dir.iterdir()) == []


def test_rewrite_replaces_a_corrupt_replica(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "dn")
    put(store, 3, payload(BLOCK * 2, seed=1))
    flip_byte(store.chunk_path(3), 0)
    assert store.scan(changed_only=True) == [3]
    fresh = payload(BLOCK + 9, seed=2)
    put(store, 3, fresh)
    assert store.corrupt_handles() == []
    assert store.report() == [(3, len(fresh))]
    assert read_all(store, 3) == fresh


def test_delete(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "dn")
    put(store, 1, b"one")
    put(store, 2, b"two")
    assert store.delete(1)
    assert not store.delete(1)
    assert store.report() == [(2, 3)]
    paths = replica_paths(store.root, 1)
    assert not paths.chunk.exists() and not paths.meta.exists()
    with pytest.raises(ChunkNotFound):
        read_all(store, 1)
    # Corrupt replicas can be deleted too.
    flip_byte(store.chunk_path(2), 0)
    store.scan(changed_only=True)
    assert store.delete(2)
    assert store.corrupt_handles() == [] and store.used_bytes() == 0


def test_restart_recovery(tmp_path: Path) -> None:
    root = tmp_path / "dn"
    store = ChunkStore(root)
    put(store, 1, payload(BLOCK + 1, seed=1))
    put(store, 2, payload(10, seed=2))
    put(store, 3, payload(10, seed=3))
    put(store, 4, payload(100, seed=4))
    # A crash mid-write leaves temp files; a crash between the two renames leaves a
    # meta file without its chunk file.
    unfinished = store.begin_write(9)
    unfinished.write(b"partial")
    (root / "tmp" / "leftover.chunk").write_bytes(b"junk")
    orphan = replica_paths(root, 8).meta
    orphan.write_bytes(replica_paths(root, 3).meta.read_bytes())
    # Chunk 2 loses its meta file; chunk 3's meta disagrees on the length.
    replica_paths(root, 2).meta.unlink()
    with open(replica_paths(root, 3).chunk, "ab") as f:
        f.write(b"more")
    (root / "chunks" / "notes.txt").write_text("not a chunk")

    again = ChunkStore(root)
    assert list((root / "tmp").iterdir()) == []
    assert not orphan.exists()
    assert again.report() == [(1, BLOCK + 1), (4, 100)]
    assert again.corrupt_handles() == [2, 3]
    assert read_all(again, 1) == payload(BLOCK + 1, seed=1)
    with pytest.raises(CorruptChunk):
        read_all(again, 2)
    assert (root / "chunks" / "notes.txt").exists()  # not ours: left alone


def test_read_replica_file_needs_no_store(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "dn")
    data = payload(BLOCK * 3, seed=8)
    put(store, 11, data)
    paths = replica_paths(tmp_path / "dn", 11)
    assert b"".join(read_replica_file(11, paths, BLOCK - 1, 2)) == data[BLOCK - 1 : BLOCK + 1]
    flip_byte(paths.chunk, 5)
    with pytest.raises(CorruptChunk):
        b"".join(read_replica_file(11, paths))
    with pytest.raises(ChunkNotFound):
        b"".join(read_replica_file(12, replica_paths(tmp_path / "dn", 12)))


def test_concurrent_writes_and_reads(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path / "dn")
    errors: list[BaseException] = []

    def work(handle: int) -> None:
        try:
            data = payload(300_000 + handle, seed=handle)
            put(store, handle, data, frame=70_000)
            for _ in range(3):
                assert read_all(store, handle) == data
            assert store.scan(changed_only=True) == []
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(h,)) for h in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert [h for h, _ in store.report()] == list(range(1, 9))


# ---- DirectFile: the aligned, threaded writer (chunk files and `gfs get` output) ----


@pytest.mark.parametrize("direct", [True, False], ids=["o_direct", "plain"])
@pytest.mark.parametrize(
    "size",
    [0, 1, store_module.DIRECT_ALIGN + 1, 2 * store_module.DIRECT_BUFFER_BYTES + 5],
    ids=["empty", "1B", "align+1", "2-buffers+5"],
)
def test_direct_file_staged_writes_are_exact(
    tmp_path: Path, size: int, direct: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "USE_DIRECT_IO", direct)
    data = payload(size, seed=size)
    target = tmp_path / "out"
    out = DirectFile(
        os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL), BufferPool(1), stage_plain=True
    )
    try:
        for start in range(0, size, 300_001):  # pieces that straddle the buffers
            out.write(memoryview(data)[start : start + 300_001])
        out.finish(size, sync=False)
    finally:
        out.close()
    assert target.read_bytes() == data


def test_direct_file_write_error_comes_back_to_the_writer(tmp_path: Path) -> None:
    target = tmp_path / "read-only"
    target.write_bytes(b"")
    out = DirectFile(os.open(target, os.O_RDONLY), BufferPool(1), stage_plain=True)
    with pytest.raises(OSError) as caught:
        try:
            for _ in range(4):  # the I/O thread fails; a later write or finish says so
                out.write(bytes(store_module.DIRECT_BUFFER_BYTES))
            out.finish(4 * store_module.DIRECT_BUFFER_BYTES, sync=False)
        finally:
            out.close()
    assert caught.value.errno == errno.EBADF


def test_checksums_are_zlibs_crc32() -> None:
    """The meta format is zlib's CRC-32, whichever implementation computes it."""
    data = payload(3 * BLOCK + 17, seed=9)
    assert store_module.crc32(b"123456789") == 0xCBF43926  # CRC-32's check value (not CRC32C)
    assert store_module.crc32(data) == zlib.crc32(data)
    assert store_module.crc32(data[BLOCK:], store_module.crc32(data[:BLOCK])) == zlib.crc32(data)
