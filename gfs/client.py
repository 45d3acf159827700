"""GfsClient: the library every GFS user goes through (the `gfs` CLI, MapReduce workers).

It finds the namenode through ZooKeeper, streams chunk data to and from datanodes in
~1 MiB frames (memory stays bounded whatever the file size), writes each chunk through a
pipeline of datanodes and rebuilds the pipeline without a datanode that failed, and reads
each chunk from the nearest replica, continuing on another one from the exact byte reached
when a replica fails or is corrupt.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO

import grpc

from gfs import errors, paths, rpc
from gfs import zk as gfs_zk
from gfs.clusterdir import ClusterDir
from gfs.datanode import transfer
from gfs.datanode.store import (
    DIRECT_BUFFERS_PER_WRITE,
    BufferPool,
    ChunkNotFound,
    CorruptChunk,
    DirectFile,
    ReplicaPaths,
    read_replica_file,
    replica_paths,
)
from gfs.handles import format_handle
from gfs.proto import gfs_pb2, gfs_pb2_grpc
from gfs.writebehind import WriteBehind

logger = logging.getLogger(__name__)

DEFAULT_ZK_ROOT = "/minimr"
CALL_TIMEOUT = 20.0  # seconds, one namenode call
FAILOVER_SECONDS = 30.0  # how long to keep re-resolving a namenode that is unreachable
REPLICA_WAIT_SECONDS = 15.0  # how long a read waits for a chunk with no known replica
ZK_CONNECT_SECONDS = 5.0
SPOOL_BYTES = 4 * 1024 * 1024  # a chunk buffer spills to a temp file beyond this
PIPELINE_ATTEMPTS = 5  # pipelines tried per chunk before a write gives up
BUSY_WAITS = 12  # backoffs (0.1 s doubling to 1 s: about 10 s) a read gives busy datanodes
RETIRED_CHANNELS = 16  # replaced channels kept open for calls still using them
# UNAVAILABLE with these details means the request never reached the server.
_NOT_SENT_MARKERS = ("failed to connect", "connection refused")

WarningCallback = Callable[[str], None]


# ---------------------------------------------------------------------------------------
# Plain data returned to callers (no protobuf types leak out, except cluster()).


@dataclass(frozen=True)
class FileStatus:
    path: str
    is_dir: bool
    size: int
    replication: int
    mtime: float
    chunk_count: int

    @classmethod
    def from_proto(cls, msg: gfs_pb2.FileStatus) -> FileStatus:
        return cls(
            path=msg.path,
            is_dir=msg.is_dir,
            size=msg.size,
            replication=msg.replication,
            mtime=msg.mtime,
            chunk_count=msg.chunk_count,
        )


@dataclass(frozen=True)
class ReplicaInfo:
    datanode: str
    address: str  # its gRPC server
    host: str
    data_address: str = ""  # its data transfer port (reads)


@dataclass(frozen=True)
class ChunkInfo:
    handle: int
    size: int
    offset: int
    replicas: tuple[ReplicaInfo, ...]
    corrupt: tuple[str, ...] = ()

    @property
    def hex(self) -> str:
        return format_handle(self.handle)


@dataclass(frozen=True)
class FsckProblem:
    path: str
    handle: int
    kind: str  # "under_replicated" | "corrupt" | "missing"
    live: tuple[str, ...]
    corrupt: tuple[str, ...]


@dataclass(frozen=True)
class FsckReport:
    path: str
    files: int
    chunks: int
    under_replicated: int
    corrupt: int
    missing: int
    healthy: bool
    problems: tuple[FsckProblem, ...] = field(default_factory=tuple)
    repairs_pending: int = 0
    repairs_done: int = 0


# ---------------------------------------------------------------------------------------
# Pure helpers (unit-tested).


def order_replicas(replicas: Iterable[ReplicaInfo], client_host: str) -> list[ReplicaInfo]:
    """Replicas on the client's host first; otherwise keep the namenode's order."""
    items = list(replicas)
    if not client_host:
        return items
    return sorted(items, key=lambda r: r.host != client_host)


def chunk_ranges(
    chunks: Iterable[ChunkInfo], offset: int, end: int
) -> Iterator[tuple[ChunkInfo, int, int]]:
    """(chunk, start, stop) byte ranges inside each chunk that cover [offset, end) of a file.

    Chunk offsets are recomputed from the sizes so a gap in the list cannot go unnoticed.
    """
    position = 0
    for chunk in chunks:
        lo, hi = position, position + chunk.size
        position = hi
        if hi <= offset or lo >= end or lo == hi:
            continue
        yield chunk, max(offset, lo) - lo, min(end, hi) - lo


def _not_sent(err: grpc.RpcError) -> bool:
    """True when the call certainly did not reach the server (safe to retry a mutation)."""
    if err.code() != grpc.StatusCode.UNAVAILABLE:
        return False
    details = (err.details() or "").lower()
    return any(marker in details for marker in _NOT_SENT_MARKERS)


def _code(err: grpc.RpcError) -> grpc.StatusCode | None:
    return err.code() if hasattr(err, "code") else None


def _chunk_from_proto(msg: gfs_pb2.Chunk, client_host: str) -> ChunkInfo:
    replicas = [ReplicaInfo(r.datanode, r.address, r.host, r.data_address) for r in msg.replicas]
    return ChunkInfo(
        handle=msg.handle,
        size=msg.size,
        offset=msg.offset,
        replicas=tuple(order_replicas(replicas, client_host)),
        corrupt=tuple(msg.corrupt),
    )


class _ShortRead(Exception):
    pass


# ---------------------------------------------------------------------------------------


class GfsClient:
    """A connection to one cluster. Thread-safe for independent calls; close() when done."""

    def __init__(
        self,
        cluster_dir: Path | str,
        client_host: str = "",
        *,
        timeout: float = CALL_TIMEOUT,
        failover_seconds: float = FAILOVER_SECONDS,
        replica_wait_seconds: float = REPLICA_WAIT_SECONDS,
        on_warning: WarningCallback | None = None,
        namenode_address: str = "",
    ) -> None:
        self._dir = ClusterDir(Path(cluster_dir))
        info = self._dir.read_info()  # raises ConfigError for a wrong directory
        self._secret = self._dir.secret()
        self._zk_hosts = self._dir.zk_hosts()
        self._zk_root = str(info.get("zk_root") or DEFAULT_ZK_ROOT)
        self.client_host = client_host or os.environ.get("MR_HOST", "")
        self.client_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._timeout = timeout
        self._failover_seconds = failover_seconds
        self._replica_wait_seconds = replica_wait_seconds
        self._on_warning = on_warning
        # A caller that already knows it (a worker's task) saves a ZooKeeper lookup; a
        # stale address is looked up again like any other.
        self._namenode_address: str | None = namenode_address or None
        self._channels: dict[str, grpc.Channel] = {}
        self._retired: list[grpc.Channel] = []
        self._lock = threading.Lock()
        self._writing: set[str] = set()  # files open for writing: their leases are renewed
        self._renew_every = 10.0
        self._renewer: threading.Thread | None = None
        self._closed = threading.Event()  # ends the lease renewer
        self._buffers = BufferPool(spare=DIRECT_BUFFERS_PER_WRITE)  # get()'s output buffers

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> GfsClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            self._writing.clear()
            channels = list(self._channels.values()) + self._retired
            self._channels, self._retired = {}, []
        for ch in channels:
            ch.close()

    # -- plumbing -------------------------------------------------------------------------

    def _channel(self, address: str) -> grpc.Channel:
        with self._lock:
            ch = self._channels.get(address)
            if ch is None:
                ch = self._channels[address] = rpc.channel(address, self._secret)
            return ch

    def _forget_channel(self, address: str) -> None:
        """Use a new channel to `address` from now on.

        A channel that failed to connect sits in reconnect backoff; a fresh one tries at
        once. The old one may still carry another thread's call, so it is closed later.
        """
        oldest = None
        with self._lock:
            ch = self._channels.pop(address, None)
            if ch is not None:
                self._retired.append(ch)
                if len(self._retired) > RETIRED_CHANNELS:
                    oldest = self._retired.pop(0)
        if oldest is not None:
            oldest.close()

    def _warn(self, message: str) -> None:
        if self._on_warning is not None:
            self._on_warning(message)
        else:
            logger.warning("%s", message)

    def _lookup_namenode(self) -> str | None:
        """The namenode's address from ZooKeeper (None if no namenode is registered)."""
        from kazoo.exceptions import KazooException

        try:
            value = gfs_zk.read_once(
                self._zk_hosts,
                self._secret,
                gfs_zk.znode(self._zk_root, gfs_zk.NAMENODE),
                timeout=ZK_CONNECT_SECONDS * 2,
                start_timeout=ZK_CONNECT_SECONDS,
            )
        except errors.Unavailable as exc:
            raise errors.Unavailable(f"{exc} (is the cluster running?)") from None
        except KazooException as exc:  # a refused secret is a GfsError from gfs_zk.read
            raise errors.Unavailable(
                f"cannot read the namenode's address from ZooKeeper: {exc!r}"
            ) from None
        address = (value or {}).get("address")
        return str(address) if address else None

    def _namenode(self, deadline: float) -> tuple[str, gfs_pb2_grpc.NamenodeStub]:
        delay = 0.1
        address = self._namenode_address
        while address is None:
            address = self._lookup_namenode()
            if address is not None:
                self._namenode_address = address
                break
            if time.monotonic() + delay > deadline:
                raise errors.Unavailable(
                    "no namenode is registered in ZooKeeper (is the cluster running?)"
                )
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        return address, gfs_pb2_grpc.NamenodeStub(self._channel(address))

    def _call(
        self,
        method: str,
        request: Any,
        *,
        idempotent: bool,
        timeout: float | None = None,
        failover_seconds: float | None = None,
    ) -> Any:
        """One namenode call; re-resolves the namenode when it is unreachable.

        Reads are retried on any transport failure; mutations only when the request
        certainly never reached the namenode, so nothing is applied twice.
        """
        window = self._failover_seconds if failover_seconds is None else failover_seconds
        deadline = time.monotonic() + window
        delay = 0.1
        while True:
            address, stub = self._namenode(deadline)
            try:
                return getattr(stub, method)(request, timeout=timeout or self._timeout)
            except grpc.RpcError as err:
                code = _code(err)
                retry = _not_sent(err) or (
                    idempotent
                    and code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
                )
                if not retry or time.monotonic() + delay >= deadline:
                    raise self._error(err, f"namenode {method}") from None
                logger.info("namenode %s unreachable (%s); looking it up again", address, code)
                self._forget_channel(address)
                if self._namenode_address == address:
                    self._namenode_address = None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _secret_refused(self, what: str) -> errors.GfsError:
        return errors.GfsError(
            f"{what} refused: wrong or missing cluster secret (UNAUTHENTICATED); "
            f"check {self._dir.secret_file}"
        )

    def _error(self, err: grpc.RpcError, what: str) -> errors.GfsError:
        code = _code(err)
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return self._secret_refused(what)
        if code == grpc.StatusCode.UNAVAILABLE and _not_sent(err):
            return errors.Unavailable(f"{what}: cannot connect ({err.details()})")
        return rpc.error_from_rpc(err, what)

    # -- namespace ------------------------------------------------------------------------

    def mkdir(self, path: str, parents: bool = False) -> None:
        path = paths.normalize(path)
        self._call("Mkdir", gfs_pb2.MkdirRequest(path=path, parents=parents), idempotent=False)

    def ls(self, path: str = "/", recursive: bool = False) -> list[FileStatus]:
        path = paths.normalize(path)
        reply = self._call(
            "List", gfs_pb2.ListRequest(path=path, recursive=recursive), idempotent=True
        )
        return [FileStatus.from_proto(entry) for entry in reply.entries]

    def stat(self, path: str) -> tuple[FileStatus, list[ChunkInfo]]:
        path = paths.normalize(path)
        reply = self._call(
            "Stat", gfs_pb2.PathRequest(path=path, client_host=self.client_host), idempotent=True
        )
        chunks = [_chunk_from_proto(c, self.client_host) for c in reply.chunks]
        return FileStatus.from_proto(reply.status), chunks

    def status(self, path: str) -> FileStatus:
        return self.stat(path)[0]

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
        except errors.NotFound:
            return False
        return True

    def is_dir(self, path: str) -> bool:
        try:
            return self.stat(path)[0].is_dir
        except errors.NotFound:
            return False

    def delete(self, path: str, recursive: bool = False) -> None:
        path = paths.normalize(path)
        self._call(
            "Delete", gfs_pb2.DeleteRequest(path=path, recursive=recursive), idempotent=False
        )

    def rename(self, src: str, dst: str) -> None:
        """Atomic and strict: `dst` must not exist and its parent must be a directory."""
        src, dst = paths.normalize(src), paths.normalize(dst)
        self._call("Rename", gfs_pb2.RenameRequest(src=src, dst=dst), idempotent=False)

    def fsck(self, path: str = "/") -> FsckReport:
        path = paths.normalize(path)
        reply = self._call(
            "Fsck", gfs_pb2.FsckRequest(path=path), idempotent=True, timeout=self._timeout * 3
        )
        problems = tuple(
            FsckProblem(p.path, p.handle, p.kind, tuple(p.live), tuple(p.corrupt))
            for p in reply.problems
        )
        return FsckReport(
            path=path,
            files=reply.files,
            chunks=reply.chunks,
            under_replicated=reply.under_replicated,
            corrupt=reply.corrupt,
            missing=reply.missing,
            healthy=reply.healthy,
            problems=problems,
            repairs_pending=reply.repairs_pending,
            repairs_done=reply.repairs_done,
        )

    def cluster(self, timeout: float | None = None) -> gfs_pb2.ClusterReply:
        """Datanodes, chunk size and replication as the namenode sees them."""
        return self._call(
            "Cluster",
            gfs_pb2.Empty(),
            idempotent=True,
            timeout=timeout,
            failover_seconds=timeout,
        )

    def report_bad_replica(self, handle: int, datanode: str, reason: str) -> None:
        request = gfs_pb2.BadReplicaReport(handle=handle, datanode=datanode, reason=reason)
        self._call("ReportBadReplica", request, idempotent=True)

    # -- writing --------------------------------------------------------------------------

    def create(self, path: str, replication: int = 0, overwrite: bool = False) -> FileWriter:
        """Start writing a file; it appears (atomically) when the writer is closed."""
        path = paths.normalize(path)
        reply = self._call(
            "Create",
            gfs_pb2.CreateRequest(
                path=path, replication=replication, client_id=self.client_id, overwrite=overwrite
            ),
            idempotent=False,
        )
        self._start_renewing(path, reply.lease_timeout)
        return FileWriter(self, path, chunk_size=reply.chunk_size, replication=reply.replication)

    def _start_renewing(self, path: str, lease_timeout: float) -> None:
        """Keep the leases of open files alive however slowly their data comes (a reducer
        may take minutes to fill a chunk); the thread runs only while files are open."""
        with self._lock:
            self._writing.add(path)
            if lease_timeout > 0:
                self._renew_every = min(self._renew_every, lease_timeout / 3)
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = threading.Thread(
                    target=self._renew_leases, name="lease-renewer", daemon=True
                )
                self._renewer.start()

    def _renew_leases(self) -> None:
        while True:
            with self._lock:
                if not self._writing:
                    self._renewer = None
                    return
                interval = self._renew_every
            if self._closed.wait(interval):
                return
            with self._lock:
                writing = sorted(self._writing)
            if not writing:
                continue
            try:
                self._call(
                    "RenewLease",
                    gfs_pb2.RenewLeaseRequest(client_id=self.client_id, paths=writing),
                    idempotent=True,
                )
            except errors.GfsError as exc:  # the write itself fails with the real reason
                logger.debug("lease renewal failed: %s", exc)

    def write_file(
        self,
        path: str,
        source: BinaryIO | IO[bytes],
        replication: int = 0,
        overwrite: bool = False,
    ) -> int:
        """Store everything `source` yields under `path`; return the number of bytes.

        A seekable source (a local file) is re-read from the file when a chunk has to be
        resent; any other source is spooled one chunk at a time.
        """
        seekable = False
        try:
            seekable = source.seekable()
        except (AttributeError, OSError, ValueError):
            seekable = False
        writer = self.create(path, replication=replication, overwrite=overwrite)
        with writer:
            if seekable:
                writer.copy_seekable(source)
            else:
                while True:
                    data = source.read(rpc.FRAME_BYTES)
                    if not data:
                        break
                    writer.write(data)
        return writer.size

    def put(
        self,
        local_path: str | os.PathLike[str],
        path: str,
        replication: int = 0,
        overwrite: bool = False,
    ) -> int:
        with open(local_path, "rb") as source:
            return self.write_file(path, source, replication=replication, overwrite=overwrite)

    def _write_chunk(
        self, writer: FileWriter, source: IO[bytes], start: int, limit: int, index: int
    ) -> int:
        """Send one chunk (at most `limit` bytes of `source` from `start`) through a pipeline.

        Returns the chunk's size. A failed datanode is left out of every later pipeline of
        this write; the chunk is resent from `source` (re-read from `start`).
        """
        abandon = 0
        last_failure = ""
        for attempt in range(1, PIPELINE_ATTEMPTS + 1):
            try:
                reply = self._call(
                    "AddChunk",
                    gfs_pb2.AddChunkRequest(
                        path=writer.path,
                        client_id=self.client_id,
                        client_host=self.client_host,
                        exclude=sorted(writer.excluded),
                        abandon_handle=abandon,
                    ),
                    idempotent=False,
                )
            except errors.NoDatanodes as exc:
                excluded = ", ".join(sorted(writer.excluded)) or "none"
                raise errors.NoDatanodes(
                    f"cannot write chunk {index} of {writer.path}: no datanodes left "
                    f"({exc}; failed: {excluded})"
                ) from None
            handle = reply.handle
            pipeline = list(reply.pipeline)
            if not pipeline:
                raise errors.NoDatanodes(
                    f"cannot write chunk {index} of {writer.path}: the namenode gave no datanodes"
                )
            abandon = handle
            names = [r.datanode for r in pipeline]
            source.seek(start)
            sent = [0]
            head = pipeline[0]
            try:
                ack = transfer.write_remote(
                    transfer.data_address_of(head),
                    self._secret,
                    handle,
                    pipeline[1:],
                    _chunk_pieces(source, limit, sent),
                    timeout=self._timeout,
                )
            except transfer.TransferError as exc:
                if exc.code == transfer.Code.UNAUTHENTICATED:
                    raise self._secret_refused(f"datanode {head.datanode}") from None
                last_failure = f"{head.datanode}: {exc}"
                logger.warning(
                    "chunk %s of %s: pipeline head %s failed (%s); new pipeline",
                    format_handle(handle),
                    writer.path,
                    head.datanode,
                    last_failure,
                )
                writer.excluded.add(head.datanode)
                continue
            failed = self._pipeline_failures(ack, names, sent[0])
            if failed:
                last_failure = f"{', '.join(failed)}: {ack.error or 'did not store the chunk'}"
                logger.warning(
                    "chunk %s of %s: pipeline %s failed at %s; new pipeline (attempt %d)",
                    format_handle(handle),
                    writer.path,
                    names,
                    last_failure,
                    attempt,
                )
                writer.excluded.update(failed)
                continue
            self._call(
                "CommitChunk",
                gfs_pb2.CommitChunkRequest(
                    path=writer.path,
                    client_id=self.client_id,
                    handle=handle,
                    size=sent[0],
                    stored_on=list(ack.stored_on),
                ),
                idempotent=False,
            )
            return sent[0]
        raise errors.GfsError(
            f"cannot write chunk {index} of {writer.path}: {PIPELINE_ATTEMPTS} pipelines "
            f"failed (last: {last_failure})"
        )

    @staticmethod
    def _pipeline_failures(ack: gfs_pb2.WriteAck, names: list[str], sent: int) -> list[str]:
        """The datanodes to leave out after this ack; [] when the pipeline succeeded."""
        if ack.failed_datanode:
            return [ack.failed_datanode]
        stored = set(ack.stored_on)
        missing = [name for name in names if name not in stored]
        if missing:
            return missing
        if ack.error or ack.size != sent:
            return [names[0]]
        return []

    def _complete(self, path: str, abort: bool) -> None:
        try:
            self._call(
                "Complete",
                gfs_pb2.CompleteRequest(path=path, client_id=self.client_id, abort=abort),
                idempotent=False,
            )
        finally:
            with self._lock:
                self._writing.discard(path)

    # -- reading --------------------------------------------------------------------------

    def read_file(self, path: str) -> Iterator[bytes]:
        """The whole file as a stream of frames."""
        return self.read_range(path, 0, None)

    def read_range(
        self,
        path: str,
        offset: int = 0,
        length: int | None = None,
        chunks: Sequence[ChunkInfo] | None = None,
        *,
        _views: bool = False,
    ) -> Iterator[bytes]:
        """Bytes [offset, offset+length) of a file (to its end when length is None).

        `chunks` may carry the file's chunk list from an earlier stat() (e.g. a MapReduce
        split); otherwise it is fetched now, so a missing file fails at the call. Stale
        locations are fine: a replica that fails is skipped and the list is refreshed.
        `_views` (get and cat, which only pass the data on): memoryviews may come too.
        """
        path = paths.normalize(path)
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")
        if chunks is None:
            status, fetched = self.stat(path)
            self._check_chunks(path, status, fetched)
            chunks = fetched
        size = sum(c.size for c in chunks)
        end = size if length is None else min(size, offset + length)
        return self._read_ranges(path, list(chunk_ranges(chunks, offset, end)), _views)

    @staticmethod
    def _check_chunks(path: str, status: FileStatus, chunks: list[ChunkInfo]) -> None:
        if status.is_dir:
            raise errors.IsADirectory(f"{path}: is a directory")
        size = sum(c.size for c in chunks)
        if size != status.size:
            raise errors.DataUnavailable(
                f"{path}: chunk sizes add up to {size} bytes, the file has {status.size}"
            )

    def _read_ranges(
        self, path: str, ranges: list[tuple[ChunkInfo, int, int]], views: bool = False
    ) -> Iterator[bytes]:
        """The bytes of `ranges`; `views`: memoryviews may come too (no copy of frames
        received over gRPC), for callers that only pass the data on."""
        for chunk, lo, hi in ranges:
            yield from self._read_chunk(path, chunk, lo, hi, views)

    def cat(self, path: str, out: IO[bytes]) -> int:
        """Write a file to `out`; returns its size.

        `out.write` runs on a thread of its own behind a small queue, so writing (to a
        pipe, or a file through the page cache) overlaps with receiving the next frames.
        """
        frames = self.read_range(path, _views=True)  # fails before anything is written
        written = 0
        sink = WriteBehind(out.write, depth=4, name="gfs-write-behind")
        try:
            for data in frames:
                sink.put(data)
                written += len(data)
        except BaseException:
            frames.close()  # closes a connection still open
            sink.drain()  # what was received is written; the error that stopped us is raised
            raise
        sink.close()  # re-raises a write error
        return written

    def read_bytes(self, path: str) -> bytes:
        """The whole file in memory (for small files only)."""
        return b"".join(self.read_file(path))

    def get(self, path: str, local_path: str | os.PathLike[str]) -> tuple[Path, int]:
        """Copy a file to the local disk; returns (where it went, size).

        A directory as `local_path` receives the file under its own name (and a path
        ending in `/` must be one: local_get_target). Data goes to a temp file next to the
        target, renamed into place only once complete; on any
        failure the temp file is removed.

        The output is written with O_DIRECT where the file system allows it (from a thread
        of its own, so the disk works while the next frames arrive): in this VM, filling the
        page cache cost 1 CPU-s per 512 MiB, more than the whole transfer. Like `cp`, the
        file is not fsynced.
        """
        path = paths.normalize(path)
        target = Path(local_get_target(path, local_path))
        frames = self.read_range(path, _views=True)  # fails before anything local is created
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".gfs")
        size = 0
        try:
            out = DirectFile(fd, self._buffers, stage_plain=True)  # closes fd if it fails
            try:
                for data in frames:
                    out.write(data)
                    size += len(data)
                out.finish(size, sync=False)
            finally:
                out.close()
            os.chmod(tmp_name, 0o666 & ~_umask())
            os.replace(tmp_name, target)
        except BaseException:
            frames.close()  # cancels a stream still open
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
            raise
        return target, size

    def _read_chunk(
        self, path: str, chunk: ChunkInfo, lo: int, hi: int, views: bool = False
    ) -> Iterator[bytes]:
        """Bytes [lo, hi) of a chunk; on a replica failure go on from the byte reached."""
        hexid = chunk.hex
        position = lo
        candidates = list(chunk.replicas)
        # Replicas by (datanode, gRPC address, data port): a restarted datanode comes back
        # with a new data port, and is worth asking again.
        failed: set[tuple[str, str, str]] = set()
        busy_waits = 0
        errors_seen: list[str] = []
        wait_until = 0.0  # set when the namenode first knows no replica
        delay = 0.2
        remote_only: set[tuple[str, str, str]] = set()  # local file unusable: ask the datanode
        while position < hi:
            if not candidates:
                # Locations may be stale (a restarted datanode may have a new address, a
                # restarted namenode learns locations from heartbeats): ask again.
                fresh = self._fresh_chunk(path, chunk.handle)
                candidates = [r for r in fresh.replicas if _replica_key(r) not in failed]
                if candidates:
                    continue
                now = time.monotonic()
                if wait_until == 0.0:
                    wait_until = now + self._replica_wait_seconds
                # Only a namenode that knows no replica at all (neither good nor corrupt) may
                # still learn one soon; otherwise every known replica has failed.
                if fresh.replicas or fresh.corrupt or now + delay > wait_until:
                    tried = "; ".join(errors_seen) or "the namenode knows no live replica"
                    raise errors.DataUnavailable(
                        f"cannot read chunk {hexid} of {path}: no replica could be read ({tried})"
                    )
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            replica = candidates.pop(0)
            key = _replica_key(replica)
            start = position
            local = None if key in remote_only else self._local_replica(replica, chunk.handle)
            source: Iterator[bytes] | None = None
            try:
                if local is not None:
                    source = read_replica_file(chunk.handle, local, position, hi - position)
                else:
                    source = self._fetch_replica(replica, chunk.handle, position, hi, views)
                for data in source:
                    position += len(data)
                    yield data
                continue
            except CorruptChunk as exc:
                reason = f"DATA_LOSS: {exc}"
                self._corrupt_replica(path, chunk.handle, replica.datanode, reason)
                permanent = True
            except (ChunkNotFound, OSError, ValueError) as exc:
                if local is None:
                    raise  # not from a local file: a bug, never a reason to retry
                # The local file went away (deleted, datanode moved): ask the datanode.
                logger.info("local replica of chunk %s unusable (%s); reading remotely", hexid, exc)
                remote_only.add(key)
                candidates.insert(0, replica)
                continue
            except transfer.TransferError as exc:
                if exc.code == transfer.Code.UNAUTHENTICATED:
                    raise self._secret_refused(f"datanode {replica.datanode}") from None
                if exc.code == transfer.Code.BUSY and busy_waits < BUSY_WAITS:
                    # Serving too many reads: try the other replicas, then this one again.
                    busy_waits += 1
                    time.sleep(min(0.05 * 2**busy_waits, 1.0))
                    candidates.append(replica)
                    continue
                reason = f"{exc.code.name}: {exc}"
                if exc.code == transfer.Code.DATA_LOSS:
                    self._corrupt_replica(path, chunk.handle, replica.datanode, reason)
                permanent = exc.code in (transfer.Code.DATA_LOSS, transfer.Code.NOT_FOUND)
            except _ShortRead as exc:
                reason = str(exc)
                permanent = True
            finally:
                if source is not None:
                    source.close()  # a replica left midway: its connection is closed now
            errors_seen.append(f"{replica.datanode}: {reason}")
            logger.info(
                "chunk %s of %s: replica on %s failed at byte %d (%s)",
                hexid,
                path,
                replica.datanode,
                position,
                reason,
            )
            # A replica that was streaming fine (e.g. it dropped a reader that paused for
            # longer than its idle timeout) may be asked again: each such round moves the
            # position on, so this ends. One that failed outright is done for this read.
            if position > start and not permanent:
                candidates.append(replica)
            else:
                failed.add(key)

    def _local_replica(self, replica: ReplicaInfo, handle: int) -> ReplicaPaths | None:
        """The files of a replica on our own host, when this machine has them: a data-local
        task then reads its split straight from disk (checksums verified), not over a socket."""
        if not self.client_host or replica.host != self.client_host:
            return None
        files = replica_paths(self._dir.data / replica.datanode, handle)
        return files if files.chunk.exists() else None

    def _fetch_replica(
        self, replica: ReplicaInfo, handle: int, lo: int, hi: int, views: bool = False
    ) -> Iterator[bytes]:
        """Bytes [lo, hi) of one replica from its datanode's data transfer port, one
        connection per chunk (TCP flow control bounds what is in flight). `views`: yield
        memoryviews of the received buffers (no copy)."""
        address = transfer.data_address_of(replica)
        got = lo
        for piece in transfer.read_remote(
            address, self._secret, handle, lo, hi - lo, timeout=self._timeout
        ):
            if got + len(piece) > hi:
                raise _ShortRead(f"{replica.datanode} sent more than the {hi - lo} bytes asked for")
            got += len(piece)
            yield piece if views else bytes(piece)
        if got != hi:
            sent = got - lo
            raise _ShortRead(f"{replica.datanode} sent {sent} of {hi - lo} bytes from offset {lo}")

    def _fresh_chunk(self, path: str, handle: int) -> ChunkInfo:
        _status, chunks = self.stat(path)
        for chunk in chunks:
            if chunk.handle == handle:
                return chunk
        raise errors.NotFound(f"{path} changed while being read (chunk {format_handle(handle)})")

    def _corrupt_replica(self, path: str, handle: int, datanode: str, reason: str) -> None:
        try:
            self.report_bad_replica(handle, datanode, reason)
        except errors.GfsError as exc:
            logger.warning("could not report corrupt replica to the namenode: %s", exc)
        self._warn(
            f"corrupt replica of chunk {format_handle(handle)} of {path} on {datanode}; "
            "read another replica"
        )


def local_get_target(remote: str, local: str | os.PathLike[str]) -> str:
    """Where `get` writes: a directory as `local` receives the file under its own name;
    `local` ending in `/` must be one."""
    local = os.fspath(local)
    if os.path.isdir(local):
        return os.path.join(local, paths.basename(remote))
    if local.endswith("/"):
        raise errors.NotADirectory(f"cannot write {local}: no such local directory")
    return local


def _replica_key(replica: ReplicaInfo) -> tuple[str, str, str]:
    return (replica.datanode, replica.address, replica.data_address)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _chunk_pieces(source: IO[bytes], limit: int, sent: list[int]) -> Iterator[bytes]:
    """At most `limit` bytes of `source` in pieces of about 1 MiB, counted in sent[0]. A
    read error propagates as it is: the write stops before its end, so no datanode keeps
    the chunk, and the caller reports the local error instead of blaming a datanode."""
    left = limit
    while left > 0:
        data = source.read(min(rpc.FRAME_BYTES, left))
        if not data:
            return
        left -= len(data)
        sent[0] += len(data)
        yield data


class FileWriter:
    """Writes one file chunk by chunk; the file appears when close() succeeds.

    At most one chunk is buffered (in memory up to SPOOL_BYTES, then in a temp file), so a
    failed pipeline can resend it. Any failure aborts the file: no half file stays.
    """

    def __init__(self, client: GfsClient, path: str, chunk_size: int, replication: int) -> None:
        self._client = client
        self.path = path
        self.chunk_size = chunk_size
        self.replication = replication
        self.size = 0
        self.chunks = 0
        self.excluded: set[str] = set()
        self._buffer: tempfile.SpooledTemporaryFile[bytes] | None = None
        self._buffered = 0
        self._done = False

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._check_open()
        view = memoryview(data).cast("B")
        try:
            while view:
                if self._buffer is None:
                    self._buffer = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
                    self._buffered = 0
                part = view[: self.chunk_size - self._buffered]
                self._buffer.write(part)
                self._buffered += len(part)
                view = view[len(part) :]
                if self._buffered == self.chunk_size:
                    self._flush()
        except BaseException:
            self.abort()
            raise
        return len(data)

    def copy_seekable(self, source: IO[bytes]) -> None:
        """Write the rest of a seekable file without buffering it (resends re-read it)."""
        self._check_open()
        try:
            while True:
                start = source.tell()
                if not source.read(1):
                    break
                self._send(source, start, self.chunk_size)
        except BaseException:
            self.abort()
            raise

    def close(self) -> None:
        if self._done:
            return
        try:
            if self._buffered:
                self._flush()
            self._client._complete(self.path, abort=False)
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._drop_buffer()

    def abort(self) -> None:
        """Give the file up (best effort): the namenode drops it."""
        if self._done:
            return
        self._done = True
        self._drop_buffer()
        try:
            self._client._complete(self.path, abort=True)
        except Exception as exc:  # the original failure matters more
            logger.warning("could not abort %s: %s", self.path, exc)

    def _check_open(self) -> None:
        if self._done:
            raise ValueError(f"writer of {self.path} is closed")

    def _flush(self) -> None:
        assert self._buffer is not None
        self._send(self._buffer, 0, self._buffered)
        self._drop_buffer()

    def _send(self, source: IO[bytes], start: int, limit: int) -> None:
        size = self._client._write_chunk(self, source, start, limit, self.chunks)
        self.chunks += 1
        self.size += size

    def _drop_buffer(self) -> None:
        if self._buffer is not None:
            self._buffer.close()
        self._buffer = None
        self._buffered = 0
