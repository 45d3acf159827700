"""The worker process: heartbeats to the active master, runs attempts in child processes,
and serves finished map outputs to reducers.

Local layout, under DIR/data/<worker>/:
    mapout/<job>/<task>-a<attempt>/part-<r>   sorted map output, one run file per partition
    shuffle/<job>/<task>-a<attempt>/          a reducer's fetched copies of map outputs
    jobs/<job>.pkl                            cached job code

Fencing: the worker remembers the highest master epoch it has seen and ignores any reply or
command carrying an older one, so a master that lost its ZooKeeper session cannot assign or
commit anything here.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from gfs import rpc, zk
from gfs.config import ClusterConfig
from mr.job import python_version
from mr.proto import mr_pb2, mr_pb2_grpc
from mr.runtime import part_name

logger = logging.getLogger(__name__)

CALL_TIMEOUT = 10.0


def mapout_dir(root: Path, job_id: str, task: str, attempt: int) -> Path:
    return root / "mapout" / job_id / f"{task}-a{attempt}"


def ref_key(ref: mr_pb2.AttemptRef) -> tuple[str, str, int]:
    return (ref.job_id, ref.task, ref.attempt)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 0


class ShuffleService(mr_pb2_grpc.WorkerServicer):
    """Streams one partition of one finished map attempt's output."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def FetchPartition(self, request, context):  # noqa: N802 (gRPC name)
        path = mapout_dir(self.root, request.job_id, request.map_task, request.attempt) / part_name(
            request.partition
        )
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"no output of {request.job_id}/{request.map_task} attempt {request.attempt}",
            )
        with handle:
            handle.seek(request.offset)
            while chunk := handle.read(rpc.FRAME_BYTES):
                yield mr_pb2.Frame(data=chunk)


@dataclass
class Running:
    assignment: mr_pb2.Assignment
    process: Any  # multiprocessing Process
    conn: multiprocessing.connection.Connection
    progress: float = 0.0
    map_generation: int = 0
    maps_known: int = 0  # a reduce: map outputs whose location it was sent
    killed: bool = False
    send_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def key(self) -> tuple[str, str, int]:
        return ref_key(self.assignment.ref)


class WorkerDaemon:
    def __init__(
        self,
        *,
        name: str,
        host: str,
        address: str,
        cluster_dir: Path,
        config: ClusterConfig,
        secret: str,
        zk_client: Any,
        root: Path,
    ) -> None:
        self.name = name
        self.host = host
        self.address = address
        self.cluster_dir = cluster_dir
        self.config = config
        self.secret = secret
        self.zk = zk_client
        self.root = root
        self.incarnation = uuid.uuid4().hex
        self.epoch = 0  # highest master epoch seen
        self.master_address = ""
        self.stub: mr_pb2_grpc.MasterStub | None = None
        self.registered = False
        self.lock = threading.Lock()
        self.running: dict[tuple[str, str, int], Running] = {}
        self.outbox: list[mr_pb2.AttemptResult] = []
        self.held: set[tuple[str, str, int]] = set()  # finished map outputs on disk
        self._namenode = ""
        self._namenode_checked = -1e9
        self.fetch_failures: list[mr_pb2.FetchFailure] = []
        self.wake = threading.Event()
        self.stopped = threading.Event()
        self.context = multiprocessing.get_context("forkserver")
        # Children start from a server process that already imported the task code, so an
        # attempt starts in milliseconds instead of paying for a fresh interpreter. grpc
        # imports its channel code on the first channel: every attempt opens one.
        preload = ["mr.worker.attempt", "mr.worker.server", "grpc._channel", "grpc.experimental"]
        self.context.set_forkserver_preload(preload)
        self.thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    # ---- master ----
    def _find_master(self) -> bool:
        try:
            info = zk.read(self.zk, zk.znode(self.config.zookeeper.chroot, zk.MASTER))
        except Exception as exc:
            logger.warning("cannot read the master's address from ZooKeeper: %s", exc)
            return False
        if not info or not info.get("address"):
            return False
        if info["address"] != self.master_address:
            self.master_address = info["address"]
            self.stub = mr_pb2_grpc.MasterStub(rpc.channel(self.master_address, self.secret))
            self.registered = False
            logger.info(
                "master is %s at %s (epoch %s)",
                info.get("name"),
                info["address"],
                info.get("epoch"),
            )
        return True

    def _register(self) -> bool:
        assert self.stub is not None
        reply = self.stub.Register(
            mr_pb2.RegisterRequest(
                worker=self.name,
                address=self.address,
                host=self.host,
                slots=self.config.mr.slots,
                python_version=python_version(),
                incarnation=self.incarnation,
                machine=socket.gethostname(),
                cpus=usable_cpus(),
                held=[
                    mr_pb2.AttemptRef(job_id=j, task=t, attempt=a) for j, t, a in sorted(self.held)
                ],
            ),
            timeout=CALL_TIMEOUT,
        )
        if reply.error:
            logger.error("master refused registration: %s", reply.error)
            return False
        if reply.epoch < self.epoch:
            logger.warning("ignoring a master with stale epoch %d (< %d)", reply.epoch, self.epoch)
            self.master_address = ""
            return False
        self.epoch = reply.epoch
        self.registered = True
        logger.info("registered with the master (epoch %d)", reply.epoch)
        return True

    def _loop(self) -> None:
        failures = 0
        while not self.stopped.is_set():
            try:
                if self.stub is None or not self.registered:
                    if self._find_master() and self.stub is not None:
                        self._register()
                if self.registered:
                    self._heartbeat()
                    failures = 0
            except grpc.RpcError as exc:
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    logger.warning("master unreachable (%s); looking it up again", exc.code())
                self.registered = False
                self.master_address = ""
            if not self.registered:
                interval = min(1.0, self.config.mr.heartbeat_interval * 5)
            elif self._reduce_near_shuffle_end():
                interval = self.config.mr.heartbeat_interval / 4  # learn the last maps sooner
            else:
                interval = self.config.mr.heartbeat_interval
            self.wake.wait(interval)
            self.wake.clear()

    def _reduce_near_shuffle_end(self) -> bool:
        """A reduce here waits for the locations of its last few map outputs (an eighth,
        at least one): they come with heartbeats, and the whole job waits for them."""
        with self.lock:
            return any(
                0 < r.assignment.maps_total - r.maps_known <= max(1, r.assignment.maps_total // 8)
                for r in self.running.values()
                if r.assignment.kind == "reduce" and not r.killed
            )

    def _heartbeat(self) -> None:
        assert self.stub is not None
        with self.lock:
            finished = list(self.outbox)
            failures = list(self.fetch_failures)
            running = [
                mr_pb2.RunningAttempt(
                    ref=r.assignment.ref, progress=r.progress, map_generation=r.map_generation
                )
                for r in self.running.values()
                if not r.killed
            ]
        reply = self.stub.Heartbeat(
            mr_pb2.WorkerHeartbeat(
                worker=self.name,
                incarnation=self.incarnation,
                epoch=self.epoch,
                running=running,
                finished=finished,
                fetch_failures=failures,
            ),
            timeout=CALL_TIMEOUT,
        )
        if reply.epoch < self.epoch:
            logger.warning("ignoring a reply from stale master epoch %d", reply.epoch)
            self.registered = False
            self.master_address = ""
            return
        self.epoch = reply.epoch
        with self.lock:  # delivered: forget them
            del self.outbox[: len(finished)]
            del self.fetch_failures[: len(failures)]
        if reply.reregister:
            self.registered = False
            self.wake.set()
            return
        for ref in reply.kill:
            self._kill(ref_key(ref), "the master asked")
        for job_id in reply.drop_jobs:
            with self.lock:
                self.held = {h for h in self.held if h[0] != job_id}
            for sub in ("mapout", "shuffle"):
                shutil.rmtree(self.root / sub / job_id, ignore_errors=True)
            (self.root / "jobs" / f"{job_id}.pkl").unlink(missing_ok=True)
        for assignment in reply.assign:
            self._launch(assignment)
        for locations in reply.maps:
            self._send_locations(locations)

    # ---- attempts ----
    def _launch(self, assignment: mr_pb2.Assignment) -> None:
        from mr.worker import attempt

        # A master that took over numbers attempts from 0 again: the same ref may still run
        # here for its predecessor. Only one of them may write that attempt's output, and
        # the old one's result, if it ended just now, is not the new one's.
        key = ref_key(assignment.ref)
        self._kill(key, "a new master assigned the same attempt again")
        with self.lock:
            self.outbox = [r for r in self.outbox if ref_key(r.ref) != key]
        parent, child = self.context.Pipe()
        settings = attempt.Settings(
            cluster_dir=str(self.cluster_dir),
            worker=self.name,
            host=self.host,
            root=str(self.root),
            memory_budget=self.config.mr.task_memory_bytes,
            secret=self.secret,
            namenode_address=self._namenode_address(),
        )
        process = self.context.Process(
            target=attempt.main,
            args=(assignment.SerializeToString(), child, settings),
            name=f"{assignment.ref.task}-a{assignment.ref.attempt}",
            daemon=True,
        )
        process.start()
        child.close()
        running = Running(assignment, process, parent)
        with self.lock:
            self.running[running.key] = running
        logger.info(
            "started %s/%s attempt %d (%s, pid %d)",
            assignment.ref.job_id,
            assignment.ref.task,
            assignment.ref.attempt,
            assignment.kind,
            process.pid,
        )
        threading.Thread(
            target=self._watch, args=(running,), name=f"watch-{process.name}", daemon=True
        ).start()

    def _namenode_address(self) -> str:
        """Where the namenode is, from ZooKeeper, cached for a few seconds ("" if unknown)."""
        now = time.monotonic()
        if now - self._namenode_checked > 5.0:
            self._namenode_checked = now
            try:
                info = zk.read(self.zk, zk.znode(self.config.zookeeper.chroot, zk.NAMENODE))
                self._namenode = str(info["address"]) if info and info.get("address") else ""
            except Exception:  # the attempt looks it up itself
                self._namenode = ""
        return self._namenode

    def _send(self, running: Running, message: tuple[Any, ...]) -> None:
        with running.send_lock:
            try:
                running.conn.send(message)
            except (OSError, EOFError):
                pass  # the child is gone; _watch reports it

    def _send_locations(self, locations: mr_pb2.MapLocations) -> None:
        with self.lock:
            running = self.running.get(ref_key(locations.reducer))
        if running is None:
            return
        maps = [(m.task, m.attempt, m.worker, m.address) for m in locations.maps]
        self._send(running, ("maps", locations.map_generation, maps))
        running.map_generation = locations.map_generation
        running.maps_known = len(maps)

    def _kill(self, key: tuple[str, str, int], why: str) -> None:
        with self.lock:  # under the lock: its watcher reports nothing once this is set
            running = self.running.get(key)
            if running is None or running.killed:
                return
            running.killed = True
        logger.info("killing %s/%s attempt %d: %s", *key, why)
        running.process.kill()

    def _watch(self, running: Running) -> None:
        """Relay one child's messages until it exits, then report its outcome."""
        result: mr_pb2.AttemptResult | None = None
        ref = running.assignment.ref
        while True:
            try:
                message = running.conn.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "progress":
                running.progress = message[1]
            elif kind == "fetch_failed":
                _, map_task, map_attempt, error = message
                with self.lock:
                    self.fetch_failures.append(
                        mr_pb2.FetchFailure(
                            reducer=ref,
                            map=mr_pb2.AttemptRef(
                                job_id=ref.job_id, task=map_task, attempt=map_attempt
                            ),
                            error=error,
                        )
                    )
                self.wake.set()
            elif kind == "commit":
                granted, reason = self._commit(ref, message[1], message[2])
                self._send(running, ("commit_reply", granted, reason))
            elif kind == "done":
                result = mr_pb2.AttemptResult(ref=ref, **message[1])
        running.process.join(timeout=5)
        code = running.process.exitcode
        if result is None and not running.killed:
            result = mr_pb2.AttemptResult(
                ref=ref, ok=False, error=f"attempt process died (exit code {code})"
            )
        with self.lock:
            if self.running.get(running.key) is running:  # not a relaunch of the same ref
                del self.running[running.key]
            if result is not None and not running.killed:
                self.outbox.append(result)
                if result.ok and running.assignment.kind == "map":
                    self.held.add(running.key)
        running.conn.close()
        if result is not None and not running.killed:
            logger.info(
                "%s/%s attempt %d %s%s",
                ref.job_id,
                ref.task,
                ref.attempt,
                "succeeded" if result.ok else "failed",
                "" if result.ok else f": {result.error}",
            )
        self.wake.set()  # report at once, and take new work

    def _commit(
        self, ref: mr_pb2.AttemptRef, temp_path: str, counters: dict[str, int]
    ) -> tuple[bool, str]:
        stub = self.stub
        if stub is None or not self.registered:
            return False, "not connected to a master"
        try:
            reply = stub.Commit(
                mr_pb2.CommitRequest(
                    ref=ref, epoch=self.epoch, temp_path=temp_path, counters=counters
                ),
                timeout=CALL_TIMEOUT * 3,
            )
        except grpc.RpcError as exc:
            return False, f"commit call failed: {exc.code()}"
        return reply.granted, reply.reason

    # ---- lifecycle ----
    def start(self) -> None:
        (self.root / "mapout").mkdir(parents=True, exist_ok=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.wake.set()
        with self.lock:
            running = list(self.running.values())
        for r in running:
            r.killed = True
            r.process.kill()
        self.thread.join(timeout=5)


def clear_dir(path: Path) -> None:
    """Start clean: outputs of a previous incarnation belong to attempts the master forgot."""
    if path.exists():
        for child in path.iterdir():
            if child.name in ("mapout", "shuffle"):
                shutil.rmtree(child, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.makedirs(path / "jobs", exist_ok=True)
