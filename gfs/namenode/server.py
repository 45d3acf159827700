"""The namenode process: a thin gRPC adapter around NamenodeState, the op log, and ZooKeeper.

One lock serializes every call into the state; a mutation is fsynced to the op log before
the call returns. A ticker thread advances time (liveness, leases) and checkpoints.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import TypeVar

import grpc

from gfs import paths, rpc, zk
from gfs.config import ClusterConfig
from gfs.errors import GfsError, LeaseError
from gfs.namenode.oplog import OpLog
from gfs.namenode.state import (
    ChunkView,
    DeleteReplicas,
    Entry,
    FsckReport,
    NamenodeState,
    ReplicaView,
)
from gfs.proto import gfs_pb2, gfs_pb2_grpc

logger = logging.getLogger(__name__)
T = TypeVar("T")


REPAIR_MIN_RATE = 4 * 1024 * 1024  # bytes/s a re-replication copy is expected to beat


def repair_timeout(heartbeat_interval: float, chunk_size: int) -> float:
    """Seconds before a copy not yet reported is retried: a failed copy (the source found
    its replica corrupt, the target restarted mid-copy) is never reported, and only this
    timeout frees its chunk for another attempt. A slow copy retried meanwhile only leaves
    an excess replica, which is trimmed."""
    return 10 * heartbeat_interval + 5.0 + chunk_size / REPAIR_MIN_RATE


class NamenodeCore:
    """State + op log under one lock: the only way the service touches either."""

    def __init__(self, config: ClusterConfig, data_dir: Path) -> None:
        self.config = config
        self.oplog = OpLog(data_dir)
        namespace = self.oplog.recover()
        self.lock = threading.Lock()
        gfs = config.gfs
        self.state = NamenodeState(
            namespace,
            replication=gfs.replication,
            chunk_size=gfs.chunk_size,
            dead_after=gfs.dead_after,
            lease_timeout=gfs.lease_timeout,
            report_grace=3 * gfs.heartbeat_interval + 2.0,
            rng=random.Random(),
            now=time.time(),
            repair_timeout=repair_timeout(gfs.heartbeat_interval, gfs.chunk_size),
        )
        if self.oplog.ops_since_checkpoint:
            self.oplog.checkpoint(namespace)  # start from a compact log

    def call(self, fn: Callable[[NamenodeState, float], T]) -> T:
        with self.lock:
            try:
                return fn(self.state, time.time())
            finally:
                self._persist()

    def _persist(self) -> None:
        # Called with the lock held: log what was applied, before anyone is answered.
        for seq, op in self.state.take_ops():
            self.oplog.append(op, seq)
        if self.oplog.ops_since_checkpoint >= self.config.gfs.checkpoint_after_ops:
            self.oplog.checkpoint(self.state.ns)

    def tick(self) -> None:
        events = self.call(lambda state, now: state.tick(now))
        for event in events:
            logger.info("%s", event)

    def close(self) -> None:
        with self.lock:
            self.oplog.close()


def _entry_pb(entry: Entry) -> gfs_pb2.FileStatus:
    return gfs_pb2.FileStatus(
        path=entry.path,
        is_dir=entry.is_dir,
        size=entry.size,
        replication=entry.replication,
        mtime=entry.mtime,
        chunk_count=entry.chunk_count,
    )


def _replica_pb(replica: ReplicaView) -> gfs_pb2.Replica:
    return gfs_pb2.Replica(
        datanode=replica.datanode,
        address=replica.address,
        host=replica.host,
        data_address=replica.data_address,
    )


def _chunk_pb(chunk: ChunkView) -> gfs_pb2.Chunk:
    return gfs_pb2.Chunk(
        handle=chunk.handle,
        size=chunk.size,
        offset=chunk.offset,
        replicas=[_replica_pb(r) for r in chunk.replicas],
        corrupt=chunk.corrupt,
    )


def _fsck_pb(report: FsckReport) -> gfs_pb2.FsckReply:
    return gfs_pb2.FsckReply(
        files=report.files,
        chunks=report.chunks,
        under_replicated=report.under_replicated,
        corrupt=report.corrupt,
        missing=report.missing,
        healthy=report.healthy,
        problems=[
            gfs_pb2.FsckProblem(
                path=p.path, handle=p.handle, kind=p.kind, live=p.live, corrupt=p.corrupt
            )
            for p in report.problems
        ],
    )


def _path(raw: str) -> str:
    return paths.normalize(raw)


class NamenodeService(gfs_pb2_grpc.NamenodeServicer):
    def __init__(self, core: NamenodeCore, secret: str) -> None:
        self.core = core
        self.secret = secret

    def _run(self, context: grpc.ServicerContext, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except GfsError as exc:
            rpc.abort(context, exc)

    def Mkdir(self, request, context):  # noqa: N802 (gRPC method names)
        def go() -> gfs_pb2.Empty:
            path = _path(request.path)
            self.core.call(lambda s, now: s.mkdir(path, request.parents, now))
            logger.info("mkdir %s", path)
            return gfs_pb2.Empty()

        return self._run(context, go)

    def List(self, request, context):  # noqa: N802
        def go() -> gfs_pb2.ListReply:
            path = _path(request.path)
            entries = self.core.call(lambda s, now: s.list(path, request.recursive))
            return gfs_pb2.ListReply(entries=[_entry_pb(e) for e in entries])

        return self._run(context, go)

    def Stat(self, request, context):  # noqa: N802
        def go() -> gfs_pb2.StatReply:
            path = _path(request.path)
            entry, chunks = self.core.call(lambda s, now: s.stat(path, request.client_host))
            return gfs_pb2.StatReply(status=_entry_pb(entry), chunks=[_chunk_pb(c) for c in chunks])

        return self._run(context, go)

    def Delete(self, request, context):  # noqa: N802
        def go() -> gfs_pb2.Empty:
            path = _path(request.path)
            self.core.call(lambda s, now: s.delete(path, request.recursive, now))
            logger.info("delete %s%s", path, " (recursive)" if request.recursive else "")
            return gfs_pb2.Empty()

        return self._run(context, go)

    def Rename(self, request, context):  # noqa: N802
        def go() -> gfs_pb2.Empty:
            src, dst = _path(request.src), _path(request.dst)
            self.core.call(lambda s, now: s.rename(src, dst, now))
            logger.info("rename %s -> %s", src, dst)
            return gfs_pb2.Empty()

        return self._run(context, go)

    def Create(self, request, context):  # noqa: N802
        def go() -> gfs_pb2.CreateReply:
            path = _path(request.path)
            chunk_size, replication = self.core.call(
                lambda s, now: s.create(
                    path, request.replication, request.client_id, request.overwrite, now
                )
            )
            logger.info("create %s (replication %d) for %s", path, replication, request.client_id)
            return gfs_pb2.CreateReply(
                chunk_size=chunk_size,
                replication=replication,
                lease_timeout=self.core.config.gfs.lease_timeout,
            )

        return self._run(context, go)

    def AddChunk(self, request, context):  # noqa: N802
        def go() -> gfs_pb2.AddChunkReply:
            path = _path(request.path)
            handle, targets = self.core.call(
                lambda s, now: s.add_chunk(
                    path,
                    request.client_id,
                    request.client_host,
                    request.exclude,
                    request.abandon_handle,
                    now,
                )
            )
            if request.abandon_handle:
                logger.info(
                    "chunk %016x of %s abandoned (failed: %s); replaced by %016x",
                    request.abandon_handle,
                    path,
                    ",".join(request.exclude) or "-",
                    handle,
                )
            return gfs_pb2.AddChunkReply(
                handle=handle,
                pipeline=[_replica_pb(t) for t in targets],
            )

        return self._run(context, go)

    def CommitChunk(self, request, context):  # noqa: N802
        def go() -> gfs_pb2.Empty:
            path = _path(request.path)
            self.core.call(
                lambda s, now: s.commit_chunk(
                    path, request.client_id, request.handle, request.size, request.stored_on, now
                )
            )
            return gfs_pb2.Empty()

        return self._run(context, go)

    def Complete(self, request, context):  # noqa: N802
        def go() -> gfs_pb2.Empty:
            path = _path(request.path)
            self.core.call(lambda s, now: s.complete(path, request.client_id, request.abort, now))
            logger.info("%s %s", "abort" if request.abort else "complete", path)
            return gfs_pb2.Empty()

        return self._run(context, go)

    def RenewLease(self, request, context):  # noqa: N802
        def go() -> gfs_pb2.Empty:
            paths_ = [_path(p) for p in request.paths]
            lost = self.core.call(lambda s, now: s.renew_lease(request.client_id, paths_, now))
            if lost:
                raise LeaseError(f"lease lost on {', '.join(lost)}")
            return gfs_pb2.Empty()

        return self._run(context, go)

    def ReportBadReplica(self, request, context):  # noqa: N802
        known = self.core.call(lambda s, now: s.mark_corrupt(request.handle, request.datanode))
        if known:
            logger.warning(
                "corrupt replica of chunk %016x on %s reported: %s",
                request.handle,
                request.datanode,
                request.reason,
            )
        return gfs_pb2.Empty()

    def Fsck(self, request, context):  # noqa: N802
        def go() -> gfs_pb2.FsckReply:
            path = _path(request.path or "/")
            self._scan_datanodes()

            def report(state: NamenodeState, now: float) -> gfs_pb2.FsckReply:
                reply = _fsck_pb(state.fsck(path))
                reply.repairs_pending = state.repairs_pending
                reply.repairs_done = state.repairs_done
                return reply

            return self.core.call(report)

        return self._run(context, go)

    def _scan_datanodes(self) -> None:
        """Have every live datanode re-verify chunk files changed on disk, so fsck is current."""
        targets = self.core.call(
            lambda s, now: [(d.name, d.address) for d in s.datanodes.values() if d.alive]
        )

        def scan(name: str, address: str) -> tuple[str, list[int]]:
            stub = gfs_pb2_grpc.DatanodeStub(rpc.channel(address, self.secret))
            try:
                return name, list(
                    stub.Scan(gfs_pb2.ScanRequest(changed_only=True), timeout=5).corrupt
                )
            except grpc.RpcError as exc:
                logger.info("fsck: scan of %s failed: %s", name, exc.code())
                return name, []

        if not targets:
            return
        with futures.ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
            results = list(pool.map(lambda t: scan(*t), targets))
        for name, corrupt in results:
            for handle in corrupt:
                if self.core.call(lambda s, now, h=handle, n=name: s.mark_corrupt(h, n)):
                    logger.warning("corrupt replica of chunk %016x found on %s", handle, name)

    def Cluster(self, request, context):  # noqa: N802
        def snapshot(state: NamenodeState, now: float) -> gfs_pb2.ClusterReply:
            return gfs_pb2.ClusterReply(
                datanodes=[
                    gfs_pb2.DatanodeInfo(
                        name=d.name,
                        address=d.address,
                        data_address=d.data_address,
                        host=d.host,
                        alive=d.alive,
                        seconds_since_heartbeat=now - d.last_seen,
                        chunks=d.reported_chunks,
                        used_bytes=d.used_bytes,
                    )
                    for d in sorted(state.datanodes.values(), key=lambda d: d.name)
                ],
                chunk_size=state.chunk_size,
                replication=state.replication,
            )

        return self.core.call(snapshot)

    def Heartbeat(self, request, context):  # noqa: N802
        reported = {c.handle: c.size for c in request.chunks}
        commands, events = self.core.call(
            lambda s, now: s.heartbeat(
                request.datanode,
                request.address,
                request.host,
                request.used_bytes,
                request.free_bytes,
                reported,
                request.corrupt,
                now,
                request.data_address,
            )
        )
        for event in events:
            logger.info("%s", event)
        reply = gfs_pb2.HeartbeatReply()
        for command in commands:
            if isinstance(command, DeleteReplicas):
                reply.commands.append(
                    gfs_pb2.DatanodeCommand(
                        kind=gfs_pb2.DatanodeCommand.DELETE, handles=command.handles
                    )
                )
                logger.info(
                    "%s: delete %d replica(s): %s",
                    request.datanode,
                    len(command.handles),
                    " ".join(f"{h:016x}" for h in command.handles[:8]),
                )
            else:
                reply.commands.append(
                    gfs_pb2.DatanodeCommand(
                        kind=gfs_pb2.DatanodeCommand.REPLICATE,
                        handles=[command.handle],
                        targets=[_replica_pb(t) for t in command.targets],
                    )
                )
        return reply


class Publisher:
    """Keeps our address in an ephemeral znode, re-creating it after a session loss."""

    def __init__(self, client, path: str, value: dict[str, str], interval: float) -> None:
        self.client = client
        self.path = path
        self.value = value
        self.interval = interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="zk-publisher", daemon=True)

    def start(self) -> None:
        zk.publish(self.client, self.path, self.value)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                current = zk.read(self.client, self.path)
                if current != self.value:
                    zk.publish(self.client, self.path, self.value)
                    logger.info("re-published %s", self.path)
            except Exception as exc:  # ZooKeeper down: keep serving, retry next round
                logger.warning("cannot check %s in ZooKeeper: %s", self.path, exc)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
