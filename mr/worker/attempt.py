"""One task attempt, run in a child process of the worker, so user code that crashes, hangs
or exits takes down only its own attempt.

Talks to its parent over a pipe:
    child -> parent  ("progress", fraction) | ("fetch_failed", map_task, map_attempt, error)
                     | ("commit", gfs_temp_path, counters) | ("done", result_fields)
    parent -> child  ("maps", generation, [(task, attempt, worker, address)])
                     | ("commit_reply", granted, reason)
"""

from __future__ import annotations

import os
import shutil
import time
import traceback
import uuid
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import grpc

from gfs import rpc
from gfs.client import GfsClient
from mr import counters as C
from mr import runtime
from mr.counters import Counters
from mr.job import JobDefinition, loads_job
from mr.master.scheduler import SHUFFLE_SHARE
from mr.proto import mr_pb2, mr_pb2_grpc

PROGRESS_EVERY = 0.25  # seconds between progress messages
FETCH_RETRY_SECONDS = 1.0
FETCH_THREADS = 4  # map outputs fetched at once by a reduce


@dataclass(frozen=True)
class Settings:
    cluster_dir: str
    worker: str
    host: str
    root: str  # the worker's local data directory
    memory_budget: int
    secret: str
    namenode_address: str = ""  # known to the worker: saves each attempt a ZooKeeper lookup


class Reporter:
    """Rate-limited progress messages to the parent."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.last = 0.0

    def progress(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY:
            self.last = now
            self.conn.send(("progress", max(0.0, min(1.0, fraction))))


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def main(assignment_bytes: bytes, conn: Connection, settings: Settings) -> None:
    assignment = mr_pb2.Assignment.FromString(assignment_bytes)
    counters = Counters()
    result: dict[str, Any]
    try:
        with GfsClient(
            settings.cluster_dir,
            client_host=settings.host,
            namenode_address=settings.namenode_address,
        ) as gfs:
            job = load_job(gfs, assignment, settings)
            if assignment.kind == "map":
                sizes = run_map_attempt(gfs, job, assignment, settings, counters, Reporter(conn))
                result = {"ok": True, "partition_bytes": sizes}
            else:
                run_reduce_attempt(gfs, job, assignment, settings, counters, conn)
                result = {"ok": True}
    except Exception as exc:  # user code or framework: either way this attempt failed
        result = {"ok": False, "error": one_line(exc), "traceback": traceback.format_exc()}
    result["counters"] = counters.to_dict()
    conn.send(("done", result))
    conn.close()


def load_job(gfs: GfsClient, assignment: mr_pb2.Assignment, settings: Settings) -> JobDefinition:
    cache = Path(settings.root) / "jobs" / f"{assignment.ref.job_id}.pkl"
    try:
        blob = cache.read_bytes()
    except FileNotFoundError:
        blob = gfs.read_bytes(assignment.code_path)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}")
        tmp.write_bytes(blob)
        os.replace(tmp, cache)
    return loads_job(blob)


def run_map_attempt(
    gfs: GfsClient,
    job: JobDefinition,
    assignment: mr_pb2.Assignment,
    settings: Settings,
    counters: Counters,
    reporter: Reporter,
) -> list[int]:
    from mr.worker.server import mapout_dir

    ref = assignment.ref
    out_dir = mapout_dir(Path(settings.root), ref.job_id, ref.task, ref.attempt)
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    status, chunks = gfs.stat(assignment.path)

    # Records come in batches of one read frame each, and progress moves per batch: cut
    # frames to ~1/64 of the split, so a small split still reports progress as it goes
    # (speculation judges stragglers by it). Large splits keep their 1 MiB frames.
    piece = min(1 << 20, max(1 << 10, assignment.length // 64))

    def read(offset: int, length: int | None) -> Iterator[bytes]:
        for frame in gfs.read_range(assignment.path, offset, length, chunks=chunks):
            if len(frame) <= piece:
                yield frame
                continue
            view = memoryview(frame)
            for start in range(0, len(frame), piece):
                yield bytes(view[start : start + piece])

    parts = runtime.map_split(
        job,
        assignment.path,
        assignment.offset,
        assignment.length,
        status.size,
        read,
        assignment.reducers,
        out_dir,
        dict(assignment.params),
        settings.memory_budget,
        counters,
        progress=reporter.progress,
    )
    return [part.bytes for part in parts]


class Shuffle:
    """Fetches partition `r` of every finished map as its location becomes known."""

    def __init__(self, assignment: mr_pb2.Assignment, settings: Settings, conn: Connection) -> None:
        ref = assignment.ref
        self.assignment = assignment
        self.settings = settings
        self.conn = conn
        self.dir = Path(settings.root) / "shuffle" / ref.job_id / f"{ref.task}-a{ref.attempt}"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.locations: dict[str, tuple[int, str]] = {}  # map task -> (attempt, address)
        self.fetched: dict[str, tuple[int, Path]] = {}  # map task -> (attempt, local file)
        self.retry_at: dict[str, float] = {}
        self.channels: dict[str, Any] = {}
        self.commit_reply: tuple[bool, str] | None = None

    def handle(self, message: tuple[Any, ...]) -> None:
        if message[0] == "maps":
            _, _generation, maps = message
            self.locations = {task: (attempt, address) for task, attempt, _w, address in maps}
            for task, (attempt, path) in list(self.fetched.items()):
                if self.locations.get(task, (attempt,))[0] != attempt:
                    path.unlink(missing_ok=True)  # that map was re-executed: refetch
                    del self.fetched[task]
        elif message[0] == "commit_reply":
            self.commit_reply = (message[1], message[2])

    def poll(self, timeout: float) -> None:
        if self.conn.poll(timeout):
            self.handle(self.conn.recv())

    def _channel(self, address: str) -> Any:
        channel = self.channels.get(address)
        if channel is None:
            channel = self.channels[address] = rpc.channel(address, self.settings.secret)
        return channel

    def fetch_one(self, task: str, attempt: int, channel: Any) -> Path:
        """Partition `r` of one map output into a local file (runs in a fetch thread)."""
        stub = mr_pb2_grpc.WorkerStub(channel)
        path = self.dir / f"{task}-a{attempt}"
        tmp = path.with_suffix(".part")
        request = mr_pb2.FetchRequest(
            job_id=self.assignment.ref.job_id,
            map_task=task,
            attempt=attempt,
            partition=self.assignment.partition,
        )
        try:
            with open(tmp, "wb") as out:
                for frame in stub.FetchPartition(request, timeout=300):
                    out.write(frame.data)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, path)
        return path

    def run(self, reporter: Reporter) -> list[Path]:
        """Fetch every map's partition, a few at a time (small outputs are latency-bound),
        following the map locations the parent sends; failures are reported to it."""
        total = self.assignment.maps_total
        running: dict[Future[Path], tuple[str, int]] = {}
        pool = ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="fetch")
        try:
            while len(self.fetched) < total:
                if running:
                    full = len(running) >= FETCH_THREADS  # else new locations may come
                    done, _ = wait(running, 0.2 if full else 0.02, return_when=FIRST_COMPLETED)
                    for future in done:
                        self._fetched(future, *running.pop(future))
                    reporter.progress(SHUFFLE_SHARE * len(self.fetched) / max(total, 1))
                while self.conn.poll(0 if running or self.pending() else 0.2):
                    self.handle(self.conn.recv())
                now = time.monotonic()
                busy = {task for task, _ in running.values()}
                for task, (attempt, address) in list(self.locations.items()):
                    if len(running) >= FETCH_THREADS:
                        break
                    if task in self.fetched or task in busy or self.retry_at.get(task, 0) > now:
                        continue
                    future = pool.submit(self.fetch_one, task, attempt, self._channel(address))
                    running[future] = (task, attempt)
        finally:
            # On a local failure (a full disk) fail now: do not wait for other fetches.
            pool.shutdown(wait=not running, cancel_futures=True)
        for channel in self.channels.values():
            channel.close()
        return [path for _task, (_attempt, path) in sorted(self.fetched.items())]

    def _fetched(self, future: Future[Path], task: str, attempt: int) -> None:
        try:
            path = future.result()
        except grpc.RpcError as exc:
            if self.locations.get(task, (attempt,))[0] == attempt:  # else fetch the new one now
                self.retry_at[task] = time.monotonic() + FETCH_RETRY_SECONDS
            self.conn.send(("fetch_failed", task, attempt, f"{exc.code()}: {exc.details()}"))
            return
        if self.locations.get(task, (attempt,))[0] != attempt:
            path.unlink(missing_ok=True)  # that map was re-executed meanwhile: refetch
            return
        self.fetched[task] = (attempt, path)

    def pending(self) -> bool:
        now = time.monotonic()
        return any(t not in self.fetched and self.retry_at.get(t, 0) <= now for t in self.locations)

    def ask_commit(self, temp_path: str, counters: dict[str, int]) -> tuple[bool, str]:
        self.conn.send(("commit", temp_path, counters))
        while self.commit_reply is None:
            self.poll(1.0)
        return self.commit_reply


def run_reduce_attempt(
    gfs: GfsClient,
    job: JobDefinition,
    assignment: mr_pb2.Assignment,
    settings: Settings,
    counters: Counters,
    conn: Connection,
) -> None:
    ref = assignment.ref
    reporter = Reporter(conn)
    shuffle = Shuffle(assignment, settings, conn)
    runs = shuffle.run(reporter)
    # Unique per launch: a master that took over numbers attempts from 0 again, while the
    # lease of its predecessor's attempt on the same name may still hold.
    temp_path = f"{assignment.output_dir}/{ref.task}-a{ref.attempt}-{uuid.uuid4().hex[:12]}"
    writer = gfs.create(temp_path, overwrite=True)
    try:
        runtime.run_reduce(
            job,
            runs,
            writer,
            dict(assignment.params),
            counters,
            memory_budget_bytes=settings.memory_budget,
            tmp_dir=shuffle.dir,
            progress=lambda f: reporter.progress(SHUFFLE_SHARE + (1 - SHUFFLE_SHARE) * f),
        )
        writer.close()
    except BaseException:
        writer.abort()
        raise
    counters.incr(C.REDUCE_SHUFFLE_BYTES, sum(path.stat().st_size for path in runs))
    granted, reason = shuffle.ask_commit(temp_path, counters.to_dict())
    shutil.rmtree(shuffle.dir, ignore_errors=True)
    if not granted:
        # Another attempt won (or the job ended): not a failure of this task. The master
        # records this attempt as killed when it reports success without a commit.
        try:
            gfs.delete(temp_path)
        except Exception:
            pass  # the master deletes the job's temp directory at the end anyway
