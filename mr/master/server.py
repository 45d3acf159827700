"""The master process: a thin gRPC adapter around the Scheduler, plus the GFS work it orders.

GFS layout of a job (everything under /.mr is the framework's):
    /.mr/jobs/<job_id>/job.pkl          the pickled job code (workers load it from here)
    /.mr/jobs/<job_id>/tmp/             reduce attempts' temp outputs
    /.mr/jobs/<job_id>/output/          committed parts (one rename per reduce commit)
The job commits by writing output/_SUCCESS and renaming output/ onto the user's output
path in one atomic namespace operation: the output appears complete or not at all.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import grpc

from gfs import paths, rpc
from gfs.client import GfsClient
from gfs.config import ClusterConfig
from gfs.errors import AlreadyExists, GfsError, NotFound
from mr.job import INPUT_FORMATS, gfs_inputs, python_version
from mr.master.scheduler import (
    KILLED,
    MAP,
    SUCCEEDED,
    TERMINAL,
    AttemptRef,
    AttemptReport,
    DoneTask,
    Job,
    JobSpec,
    MapSplit,
    Scheduler,
)
from mr.master.store import JobStore
from mr.proto import mr_pb2, mr_pb2_grpc

logger = logging.getLogger(__name__)
T = TypeVar("T")

SYSTEM_DIR = "/.mr/jobs"
SPLITS_FILE = "splits.json"  # beside job.pkl: the job's map splits, in task order
MAX_STATUS_WAIT = 1.0  # seconds a Status long poll may hold a server thread


def job_dir(job_id: str) -> str:
    return f"{SYSTEM_DIR}/{job_id}"


def new_job_id(now: float) -> str:
    return time.strftime("job-%Y%m%d-%H%M%S-", time.gmtime(now)) + secrets.token_hex(2)


class SubmitError(GfsError):
    pass


class _AlreadyCommitted(Exception):
    """A previous master published this job's output just before it failed over."""


class MasterCore:
    """Scheduler + the GFS side effects of its decisions, under one lock."""

    def __init__(
        self,
        config: ClusterConfig,
        gfs: GfsClient,
        epoch: int,
        name: str,
        store: JobStore | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.gfs = gfs
        self.epoch = epoch
        self.store = store
        self.lock = threading.Lock()
        self.scheduler = Scheduler(
            dead_after=config.mr.dead_after,
            task_timeout=config.mr.task_timeout,
            cap_to_cpus=config.mr.cap_to_cpus,
        )
        self.active = threading.Event()
        self.cleaned: set[str] = set()  # finished jobs whose /.mr/jobs/<id> is gone
        self.wake = threading.Event()  # tick now: an attempt ended or a reduce committed
        self.job_changed = threading.Condition()  # notified when a job's state changes
        self.job_changes = 0  # counts those changes (written under self.lock)
        # Jobs that ended under an earlier master: their final status as it recorded it,
        # with its attempts and without (for listings). Never changed once loaded.
        self.ended_before: dict[str, tuple[mr_pb2.JobStatus, mr_pb2.JobStatus]] = {}

    @contextmanager
    def locked(self) -> Iterator[Scheduler]:
        """The scheduler under the lock; what it decided is made durable before release."""
        with self.lock:
            try:
                yield self.scheduler
            finally:
                self._persist()

    def call(self, fn: Callable[[Scheduler, float], T]) -> T:
        with self.locked() as scheduler:
            return fn(scheduler, time.time())

    def _persist(self) -> None:
        for job in self.scheduler.jobs.values():
            for event in job.new_events():
                logger.info("%s: %s", job.job_id, event)
        records = self.scheduler.take_records()
        if any(record[0] == "job_state" for record in records):
            with self.job_changed:
                self.job_changes += 1
                self.job_changed.notify_all()
        if self.store is None:
            return
        for record in records:
            kind, job_id = record[0], str(record[1])
            try:
                if kind == "map_done":
                    _, _, task, done = record
                    assert isinstance(done, DoneTask)
                    self.store.task_done(job_id, str(task), done)
                elif kind == "map_undone":
                    self.store.map_undone(job_id, str(record[2]))
                elif kind == "job_state":
                    job = self.scheduler.jobs[job_id]
                    if job_id in self.ended_before:
                        continue  # ended under an earlier master, which recorded it
                    final = final_status_bytes(job) if job.state in TERMINAL else None
                    self.store.save_job(job, final)
            except Exception as exc:  # a successor may redo some work; never stop scheduling
                logger.warning("cannot record %s of %s in ZooKeeper: %s", kind, job_id, exc)

    # ---- taking over ----
    def recover(self) -> None:
        """Resume the jobs a previous master left: specs and finished maps from ZooKeeper,
        committed reduces from GFS."""
        if self.store is None:
            return
        now = time.time()
        for stored in self.store.load():
            spec = stored.spec
            if spec.job_id in self.scheduler.jobs:
                continue
            staged = f"{job_dir(spec.job_id)}/output"
            with self.lock:
                if stored.state in TERMINAL:
                    job = self.scheduler.submit(spec, [], now)
                    job.state, job.error, job.submitted = (
                        stored.state,
                        stored.error,
                        stored.submitted,
                    )
                    # Never re-recorded from this placeholder (see _persist).
                    full = stored.final or job_status_pb(job)
                    brief = mr_pb2.JobStatus()
                    brief.CopyFrom(full)
                    del brief.attempts[:]
                    self.ended_before[spec.job_id] = (full, brief)
                    continue
            try:
                if self.gfs.exists(spec.output) and not self.gfs.exists(staged):
                    with self.lock:  # its commit happened just before the failover
                        job = self.scheduler.submit(spec, [], now)
                        job.submitted = stored.submitted
                        for done in (*stored.done_maps.values(), *stored.done_reduces.values()):
                            for name, value in done.counters.items():
                                job.count(name, value)
                        self.scheduler.end_job(job, SUCCEEDED, now)
                    continue
                splits = self.stored_splits(spec)
                if splits is None:  # submitted before splits were stored
                    logger.warning(
                        "job %s has no %s: listing its inputs again", spec.job_id, SPLITS_FILE
                    )
                    splits = self.splits(self.expand_inputs(list(spec.inputs)), spec.input_format)
                committed = [
                    int(e.path.rsplit("-", 1)[1])
                    for e in self.gfs.ls(staged)
                    if e.path.rsplit("/", 1)[1].startswith("part-")
                ]
            except GfsError as exc:
                with self.locked() as scheduler:
                    job = scheduler.submit(spec, [], now)
                    scheduler.end_job(job, "FAILED", now, f"cannot resume after failover: {exc}")
                continue
            with self.locked() as scheduler:
                scheduler.restore_job(
                    spec,
                    splits,
                    state=stored.state,
                    submitted=stored.submitted,
                    done_maps=stored.done_maps,
                    committed_reduces=committed,
                    done_reduces=stored.done_reduces,
                    now=now,
                )
            logger.info(
                "resumed job %s: %d of %d maps and %d of %d reduces already done",
                spec.job_id,
                len(stored.done_maps),
                len(splits),
                len(committed),
                spec.reducers,
            )

    def stored_splits(self, spec: JobSpec) -> list[MapSplit] | None:
        """The splits the job was submitted with (None for a job from before they were
        stored). Finished maps are recorded by task index, so they must be the same list:
        inputs expanded again could have gained or lost a file since, and credit a finished
        map to another split."""
        try:
            raw = self.gfs.read_bytes(f"{job_dir(spec.job_id)}/{SPLITS_FILE}")
        except NotFound:
            return None
        try:
            return [
                MapSplit(s["path"], int(s["offset"]), int(s["length"]), tuple(s["hosts"]))
                for s in json.loads(raw)
            ]
        except (ValueError, TypeError, KeyError) as exc:
            raise GfsError(f"unreadable {SPLITS_FILE} of job {spec.job_id}: {exc}") from None

    # ---- submit ----
    def expand_inputs(self, inputs: list[str]) -> list[str]:
        # The same files in the same order as `mr run-local`: the same maps, and the same
        # order of a key's values.
        return [path for path, _size in gfs_inputs(self.gfs, inputs)]

    def splits(self, files: list[str], input_format: str) -> list[MapSplit]:
        splits = []
        for path in files:
            status, chunks = self.gfs.stat(path)
            if input_format == "files":
                hosts = {r.host for c in chunks for r in c.replicas}
                splits.append(MapSplit(path, 0, status.size, tuple(sorted(hosts))))
                continue
            for chunk in chunks:
                if chunk.size:
                    hosts = tuple(sorted({r.host for r in chunk.replicas}))
                    splits.append(MapSplit(path, chunk.offset, chunk.size, hosts))
        return splits

    def submit(self, request: mr_pb2.SubmitRequest) -> str:
        raw = request.spec
        if not raw.inputs:
            raise SubmitError("no input given")
        output = paths.normalize(raw.output)
        if raw.input_format not in INPUT_FORMATS:
            raise SubmitError(f"unknown INPUT_FORMAT {raw.input_format!r} (lines or files)")
        if raw.reducers < 1:
            raise SubmitError("the number of reducers must be >= 1")
        if not request.code:
            raise SubmitError("no job code")
        # A client whose Submit was cut off (this master's predecessor died) sends it again.
        earlier = self.call(lambda s, now: s.submitted_as(raw.submission_id))
        if earlier is not None:
            logger.info("job %s: its Submit came again; not a new job", earlier.job_id)
            return earlier.job_id
        if self.gfs.exists(output):
            raise SubmitError(f"output {output} already exists")
        ancestor = paths.parent(output)
        while ancestor != "/" and not self.gfs.exists(ancestor):
            ancestor = paths.parent(ancestor)
        if not self.gfs.is_dir(ancestor):  # else the job would run, then fail to commit
            raise SubmitError(f"output {output} cannot be created: {ancestor} is a file")
        files = self.expand_inputs(list(raw.inputs))
        splits = self.splits(files, raw.input_format)
        now = time.time()
        job_id = new_job_id(now)
        code_path = f"{job_dir(job_id)}/job.pkl"
        self.gfs.mkdir(f"{job_dir(job_id)}/tmp", parents=True)
        self.gfs.mkdir(f"{job_dir(job_id)}/output", parents=True)
        self.gfs.write_file(code_path, io.BytesIO(request.code))
        # A successor master resumes the job on exactly these splits (see stored_splits).
        listed = json.dumps([dataclasses.asdict(split) for split in splits]).encode()
        self.gfs.write_file(f"{job_dir(job_id)}/{SPLITS_FILE}", io.BytesIO(listed))
        spec = JobSpec(
            job_id=job_id,
            name=raw.name or job_id,
            inputs=tuple(raw.inputs),
            output=output,
            reducers=raw.reducers,
            params=dict(raw.params),
            input_format=raw.input_format,
            max_attempts=raw.max_attempts or self.config.mr.max_attempts,
            # The cluster's [mr] speculation = false holds for every client, the API too.
            speculation=raw.speculation and self.config.mr.speculation,
            code_path=code_path,
            submission_id=raw.submission_id,
        )
        # The job's record reaches ZooKeeper under the lock, before the client hears its id.
        job = self.call(
            lambda s, now: s.submitted_as(spec.submission_id) or s.submit(spec, splits, now)
        )
        if job.job_id != job_id:  # the same Submit, twice at once: keep the first job
            try:
                self.gfs.delete(job_dir(job_id), recursive=True)
            except GfsError as exc:
                logger.warning("could not remove %s: %s", job_dir(job_id), exc)
            return job.job_id
        logger.info(
            "job %s (%s) submitted: %d input files, %d maps, %d reduces -> %s",
            job_id,
            spec.name,
            len(files),
            len(splits),
            spec.reducers,
            output,
        )
        return job_id

    # ---- commits ----
    def commit(
        self, ref: AttemptRef, temp_path: str, counters: dict[str, int] | None = None
    ) -> tuple[bool, str]:
        granted, reason = self.call(lambda s, now: s.request_commit(ref, now))
        if not granted:
            logger.info(
                "commit of %s/%s attempt %d refused: %s", ref.job_id, ref.task, ref.attempt, reason
            )
            return False, reason
        part = f"{job_dir(ref.job_id)}/output/part-{int(ref.task[2:]):05d}"
        if self.store is not None:
            # Before the rename: a successor counts a committed reduce's counters from this
            # record (a record of a reduce that never committed is overwritten by the one
            # that does).
            try:
                self.store.task_done(
                    ref.job_id, ref.task, DoneTask(ref.attempt, "", counters or {})
                )
            except Exception as exc:  # a successor would only miss this reduce's counters
                logger.warning("cannot record %s/%s in ZooKeeper: %s", ref.job_id, ref.task, exc)
        try:
            self.gfs.rename(paths.normalize(temp_path), part)
        except AlreadyExists:
            # Committed already (by an attempt granted before a failover): reduces are
            # deterministic, so that part is this one. Never commit a reduce twice.
            logger.info("%s/%s was already committed; dropping %s", ref.job_id, ref.task, temp_path)
            try:
                self.gfs.delete(paths.normalize(temp_path))
            except GfsError:
                pass
        except GfsError as exc:
            error = str(exc)
            self.call(lambda s, now: s.commit_done(ref, False, now, error))
            logger.warning("commit of %s/%s failed: %s", ref.job_id, ref.task, error)
            return False, error
        self.call(lambda s, now: s.commit_done(ref, True, now, counters=counters))
        logger.info("%s/%s committed by attempt %d", ref.job_id, ref.task, ref.attempt)
        self.wake.set()  # the job may be complete: publish it without waiting for a tick
        return True, ""

    def commit_job(self, job: Job) -> None:
        """Publish the output: _SUCCESS, then one rename of the whole directory."""
        staged = f"{job_dir(job.job_id)}/output"
        try:
            if not self.gfs.exists(staged) and self.gfs.exists(job.spec.output):
                raise _AlreadyCommitted
            self.gfs.create(f"{staged}/_SUCCESS", overwrite=True).close()
            parent = paths.parent(job.spec.output)
            if parent != "/":
                self.gfs.mkdir(parent, parents=True)
            self.gfs.rename(staged, job.spec.output)
        except _AlreadyCommitted:
            self.call(lambda s, now: s.job_committed(job.job_id, True, now))
        except GfsError as exc:
            error = str(exc)
            logger.error("job %s: commit failed: %s", job.job_id, error)
            self.call(lambda s, now: s.job_committed(job.job_id, False, now, error))
        else:
            self.call(lambda s, now: s.job_committed(job.job_id, True, now))
            logger.info("job %s SUCCEEDED: output in %s", job.job_id, job.spec.output)

    def cleanup(self, job_id: str) -> None:
        try:
            self.gfs.delete(job_dir(job_id), recursive=True)
        except NotFound:
            pass  # cleaned before a failover
        except GfsError as exc:
            logger.info("job %s: cleanup of %s: %s", job_id, job_dir(job_id), exc)

    def tick(self) -> None:
        with self.locked():
            ready = self.scheduler.tick(time.time())
            # However a job ended (commit, failure in a heartbeat, kill, timeout), its
            # framework files go once: code, temp outputs, staged parts.
            ended = [
                j
                for j in self.scheduler.jobs.values()
                if j.state in TERMINAL and not j.committing and j.job_id not in self.cleaned
            ]
            self.cleaned.update(j.job_id for j in ended)
        for job in ready:
            threading.Thread(
                target=self.commit_job, args=(job,), name="commit", daemon=True
            ).start()
        for job in ended:
            logger.info("job %s %s%s", job.job_id, job.state, f": {job.error}" if job.error else "")
            self.cleanup(job.job_id)


# ---- protobuf conversion ----
FINAL_STATUS_BYTES = 256 << 10  # at most this much of an ended job's status in ZooKeeper
FINAL_TRACEBACK_CHARS = 16 << 10
FINAL_ERROR_CHARS = 8 << 10


def clipped(text: str, limit: int) -> str:
    """At most `limit` characters: user exceptions can carry messages of any size, and a
    ZooKeeper request must stay under its 1 MB limit."""
    return text if len(text) <= limit else f"{text[: limit - 20]} ... [{len(text)} chars]"


def final_status_bytes(job: Job) -> bytes:
    """An ended job's status for its ZooKeeper record, so that a successor master shows
    what this one would: counters, events, attempts and the traceback. Only failed
    attempts keep their tracebacks; they, then the attempts, then the events go if it is
    still too large."""
    status = job_status_pb(job)
    status.error = clipped(status.error, FINAL_ERROR_CHARS)
    status.traceback = status.traceback[-FINAL_TRACEBACK_CHARS:]
    events = [clipped(e, 1000) for e in status.events]
    del status.events[:]
    status.events.extend(events)
    for a in status.attempts:
        a.error = clipped(a.error, 1000)
        a.traceback = a.traceback[-FINAL_TRACEBACK_CHARS // 4 :] if a.state == "FAILED" else ""
    if status.ByteSize() > FINAL_STATUS_BYTES:
        for a in status.attempts:
            a.traceback = ""
    if status.ByteSize() > FINAL_STATUS_BYTES:
        del status.attempts[:]
    if status.ByteSize() > FINAL_STATUS_BYTES:
        del status.events[:]
    return status.SerializeToString()


def job_status_pb(job: Job, with_attempts: bool = True) -> mr_pb2.JobStatus:
    status = mr_pb2.JobStatus(
        job_id=job.job_id,
        name=job.spec.name,
        state=job.state,
        map_progress=job.map_progress(),
        reduce_progress=job.reduce_progress(),
        counters=job.counters,
        error=job.error,
        traceback=job.traceback,
        maps_total=len(job.maps),
        maps_done=sum(1 for t in job.maps if t.state == "DONE"),
        reduces_total=len(job.reduces),
        reduces_done=sum(1 for t in job.reduces if t.state == "DONE"),
        submitted=job.submitted,
        started=job.started,
        finished=job.finished,
        output=job.spec.output,
        events=job.events[-50:],
    )
    if with_attempts:
        for task in job.tasks():
            for a in task.attempts:
                status.attempts.append(
                    mr_pb2.AttemptInfo(
                        task=task.task_id,
                        attempt=a.ref.attempt,
                        worker=a.worker,
                        state=a.state,
                        speculative=a.speculative,
                        error=a.error,
                        traceback=a.traceback,
                        start=a.start,
                        end=a.end,
                        progress=a.progress,
                        data_local=a.data_local,
                    )
                )
    return status


def ref_pb(ref: AttemptRef) -> mr_pb2.AttemptRef:
    return mr_pb2.AttemptRef(job_id=ref.job_id, task=ref.task, attempt=ref.attempt)


def ref_from_pb(ref: mr_pb2.AttemptRef) -> AttemptRef:
    return AttemptRef(ref.job_id, ref.task, ref.attempt)


class MasterService(mr_pb2_grpc.MasterServicer):
    def __init__(self, core: MasterCore) -> None:
        self.core = core

    def _guard(self, context: grpc.ServicerContext, fn: Callable[[], T]) -> T:
        if not self.core.active.is_set():
            context.abort(grpc.StatusCode.UNAVAILABLE, "this master is a standby")
        try:
            return fn()
        except GfsError as exc:
            rpc.abort(context, exc)

    def _job(self, context: grpc.ServicerContext, job_id: str) -> Job:
        job = self.core.scheduler.jobs.get(job_id)
        if job is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no job {job_id}")
        assert job is not None
        return job

    def _status(self, job: Job, with_attempts: bool = True) -> mr_pb2.JobStatus:
        """As an earlier master recorded it, for a job that ended under that master."""
        before = self.core.ended_before.get(job.job_id)
        if before is None:
            return job_status_pb(job, with_attempts)
        return before[0] if with_attempts else before[1]

    def Workers(self, request, context):  # noqa: N802 (gRPC names)
        def go() -> mr_pb2.WorkersReply:
            with self.core.locked():
                scheduler = self.core.scheduler
                busy: dict[str, int] = {}
                for job in scheduler.jobs.values():
                    for task in job.tasks():
                        for attempt in task.running():
                            busy[attempt.worker] = busy.get(attempt.worker, 0) + 1
                return mr_pb2.WorkersReply(
                    epoch=self.core.epoch,
                    master=self.core.name,
                    workers=[
                        mr_pb2.WorkerInfo(
                            name=w.name,
                            address=w.address,
                            host=w.host,
                            alive=w.alive,
                            slots=w.slots,
                            running=busy.get(w.name, 0),
                        )
                        for w in sorted(scheduler.workers.values(), key=lambda w: w.name)
                    ],
                )

        return self._guard(context, go)

    def Submit(self, request, context):  # noqa: N802
        return self._guard(context, lambda: mr_pb2.SubmitReply(job_id=self.core.submit(request)))

    def Jobs(self, request, context):  # noqa: N802
        def go() -> mr_pb2.JobsReply:
            with self.core.locked():
                return mr_pb2.JobsReply(
                    jobs=[self._status(j, False) for j in self.core.scheduler.jobs.values()]
                )

        return self._guard(context, go)

    def Status(self, request, context):  # noqa: N802
        def go() -> mr_pb2.JobStatus:
            # A long poll: a client waiting for the end hears of it at once.
            core = self.core
            deadline = time.monotonic() + min(max(request.wait_seconds, 0.0), MAX_STATUS_WAIT)
            while True:
                with core.locked():
                    job = self._job(context, request.job_id)
                    seen = core.job_changes
                    left = deadline - time.monotonic()
                    if job.state in TERMINAL or left <= 0 or not core.active.is_set():
                        return self._status(job)
                with core.job_changed:  # a change after `seen` was read is not missed
                    core.job_changed.wait_for(lambda seen=seen: core.job_changes != seen, left)

        return self._guard(context, go)

    def Kill(self, request, context):  # noqa: N802
        def go() -> mr_pb2.Empty:
            with self.core.locked():
                job = self._job(context, request.job_id)
                if job.state in TERMINAL and job.state != KILLED:  # killing twice is fine
                    context.abort(
                        grpc.StatusCode.FAILED_PRECONDITION,
                        f"job {request.job_id} already ended: {job.state}",
                    )
                self.core.scheduler.kill_job(request.job_id, time.time())
            logger.info("job %s killed by the user", request.job_id)
            return mr_pb2.Empty()

        return self._guard(context, go)

    def Register(self, request, context):  # noqa: N802
        def go() -> mr_pb2.RegisterReply:
            ours = python_version()
            if request.python_version != ours:
                return mr_pb2.RegisterReply(
                    error=f"worker runs Python {request.python_version}, the master {ours}: "
                    "job code is pickled for one Python version"
                )
            held = [ref_from_pb(r) for r in request.held]
            self.core.call(
                lambda s, now: s.register(
                    request.worker,
                    request.address,
                    request.host,
                    request.slots,
                    request.incarnation,
                    now,
                    held,
                    machine=request.machine,
                    cpus=request.cpus,
                )
            )
            logger.info(
                "%s registered at %s (host %s, %d slots; machine %s, %d CPUs)",
                request.worker,
                request.address,
                request.host,
                request.slots,
                request.machine or "?",
                request.cpus,
            )
            return mr_pb2.RegisterReply(epoch=self.core.epoch)

        return self._guard(context, go)

    def Heartbeat(self, request, context):  # noqa: N802
        def go() -> mr_pb2.HeartbeatReply:
            running = {ref_from_pb(r.ref): (r.progress, r.map_generation) for r in request.running}
            finished = [
                AttemptReport(ref_from_pb(f.ref), f.ok, f.error, f.traceback, dict(f.counters))
                for f in request.finished
            ]
            failures = [
                (ref_from_pb(f.reducer), f.map.task, f.error) for f in request.fetch_failures
            ]
            with self.core.locked():
                result = self.core.scheduler.heartbeat(
                    request.worker, request.incarnation, running, finished, failures, time.time()
                )
                if finished:
                    self.core.wake.set()
                reply = mr_pb2.HeartbeatReply(
                    epoch=self.core.epoch,
                    reregister=result.reregister,
                    kill=[ref_pb(r) for r in result.kill],
                    drop_jobs=result.drop_jobs,
                )
                for a in result.assign:
                    spec = a.job.spec
                    assignment = mr_pb2.Assignment(
                        ref=ref_pb(a.attempt.ref),
                        kind=a.task.kind,
                        code_path=spec.code_path,
                        params=spec.params,
                        reducers=spec.reducers,
                        input_format=spec.input_format,
                        speculative=a.attempt.speculative,
                    )
                    if a.task.kind == MAP:
                        assert a.task.split is not None
                        assignment.path = a.task.split.path
                        assignment.offset = a.task.split.offset
                        assignment.length = a.task.split.length
                    else:
                        assignment.partition = a.task.index
                        assignment.output_dir = f"{job_dir(spec.job_id)}/tmp"
                        assignment.maps_total = len(a.job.maps)
                    reply.assign.append(assignment)
                    logger.info(
                        "assign %s/%s attempt %d to %s%s",
                        spec.job_id,
                        a.task.task_id,
                        a.attempt.ref.attempt,
                        request.worker,
                        " (data-local)" if a.attempt.data_local else "",
                    )
                for loc in result.locations:
                    reply.maps.append(
                        mr_pb2.MapLocations(
                            reducer=ref_pb(loc.reducer),
                            map_generation=loc.generation,
                            maps=[
                                mr_pb2.MapOutput(
                                    task=m.task,
                                    attempt=m.attempt,
                                    worker=m.worker,
                                    address=m.address,
                                )
                                for m in loc.maps
                            ],
                        )
                    )
            for report in finished:
                if not report.ok:
                    logger.info(
                        "%s/%s attempt %d failed on %s: %s",
                        report.ref.job_id,
                        report.ref.task,
                        report.ref.attempt,
                        request.worker,
                        report.error,
                    )
            return reply

        return self._guard(context, go)

    def Commit(self, request, context):  # noqa: N802
        def go() -> mr_pb2.CommitReply:
            if request.epoch != self.core.epoch:
                return mr_pb2.CommitReply(granted=False, reason="stale master epoch")
            granted, reason = self.core.commit(
                ref_from_pb(request.ref), request.temp_path, dict(request.counters)
            )
            return mr_pb2.CommitReply(granted=granted, reason=reason)

        return self._guard(context, go)
