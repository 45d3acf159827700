"""A datanode's chunk replicas on local disk, each block of 64 KiB guarded by a CRC32.

Layout under the datanode's directory (DIR/data/NAME/):
    chunks/<16-hex handle>.chunk   the replica's bytes and nothing else (MR tasks read a
                                   local replica straight from this file)
    meta/<16-hex handle>.crc       header (magic, version, length, block size) followed by
                                   one little-endian CRC-32 (zlib's) per block (the last partial)
    tmp/                           writes in progress

A write goes to tmp/, both files are fsynced, the meta file is renamed into place first and
the chunk file last: that rename is the commit point. On start tmp/ is emptied, meta files
without a chunk are removed, and a chunk without valid meta is counted as corrupt.

Chunk files are written with O_DIRECT where the file system allows it (USE_DIRECT_IO; see
DirectFile): no page-cache churn, so a pipelined write costs far less CPU. The price is that
the first read of a freshly written chunk comes from disk rather than from the cache.

Nothing here imports grpc: the store is tested on its own and read_replica_file() lets
another process on the same host verify and read a replica without owning the store.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import itertools
import logging
import mmap
import os
import queue
import struct
import sys
import threading
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from gfs import errors
from gfs.handles import format_handle, parse_handle
from gfs.writebehind import WriteBehind

try:
    # ISA-L computes the same CRC-32 as zlib about 5 times faster (21 against 4 GB/s here,
    # with PCLMULQDQ); checksums are a datanode's largest CPU cost after copying frames.
    from isal.isal_zlib import crc32
except ImportError:  # optional: zlib's gives identical checksums
    from zlib import crc32

logger = logging.getLogger(__name__)

BLOCK_BYTES = 64 * 1024
READ_PIECE_BYTES = 1024 * 1024  # a whole number of blocks; also a data transfer piece
META_MAGIC = b"GFSM"
META_VERSION = 1
_META_HEADER = struct.Struct("<4sIQI")  # magic, version, data length, block size
DIRECT_ALIGN = 4096  # O_DIRECT needs buffer address, offset and length aligned to this
DIRECT_BUFFER_BYTES = 4 * 1024 * 1024
DIRECT_BUFFERS_PER_WRITE = 3  # one being filled while the others are written out
SPARE_BUFFERS = 12  # aligned write buffers kept for reuse (their pages stay warm)
USE_DIRECT_IO = True  # write chunk files with O_DIRECT where the file system allows it
_M_TRIM_THRESHOLD = -1  # mallopt() parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
CHUNK_SUFFIX = ".chunk"
META_SUFFIX = ".crc"


class ChunkNotFound(errors.NotFound):
    def __init__(self, handle: int, where: str = "") -> None:
        super().__init__(f"no replica of chunk {format_handle(handle)}{where}")
        self.handle = handle


class CorruptChunk(errors.GfsError):
    def __init__(self, handle: int, why: str) -> None:
        super().__init__(f"corrupt replica of chunk {format_handle(handle)}: {why}")
        self.handle = handle
        self.why = why


class ReplicaPaths(NamedTuple):
    chunk: Path
    meta: Path


def replica_paths(datanode_dir: Path | str, handle: int) -> ReplicaPaths:
    """Where a datanode keeps one replica (its chunk file and its checksum file)."""
    root = Path(datanode_dir)
    name = format_handle(handle)
    return ReplicaPaths(
        root / "chunks" / (name + CHUNK_SUFFIX), root / "meta" / (name + META_SUFFIX)
    )


@dataclass(frozen=True)
class ChunkMeta:
    length: int
    block_size: int
    crcs: array  # array("I"), one per block


def encode_meta(length: int, crcs: array, block_size: int = BLOCK_BYTES) -> bytes:
    body = array("I", crcs)
    if sys.byteorder != "little":
        body.byteswap()
    return _META_HEADER.pack(META_MAGIC, META_VERSION, length, block_size) + body.tobytes()


def decode_meta(handle: int, raw: bytes) -> ChunkMeta:
    if len(raw) < _META_HEADER.size:
        raise CorruptChunk(handle, "checksum file is truncated")
    magic, version, length, block_size = _META_HEADER.unpack_from(raw)
    if magic != META_MAGIC or version != META_VERSION or block_size <= 0:
        raise CorruptChunk(handle, "checksum file has a bad header")
    blocks = -(-length // block_size)
    body = raw[_META_HEADER.size :]
    if len(body) != 4 * blocks:
        raise CorruptChunk(handle, "checksum file has the wrong number of checksums")
    crcs = array("I")
    crcs.frombytes(body)
    if sys.byteorder != "little":
        crcs.byteswap()
    return ChunkMeta(length, block_size, crcs)


def load_meta(handle: int, meta_path: Path) -> ChunkMeta:
    try:
        raw = meta_path.read_bytes()
    except FileNotFoundError:
        raise CorruptChunk(handle, "checksum file is missing") from None
    return decode_meta(handle, raw)


def read_replica_file(
    handle: int,
    paths: ReplicaPaths,
    offset: int = 0,
    length: int = 0,
    piece_bytes: int = READ_PIECE_BYTES,
) -> Iterator[bytes]:
    """Yield bytes [offset, offset+length) of a replica (length 0: to the end) in pieces
    of at most `piece_bytes`, verifying the CRC of every block touched.

    Raises ChunkNotFound, CorruptChunk, or ValueError for an offset past the end. Changes
    nothing on disk, so any process on the host may use it.
    """
    if offset < 0 or length < 0:
        raise ValueError("offset and length must not be negative")
    try:
        fd = os.open(paths.chunk, os.O_RDONLY)
    except FileNotFoundError:
        raise ChunkNotFound(handle) from None
    try:
        meta = load_meta(handle, paths.meta)
        size = os.fstat(fd).st_size
        if size != meta.length:
            raise CorruptChunk(
                handle, f"chunk file has {size} bytes, checksums cover {meta.length}"
            )
        if offset > size:
            raise ValueError(f"offset {offset} is past the end of the chunk ({size} bytes)")
        end = size if length == 0 else min(size, offset + length)
        block = meta.block_size
        piece_bytes = max(block, piece_bytes - piece_bytes % block)
        pos = offset - offset % block
        stop = min(size, -(-end // block) * block)  # whole blocks only, never more
        while pos < end:
            want = min(piece_bytes, stop - pos)
            data = os.pread(fd, want, pos)
            if len(data) != want:
                raise CorruptChunk(handle, "chunk file shrank while being read")
            view = memoryview(data)
            index = pos // block
            for start in range(0, want, block):
                if crc32(view[start : start + block]) != meta.crcs[index]:
                    raise CorruptChunk(handle, f"checksum mismatch in block {index}")
                index += 1
            lo = max(offset - pos, 0)
            hi = min(end - pos, want)
            yield data if lo == 0 and hi == want else data[lo:hi]
            pos += want
    finally:
        os.close(fd)


def verify_replica_file(handle: int, paths: ReplicaPaths) -> int:
    """Check every block of a replica; return its size. Raises like read_replica_file."""
    size = 0
    for piece in read_replica_file(handle, paths):
        size += len(piece)
    return size


class _Signature(NamedTuple):
    """What a stat says about a chunk file; any change means it must be verified again."""

    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int  # a write changes it, and (unlike mtime) nobody can set it back


def _signature(path: Path) -> _Signature:
    st = os.stat(path)
    return _Signature(st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass
class _Entry:
    size: int
    signature: _Signature | None
    corrupt: bool = False
    generation: int = 0  # bumped whenever the replica is replaced


def tune_malloc() -> None:
    """Keep freed ~1 MiB frame buffers inside the process (datanodes, the gfs command).

    glibc otherwise hands them back to the kernel and every frame page-faults afresh;
    measured on a 3-hop pipeline that was about half of each datanode's system time.
    Both settings are needed: setting one turns off glibc's adaptive thresholds.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    mallopt(_M_MMAP_THRESHOLD, 4 * 1024 * 1024)
    mallopt(_M_TRIM_THRESHOLD, 64 * 1024 * 1024)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


class BufferPool:
    """Page-aligned anonymous mmaps for O_DIRECT writes, reused across writers."""

    def __init__(self, spare: int = SPARE_BUFFERS) -> None:
        self._lock = threading.Lock()
        self._free: list[mmap.mmap] = []
        self._spare = spare

    def take(self) -> mmap.mmap:
        with self._lock:
            if self._free:
                return self._free.pop()
        return mmap.mmap(-1, DIRECT_BUFFER_BYTES)

    def give(self, buf: mmap.mmap) -> None:
        with self._lock:
            if len(self._free) < self._spare:
                self._free.append(buf)
                return
        try:
            buf.close()
        except BufferError:
            pass  # still viewed (a failed write's traceback keeps a view): freed with it


class DirectFile:
    """Appends to a new, empty file: with O_DIRECT where the file system allows it, else
    with plain writes. Owns `fd` (close() closes it).

    Why: filling the page cache costs more CPU than the rest of a pipelined write or a
    download (markedly so in VMs: 1 CPU-s per 512 MiB here, against 0.05 s with O_DIRECT);
    O_DIRECT hands the disk our buffer instead. Frames are copied into aligned buffers that
    a thread of this file writes out, so the disk works while the next buffer is filled.
    `stage_plain` sends plain writes through that thread too (a download wants the overlap
    on any file system; a datanode already writes from a thread of its own).
    """

    def __init__(self, fd: int, pool: BufferPool, *, stage_plain: bool = False) -> None:
        try:
            self._open(fd, pool, stage_plain)
        except BaseException:
            os.close(fd)  # ours from the start, even when we fail to set up
            raise

    def _open(self, fd: int, pool: BufferPool, stage_plain: bool) -> None:
        self.fd = fd
        self._pool = pool
        self._direct = False
        direct = getattr(os, "O_DIRECT", 0)
        if direct and USE_DIRECT_IO:
            try:
                fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | direct)
                self._direct = True
            except OSError:
                pass  # e.g. tmpfs: plain writes
        self._buffered = self._direct or stage_plain  # frames go through the buffers
        self._fill = 0
        if self._buffered:
            self._free: queue.Queue[mmap.mmap] = queue.Queue()
            for _ in range(DIRECT_BUFFERS_PER_WRITE):
                self._free.put(pool.take())
            self._current = self._free.get()
            # At most every buffer but the one being filled is queued: no other bound needed.
            self._io = WriteBehind(
                lambda item: self._write_out(*item),
                DIRECT_BUFFERS_PER_WRITE,
                "direct-io",
                release=lambda item: self._free.put(item[0]),
            )

    @classmethod
    def create(cls, path: Path, pool: BufferPool) -> DirectFile:
        return cls(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), pool)

    def write(self, data: memoryview | bytes) -> None:
        view = memoryview(data)  # slices of it copy nothing
        if not self._buffered:
            _write_all(self.fd, view)
            return
        if self._io.error is not None:
            raise self._io.error
        while view:
            n = min(len(view), DIRECT_BUFFER_BYTES - self._fill)
            self._current[self._fill : self._fill + n] = view[:n]
            self._fill += n
            view = view[n:]
            if self._fill == DIRECT_BUFFER_BYTES:
                self._submit(DIRECT_BUFFER_BYTES)

    def _submit(self, length: int) -> None:
        self._io.put((self._current, length))
        self._current = self._free.get()  # waits while the disk is behind: backpressure
        self._fill = 0

    def _write_out(self, buf: mmap.mmap, length: int) -> None:
        # Both views are released however this ends: a failed write's traceback (kept for
        # the writer) must not pin the buffer, which goes back to the pool.
        with memoryview(buf) as whole, whole[:length] as out:
            written = 0
            if self._direct:
                try:
                    written = os.write(self.fd, out)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
                if written == length:
                    return
                # O_DIRECT refused midway: carry on with plain writes.
                flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
                fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~getattr(os, "O_DIRECT", 0))
                self._direct = False
            _write_all(self.fd, out[written:])

    def finish(self, size: int, sync: bool = True) -> None:
        """Write out what is buffered (padded to alignment, then truncated to `size`), then
        fsync unless told not to."""
        if self._buffered:
            if self._fill and self._io.error is None:
                padded = -(-self._fill // DIRECT_ALIGN) * DIRECT_ALIGN
                self._current[self._fill : padded] = bytes(padded - self._fill)
                self._submit(padded)
            self._io.close()  # re-raises a write error
            os.ftruncate(self.fd, size)
        if sync:
            os.fsync(self.fd)

    def close(self) -> None:
        if self._buffered:
            self._io.drain()
            self._pool.give(self._current)
            while not self._free.empty():
                self._pool.give(self._free.get_nowait())
            self._buffered = False
        os.close(self.fd)


class ChunkStore:
    """Thread-safe index of the replicas under one datanode directory.

    The lock only guards the in-memory index; reads, verification and writes do their disk
    I/O outside it.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.chunks_dir = self.root / "chunks"
        self.meta_dir = self.root / "meta"
        self.tmp_dir = self.root / "tmp"
        self._lock = threading.Lock()
        self._entries: dict[int, _Entry] = {}
        self._generations = itertools.count(1)
        self._tmp_names = itertools.count(1)
        self._buffers = BufferPool()
        for directory in (self.chunks_dir, self.meta_dir, self.tmp_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self._recover()

    # ---- start-up ----
    def _recover(self) -> None:
        removed_tmp = 0
        for path in self.tmp_dir.iterdir():
            if path.is_dir():
                continue  # never created by us; leave it for a person to look at
            path.unlink(missing_ok=True)
            removed_tmp += 1
        chunk_handles: set[int] = set()
        for path in self.chunks_dir.iterdir():
            handle = self._handle_of(path, CHUNK_SUFFIX)
            if handle is None:
                logger.warning("ignoring unexpected file %s", path)
                continue
            chunk_handles.add(handle)
            paths = self.paths(handle)
            signature = _signature(path)
            entry = _Entry(size=signature.size, signature=signature)
            try:
                meta = load_meta(handle, paths.meta)
                if meta.length != signature.size:
                    raise CorruptChunk(
                        handle,
                        f"chunk file has {signature.size} bytes, checksums cover {meta.length}",
                    )
            except CorruptChunk as exc:
                logger.warning("%s", exc)
                entry.corrupt = True
            self._entries[handle] = entry
        removed_meta = 0
        for path in self.meta_dir.iterdir():
            handle = self._handle_of(path, META_SUFFIX)
            if handle is not None and handle not in chunk_handles:
                path.unlink(missing_ok=True)  # a write that crashed before its commit point
                removed_meta += 1
        if removed_tmp or removed_meta:
            _fsync_dir(self.meta_dir)
            logger.info(
                "recovered %s: removed %d unfinished writes and %d orphan checksum files",
                self.root,
                removed_tmp,
                removed_meta,
            )

    @staticmethod
    def _handle_of(path: Path, suffix: str) -> int | None:
        name = path.name
        if not name.endswith(suffix) or len(name) != 16 + len(suffix):
            return None
        try:
            return parse_handle(name[:16])
        except ValueError:
            return None

    # ---- queries ----
    def paths(self, handle: int) -> ReplicaPaths:
        return replica_paths(self.root, handle)

    def chunk_path(self, handle: int) -> Path:
        return self.paths(handle).chunk

    def has(self, handle: int) -> bool:
        """True for a finished replica not known to be corrupt."""
        with self._lock:
            entry = self._entries.get(handle)
            return entry is not None and not entry.corrupt

    def size(self, handle: int) -> int:
        with self._lock:
            entry = self._entries.get(handle)
        if entry is None:
            raise ChunkNotFound(handle)
        return entry.size

    def report(self) -> list[tuple[int, int]]:
        """(handle, size) of every finished replica not known to be corrupt."""
        with self._lock:
            return sorted((h, e.size) for h, e in self._entries.items() if not e.corrupt)

    def corrupt_handles(self) -> list[int]:
        with self._lock:
            return sorted(h for h, e in self._entries.items() if e.corrupt)

    def used_bytes(self) -> int:
        with self._lock:
            return sum(e.size for e in self._entries.values())

    # ---- writing ----
    def begin_write(self, handle: int) -> ChunkWriter:
        """Start writing a replica; an existing replica of `handle` is replaced on commit."""
        tag = f"{format_handle(handle)}.{os.getpid()}.{next(self._tmp_names)}"
        return ChunkWriter(
            self, handle, self.tmp_dir / (tag + CHUNK_SUFFIX), self.tmp_dir / (tag + META_SUFFIX)
        )

    def _install(self, handle: int, tmp_chunk: Path, tmp_meta: Path) -> None:
        paths = self.paths(handle)
        with self._lock:
            # Unlisted while its files are swapped; the new entry gets a new generation, so a
            # read or scan of the old replica still running cannot mark the new one corrupt.
            old = self._entries.pop(handle, None)
        try:
            os.replace(tmp_meta, paths.meta)
            os.replace(tmp_chunk, paths.chunk)  # the commit point
            _fsync_dir(self.meta_dir)
            _fsync_dir(self.chunks_dir)
            signature = _signature(paths.chunk)
        except BaseException:
            if old is not None and paths.chunk.exists():
                # The old file may now sit next to the new checksums: trust neither.
                old.corrupt = True
                old.generation = next(self._generations)
                with self._lock:
                    self._entries.setdefault(handle, old)
            raise
        with self._lock:
            self._entries[handle] = _Entry(
                size=signature.size, signature=signature, generation=next(self._generations)
            )
        if old is not None:
            logger.info(
                "replaced %s replica of chunk %s",
                "corrupt" if old.corrupt else "existing",
                format_handle(handle),
            )

    # ---- reading ----
    def read(self, handle: int, offset: int = 0, length: int = 0) -> Iterator[bytes]:
        """Verified bytes of a replica in pieces of at most 1 MiB (length 0: to the end).

        Raises ChunkNotFound, CorruptChunk (and remembers the replica as corrupt so the
        next heartbeat reports it) or ValueError for an offset past the end.
        """
        with self._lock:
            entry = self._entries.get(handle)
            if entry is None:
                raise ChunkNotFound(handle)
            if entry.corrupt:
                raise CorruptChunk(handle, "already found corrupt")
            generation = entry.generation
        try:
            yield from read_replica_file(handle, self.paths(handle), offset, length)
        except ChunkNotFound:
            with self._lock:
                self._forget_if(handle, generation)
            raise
        except CorruptChunk as exc:
            if self._mark_corrupt(handle, generation):
                logger.warning("%s (found by a read)", exc)
            raise

    def _mark_corrupt(self, handle: int, generation: int) -> bool:
        """Mark a replica corrupt unless it was replaced meanwhile; True if newly marked."""
        with self._lock:
            entry = self._entries.get(handle)
            if entry is None or entry.generation != generation or entry.corrupt:
                return False
            entry.corrupt = True
            return True

    def _forget_if(self, handle: int, generation: int) -> None:
        entry = self._entries.get(handle)
        if entry is not None and entry.generation == generation:
            logger.warning("chunk file of %s vanished from disk", format_handle(handle))
            del self._entries[handle]

    # ---- verification ----
    def scan(
        self,
        changed_only: bool,
        stop: threading.Event | None = None,
        throttle: float = 0.0,
    ) -> list[int]:
        """Re-verify replicas; return the handles newly found corrupt.

        changed_only: only replicas whose file changed (per stat) since it was last verified
        or written, cheap enough for every heartbeat. `throttle` (with `stop`) is a duty
        cycle for full scrubs: after verifying a replica, wait throttle times as long as it
        took, so a scrub never saturates the disk.
        """
        with self._lock:
            snapshot = [
                (h, e.generation, e.signature) for h, e in self._entries.items() if not e.corrupt
            ]
        found: list[int] = []
        for handle, generation, recorded in snapshot:
            if stop is not None and stop.is_set():
                break
            paths = self.paths(handle)
            try:
                current = _signature(paths.chunk)
            except FileNotFoundError:
                with self._lock:
                    self._forget_if(handle, generation)
                continue
            if changed_only and current == recorded:
                continue
            started = time.monotonic()
            try:
                size = verify_replica_file(handle, paths)
            except ChunkNotFound:
                with self._lock:
                    self._forget_if(handle, generation)
                continue
            except CorruptChunk as exc:
                if self._mark_corrupt(handle, generation):
                    logger.warning("%s (found by a scan)", exc)
                    found.append(handle)
                continue
            with self._lock:
                entry = self._entries.get(handle)
                if entry is not None and entry.generation == generation:
                    entry.signature = current
                    entry.size = size
            if throttle > 0 and stop is not None:
                stop.wait(min(1.0, throttle * (time.monotonic() - started)))
        return found

    # ---- removal ----
    def delete(self, handle: int) -> bool:
        """Drop a replica (corrupt or not); False if there was none."""
        with self._lock:
            entry = self._entries.pop(handle, None)
        paths = self.paths(handle)
        existed = entry is not None or paths.chunk.exists()
        # Chunk first: a crash in between leaves an orphan meta file, removed on start.
        paths.chunk.unlink(missing_ok=True)
        paths.meta.unlink(missing_ok=True)
        return existed


class ChunkWriter:
    """One replica being written: write() any number of times, then commit() or abort().

    CRCs are computed incrementally at 64 KiB block boundaries straight from the caller's
    buffer; nothing is fsynced before sync()/commit().
    """

    def __init__(self, store: ChunkStore, handle: int, tmp_chunk: Path, tmp_meta: Path) -> None:
        self.handle = handle
        self._store = store
        self._tmp_chunk = tmp_chunk
        self._tmp_meta = tmp_meta
        self._file: DirectFile | None = DirectFile.create(tmp_chunk, store._buffers)
        self._crcs = array("I")
        self._block_crc = 0
        self._block_fill = 0
        self._size = 0
        self._synced = False
        self._done = False

    @property
    def size(self) -> int:
        return self._size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._file is None or self._synced:
            raise ValueError("write to a finished chunk writer")
        view = memoryview(data).cast("B")
        total = len(view)
        if total == 0:
            return
        self._file.write(view)
        self._size += total
        pos = 0
        if self._block_fill:
            take = min(BLOCK_BYTES - self._block_fill, total)
            self._block_crc = crc32(view[:take], self._block_crc)
            self._block_fill += take
            pos = take
            if self._block_fill == BLOCK_BYTES:
                self._crcs.append(self._block_crc)
                self._block_fill = 0
        while total - pos >= BLOCK_BYTES:
            self._crcs.append(crc32(view[pos : pos + BLOCK_BYTES]))
            pos += BLOCK_BYTES
        if pos < total:
            self._block_crc = crc32(view[pos:])
            self._block_fill = total - pos

    def sync(self) -> int:
        """Make both temp files durable (nothing visible yet); return the size.

        Split from commit() so a caller can make a last check (is the upstream still there?)
        between the slow part and the commit point.
        """
        if self._synced:
            return self._size
        if self._file is None:
            raise ValueError("sync of a finished chunk writer")
        try:
            if self._block_fill:
                self._crcs.append(self._block_crc)
                self._block_fill = 0
            self._file.finish(self._size)
            self._file.close()
            self._file = None
            meta_fd = os.open(self._tmp_meta, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                _write_all(meta_fd, memoryview(encode_meta(self._size, self._crcs)))
                os.fsync(meta_fd)
            finally:
                os.close(meta_fd)
        except BaseException:
            self.abort()
            raise
        self._synced = True
        return self._size

    def commit(self) -> int:
        """Make the replica durable and visible; return its size."""
        if self._done:
            raise ValueError("commit of a finished chunk writer")
        self.sync()
        try:
            self._store._install(self.handle, self._tmp_chunk, self._tmp_meta)
        except BaseException:
            self.abort()
            raise
        self._done = True
        return self._size

    def abort(self) -> None:
        """Forget the write (idempotent; a no-op after commit)."""
        if self._done:
            return
        self._done = True
        if self._file is not None:
            self._file.close()
            self._file = None
        self._tmp_chunk.unlink(missing_ok=True)
        self._tmp_meta.unlink(missing_ok=True)

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.abort()
