"""The datanode's gRPC service, its heartbeats to the namenode and its checksum scrubber.

Chunk data does not go through gRPC: the data transfer port (gfs.datanode.transfer) streams
reads and pipelined writes over plain sockets. What stays here is control: checksum scans,
and the copies the namenode orders (Replicate), which push a local replica through a write
pipeline on the targets' data ports.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager

import grpc
from kazoo.client import KazooClient

from gfs import rpc
from gfs import zk as gfs_zk
from gfs.config import ClusterConfig
from gfs.datanode.store import ChunkNotFound, ChunkStore, CorruptChunk
from gfs.datanode.transfer import (
    MIN_TRANSFER_RATE,
    StreamSet,
    TransferError,
    TransferServer,
    split_address,
)
from gfs.handles import format_handle
from gfs.proto import gfs_pb2, gfs_pb2_grpc

logger = logging.getLogger(__name__)

# Copies ordered by the namenode run at once up to this many. The namenode itself keeps at
# most 2 copies per source in flight; the headroom is for copies to a target that stopped
# answering, which the namenode has already given up on and replaced.
REPLICATION_WORKERS = 4
# A datanode-to-datanode copy has no client waiting and fsyncs once per target: a target
# that does not take a chunk within this (plus the chunk at MIN_TRANSFER_RATE) is stuck
# (paused, partitioned), and the worker is better used for the next copy.
REPLICATION_BASE_TIMEOUT = 10.0
FAILURE_LOG_EVERY = 30.0  # seconds between repeated heartbeat-failure log lines


def replication_timeout(chunk_size: int) -> float:
    return REPLICATION_BASE_TIMEOUT + chunk_size / MIN_TRANSFER_RATE


def _call_error(exc: BaseException) -> str:
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        details = exc.details() if hasattr(exc, "details") else ""
        return f"{exc.code().name}: {details}" if details else exc.code().name
    return str(exc) or type(exc).__name__


class DatanodeService(gfs_pb2_grpc.DatanodeServicer):
    """The Datanode RPCs over one ChunkStore. Register it with add_to_server()."""

    def __init__(
        self,
        store: ChunkStore,
        *,
        name: str,
        secret: str,
        chunk_size: int = 64 * 1024 * 1024,
    ) -> None:
        self.store = store
        self.name = name
        self._secret = secret
        self.replication_timeout = replication_timeout(chunk_size)
        self._lock = threading.Lock()
        self._outgoing = StreamSet()  # copies being pushed to other datanodes
        self._active = 0

    @property
    def active_transfers(self) -> int:
        with self._lock:
            return self._active

    @contextmanager
    def transfer(self) -> Iterator[None]:
        """Counts a transfer (reads, writes, copies): the namenode's measure of load."""
        with self._lock:
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def close(self) -> None:
        """Drop outgoing copies; later ones fail at once."""
        self._outgoing.close_all()

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
        drops the transfer before its end, so no target keeps a partial copy.
        """
        with self.transfer():
            pieces = self.store.read(handle)
            first = next(pieces, None)  # surfaces NotFound/early corruption before any call
            hop = targets[0].datanode or targets[0].data_address
            try:
                stream = self._outgoing.open(
                    targets[0], self._secret, handle, targets[1:], self.replication_timeout
                )
            except TransferError as exc:
                pieces.close()
                return gfs_pb2.WriteAck(failed_datanode=hop, error=f"{hop}: {exc}")
            try:
                if first is not None:
                    stream.send(first)
                for piece in pieces:  # a read error leaves before END: targets keep nothing
                    stream.send(piece)
                return stream.finish()
            except TransferError as exc:
                return gfs_pb2.WriteAck(failed_datanode=hop, error=f"{hop}: {exc}")
            finally:
                self._outgoing.done(stream)
                pieces.close()


def add_to_server(service: DatanodeService, server: grpc.Server) -> None:
    gfs_pb2_grpc.add_DatanodeServicer_to_server(service, server)


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
        max_workers: int = 32,
    ) -> None:
        self.store = store
        self.name = name
        self._secret = secret
        self.service = DatanodeService(store, name=name, secret=secret, chunk_size=chunk_size)
        self._server = rpc.make_server(secret, max_workers=max_workers)
        add_to_server(self.service, self._server)
        self.port = rpc.bind(self._server, listen)
        self.address = f"{advertise_host}:{self.port}"
        # Chunk data gets a port of its own (an ephemeral one on the gRPC listen host).
        self.transfer = TransferServer(
            store,
            name=name,
            secret=secret,
            listen_host=split_address(listen)[0],
            advertise_host=advertise_host,
            transfers=self.service.transfer,
            chunk_size=chunk_size,
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
