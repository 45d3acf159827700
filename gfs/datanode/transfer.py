"""The datanode's data transfer port: chunk reads as a plain TCP stream, beside gRPC.

Control stays on gRPC; bulk reads take this port, as HDFS streams blocks over its
DataTransferProtocol beside its RPCs. On loopback a Python gRPC stream of 1 MiB messages
costs about 40% more CPU per byte than sendall/recv_into on a socket (bench/RESULTS.md),
and a `gfs get` is CPU-bound on a small machine.

One request per connection (integers little-endian):

    request   b"GFSR" | version u8 | secret length u16 | handle u64 | offset u64
              | length u64 (0: to the end of the chunk) | the cluster secret
    response  records of kind u8 | size u32 | payload:
                DATA   the next bytes of the range (at most MAX_PIECE), every block's
                       CRC verified by the datanode before it is sent
                END    the range is complete (no payload)
                ERROR  code u8 | one line of UTF-8; ends the response

The datanode closes the connection after END or ERROR. A client that gets DATA_LOSS reports
the replica to the namenode and reads from another; BUSY (more than MAX_CONNECTIONS reads
at once) sends it to another replica, then back after a pause.
"""

from __future__ import annotations

import enum
import hmac
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

from gfs.datanode.store import READ_PIECE_BYTES, ChunkNotFound, ChunkStore, CorruptChunk
from gfs.handles import format_handle

logger = logging.getLogger(__name__)

MAGIC = b"GFSR"
VERSION = 1
MAX_PIECE = READ_PIECE_BYTES
MAX_SECRET_BYTES = 1024
MAX_ERROR_BYTES = 4096  # an error record's message, UTF-8
IDLE_TIMEOUT = 60.0  # seconds a datanode waits on a stalled reader
REQUEST_TIMEOUT = 5.0  # seconds from connecting to a complete request
MAX_CONNECTIONS = 64  # reads served at once; more are answered BUSY
MAX_PENDING = 64  # connections beyond those, still sending their request or hearing BUSY

_REQUEST = struct.Struct("<4sBHQQQ")
_RECORD = struct.Struct("<BI")
_DATA, _END, _ERROR = 0, 1, 2


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
    """A read that failed; `code` says whether another replica may do better."""

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
    if magic != MAGIC:
        raise TransferError(Code.BAD_REQUEST, "not a GFS data transfer request")
    if version != VERSION:
        raise TransferError(Code.BAD_REQUEST, f"unsupported protocol version {version}")
    if secret_len > MAX_SECRET_BYTES:
        raise TransferError(Code.BAD_REQUEST, "secret too long")
    return secret_len, handle, offset, length


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


# ---- server ----


class TransferServer:
    """Serves chunk reads of a ChunkStore on a TCP port: an accept thread and a thread per
    connection. At most `max_connections` reads are served at once; a request beyond that
    is read, then answered BUSY. Bound at construction, so `address` is known before
    start(); stop() closes the port and every open connection."""

    def __init__(
        self,
        store: ChunkStore,
        *,
        name: str,
        secret: str,
        listen_host: str,
        advertise_host: str,
        transfers: Callable[[], AbstractContextManager[None]],
        idle_timeout: float = IDLE_TIMEOUT,
        request_timeout: float = REQUEST_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.store = store
        self.name = name
        self._secret = secret.encode()
        self._transfers = transfers  # counts reads as transfers (the namenode's load)
        self._idle_timeout = idle_timeout
        self._request_timeout = request_timeout
        self._serving = threading.BoundedSemaphore(max_connections)
        # Connections still sending their request (or about to hear BUSY) take a thread but
        # no serving slot; beyond this many threads a new connection is closed at once.
        self._max_threads = max_connections + MAX_PENDING
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
        with self._lock:
            open_now = dict(self._connections)
        for conn in open_now:
            try:
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
                target=self._serve, args=(conn,), name="transfer-read", daemon=True
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
        head = bytearray(_REQUEST.size)
        try:
            _recv_exactly(conn, memoryview(head), deadline)
            secret_len, handle, offset, length = decode_request_head(bytes(head))
        except TransferError as exc:
            logger.info("data transfer port: refused a request: %s", exc)
            conn.sendall(encode_error(exc.code, str(exc)))
            return
        secret = bytearray(secret_len)
        _recv_exactly(conn, memoryview(secret), deadline)
        conn.settimeout(self._idle_timeout)
        if not hmac.compare_digest(bytes(secret), self._secret):
            conn.sendall(encode_error(Code.UNAUTHENTICATED, "missing or wrong cluster secret"))
            return
        if not self._serving.acquire(blocking=False):
            conn.sendall(encode_error(Code.BUSY, f"{self.name} is serving too many reads"))
            return
        try:
            with self._transfers():
                self._send_range(conn, handle, offset, length)
        finally:
            self._serving.release()

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
