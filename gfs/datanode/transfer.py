"""The datanode's data transfer port: chunk reads and pipelined chunk writes as plain TCP
streams, beside gRPC.

Control stays on gRPC; bulk data takes this port, as HDFS streams blocks over its
DataTransferProtocol beside its RPCs. On loopback a Python gRPC stream of 1 MiB messages
costs about 40% more CPU per byte than sendall/recv_into on a socket (bench/RESULTS.md),
and a `gfs get` or `gfs put` is CPU-bound on a small machine.

One operation per connection (integers little-endian). Both directions then carry records
of kind u8 | size u32 | payload:

    DATA   bytes of the chunk (at most MAX_PIECE)
    END    the data is complete (no payload)
    ERROR  code u8 | one line of UTF-8; the sender closes the connection after it
    READY  a write's pipeline is set up: send the data (no payload)
    ACK    a write is stored: a WriteAck (gfs.proto)

Read: b"GFSR" | version u8 | secret length u16 | handle u64 | offset u64
      | length u64 (0: to the end of the chunk) | the cluster secret.
  The datanode answers DATA records, every block's CRC verified before it is sent, then END
  (or ERROR). A client that gets DATA_LOSS reports the replica to the namenode and reads
  from another; BUSY (more than MAX_CONNECTIONS reads at once) sends it to another replica,
  then back after a pause.

Write: b"GFSW" | version u8 | secret length u16 | wait ms u32 | header length u32
       | the cluster secret | a WriteHeader (gfs.proto: handle, the rest of the pipeline).
  The datanode connects to the next hop (telling it the rest), answers READY, then takes
  DATA records and END: each record is forwarded before it is written locally, and the
  commit (fsync, rename) happens only after END. It then waits for the next hop's ACK and
  answers its own: who stored the chunk, and which hop failed. A connection that ends
  without END stores nothing on any hop (the next hop sees its upstream vanish too).
  "wait" bounds how long the datanode waits on its next hop for any step; it passes on that
  less HOP_MARGIN, so the hop nearest a stuck datanode gives up first and the failure is
  pinned on the right one.
"""

from __future__ import annotations

import enum
import hmac
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, TypeVar

from google.protobuf.message import DecodeError

from gfs.datanode.store import (
    READ_PIECE_BYTES,
    ChunkNotFound,
    ChunkStore,
    ChunkWriter,
    CorruptChunk,
)
from gfs.handles import format_handle
from gfs.proto import gfs_pb2
from gfs.writebehind import WriteBehind

logger = logging.getLogger(__name__)

MAGIC = b"GFSR"  # a read
WRITE_MAGIC = b"GFSW"
VERSION = 1
MAX_PIECE = READ_PIECE_BYTES
MAX_SECRET_BYTES = 1024
MAX_ERROR_BYTES = 4096  # an error record's message, UTF-8
MAX_HEADER_BYTES = 64 * 1024  # a write's WriteHeader, and an ACK's WriteAck
IDLE_TIMEOUT = 60.0  # seconds a datanode waits on a stalled reader
REQUEST_TIMEOUT = 5.0  # seconds from connecting to a complete request
MAX_CONNECTIONS = 64  # reads served at once; more are answered BUSY
MAX_WRITES = 64  # chunk writes received at once; more are answered BUSY
MAX_PENDING = 64  # connections beyond those, still sending their request or hearing BUSY
HOP_MARGIN = 2.0  # seconds of its own wait each hop keeps back from the next one's
LOCAL_QUEUE_PIECES = 8  # pieces buffered between receiving and the local disk
MIN_TRANSFER_RATE = 4 * 1024 * 1024  # bytes/s a chunk write may not fall below
TRANSFER_BASE_TIMEOUT = 60.0  # seconds, plus the chunk size at MIN_TRANSFER_RATE

_Head = TypeVar("_Head")
_REQUEST = struct.Struct("<4sBHQQQ")
_WRITE_REQUEST = struct.Struct("<4sBHII")
_RECORD = struct.Struct("<BI")
_DATA, _END, _ERROR, _READY, _ACK = 0, 1, 2, 3, 4
_END_RECORD = _RECORD.pack(_END, 0)
_READY_RECORD = _RECORD.pack(_READY, 0)
_ABORTIVE_CLOSE = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset


class Code(enum.IntEnum):
    """Why a read failed. UNAVAILABLE is the client's own: the connection failed."""

    UNAUTHENTICATED = 1
    NOT_FOUND = 2
    DATA_LOSS = 3
    OUT_OF_RANGE = 4
    INTERNAL = 5
    BUSY = 6
    BAD_REQUEST = 7
    UNAVAILABLE = 8


class TransferError(Exception):
    """A transfer that failed; `code` says whether another replica may do better."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ReadRequest:
    handle: int
    offset: int
    length: int  # 0: to the end of the chunk
    secret: bytes


# ---- wire format (pure) ----


def encode_request(request: ReadRequest) -> bytes:
    if len(request.secret) > MAX_SECRET_BYTES:
        raise ValueError(f"the secret is longer than {MAX_SECRET_BYTES} bytes")
    head = _REQUEST.pack(
        MAGIC, VERSION, len(request.secret), request.handle, request.offset, request.length
    )
    return head + request.secret


def decode_request_head(raw: bytes) -> tuple[int, int, int, int]:
    """(secret length, handle, offset, length) of a request's fixed part.

    Raises TransferError(BAD_REQUEST) for anything that is not our protocol's version.
    """
    magic, version, secret_len, handle, offset, length = _REQUEST.unpack(raw)
    _check_head(magic, MAGIC, version, secret_len)
    return secret_len, handle, offset, length


def _check_head(magic: bytes, expected: bytes, version: int, secret_len: int) -> None:
    if magic != expected:
        raise TransferError(Code.BAD_REQUEST, "not a GFS data transfer request")
    if version != VERSION:
        raise TransferError(Code.BAD_REQUEST, f"unsupported protocol version {version}")
    if secret_len > MAX_SECRET_BYTES:
        raise TransferError(Code.BAD_REQUEST, "secret too long")


def encode_write_request(secret: bytes, wait: float, header: bytes) -> bytes:
    """A write's request; `header` is a serialized WriteHeader, `wait` in seconds."""
    if len(secret) > MAX_SECRET_BYTES:
        raise ValueError(f"the secret is longer than {MAX_SECRET_BYTES} bytes")
    if len(header) > MAX_HEADER_BYTES:
        raise ValueError(f"the write header is longer than {MAX_HEADER_BYTES} bytes")
    wait_ms = min(max(0, round(wait * 1000)), 0xFFFFFFFF)
    head = _WRITE_REQUEST.pack(WRITE_MAGIC, VERSION, len(secret), wait_ms, len(header))
    return head + secret + header


def decode_write_request_head(raw: bytes) -> tuple[int, float, int]:
    """(secret length, wait in seconds, header length) of a write request's fixed part."""
    magic, version, secret_len, wait_ms, header_len = _WRITE_REQUEST.unpack(raw)
    _check_head(magic, WRITE_MAGIC, version, secret_len)
    if header_len > MAX_HEADER_BYTES:
        raise TransferError(Code.BAD_REQUEST, "write header too long")
    return secret_len, wait_ms / 1000, header_len


def next_hop_wait(wait: float) -> float:
    """The wait a hop allowed `wait` gives the next one: less, so the next gives up first."""
    return wait - min(HOP_MARGIN, wait / 4)


def encode_error(code: Code, message: str) -> bytes:
    payload = bytes((code,)) + message.encode("utf-8", "replace")[:MAX_ERROR_BYTES]
    return _RECORD.pack(_ERROR, len(payload)) + payload


def decode_error(payload: bytes) -> TransferError:
    if not payload:
        return TransferError(Code.BAD_REQUEST, "empty error record")
    try:
        code = Code(payload[0])
    except ValueError:
        code = Code.INTERNAL
    return TransferError(code, payload[1:].decode("utf-8", "replace"))


class Replica(Protocol):
    """What locates a replica: gfs_pb2.Replica, or the client's ReplicaInfo."""

    datanode: str
    data_address: str


def data_address_of(replica: Replica) -> str:
    """The data transfer port of `replica`'s datanode; UNAVAILABLE when it has published
    none (yet)."""
    if not replica.data_address:
        raise TransferError(
            Code.UNAVAILABLE, f"{replica.datanode or 'a datanode'} has not published its data port"
        )
    return replica.data_address


def split_address(address: str) -> tuple[str, int]:
    """("host", port) of "host:port" or "[v6]:port"."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"not a host:port address: {address!r}")
    return host.strip("[]"), int(port)


def _recv_exactly(sock: socket.socket, view: memoryview, deadline: float = 0.0) -> None:
    """Fill `view` from `sock`; with a `deadline` (time.monotonic()), all of it by then."""
    while len(view):
        if deadline:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("request not complete in time")
            sock.settimeout(left)
        got = sock.recv_into(view)
        if got == 0:
            raise ConnectionError("connection closed mid-record")
        view = view[got:]


# ---- client ----


def read_remote(
    address: str, secret: str, handle: int, offset: int, length: int, timeout: float
) -> Iterator[memoryview]:
    """Bytes [offset, offset+length) of a replica on the datanode at `address`, in pieces
    (fresh buffers: a caller may keep them). `timeout` bounds every wait on the socket.

    Raises TransferError: the datanode's code, or UNAVAILABLE when the connection failed.
    """
    try:
        request = encode_request(ReadRequest(handle, offset, length, secret.encode()))
    except ValueError as exc:
        raise TransferError(Code.BAD_REQUEST, str(exc)) from None
    try:
        sock = socket.create_connection(split_address(address), timeout=timeout)
    except (OSError, ValueError) as exc:
        raise TransferError(Code.UNAVAILABLE, f"cannot connect to {address}: {exc}") from None
    header = bytearray(_RECORD.size)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(request)
        while True:
            _recv_exactly(sock, memoryview(header))
            kind, size = _RECORD.unpack(header)
            if kind == _DATA and 0 < size <= MAX_PIECE:
                piece = bytearray(size)
                _recv_exactly(sock, memoryview(piece))
                yield memoryview(piece)
            elif kind == _END and size == 0:
                return
            elif kind == _ERROR and size <= 1 + MAX_ERROR_BYTES:
                payload = bytearray(size)
                _recv_exactly(sock, memoryview(payload))
                raise decode_error(bytes(payload))
            else:
                raise TransferError(Code.UNAVAILABLE, f"{address} sent a malformed record")
    except OSError as exc:  # includes timeouts and resets
        raise TransferError(Code.UNAVAILABLE, f"reading from {address}: {exc}") from None
    finally:
        sock.close()


def _read_reply(sock: socket.socket, address: str) -> tuple[int, bytes]:
    """The next small record (READY or ACK) from a datanode; ERROR raises its TransferError."""
    header = bytearray(_RECORD.size)
    _recv_exactly(sock, memoryview(header))
    kind, size = _RECORD.unpack(header)
    limit = 1 + MAX_ERROR_BYTES if kind == _ERROR else MAX_HEADER_BYTES
    if kind not in (_ERROR, _READY, _ACK) or size > limit:
        raise TransferError(Code.UNAVAILABLE, f"{address} sent a malformed record")
    payload = bytearray(size)
    _recv_exactly(sock, memoryview(payload))
    if kind == _ERROR:
        raise decode_error(bytes(payload))
    return kind, bytes(payload)


class ChunkStream:
    """The sending end of a chunk write to the datanode at `address` (the pipeline's next
    hop): start() connects and waits for READY, send() passes data on, end() then ack() (or
    finish()) return the WriteAck. close() without end() makes every hop discard the chunk;
    it may come from another thread at any time, also during start(). `timeout` bounds
    every wait on the datanode; it may wait next_hop_wait(timeout) on its own next hop.

    Raises TransferError: the datanode's code, or UNAVAILABLE when the connection failed or
    timed out.
    """

    def __init__(
        self,
        address: str,
        secret: str,
        handle: int,
        downstream: Sequence[gfs_pb2.Replica],
        timeout: float,
    ) -> None:
        self.address = address
        self._timeout = timeout
        header = gfs_pb2.WriteHeader(handle=handle, downstream=downstream).SerializeToString()
        try:
            self._request = encode_write_request(secret.encode(), next_hop_wait(timeout), header)
        except ValueError as exc:
            raise TransferError(Code.BAD_REQUEST, str(exc)) from None
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._closed = False

    def start(self) -> None:
        try:
            sock = socket.create_connection(split_address(self.address), timeout=self._timeout)
        except (OSError, ValueError) as exc:
            raise TransferError(
                Code.UNAVAILABLE, f"cannot connect to {self.address}: {exc}"
            ) from None
        with self._lock:
            self._sock = sock
            closed = self._closed
        if closed:
            self.close()
            raise TransferError(Code.UNAVAILABLE, f"write to {self.address} cancelled")
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(self._request)
            kind, _payload = _read_reply(sock, self.address)
            if kind != _READY:
                raise TransferError(Code.UNAVAILABLE, f"{self.address} sent a malformed record")
        except OSError as exc:
            error = self._failed("setting up the write", exc, self._timeout)
            self.close()
            raise error from None
        except TransferError:
            self.close()
            raise

    @property
    def _connected(self) -> socket.socket:
        if self._sock is None:
            raise TransferError(Code.UNAVAILABLE, f"write to {self.address} not started")
        return self._sock

    def _failed(self, doing: str, exc: OSError, waited: float) -> TransferError:
        """The error for a failed send or receive: the datanode's own ERROR record when it
        sent one before giving up (say, a full disk), else what the socket said."""
        if isinstance(exc, TimeoutError):
            return TransferError(
                Code.UNAVAILABLE, f"{self.address} stalled for {waited:.1f}s {doing}"
            )
        try:
            self._connected.settimeout(0.5)
            _read_reply(self._connected, self.address)
        except TransferError as told:
            return told
        except OSError:
            pass
        return TransferError(Code.UNAVAILABLE, f"{doing} to {self.address}: {exc}")

    def send(self, data: bytes | bytearray | memoryview) -> None:
        sock = self._connected
        view = memoryview(data).cast("B")
        try:
            for start in range(0, len(view), MAX_PIECE):
                piece = view[start : start + MAX_PIECE]
                sock.sendall(_RECORD.pack(_DATA, len(piece)))
                sock.sendall(piece)
        except OSError as exc:
            raise self._failed("sending data", exc, self._timeout) from None

    def end(self) -> None:
        """Say the data is complete: every hop commits the chunk."""
        try:
            self._connected.sendall(_END_RECORD)
        except OSError as exc:
            raise self._failed("ending the write", exc, self._timeout) from None

    def ack(self, timeout: float | None = None) -> gfs_pb2.WriteAck:
        """The datanode's WriteAck, waiting at most `timeout` (default: the stream's)."""
        wait = self._timeout if timeout is None else timeout
        try:
            self._connected.settimeout(wait)
            kind, payload = _read_reply(self._connected, self.address)
        except OSError as exc:
            raise self._failed("waiting for the ack", exc, wait) from None
        if kind != _ACK:
            raise TransferError(Code.UNAVAILABLE, f"{self.address} sent a malformed record")
        try:
            return gfs_pb2.WriteAck.FromString(payload)
        except DecodeError:
            raise TransferError(Code.UNAVAILABLE, f"{self.address} sent a malformed ack") from None

    def finish(self) -> gfs_pb2.WriteAck:
        self.end()
        return self.ack()

    def close(self) -> None:
        """Drop the connection; safe from another thread (wakes a blocked send or receive)."""
        with self._lock:
            self._closed = True
            sock = self._sock
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


def write_remote(
    address: str,
    secret: str,
    handle: int,
    downstream: Sequence[gfs_pb2.Replica],
    pieces: Iterable[bytes | bytearray | memoryview],
    timeout: float,
) -> gfs_pb2.WriteAck:
    """Write a chunk through the pipeline [address] + downstream and return the head's ack.

    An exception from `pieces` propagates as it is, after the connection is dropped (no
    hop keeps anything). Raises TransferError (see ChunkStream).
    """
    stream = ChunkStream(address, secret, handle, downstream, timeout)
    try:
        stream.start()
        for piece in pieces:
            stream.send(piece)
        return stream.finish()
    finally:
        stream.close()


class StreamSet:
    """Outgoing chunk streams still open, so a stopping datanode can drop them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: set[ChunkStream] = set()
        self._closed = False

    def open(
        self,
        replica: gfs_pb2.Replica,
        secret: str,
        handle: int,
        downstream: Sequence[gfs_pb2.Replica],
        timeout: float,
    ) -> ChunkStream:
        with self._lock:
            if self._closed:
                raise TransferError(Code.UNAVAILABLE, "this datanode is stopping")
        stream = ChunkStream(data_address_of(replica), secret, handle, downstream, timeout)
        with self._lock:
            self._streams.add(stream)  # before connecting: close_all() reaches it in start()
            closed = self._closed
        if closed:
            stream.close()
        try:
            stream.start()
        except TransferError:
            self.done(stream)
            raise
        return stream

    def done(self, stream: ChunkStream) -> None:
        stream.close()
        with self._lock:
            self._streams.discard(stream)

    def close_all(self) -> None:
        with self._lock:
            self._closed = True
            streams = list(self._streams)
        for stream in streams:
            stream.close()


class BackgroundWriter:
    """Runs a ChunkWriter's checksums and disk writes on a thread of its own, so receiving
    and forwarding the next pieces overlaps with storing this one."""

    def __init__(self, writer: ChunkWriter) -> None:
        self.writer = writer
        name = f"store-{format_handle(writer.handle)}"
        self._behind = WriteBehind(writer.write, LOCAL_QUEUE_PIECES, name)

    def write(self, data: memoryview | bytes | bytearray) -> None:
        self._behind.put(data)

    def commit(self) -> int:
        """Wait until every piece is written, fsync, and make the replica visible; re-raise
        a write error. Returns the replica's size."""
        self._behind.close()
        self.writer.sync()
        return self.writer.commit()

    def abort(self) -> None:
        self._behind.drain()
        self.writer.abort()


class _UpstreamGone(Exception):
    """The sender of a write vanished, stalled or broke the protocol: nothing is kept. With
    a `code`, the sender is told why (it broke the protocol, and may still listen)."""

    def __init__(self, why: str, code: Code | None = None) -> None:
        super().__init__(why)
        self.code = code


def _recv_upstream(conn: socket.socket, buffer: bytearray, deadline: float) -> None:
    try:
        _recv_exactly(conn, memoryview(buffer), deadline)
    except OSError as exc:  # includes timeouts and resets
        raise _UpstreamGone(str(exc) or type(exc).__name__) from None


class _NextHop:
    """The next hop of a write being received, until it fails: then the chunk is still
    stored here, and the ack says which hop failed and why."""

    def __init__(self, streams: StreamSet) -> None:
        self._streams = streams
        self._stream: ChunkStream | None = None
        self.name = ""
        self.failure = ""

    def open(
        self, downstream: list[gfs_pb2.Replica], secret: str, handle: int, wait: float
    ) -> None:
        self.name = downstream[0].datanode or downstream[0].data_address
        try:
            self._stream = self._streams.open(downstream[0], secret, handle, downstream[1:], wait)
        except TransferError as exc:
            self.failure = str(exc)

    def _failed(self, exc: TransferError) -> None:
        self.failure = str(exc)
        self.drop()

    def send(self, piece: bytearray) -> None:
        if self._stream is not None:
            try:
                self._stream.send(piece)
            except TransferError as exc:
                self._failed(exc)

    def end(self) -> None:
        if self._stream is not None:
            try:
                self._stream.end()
            except TransferError as exc:
                self._failed(exc)

    def drop(self) -> None:
        if self._stream is not None:
            self._streams.done(self._stream)
            self._stream = None

    def merge_ack(self, ack: gfs_pb2.WriteAck, size: int, timeout: float) -> None:
        """Add the next hop's ack (waiting at most `timeout` for it) to ours."""
        down_ack = None
        if self._stream is not None:
            try:
                down_ack = self._stream.ack(timeout)
            except TransferError as exc:
                self.failure = str(exc)
            finally:
                self.drop()
        hop = self.name
        if down_ack is None:
            ack.failed_datanode = hop
            ack.error = f"{hop}: {self.failure or 'no ack'}"
        else:
            ack.stored_on.extend(down_ack.stored_on)
            if down_ack.failed_datanode or down_ack.error:
                ack.failed_datanode = down_ack.failed_datanode or hop
                ack.error = down_ack.error or f"{hop} did not store the chunk"
            elif down_ack.size != size:
                ack.failed_datanode = hop
                ack.error = f"{hop} stored {down_ack.size} bytes, expected {size}"


def transfer_timeout(chunk_size: int) -> float:
    """How long receiving one chunk may take in all."""
    return TRANSFER_BASE_TIMEOUT + chunk_size / MIN_TRANSFER_RATE


# ---- server ----


class TransferServer:
    """Serves chunk reads and writes of a ChunkStore on a TCP port: an accept thread and a
    thread per connection. At most `max_connections` reads and `max_writes` writes are
    served at once; a request beyond that is read, then answered BUSY. Bound at
    construction, so `address` is known before start(); stop() closes the port and every
    open connection, incoming and outgoing."""

    def __init__(
        self,
        store: ChunkStore,
        *,
        name: str,
        secret: str,
        listen_host: str,
        advertise_host: str,
        transfers: Callable[[], AbstractContextManager[None]],
        chunk_size: int = 64 * 1024 * 1024,
        idle_timeout: float = IDLE_TIMEOUT,
        request_timeout: float = REQUEST_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        max_writes: int = MAX_WRITES,
    ) -> None:
        self.store = store
        self.name = name
        self._secret_text = secret
        self._secret = secret.encode()
        self._transfers = transfers  # counts transfers (the namenode's load)
        self._chunk_size = chunk_size  # a write may not send more
        self._write_timeout = transfer_timeout(chunk_size)
        self._idle_timeout = idle_timeout
        self._request_timeout = request_timeout
        self._serving = threading.BoundedSemaphore(max_connections)
        self._writing = threading.BoundedSemaphore(max_writes)
        self._forwards = StreamSet()  # to the next hops of the writes being received
        # Connections still sending their request (or about to hear BUSY) take a thread but
        # no serving slot; beyond this many threads a new connection is closed at once.
        self._max_threads = max_connections + max_writes + MAX_PENDING
        family = socket.AF_INET6 if ":" in listen_host else socket.AF_INET
        dualstack = family == socket.AF_INET6 and listen_host in ("::", "")
        self._listener = socket.create_server(
            (listen_host, 0),
            family=family,
            backlog=128,
            dualstack_ipv6=dualstack and socket.has_dualstack_ipv6(),
        )
        self._listener.settimeout(1.0)  # the accept loop notices stop() at least this often
        self.port = self._listener.getsockname()[1]
        self.address = f"{advertise_host}:{self.port}"
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._accept_loop, name="transfer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        self._stopped.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept()
        except OSError:
            pass
        self._listener.close()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        self._forwards.close_all()
        with self._lock:
            open_now = dict(self._connections)
        for conn in open_now:
            try:
                # Close with a reset: after SHUT_RD the unread data is gone, and a plain
                # close would leave a sender blocked on a zero window until it times out.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _ABORTIVE_CLOSE)
                conn.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in send or recv
            except OSError:
                pass
        for thread in open_now.values():
            thread.join(max(0.0, deadline - time.monotonic()))

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopped.is_set():
                    return
                logger.warning("data transfer port: accept failed", exc_info=True)
                self._stopped.wait(0.1)
                continue
            thread = threading.Thread(
                target=self._serve, args=(conn,), name="transfer", daemon=True
            )
            with self._lock:
                overloaded = len(self._connections) >= self._max_threads
                if not overloaded:
                    self._connections[conn] = thread
            if overloaded:
                logger.warning(
                    "data transfer port: %d connections open; closing a new one", self._max_threads
                )
                conn.close()
                continue
            try:
                thread.start()
            except RuntimeError as exc:  # no thread to be had: drop this connection only
                logger.error("data transfer port: cannot start a thread: %s", exc)
                with self._lock:
                    self._connections.pop(conn, None)
                conn.close()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._answer(conn)
        except OSError as exc:  # the client went away or stalled: nothing to tell it
            logger.debug("data transfer connection dropped: %s", exc)
        finally:
            conn.close()
            with self._lock:
                self._connections.pop(conn, None)

    def _answer(self, conn: socket.socket) -> None:
        # The whole request within request_timeout: a silent or trickling client does not
        # keep a thread for long.
        deadline = time.monotonic() + self._request_timeout
        magic = bytearray(4)
        _recv_exactly(conn, memoryview(magic), deadline)
        if magic == WRITE_MAGIC:
            self._answer_write(conn, deadline)
            return
        read = self._request_head(conn, magic, _REQUEST.size, decode_request_head, deadline)
        if read is None:
            return
        secret_len, handle, offset, length = read
        if not self._authenticated(conn, secret_len, deadline):
            return
        if not self._serving.acquire(blocking=False):
            conn.sendall(encode_error(Code.BUSY, f"{self.name} is serving too many reads"))
            return
        try:
            with self._transfers():
                self._send_range(conn, handle, offset, length)
        finally:
            self._serving.release()

    def _request_head(
        self,
        conn: socket.socket,
        magic: bytearray,
        size: int,
        decode: Callable[[bytes], _Head],
        deadline: float,
    ) -> _Head | None:
        """The rest of a request's fixed part, decoded; None (after telling the client)
        when it is not one of ours."""
        head = bytearray(size)
        head[:4] = magic
        _recv_exactly(conn, memoryview(head)[4:], deadline)
        try:
            return decode(bytes(head))
        except TransferError as exc:
            logger.info("data transfer port: refused a request: %s", exc)
            conn.sendall(encode_error(exc.code, str(exc)))
            return None

    def _authenticated(self, conn: socket.socket, secret_len: int, deadline: float) -> bool:
        """Read the request's secret; False (after telling the client) when it is wrong."""
        secret = bytearray(secret_len)
        _recv_exactly(conn, memoryview(secret), deadline)
        conn.settimeout(self._idle_timeout)
        if hmac.compare_digest(bytes(secret), self._secret):
            return True
        conn.sendall(encode_error(Code.UNAUTHENTICATED, "missing or wrong cluster secret"))
        return False

    def _answer_write(self, conn: socket.socket, deadline: float) -> None:
        read = self._request_head(
            conn, bytearray(WRITE_MAGIC), _WRITE_REQUEST.size, decode_write_request_head, deadline
        )
        if read is None:
            return
        secret_len, wait, header_len = read
        if not self._authenticated(conn, secret_len, deadline):
            return
        raw_header = bytearray(header_len)
        _recv_exactly(conn, memoryview(raw_header), deadline)
        try:
            header = gfs_pb2.WriteHeader.FromString(bytes(raw_header))
        except DecodeError:
            conn.sendall(encode_error(Code.BAD_REQUEST, "malformed write header"))
            return
        wait = min(max(wait, 1.0), self._write_timeout)  # settimeout(0) would not block
        if not self._writing.acquire(blocking=False):
            conn.sendall(encode_error(Code.BUSY, f"{self.name} is receiving too many writes"))
            return
        try:
            with self._transfers():
                self._receive_write(conn, header.handle, list(header.downstream), wait)
        finally:
            self._writing.release()

    def _receive_write(
        self, conn: socket.socket, handle: int, downstream: list[gfs_pb2.Replica], wait: float
    ) -> None:
        """One hop of a pipelined write: store the chunk while forwarding it downstream[0]."""
        hexh = format_handle(handle)
        try:
            writer = BackgroundWriter(self.store.begin_write(handle))
        except OSError as exc:
            logger.error("cannot store chunk %s: %s", hexh, exc)
            message = f"{self.name} cannot store chunk {hexh}: {exc.strerror or exc}"
            conn.sendall(encode_error(Code.INTERNAL, message))
            return
        next_hop = _NextHop(self._forwards)
        try:
            if downstream:
                next_hop.open(downstream, self._secret_text, handle, wait)
            try:
                conn.sendall(_READY_RECORD)
            except OSError as exc:
                raise _UpstreamGone(str(exc)) from None
            self._receive_pieces(conn, writer, next_hop)
            ended_at = time.monotonic()
            next_hop.end()  # only now: the next hop commits while we do
            size = writer.commit()
        except _UpstreamGone as exc:
            writer.abort()
            next_hop.drop()  # without END: the next hops discard it too
            logger.info("write of chunk %s abandoned by the upstream (%s); discarded", hexh, exc)
            if exc.code is not None:
                conn.sendall(encode_error(exc.code, f"{self.name}: {exc}"))
            return
        except OSError as exc:  # the local disk
            writer.abort()
            next_hop.drop()
            logger.error("cannot store chunk %s: %s", hexh, exc)
            message = f"{self.name} cannot store chunk {hexh}: {exc.strerror or exc}"
            conn.sendall(encode_error(Code.INTERNAL, message))
            return
        except BaseException:
            writer.abort()
            next_hop.drop()
            raise
        ack = gfs_pb2.WriteAck(stored_on=[self.name], size=size)
        if downstream:
            # Counted from END: a slow local commit does not eat into what the upstream
            # allows us for the whole pipeline's acks.
            next_hop.merge_ack(ack, size, max(0.1, ended_at + wait - time.monotonic()))
            if ack.failed_datanode:
                logger.warning(
                    "pipeline write of chunk %s: %s; stored on %s",
                    hexh,
                    ack.error,
                    ", ".join(ack.stored_on),
                )
        logger.debug("stored chunk %s (%d bytes) on %s", hexh, size, ", ".join(ack.stored_on))
        payload = ack.SerializeToString()
        conn.settimeout(self._idle_timeout)
        conn.sendall(_RECORD.pack(_ACK, len(payload)) + payload)

    def _receive_pieces(
        self, conn: socket.socket, writer: BackgroundWriter, next_hop: _NextHop
    ) -> None:
        """DATA records up to END: each forwarded, then written. Raises _UpstreamGone when
        the connection ends, stalls or breaks the protocol first, OSError for the disk."""
        deadline = time.monotonic() + self._write_timeout
        header = bytearray(_RECORD.size)
        received = 0
        while True:
            _recv_upstream(conn, header, deadline)
            kind, size = _RECORD.unpack(header)
            if kind == _END and size == 0:
                return
            if kind != _DATA or not 0 < size <= MAX_PIECE:
                why = f"unexpected record {kind} of {size} bytes"
                raise _UpstreamGone(why, Code.BAD_REQUEST)
            received += size
            if received > self._chunk_size:
                why = f"more data than the chunk size ({self._chunk_size} bytes)"
                raise _UpstreamGone(why, Code.BAD_REQUEST)
            piece = bytearray(size)  # fresh: the disk thread may still hold the last ones
            _recv_upstream(conn, piece, deadline)
            next_hop.send(piece)  # forward first: the next hop works while we write
            writer.write(piece)

    def _send_range(self, conn: socket.socket, handle: int, offset: int, length: int) -> None:
        hexid = format_handle(handle)
        pieces = self.store.read(handle, offset, length)
        try:
            while True:
                try:
                    piece = next(pieces)
                except StopIteration:
                    break
                except ChunkNotFound:
                    message = f"no replica of chunk {hexid} on {self.name}"
                    conn.sendall(encode_error(Code.NOT_FOUND, message))
                    return
                except CorruptChunk:
                    message = f"corrupt replica of chunk {hexid} on {self.name}"
                    conn.sendall(encode_error(Code.DATA_LOSS, message))
                    return
                except ValueError as exc:
                    conn.sendall(encode_error(Code.OUT_OF_RANGE, str(exc)))
                    return
                except OSError as exc:
                    logger.error("cannot read chunk %s: %s", hexid, exc)
                    message = f"{self.name} cannot read chunk {hexid}: {exc.strerror or exc}"
                    conn.sendall(encode_error(Code.INTERNAL, message))
                    return
                if not piece:
                    continue
                conn.sendall(_RECORD.pack(_DATA, len(piece)))
                conn.sendall(piece)
        finally:
            pieces.close()
        conn.sendall(_RECORD.pack(_END, 0))
