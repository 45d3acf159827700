"""The datanode's gRPC service, its heartbeats to the namenode and its checksum scrubber.

Pipelined writes: the first WriteFrame carries {handle, downstream}; a datanode with a
downstream opens WriteChunk on downstream[0] (telling it downstream[1:]) and forwards every
frame before writing it locally, through a bounded queue so a slow hop slows the whole
pipeline instead of filling memory. A failed downstream stops the forwarding but not the
local copy; the ack says who stored the chunk and which hop failed.

Data frames are handled as raw protobuf bytes (gfs.datanode.frames): a data-only WriteFrame
is forwarded exactly as received and its payload written to disk through a memoryview. That
saves a parse, a copy and a re-serialisation per frame per hop; the wire format is the one
in gfs.proto. Reads do not use gRPC: the data transfer port (gfs.datanode.transfer) streams
them over a plain socket.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent import futures
from contextlib import contextmanager
from typing import Any

import grpc
from kazoo.client import KazooClient

from gfs import rpc
from gfs import zk as gfs_zk
from gfs.config import ClusterConfig
from gfs.datanode.frames import (
    END_FRAME,
    SERVICE_NAME,
    encode_write_data,
    encode_write_header,
    identity,
    write_chunk_call,
    write_data,
)
from gfs.datanode.store import ChunkNotFound, ChunkStore, ChunkWriter, CorruptChunk
from gfs.datanode.transfer import TransferServer, split_address
from gfs.handles import format_handle
from gfs.proto import gfs_pb2, gfs_pb2_grpc
from gfs.writebehind import WriteBehind

logger = logging.getLogger(__name__)

FORWARD_QUEUE_FRAMES = 8  # frames buffered between the upstream and the downstream hop
LOCAL_QUEUE_FRAMES = 8  # frames buffered between the upstream and the local disk
MIN_TRANSFER_RATE = 4 * 1024 * 1024  # bytes/s a chunk transfer may not fall below
TRANSFER_BASE_TIMEOUT = 60.0  # seconds, plus the chunk size at MIN_TRANSFER_RATE
STALL_TIMEOUT = 30.0  # seconds a downstream may refuse frames before it counts as failed
HOP_MARGIN = 2.0  # seconds each hop keeps for itself out of its caller's deadline
# Copies ordered by the namenode run at once up to this many. The namenode itself keeps at
# most 2 copies per source in flight; the headroom is for copies to a target that stopped
# answering, which the namenode has already given up on and replaced.
REPLICATION_WORKERS = 4
# A datanode-to-datanode copy has no client waiting and fsyncs once per target: a target
# that does not take a chunk within this (plus the chunk at MIN_TRANSFER_RATE) is stuck
# (paused, partitioned), and the worker is better used for the next copy.
REPLICATION_BASE_TIMEOUT = 10.0
FAILURE_LOG_EVERY = 30.0  # seconds between repeated heartbeat-failure log lines


def transfer_timeout(chunk_size: int) -> float:
    return TRANSFER_BASE_TIMEOUT + chunk_size / MIN_TRANSFER_RATE


def replication_timeout(chunk_size: int) -> float:
    return REPLICATION_BASE_TIMEOUT + chunk_size / MIN_TRANSFER_RATE


def _call_error(exc: BaseException) -> str:
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        details = exc.details() if hasattr(exc, "details") else ""
        return f"{exc.code().name}: {details}" if details else exc.code().name
    if isinstance(exc, grpc.FutureCancelledError):
        return "cancelled"
    if isinstance(exc, grpc.FutureTimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


class _Forwarder:
    """The outgoing half of a pipeline hop: frames go to downstream[0] through a queue."""

    def __init__(
        self,
        service: DatanodeService,
        handle: int,
        downstream: list[gfs_pb2.Replica],
        timeout: float,
        stall_timeout: float,
    ) -> None:
        self.target = downstream[0].datanode or downstream[0].address
        self._stall_timeout = stall_timeout
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=FORWARD_QUEUE_FRAMES)
        self._done = threading.Event()
        self._failure = ""
        header = encode_write_header(handle, downstream[1:])
        self._future = service.start_write_call(
            downstream[0].address, self._frames(header), timeout=timeout
        )
        self._future.add_done_callback(self._on_done)

    def _frames(self, header: bytes) -> Iterator[bytes]:
        yield header
        while True:
            item = self._queue.get()
            if item is None:
                return
            yield item

    def _on_done(self, _future: Any) -> None:
        self._done.set()
        # Wake the gRPC thread that may be waiting for a frame of a call that is over.
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass

    def send(self, raw: bytes | None) -> None:
        """Queue one serialized frame (None: end of stream); give up on a dead downstream."""
        if self._done.is_set() or self._failure:
            return
        try:
            self._queue.put(raw, timeout=self._stall_timeout)
        except queue.Full:
            self._failure = f"stalled for {self._stall_timeout:.0f}s"
            self._future.cancel()

    def cancel(self) -> None:
        self._future.cancel()

    def result(self) -> tuple[gfs_pb2.WriteAck | None, str]:
        """(the downstream's ack, "") or (None, why the call failed)."""
        try:
            ack = self._future.result()
        except (grpc.RpcError, grpc.FutureCancelledError) as exc:
            return None, self._failure or _call_error(exc)
        return ack, ""


class _BackgroundWriter:
    """Runs a ChunkWriter's checksums and disk writes on a thread of its own, so receiving
    and forwarding the next frames overlaps with storing this one."""

    def __init__(self, writer: ChunkWriter) -> None:
        self.writer = writer
        name = f"store-{format_handle(writer.handle)}"
        self._behind = WriteBehind(writer.write, LOCAL_QUEUE_FRAMES, name)

    def write(self, data: memoryview | bytes) -> None:
        self._behind.put(data)

    def finish(self) -> None:
        """Wait until every frame is written; re-raise a write error."""
        self._behind.close()

    def abort(self) -> None:
        self._behind.drain()
        self.writer.abort()


class DatanodeService(gfs_pb2_grpc.DatanodeServicer):
    """The Datanode RPCs over one ChunkStore. Register it with add_to_server().

    WriteChunk receives serialized WriteFrames (bytes); the other methods take and return
    messages as usual. Chunk reads are served by the data transfer port (transfer.py).
    """

    def __init__(
        self,
        store: ChunkStore,
        *,
        name: str,
        secret: str,
        chunk_size: int = 64 * 1024 * 1024,
        stall_timeout: float = STALL_TIMEOUT,
    ) -> None:
        self.store = store
        self.name = name
        self._secret = secret
        self.transfer_timeout = transfer_timeout(chunk_size)
        self.replication_timeout = replication_timeout(chunk_size)
        self.stall_timeout = stall_timeout
        self._lock = threading.Lock()
        self._channels: dict[str, grpc.Channel] = {}
        self._outgoing: set[grpc.Future] = set()
        self._active = 0
        self._closed = False

    # ---- plumbing ----
    @property
    def active_transfers(self) -> int:
        with self._lock:
            return self._active

    @contextmanager
    def transfer(self) -> Iterator[None]:
        with self._lock:
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def _channel(self, address: str) -> grpc.Channel:
        with self._lock:
            if self._closed:
                raise grpc.FutureCancelledError()
            chan = self._channels.get(address)
            if chan is None:
                chan = self._channels[address] = rpc.channel(address, self._secret)
            return chan

    def start_write_call(
        self, address: str, frames: Iterator[bytes], timeout: float
    ) -> grpc.Future:
        """WriteChunk on `address` fed with serialized frames; cancelled by close()."""
        future = write_chunk_call(self._channel(address)).future(frames, timeout=timeout)
        with self._lock:
            self._outgoing.add(future)
        future.add_done_callback(self._outgoing_done)
        return future

    def _outgoing_done(self, future: grpc.Future) -> None:
        with self._lock:
            self._outgoing.discard(future)

    def close(self) -> None:
        """Cancel outgoing transfers and close channels; later transfers fail at once."""
        with self._lock:
            self._closed = True
            outgoing = list(self._outgoing)
            channels = list(self._channels.values())
            self._channels.clear()
        for future in outgoing:
            future.cancel()
        for chan in channels:
            chan.close()

    def _downstream_timeout(self, context: grpc.ServicerContext) -> float:
        remaining = context.time_remaining()
        if remaining is None:
            return self.transfer_timeout
        return max(1.0, min(self.transfer_timeout, remaining - HOP_MARGIN))

    # ---- RPCs ----
    def WriteChunk(  # gRPC method names are CamelCase
        self, request_iterator: Iterable[bytes], context: grpc.ServicerContext
    ) -> gfs_pb2.WriteAck:
        frames = iter(request_iterator)
        try:
            first_raw = next(frames)
        except StopIteration:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "WriteChunk: empty stream")
        except grpc.RpcError:
            return gfs_pb2.WriteAck()  # the caller is gone before it said anything
        try:
            first = gfs_pb2.WriteFrame.FromString(first_raw)
        except Exception:  # a malformed message from the wire
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "WriteChunk: malformed frame")
        if not first.HasField("header"):
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "WriteChunk: the first frame must carry a header"
            )
        handle = first.header.handle
        downstream = list(first.header.downstream)
        with self.transfer():
            return self._write(handle, downstream, first.data, frames, context)

    def _write(
        self,
        handle: int,
        downstream: list[gfs_pb2.Replica],
        first_data: bytes,
        frames: Iterator[bytes],
        context: grpc.ServicerContext,
    ) -> gfs_pb2.WriteAck:
        hexh = format_handle(handle)
        try:
            writer = _BackgroundWriter(self.store.begin_write(handle))
        except OSError as exc:
            context.abort(
                grpc.StatusCode.INTERNAL, f"{self.name} cannot store chunk {hexh}: {exc.strerror}"
            )
        forward: _Forwarder | None = None
        local_error: OSError | None = None
        try:
            if downstream:
                try:
                    forward = _Forwarder(
                        self,
                        handle,
                        downstream,
                        self._downstream_timeout(context),
                        self.stall_timeout,
                    )
                except grpc.FutureCancelledError:
                    forward = None  # shutting down; store locally and report the hop
            if first_data:
                if forward is not None:
                    forward.send(encode_write_data(first_data))
                writer.write(first_data)
            ended = False
            for raw in frames:
                data = write_data(raw)
                if data is None:
                    frame = gfs_pb2.WriteFrame.FromString(raw)
                    if frame.last:
                        ended = True
                        break
                    data = memoryview(frame.data)
                    raw = encode_write_data(data)
                if forward is not None:
                    forward.send(raw)  # forward first: the next hop works while we write
                writer.write(data)
            if not ended:  # the upstream broke off: tell nobody downstream it is complete
                raise grpc.RpcError()
            if forward is not None:
                forward.send(END_FRAME)  # only now: the downstream commits while we do
                forward.send(None)
            writer.finish()
            writer.writer.sync()
            # gRPC may end the request iterator of a cancelled call before it flags the
            # cancellation; after the fsync the flag has had time to land, and a broken-off
            # upstream must not leave a truncated replica behind.
            if not context.is_active():
                raise grpc.RpcError()
            size = writer.writer.commit()
        except grpc.RpcError:
            # The upstream broke off (client died, cancelled, deadline): nothing is kept.
            writer.abort()
            if forward is not None:
                forward.cancel()
            logger.info("write of chunk %s abandoned by the upstream; discarded", hexh)
            return gfs_pb2.WriteAck()
        except OSError as exc:
            writer.abort()
            if forward is not None:
                forward.cancel()
            local_error = exc
        except BaseException:
            writer.abort()
            if forward is not None:
                forward.cancel()
            raise
        if local_error is not None:
            logger.error("cannot store chunk %s: %s", hexh, local_error)
            context.abort(
                grpc.StatusCode.INTERNAL,
                f"{self.name} cannot store chunk {hexh}: {local_error.strerror or local_error}",
            )
        ack = gfs_pb2.WriteAck(stored_on=[self.name], size=size)
        if downstream:
            if forward is None:
                down_ack, why = None, "datanode is shutting down"
            else:
                down_ack, why = forward.result()
            hop = downstream[0].datanode or downstream[0].address
            if down_ack is None:
                ack.failed_datanode = hop
                ack.error = f"{hop}: {why}"
            else:
                ack.stored_on.extend(down_ack.stored_on)
                if down_ack.failed_datanode or down_ack.error:
                    ack.failed_datanode = down_ack.failed_datanode or hop
                    ack.error = down_ack.error or f"{hop} did not store the chunk"
                elif down_ack.size != size:
                    ack.failed_datanode = hop
                    ack.error = f"{hop} stored {down_ack.size} bytes, expected {size}"
            if ack.failed_datanode:
                logger.warning(
                    "pipeline write of chunk %s: %s; stored on %s",
                    hexh,
                    ack.error,
                    ", ".join(ack.stored_on),
                )
        logger.debug("stored chunk %s (%d bytes) on %s", hexh, size, ", ".join(ack.stored_on))
        return ack

    def Scan(
        self, request: gfs_pb2.ScanRequest, context: grpc.ServicerContext
    ) -> gfs_pb2.ScanReply:
        """Re-verify, then list every replica known to be corrupt (not only new ones)."""
        self.store.scan(changed_only=request.changed_only)
        return gfs_pb2.ScanReply(corrupt=self.store.corrupt_handles())

    def Replicate(
        self, request: gfs_pb2.ReplicateRequest, context: grpc.ServicerContext
    ) -> gfs_pb2.WriteAck:
        if not request.targets:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Replicate: no targets")
        hexh = format_handle(request.handle)
        try:
            return self.replicate(request.handle, list(request.targets))
        except ChunkNotFound:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no replica of chunk {hexh} on {self.name}")
        except CorruptChunk:
            context.abort(
                grpc.StatusCode.DATA_LOSS, f"corrupt replica of chunk {hexh} on {self.name}"
            )

    def replicate(self, handle: int, targets: list[gfs_pb2.Replica]) -> gfs_pb2.WriteAck:
        """Push the local replica through a pipeline targets[0] -> targets[1:].

        The ack lists the targets that stored it (not this datanode). Raises ChunkNotFound
        or CorruptChunk when the local replica cannot be read; a corrupt block found midway
        cancels the transfer, so no target keeps a partial copy.
        """
        with self.transfer():
            pieces = self.store.read(handle)
            first = next(pieces, None)  # surfaces NotFound/early corruption before any call
            read_error: list[BaseException] = []
            calls: list[grpc.Future] = []

            def frames() -> Iterator[bytes]:
                yield encode_write_header(handle, targets[1:])
                if first is not None:
                    yield encode_write_data(first)
                try:
                    for piece in pieces:
                        yield encode_write_data(piece)
                except Exception as exc:
                    # No END_FRAME, and cancelled: no target commits a partial copy.
                    read_error.append(exc)
                    if not calls:
                        raise
                    calls[0].cancel()
                    return
                yield END_FRAME

            hop = targets[0].datanode or targets[0].address
            try:
                future = self.start_write_call(
                    targets[0].address, frames(), timeout=self.replication_timeout
                )
                calls.append(future)
                ack = future.result()
            except (grpc.RpcError, grpc.FutureCancelledError) as exc:
                if read_error:
                    raise read_error[0] from None
                return gfs_pb2.WriteAck(failed_datanode=hop, error=f"{hop}: {_call_error(exc)}")
            if read_error:
                raise read_error[0]
            return ack


def add_to_server(service: DatanodeService, server: grpc.Server) -> None:
    """Register the service, WriteChunk with raw (pre-serialized) frames."""
    handlers = {
        "WriteChunk": grpc.stream_unary_rpc_method_handler(
            service.WriteChunk,
            request_deserializer=identity,
            response_serializer=gfs_pb2.WriteAck.SerializeToString,
        ),
        "Scan": grpc.unary_unary_rpc_method_handler(
            service.Scan,
            request_deserializer=gfs_pb2.ScanRequest.FromString,
            response_serializer=gfs_pb2.ScanReply.SerializeToString,
        ),
        "Replicate": grpc.unary_unary_rpc_method_handler(
            service.Replicate,
            request_deserializer=gfs_pb2.ReplicateRequest.FromString,
            response_serializer=gfs_pb2.WriteAck.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))


class Heartbeater:
    """Every `interval`: check changed chunk files, then send the namenode a full report and
    carry out its commands (DELETE now, REPLICATE in a small pool).

    The namenode is found through ZooKeeper and cached; the cache is refreshed after a failed
    heartbeat (the namenode may come back elsewhere), and kept while ZooKeeper is away.
    """

    def __init__(
        self,
        service: DatanodeService,
        *,
        address: str,
        data_address: str,
        host: str,
        interval: float,
        zk_client: KazooClient,
        zk_path: str,
        secret: str,
        replication_workers: int = REPLICATION_WORKERS,
    ) -> None:
        self.service = service
        self.store = service.store
        self.address = address
        self.data_address = data_address
        self.host = host
        self.interval = interval
        self.rpc_timeout = max(5.0, 3 * interval)
        self._zk = zk_client
        self._zk_path = zk_path
        self._secret = secret
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._namenode: str | None = None
        self._namenode_channel: grpc.Channel | None = None
        self._refresh = True
        self._failures = 0
        self._last_failure_log = 0.0
        self._pool = futures.ThreadPoolExecutor(
            max_workers=replication_workers, thread_name_prefix="replicate"
        )
        # (handle, target names) of the copies queued or running: the same order twice is
        # done once, but a new copy of a chunk to other targets (the namenode gave up on a
        # target that stopped answering) must not wait for the stuck one.
        self._replicating: set[tuple[int, tuple[str, ...]]] = set()
        self._replicating_lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop beating and drop queued replications (see join_replications())."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._namenode_channel is not None:
            self._namenode_channel.close()

    def join_replications(self) -> None:
        """Wait for running replications; call after service.close() cancelled them."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        next_beat = time.monotonic()
        while not self._stop.is_set():
            try:
                self.beat()
            except Exception:  # a bug must not end the heartbeats
                logger.exception("heartbeat failed unexpectedly")
            next_beat = max(next_beat + self.interval, time.monotonic())
            self._stop.wait(next_beat - time.monotonic())

    def _namenode_address(self) -> str | None:
        if self._refresh or self._namenode is None:
            if self._zk.connected:
                try:
                    info = gfs_zk.read(self._zk, self._zk_path)
                except Exception as exc:  # ZooKeeper away: keep the cache
                    logger.debug("cannot read %s: %s", self._zk_path, exc)
                    info = None
                if info and info.get("address"):
                    self._refresh = False
                    address = str(info["address"])
                    if address != self._namenode:
                        if self._namenode_channel is not None:
                            self._namenode_channel.close()
                        self._namenode_channel = rpc.channel(address, self._secret)
                        if self._namenode is not None:
                            logger.info("namenode moved to %s", address)
                        self._namenode = address
        return self._namenode

    def beat(self) -> bool:
        """One heartbeat; True if the namenode answered."""
        self.store.scan(changed_only=True)
        address = self._namenode_address()
        if address is None or self._namenode_channel is None:
            self._failed("namenode address unknown (none registered, or ZooKeeper unreachable)")
            return False
        try:
            free = shutil.disk_usage(self.store.root).free
        except OSError:
            free = 0
        request = gfs_pb2.HeartbeatRequest(
            datanode=self.service.name,
            address=self.address,
            data_address=self.data_address,
            host=self.host,
            used_bytes=self.store.used_bytes(),
            free_bytes=free,
            chunks=[gfs_pb2.ChunkReport(handle=h, size=s) for h, s in self.store.report()],
            corrupt=self.store.corrupt_handles(),
            active_transfers=self.service.active_transfers,
        )
        stub = gfs_pb2_grpc.NamenodeStub(self._namenode_channel)
        try:
            reply = stub.Heartbeat(request, timeout=self.rpc_timeout)
        except grpc.RpcError as exc:
            self._refresh = True
            self._failed(f"namenode at {address}: {_call_error(exc)}")
            return False
        if self._failures:
            logger.info(
                "heartbeats to the namenode at %s resumed after %d failures",
                address,
                self._failures,
            )
            self._failures = 0
        for command in reply.commands:
            self._execute(command)
        return True

    def _failed(self, why: str) -> None:
        self._failures += 1
        now = time.monotonic()
        if self._failures == 1 or now - self._last_failure_log >= FAILURE_LOG_EVERY:
            self._last_failure_log = now
            logger.warning("heartbeat failed (%d in a row): %s", self._failures, why)

    def _execute(self, command: gfs_pb2.DatanodeCommand) -> None:
        if command.kind == gfs_pb2.DatanodeCommand.DELETE:
            deleted = [h for h in command.handles if self.store.delete(h)]
            if deleted:
                names = " ".join(format_handle(h) for h in deleted[:8])
                more = f" and {len(deleted) - 8} more" if len(deleted) > 8 else ""
                logger.info(
                    "deleted %d replicas as told by the namenode: %s%s", len(deleted), names, more
                )
        elif command.kind == gfs_pb2.DatanodeCommand.REPLICATE:
            targets = list(command.targets)
            if not targets:
                return
            names = tuple(t.datanode or t.address for t in targets)
            for handle in command.handles:
                key = (handle, names)
                with self._replicating_lock:
                    if key in self._replicating:
                        continue
                    self._replicating.add(key)
                try:
                    self._pool.submit(self._replicate, handle, targets, key)
                except RuntimeError:  # the pool is shut down: we are stopping
                    with self._replicating_lock:
                        self._replicating.discard(key)

    def _replicate(
        self, handle: int, targets: list[gfs_pb2.Replica], key: tuple[int, tuple[str, ...]]
    ) -> None:
        hexh = format_handle(handle)
        names = ", ".join(t.datanode for t in targets)
        try:
            ack = self.service.replicate(handle, targets)
            if ack.failed_datanode or ack.error:
                logger.warning(
                    "replication of chunk %s to %s incomplete (stored on %s): %s",
                    hexh,
                    names,
                    ", ".join(ack.stored_on) or "none",
                    ack.error,
                )
            else:
                logger.info("replicated chunk %s to %s", hexh, ", ".join(ack.stored_on))
        except (ChunkNotFound, CorruptChunk) as exc:
            logger.warning("cannot replicate chunk %s: %s", hexh, exc)
        except Exception:
            logger.exception("replication of chunk %s failed", hexh)
        finally:
            with self._replicating_lock:
                self._replicating.discard(key)


class Scrubber:
    """A full checksum scrub right after start, then every `interval` seconds, throttled."""

    def __init__(self, store: ChunkStore, interval: float, throttle: float = 1.0) -> None:
        self.store = store
        self.interval = interval
        self.throttle = throttle
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="scrub", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                found = self.store.scan(changed_only=False, stop=self._stop, throttle=self.throttle)
            except Exception:
                logger.exception("checksum scrub failed")
                found = []
            if not self._stop.is_set():
                logger.log(
                    logging.INFO if found or self.store.report() else logging.DEBUG,
                    "checksum scrub done in %.1fs: %d replicas newly found corrupt",
                    time.monotonic() - started,
                    len(found),
                )
            self._stop.wait(self.interval)


class DatanodeServer:
    """A datanode: the gRPC server and the data transfer port over a ChunkStore plus, once
    start_background() is called, heartbeats and scrubs. Tests use it without ZooKeeper (no
    start_background)."""

    def __init__(
        self,
        store: ChunkStore,
        *,
        name: str,
        secret: str,
        listen: str = "127.0.0.1:0",
        advertise_host: str = "127.0.0.1",
        chunk_size: int = 64 * 1024 * 1024,
        stall_timeout: float = STALL_TIMEOUT,
        max_workers: int = 32,
    ) -> None:
        self.store = store
        self.name = name
        self._secret = secret
        self.service = DatanodeService(
            store, name=name, secret=secret, chunk_size=chunk_size, stall_timeout=stall_timeout
        )
        self._server = rpc.make_server(secret, max_workers=max_workers)
        add_to_server(self.service, self._server)
        self.port = rpc.bind(self._server, listen)
        self.address = f"{advertise_host}:{self.port}"
        # Reads get a port of their own (an ephemeral one on the gRPC listen host).
        self.transfer = TransferServer(
            store,
            name=name,
            secret=secret,
            listen_host=split_address(listen)[0],
            advertise_host=advertise_host,
            transfers=self.service.transfer,
        )
        self.data_address = self.transfer.address
        self.heartbeater: Heartbeater | None = None
        self.scrubber: Scrubber | None = None

    def start(self) -> None:
        self._server.start()
        self.transfer.start()

    def start_background(self, *, config: ClusterConfig, zk_client: KazooClient, host: str) -> None:
        """Start heartbeats (to the namenode found in ZooKeeper) and checksum scrubs."""
        self.heartbeater = Heartbeater(
            self.service,
            address=self.address,
            data_address=self.data_address,
            host=host,
            interval=config.gfs.heartbeat_interval,
            zk_client=zk_client,
            zk_path=gfs_zk.znode(config.zookeeper.chroot, gfs_zk.NAMENODE),
            secret=self._secret,
        )
        self.scrubber = Scrubber(self.store, config.gfs.scrub_interval)
        self.heartbeater.start()
        self.scrubber.start()

    def stop(self, grace: float = 2.0) -> None:
        """Stop background threads, cancel outgoing transfers, stop serving."""
        if self.scrubber is not None:
            self.scrubber.stop()
        if self.heartbeater is not None:
            self.heartbeater.stop()  # first: no new commands while transfers are cancelled
        self.service.close()
        if self.heartbeater is not None:
            self.heartbeater.join_replications()
        self.transfer.stop()
        self._server.stop(grace).wait(grace + 5.0)
