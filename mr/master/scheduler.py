"""The master's decisions (pure): jobs, tasks, attempts and workers.

No sockets, threads or clocks: the service feeds events (submit, register, heartbeat,
commit request, tick) with `now` and carries out what comes back (assignments, kills, map
locations for reducers, job commits). Everything here is unit-tested without a cluster.

Life of a task: PENDING -> RUNNING (one or more attempts) -> DONE, or FAILED after
`max_attempts` failed attempts (which fails the job). A map is DONE when an attempt
reports success (its output stays on that worker's disk); a reduce is DONE when the one
attempt granted the commit has renamed its output into place.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

MAP, REDUCE = "map", "reduce"
# Job states
PENDING, RUNNING, SUCCEEDED, FAILED, KILLED = "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "KILLED"
TERMINAL = (SUCCEEDED, FAILED, KILLED)
# Task states (PENDING and RUNNING shared with jobs)
DONE = "DONE"
# Attempt states (RUNNING, SUCCEEDED, FAILED, KILLED shared)
LOST = "LOST"
# Incarnation of a worker known only from a previous master's records, not yet re-registered.
RESTORED = ""

MAX_EVENTS = 200
FETCH_FAILURES_BEFORE_REEXECUTION = 3
# Speculation (LATE): back up a task whose projected time left exceeds this many times what
# a fresh attempt would need at the phase's typical rate.
SLOW_FACTOR = 1.5
SHORT_ATTEMPT = 0.5  # seconds: attempts this short are not CPU-bound (cap_to_cpus)
BACKUP_SHARE = 0.1  # at most this share of all slots (at least one) runs backups
# Tasks this short gain nothing from a backup, and their progress reports are too coarse
# to judge: a backup needs at least this much run time and this much projected time left.
MIN_SPECULATION_SECONDS = 1.0
# A reduce attempt reports its shuffle (fetching map outputs) as this first share of its
# progress, and merging and reducing as the rest.
SHUFFLE_SHARE = 0.5


@dataclass(frozen=True)
class MapSplit:
    path: str
    offset: int
    length: int
    hosts: tuple[str, ...]  # host labels of the datanodes holding the split's data


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    name: str
    inputs: tuple[str, ...]
    output: str
    reducers: int
    params: dict[str, str]
    input_format: str
    max_attempts: int
    speculation: bool
    code_path: str
    submission_id: str = ""  # the client's: a resent Submit must not make a second job


@dataclass(frozen=True)
class AttemptRef:
    job_id: str
    task: str
    attempt: int


@dataclass
class Attempt:
    ref: AttemptRef
    worker: str
    start: float
    speculative: bool = False
    data_local: bool = False
    state: str = RUNNING
    end: float = 0.0
    progress: float = 0.0
    progress_at: float = 0.0  # when progress last moved (hung-attempt detection)
    error: str = ""
    traceback: str = ""
    counters: dict[str, int] = field(default_factory=dict)
    seen_running: bool = False  # the worker has listed it as running at least once


@dataclass
class Task:
    job_id: str
    task_id: str
    kind: str
    index: int
    split: MapSplit | None = None
    state: str = PENDING
    attempts: list[Attempt] = field(default_factory=list)
    failures: int = 0
    failed_on: set[str] = field(default_factory=set)
    winner: Attempt | None = None  # the attempt whose output counts
    committing: int | None = None  # reduce attempt holding the commit grant
    fetch_failures: int = 0

    def running(self) -> list[Attempt]:
        return [a for a in self.attempts if a.state == RUNNING]

    def progress(self) -> float:
        if self.state == DONE:
            return 1.0
        return max((a.progress for a in self.running()), default=0.0)


@dataclass
class Job:
    spec: JobSpec
    maps: list[Task]
    reduces: list[Task]
    submitted: float
    state: str = PENDING
    started: float = 0.0
    finished: float = 0.0
    error: str = ""
    traceback: str = ""
    events: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    map_generation: int = 0  # bumps whenever the set of finished map outputs changes
    committing: bool = False
    maps_done_at: float = 0.0  # when the last map finished (reduces wait for it)
    events_logged: int = 0  # how many events the service has written to its log

    @property
    def job_id(self) -> str:
        return self.spec.job_id

    def tasks(self) -> list[Task]:
        return self.maps + self.reduces

    def task(self, task_id: str) -> Task | None:
        kind, _, index = task_id.partition("-")
        tasks = self.maps if kind == "m" else self.reduces if kind == "r" else []
        try:
            task = tasks[int(index)]
        except (ValueError, IndexError):
            return None
        return task if task.task_id == task_id else None

    def map_progress(self) -> float:
        if not self.maps:
            return 1.0 if self.state != PENDING else 0.0
        return sum(t.progress() for t in self.maps) / len(self.maps)

    def reduce_progress(self) -> float:
        return sum(t.progress() for t in self.reduces) / len(self.reduces) if self.reduces else 1.0

    def event(self, now: float, text: str) -> None:
        self.events.append(f"{now:.3f} {text}")
        if len(self.events) > MAX_EVENTS:
            dropped = len(self.events) - MAX_EVENTS
            del self.events[:dropped]
            self.events_logged = max(0, self.events_logged - dropped)

    def new_events(self) -> list[str]:
        """Events not handed out yet (for the master's log)."""
        fresh = self.events[self.events_logged :]
        self.events_logged = len(self.events)
        return [e.partition(" ")[2] for e in fresh]

    def count(self, name: str, amount: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + amount


@dataclass
class Worker:
    name: str
    address: str
    host: str
    slots: int
    incarnation: str
    last_seen: float
    alive: bool = True
    told_to_drop: set[str] = field(default_factory=set)
    machine: str = ""  # workers on one machine share its CPUs (see cap_to_cpus)
    cpus: int = 0  # 0: unknown, never capped


@dataclass(frozen=True)
class DoneTask:
    """A finished task as a successor master learns it from the durable records."""

    attempt: int
    worker: str
    counters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class AttemptReport:
    """What a worker says about one finished attempt."""

    ref: AttemptRef
    ok: bool
    error: str = ""
    traceback: str = ""
    counters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Assign:
    job: Job
    task: Task
    attempt: Attempt


@dataclass(frozen=True)
class MapLocation:
    task: str
    attempt: int
    worker: str
    address: str


@dataclass(frozen=True)
class Locations:
    reducer: AttemptRef
    generation: int
    maps: list[MapLocation]


@dataclass
class HeartbeatResult:
    reregister: bool = False
    assign: list[Assign] = field(default_factory=list)
    kill: list[AttemptRef] = field(default_factory=list)
    locations: list[Locations] = field(default_factory=list)
    drop_jobs: list[str] = field(default_factory=list)


def task_id(kind: str, index: int) -> str:
    return f"{'m' if kind == MAP else 'r'}-{index:05d}"


class Scheduler:
    def __init__(
        self,
        *,
        dead_after: float,
        assign_grace: float = 5.0,
        task_timeout: float = 600.0,
        cap_to_cpus: bool = False,
    ) -> None:
        self.dead_after = dead_after
        self.task_timeout = task_timeout
        # Never more attempts running on a machine than it has CPUs: CPU-bound attempts
        # that share cores take longer in all (cache misses, switches) than in turn.
        self.cap_to_cpus = cap_to_cpus
        # An assignment the worker never lists as running within this time was lost on the
        # way (a reply that never arrived); the task is then given out again.
        self.assign_grace = assign_grace
        self.jobs: dict[str, Job] = {}  # insertion order = FIFO order
        self.workers: dict[str, Worker] = {}
        # Facts a successor master needs, for the service to make durable (take_records()):
        # ("map_done", job_id, task_id, DoneTask) | ("map_undone", job_id, task_id)
        # (a reduce's record is written by the service before it commits the output)
        # | ("job_state", job_id)
        self._records: list[tuple[object, ...]] = []

    def take_records(self) -> list[tuple[object, ...]]:
        records, self._records = self._records, []
        return records

    # ---- jobs ----
    def submitted_as(self, submission_id: str) -> Job | None:
        """The job a client's earlier Submit with this id created, if any."""
        if not submission_id:
            return None
        return next((j for j in self.jobs.values() if j.spec.submission_id == submission_id), None)

    def submit(self, spec: JobSpec, splits: Iterable[MapSplit], now: float) -> Job:
        if spec.job_id in self.jobs:
            raise ValueError(f"job {spec.job_id} exists")
        maps = [
            Task(spec.job_id, task_id(MAP, i), MAP, i, split=split)
            for i, split in enumerate(splits)
        ]
        reduces = [Task(spec.job_id, task_id(REDUCE, r), REDUCE, r) for r in range(spec.reducers)]
        job = Job(spec, maps, reduces, submitted=now)
        job.event(now, f"submitted: {len(maps)} maps, {len(reduces)} reduces")
        self.jobs[spec.job_id] = job
        self._records.append(("job_state", spec.job_id))
        return job

    def kill_job(self, job_id: str, now: float) -> Job:
        job = self.jobs[job_id]
        if job.state not in TERMINAL:
            self.end_job(job, KILLED, now, "killed by the user")
        return job

    def end_job(self, job: Job, state: str, now: float, error: str = "", tb: str = "") -> None:
        self._records.append(("job_state", job.job_id))
        job.state, job.finished = state, now
        job.error, job.traceback = error, tb
        for task in job.tasks():
            for attempt in task.running():
                # A committed reduce whose worker has not reported its end yet succeeded.
                won = task.state == DONE and task.winner is attempt
                self._close(job, attempt, SUCCEEDED if won else KILLED, now)
        job.event(now, f"job {state}{': ' + error if error else ''}")

    def job_committed(self, job_id: str, ok: bool, now: float, error: str = "") -> None:
        job = self.jobs[job_id]
        job.committing = False
        if job.state in TERMINAL:
            return
        if ok:
            self.end_job(job, SUCCEEDED, now)
        else:
            self.end_job(job, FAILED, now, f"job commit failed: {error}")

    # ---- workers ----
    def register(
        self,
        name: str,
        address: str,
        host: str,
        slots: int,
        incarnation: str,
        now: float,
        held: Iterable[AttemptRef] = (),
        machine: str = "",
        cpus: int = 0,
    ) -> None:
        """A worker (re)joins. `held`: finished map outputs it still has on disk; `machine`
        and `cpus`: where it runs, for cap_to_cpus."""
        old = self.workers.get(name)
        if old is not None and old.incarnation == RESTORED:
            # We took over from another master: keep the map outputs this worker still has.
            kept = set(held)
            for job in self.jobs.values():
                if job.state in TERMINAL:
                    continue
                for task in job.maps:
                    winner = task.winner
                    if task.state == DONE and winner and winner.worker == name:
                        if winner.ref not in kept:
                            self._reexecute_map(job, task, now, f"{name} no longer has it")
        elif old is not None and old.incarnation != incarnation and old.alive:
            self._lose_worker(old, now, "restarted")
        self.workers[name] = Worker(
            name, address, host, slots, incarnation, now, machine=machine, cpus=cpus
        )

    def restore_job(
        self,
        spec: JobSpec,
        splits: Iterable[MapSplit],
        *,
        state: str,
        submitted: float,
        done_maps: dict[str, DoneTask],
        committed_reduces: Iterable[int],
        done_reduces: dict[str, DoneTask] | None = None,
        now: float,
    ) -> Job:
        """Rebuild a job a previous master was running, from its durable records.

        Finished maps count as done while the worker that holds their output is expected
        back (it has `dead_after` seconds to re-register and say it still has them);
        committed reduces are done for good. The counters of both count again, so the
        job's totals stay those of one successful attempt per task.
        """
        job = self.submit(spec, splits, now)
        job.events.clear()
        job.submitted = submitted
        job.state = RUNNING if state == RUNNING else PENDING
        job.started = now if job.state == RUNNING else 0.0
        for task_id, done in done_maps.items():
            task = job.task(task_id)
            if task is None or task.kind != MAP:
                continue
            attempt = Attempt(AttemptRef(job.job_id, task_id, done.attempt), done.worker, now)
            attempt.state, attempt.end, attempt.progress = SUCCEEDED, now, 1.0
            attempt.counters = dict(done.counters)
            task.attempts = [attempt]
            task.state, task.winner = DONE, attempt
            for name, value in attempt.counters.items():
                job.count(name, value)
            if done.worker not in self.workers:
                self.workers[done.worker] = Worker(done.worker, "", "", 0, RESTORED, now)
        for index in committed_reduces:
            if 0 <= index < len(job.reduces):
                task = job.reduces[index]
                task.state = DONE
                done = (done_reduces or {}).get(task.task_id)
                for name, value in (done.counters if done else {}).items():
                    job.count(name, value)
        job.map_generation = 1
        job.event(
            now,
            f"resumed by a new master: {len(done_maps)} maps and "
            f"{sum(1 for t in job.reduces if t.state == DONE)} reduces already done",
        )
        return job

    def _lose_worker(self, worker: Worker, now: float, why: str) -> None:
        worker.alive = False
        for job in self.jobs.values():
            if job.state in TERMINAL:
                continue
            lost_any = False
            for task in job.tasks():
                for attempt in task.running():
                    if attempt.worker == worker.name:
                        self._close(job, attempt, LOST, now, f"worker {worker.name} {why}")
                        lost_any = True
                        self._requeue(task)
            rerun = [
                t
                for t in job.maps
                if t.state == DONE and t.winner is not None and t.winner.worker == worker.name
            ]
            if rerun and any(r.state != DONE for r in job.reduces):
                for task in rerun:
                    self._reexecute_map(job, task, now, f"its output was on {worker.name}")
            if lost_any or rerun:
                job.event(now, f"lost {worker.name} ({why})")

    def _reexecute_map(self, job: Job, task: Task, now: float, why: str) -> None:
        self._records.append(("map_undone", job.job_id, task.task_id))
        if task.winner is not None:  # a job counts each task's one successful attempt
            for name, value in task.winner.counters.items():
                job.count(name, -value)
        task.state, task.winner, task.fetch_failures = PENDING, None, 0
        job.map_generation += 1
        job.count("reexecuted_maps")
        job.event(now, f"re-executing {task.task_id} ({why})")

    # ---- heartbeats ----
    def heartbeat(
        self,
        name: str,
        incarnation: str,
        running: dict[AttemptRef, tuple[float, int]],
        finished: Iterable[AttemptReport],
        fetch_failures: Iterable[tuple[AttemptRef, str, str]],
        now: float,
    ) -> HeartbeatResult:
        """`running`: ref -> (progress, map generation known); `fetch_failures`:
        (reducer ref, map task id, error)."""
        worker = self.workers.get(name)
        if worker is None or worker.incarnation != incarnation or not worker.alive:
            return HeartbeatResult(reregister=True)
        worker.last_seen = now
        result = HeartbeatResult()
        for report in finished:
            self._finished(report, now)
        for reducer, map_task, error in fetch_failures:
            self._fetch_failed(reducer, map_task, error, now)

        # Reconcile what the worker runs with what we think it runs.
        mine = {  # ended jobs have no running attempt: skipping them keeps beats cheap
            a.ref: a
            for job in self.jobs.values()
            if job.state not in TERMINAL
            for task in job.tasks()
            for a in task.attempts
            if a.worker == name
        }
        for ref, (progress, generation) in running.items():
            attempt = mine.get(ref)
            if attempt is None or attempt.state != RUNNING:
                result.kill.append(ref)
                continue
            attempt.seen_running = True
            if progress > attempt.progress:
                attempt.progress, attempt.progress_at = min(progress, 1.0), now
            job = self.jobs[ref.job_id]
            if ref.task.startswith("r-") and generation != job.map_generation:
                result.locations.append(self._locations(job, ref))
        finished_refs = {r.ref for r in finished}
        for ref, attempt in mine.items():
            if (
                attempt.state == RUNNING
                and ref not in running
                and ref not in finished_refs
                and (attempt.seen_running or now - attempt.start > self.assign_grace)
            ):
                job = self.jobs[ref.job_id]
                self._close(job, attempt, LOST, now, "the worker no longer runs it")
                task = job.task(ref.task)
                assert task is not None
                self._requeue(task)

        busy = sum(1 for a in mine.values() if a.state == RUNNING)
        preempted = self._preempt_for_maps(worker, now)
        if preempted is not None:
            result.kill.append(preempted)  # its slot counts as busy until the worker says so
        capped = self.cap_to_cpus and worker.cpus > 0
        bound = self._cpu_bound_phases() if capped else set()
        cpu_room = self._cpu_room(worker, bound) if capped else 0
        for _ in range(max(0, worker.slots - busy)):
            # With no CPU left here, CPU-bound phases wait; the others may still start.
            picked = self._pick(worker, now, bound if capped and cpu_room <= 0 else frozenset())
            if picked is None:
                break
            if (picked.job.job_id, picked.task.kind) in bound:
                cpu_room -= 1
            result.assign.append(picked)
            if picked.task.kind == REDUCE:
                result.locations.append(self._locations(picked.job, picked.attempt.ref))
        for job in self.jobs.values():
            if job.state in TERMINAL and job.job_id not in worker.told_to_drop:
                worker.told_to_drop.add(job.job_id)
                result.drop_jobs.append(job.job_id)
        return result

    def _preempt_for_maps(self, worker: Worker, now: float) -> AttemptRef | None:
        """Hadoop's reduce preemption: when maps are pending, none runs, and no live worker
        that may run one has a free slot, the newest reduce on `worker` (one that may run a
        pending map) still fetching map outputs gives its slot up: killed, not failed, it
        runs again later. Reduces that took every slot once all maps were out would
        otherwise wait forever for a map re-executed after a worker loss, or for one that
        failed and may not go back to the only free worker."""
        active = [j for j in self.jobs.values() if j.state not in TERMINAL and not j.committing]
        pending = [t for j in active for t in j.maps if t.state == PENDING]
        if not pending:
            return None
        if any(a.state == RUNNING for j in active for t in j.maps for a in t.attempts):
            return None  # a map will end and free its slot
        alive = [w for w in self.workers.values() if w.alive]

        def takes_a_map(w: Worker) -> bool:
            return any(self._may_run(t, w, alive) for t in pending)

        if not takes_a_map(worker):
            return None  # its slot would not help
        held: Counter[str] = Counter(
            a.worker for j in active for t in j.tasks() for a in t.running()
        )
        if any(held[w.name] < w.slots and takes_a_map(w) for w in alive):
            return None  # a pending map can take a free slot
        waiting = [
            (a.start, job, task, a)
            for job in active
            if not all(t.state == DONE for t in job.maps)
            for task in job.reduces
            if task.state != DONE and task.committing is None
            for a in task.running()
            # Past the shuffle a reduce needs no map any more: it ends and frees its slot.
            if a.worker == worker.name and a.progress < SHUFFLE_SHARE
        ]
        if not waiting:
            return None
        _, job, task, attempt = max(waiting, key=lambda w: w[0])
        self._close(job, attempt, KILLED, now, "preempted: a pending map needed its slot")
        self._requeue(task)
        job.count("preempted_reduces")
        job.event(now, f"{task.task_id} attempt {attempt.ref.attempt} preempted for a map")
        return attempt.ref

    def _cpu_room(self, worker: Worker, bound: set[tuple[str, str]]) -> int:
        """How many more CPU-bound attempts `worker` may start under cap_to_cpus: its
        machine runs at most one per CPU, and each live worker there gets an even share
        of them (so one worker, beating first whenever an attempt ends, cannot take every
        CPU). Only attempts of the CPU-bound phases in `bound` count."""
        peers = {w.name for w in self.workers.values() if w.alive and w.machine == worker.machine}
        busy: Counter[str] = Counter()
        for job in self.jobs.values():
            if job.state in TERMINAL:
                continue
            for kind, phase in ((MAP, job.maps), (REDUCE, job.reduces)):
                if (job.job_id, kind) not in bound:
                    continue
                for task in phase:
                    for a in task.attempts:
                        if a.state == RUNNING and a.worker in peers:
                            busy[a.worker] += 1
        share = -(-worker.cpus // max(1, len(peers)))
        return min(worker.cpus - sum(busy.values()), share - busy[worker.name])

    def _cpu_bound_phases(self) -> set[tuple[str, str]]:
        """(job id, kind) of every running job's phase that cap_to_cpus counts; worked out
        once per heartbeat (it reads every finished attempt's run time)."""
        return {
            (job.job_id, kind)
            for job in self.jobs.values()
            if job.state not in TERMINAL
            for kind in (MAP, REDUCE)
            if self._cpu_bound(job, kind)
        }

    @staticmethod
    def _cpu_bound(job: Job, kind: str) -> bool:
        """Whether `job`'s attempts of this kind keep a CPU busy, so cap_to_cpus applies.
        Not a reduce still waiting for maps: it mostly waits, and counting it could leave
        no CPU for a map it waits for. Not attempts that typically end within
        SHORT_ATTEMPT: they wait on start-up, RPCs and small reads more than on a CPU, and
        running more of them at once overlaps that. Until two have ended, assume so."""
        if kind == REDUCE and not all(t.state == DONE for t in job.maps):
            return False
        phase = job.maps if kind == MAP else job.reduces
        took = sorted(a.end - a.start for t in phase for a in t.attempts if a.state == SUCCEEDED)
        return len(took) < 2 or took[len(took) // 2] >= SHORT_ATTEMPT

    def _locations(self, job: Job, reducer: AttemptRef) -> Locations:
        maps = []
        for task in job.maps:
            if task.state == DONE and task.winner is not None:
                holder = self.workers.get(task.winner.worker)
                address = holder.address if holder else ""
                maps.append(
                    MapLocation(task.task_id, task.winner.ref.attempt, task.winner.worker, address)
                )
        return Locations(reducer, job.map_generation, maps)

    def _finished(self, report: AttemptReport, now: float) -> None:
        job = self.jobs.get(report.ref.job_id)
        task = job.task(report.ref.task) if job else None
        if job is None or task is None:
            return
        attempt = next((a for a in task.attempts if a.ref == report.ref), None)
        if attempt is None or attempt.state != RUNNING:
            return  # a late report of an attempt we already gave up on
        if report.ok:
            attempt.counters = dict(report.counters)
            if task.kind == MAP:
                self._close(job, attempt, SUCCEEDED, now)
                if task.state != DONE:
                    self._task_done(job, task, attempt, now)
            elif task.state == DONE and task.winner is attempt:
                self._close(job, attempt, SUCCEEDED, now)
            else:
                # A reduce is done only through a granted commit; success without one means
                # its output was not committed (another attempt won, or it never asked).
                self._close(job, attempt, KILLED, now, "finished without a commit")
                self._requeue(task)
            return
        self._close(job, attempt, FAILED, now, report.error, report.traceback)
        if task.state == DONE or job.state in TERMINAL:
            return
        task.failures += 1
        task.failed_on.add(attempt.worker)
        if task.committing == attempt.ref.attempt:
            task.committing = None
        if task.failures >= job.spec.max_attempts:
            reasons = "; ".join(
                f"attempt {a.ref.attempt} on {a.worker}: {a.error}"
                for a in task.attempts
                if a.state == FAILED
            )
            self.end_job(
                job,
                FAILED,
                now,
                f"task {task.task_id} failed {task.failures} times: {reasons}",
                report.traceback,
            )
        else:
            job.event(now, f"{task.task_id} attempt {attempt.ref.attempt} failed: {report.error}")
            self._requeue(task)

    def _task_done(self, job: Job, task: Task, attempt: Attempt, now: float) -> None:
        task.state, task.winner = DONE, attempt
        for name, value in attempt.counters.items():
            job.count(name, value)
        for other in task.running():
            if other is attempt:
                continue  # a committed reduce reports its own end later
            if attempt.speculative:
                # The backup won: it saved the original's projected time left, counted
                # conservatively as at most as long again as the original had run.
                left = min(self._time_left(other, now, 0.0) or 0.0, now - other.start)
                job.count("backups_won")
                job.count("backup_ms_saved", int(left * 1000))
                job.event(now, f"backup attempt {attempt.ref.attempt} of {task.task_id} won")
            elif other.speculative:
                job.count("backups_killed")
            self._close(job, other, KILLED, now, f"attempt {attempt.ref.attempt} finished first")
        if task.kind == MAP:
            done = DoneTask(attempt.ref.attempt, attempt.worker, dict(attempt.counters))
            self._records.append(("map_done", job.job_id, task.task_id, done))
            job.map_generation += 1
            if all(t.state == DONE for t in job.maps):
                job.maps_done_at = now

    def _fetch_failed(self, reducer: AttemptRef, map_task: str, error: str, now: float) -> None:
        job = self.jobs.get(reducer.job_id)
        task = job.task(map_task) if job else None
        if job is None or task is None or task.state != DONE or task.winner is None:
            return
        task.fetch_failures += 1
        holder = self.workers.get(task.winner.worker)
        if (
            holder is None
            or not holder.alive
            or task.fetch_failures >= FETCH_FAILURES_BEFORE_REEXECUTION
        ):
            self._reexecute_map(job, task, now, f"reducers could not fetch its output: {error}")

    def _close(
        self, job: Job, attempt: Attempt, state: str, now: float, error: str = "", tb: str = ""
    ) -> None:
        attempt.state, attempt.end = state, now
        if state == SUCCEEDED:
            attempt.progress = 1.0  # its last report may have come before the end
        if error:
            attempt.error = error
        if tb:
            attempt.traceback = tb
        counter = {FAILED: "failed_attempts", KILLED: "killed_attempts", LOST: "lost_attempts"}
        if state in counter:
            job.count(counter[state])

    def _requeue(self, task: Task) -> None:
        if task.state == RUNNING and not task.running():
            task.state = PENDING

    # ---- assignment ----
    def _pick(
        self, worker: Worker, now: float, blocked: AbstractSet[tuple[str, str]] = frozenset()
    ) -> Assign | None:
        """The next attempt for a free slot of `worker`: FIFO over jobs, maps before reduces,
        data-local maps first, never a worker where the task already failed if another can
        take it. `blocked` (cap_to_cpus, no CPU left): phases (job id, kind) that may not
        start an attempt now."""
        alive = [w for w in self.workers.values() if w.alive]
        for job in self.jobs.values():
            if job.state in TERMINAL or job.committing:
                continue
            pending_maps = [t for t in job.maps if t.state == PENDING]
            candidates = [t for t in pending_maps if self._may_run(t, worker, alive)]
            if (job.job_id, MAP) in blocked:
                candidates = []
            local = [t for t in candidates if t.split and worker.host in t.split.hosts]
            choice = (local or candidates or [None])[0]
            if choice is None and not pending_maps and (job.job_id, REDUCE) not in blocked:
                # Reduces start once every map is out, so they fetch while the last maps run.
                reduces = [t for t in job.reduces if t.state == PENDING]
                choice = next((t for t in reduces if self._may_run(t, worker, alive)), None)
            if choice is not None:
                return self._launch(job, choice, worker, now, speculative=False)
        return self._pick_backup(worker, now, blocked)

    def _pick_backup(
        self, worker: Worker, now: float, blocked: AbstractSet[tuple[str, str]] = frozenset()
    ) -> Assign | None:
        """A backup attempt for the straggler with the longest projected time left (LATE),
        only when nothing else needs the slot."""
        slots = sum(w.slots for w in self.workers.values() if w.alive)
        running_backups = sum(
            1
            for job in self.jobs.values()
            for task in job.tasks()
            for a in task.running()
            if a.speculative
        )
        if running_backups >= max(1, int(slots * BACKUP_SHARE)):
            return None
        best: tuple[float, Job, Task] | None = None
        for job in self.jobs.values():
            if job.state != RUNNING or job.committing or not job.spec.speculation:
                continue
            maps_left = any(t.state != DONE for t in job.maps)
            phase = job.maps if maps_left else job.reduces
            kind = MAP if maps_left else REDUCE
            if any(t.state == PENDING for t in phase) or (job.job_id, kind) in blocked:
                continue
            rate = self._typical_rate(job, phase, now)
            if rate is None:
                continue
            for task in phase:
                running = task.running()
                if (
                    task.state != RUNNING
                    or len(running) != 1
                    or any(a.speculative for a in task.attempts)
                    or running[0].worker == worker.name
                    or (task.kind == REDUCE and task.committing is not None)
                ):
                    continue
                fresh = self._work(task) / rate  # what a backup would need
                left = self._time_left(running[0], now, fresh, self._phase_start(job, task))
                if left is not None and left > max(SLOW_FACTOR * fresh, MIN_SPECULATION_SECONDS):
                    if best is None or left > best[0]:
                        best = (left, job, task)
        if best is None:
            return None
        left, job, task = best
        assign = self._launch(job, task, worker, now, speculative=True)
        job.count("backups_launched")
        job.event(
            now,
            f"backup attempt of {task.task_id} on {worker.name} "
            f"(about {left:.1f}s left on {task.running()[0].worker})",
        )
        return assign

    @staticmethod
    def _phase_start(job: Job, task: Task) -> float:
        """Reduces start working when the last map is done; waiting for maps is not slow."""
        return job.maps_done_at if task.kind == REDUCE else 0.0

    @staticmethod
    def _work(task: Task) -> float:
        """A task's size: its split's bytes for maps (splits differ: a file's last chunk is
        short), one unit for reduces."""
        return float(max(task.split.length, 1)) if task.split else 1.0

    def _typical_rate(self, job: Job, phase: list[Task], now: float) -> float | None:
        """Work per second a healthy attempt achieves in this phase: an upper quantile over
        finished tasks and running ones that report progress (LATE compares rates, so a big
        split is not mistaken for a straggler next to a small one; a small split's fixed
        start-up cost makes its rate look low, hence the upper quantile)."""
        rates = []
        for t in phase:
            if t.state == DONE and t.winner and t.winner.end:
                took = t.winner.end - max(t.winner.start, self._phase_start(job, t))
                rates.append(self._work(t) / max(took, 1e-3))
            for a in t.running():
                elapsed = now - max(a.start, self._phase_start(job, t))
                if a.progress > 0 and elapsed >= MIN_SPECULATION_SECONDS:
                    rates.append(self._work(t) * a.progress / elapsed)
        if not rates:
            return None
        rates.sort()
        return rates[(3 * len(rates)) // 4]

    @staticmethod
    def _time_left(
        attempt: Attempt, now: float, fresh: float, phase_start: float = 0.0
    ) -> float | None:
        """Projected seconds left: from the progress rate, or from the elapsed time when
        the attempt reports no progress. None while it is too early to judge: half of what
        a fresh attempt at the typical rate needs (all of it without any progress)."""
        elapsed = now - max(attempt.start, phase_start)
        if attempt.progress <= 0.0:
            # Nothing to extrapolate from: its time left is judged by its time so far.
            return elapsed if elapsed >= max(fresh, MIN_SPECULATION_SECONDS) else None
        if elapsed < max(fresh / 2, MIN_SPECULATION_SECONDS):
            return None  # early progress reports are too coarse to extrapolate
        return elapsed * (1.0 - attempt.progress) / attempt.progress

    @staticmethod
    def _may_run(task: Task, worker: Worker, alive: list[Worker]) -> bool:
        if worker.name not in task.failed_on:
            return True
        return all(w.name in task.failed_on for w in alive)

    def _launch(
        self, job: Job, task: Task, worker: Worker, now: float, speculative: bool
    ) -> Assign:
        # Past every number known: a restored task's one attempt may be its predecessor's N.
        number = 1 + max((a.ref.attempt for a in task.attempts), default=-1)
        ref = AttemptRef(job.job_id, task.task_id, number)
        local = bool(task.split and worker.host in task.split.hosts)
        attempt = Attempt(
            ref, worker.name, now, speculative=speculative, data_local=local, progress_at=now
        )
        task.attempts.append(attempt)
        task.state = RUNNING
        if job.state == PENDING:
            job.state, job.started = RUNNING, now
            job.event(now, "running")
            self._records.append(("job_state", job.job_id))
        if task.kind == MAP:
            job.count("launched_maps")
            job.count("data_local_maps" if local else "remote_maps")
        else:
            job.count("launched_reduces")
        return Assign(job, task, attempt)

    # ---- commits ----
    def request_commit(self, ref: AttemptRef, now: float) -> tuple[bool, str]:
        """Exactly one attempt of a reduce may commit its output."""
        job = self.jobs.get(ref.job_id)
        task = job.task(ref.task) if job else None
        if job is None or task is None or task.kind != REDUCE:
            return False, "unknown reduce task"
        if job.state in TERMINAL:
            return False, f"job is {job.state}"
        attempt = next((a for a in task.attempts if a.ref == ref), None)
        if attempt is None or attempt.state != RUNNING:
            return False, "attempt is no longer running"
        if task.state == DONE:
            return False, "another attempt already committed"
        if task.committing is not None and task.committing != ref.attempt:
            return False, f"attempt {task.committing} is committing"
        task.committing = ref.attempt
        return True, ""

    def commit_done(
        self,
        ref: AttemptRef,
        ok: bool,
        now: float,
        error: str = "",
        counters: dict[str, int] | None = None,
    ) -> None:
        job = self.jobs[ref.job_id]
        task = job.task(ref.task)
        assert task is not None
        task.committing = None
        attempt = next(a for a in task.attempts if a.ref == ref)
        if ok:
            attempt.counters = dict(counters or {})
            self._task_done(job, task, attempt, now)
        elif attempt.state == RUNNING:
            self._finished(AttemptReport(ref, False, f"commit failed: {error}"), now)

    # ---- time ----
    def tick(self, now: float) -> list[Job]:
        """Declare silent workers lost, fail hung attempts; return jobs whose every task is
        done (to commit)."""
        for worker in list(self.workers.values()):
            if worker.alive and now - worker.last_seen > self.dead_after:
                self._lose_worker(worker, now, f"no heartbeat for {now - worker.last_seen:.1f}s")
        for job in self.jobs.values():
            if job.state != RUNNING:
                continue
            maps_done = all(t.state == DONE for t in job.maps)
            for task in job.tasks():
                if task.kind == REDUCE and not maps_done:
                    continue  # waiting for maps is not hanging
                for attempt in task.running():
                    since = max(attempt.progress_at, attempt.start)
                    if task.kind == REDUCE:
                        since = max(since, job.maps_done_at)
                    silent = now - since
                    if silent > self.task_timeout:
                        self._finished(
                            AttemptReport(
                                attempt.ref, False, f"no progress for {silent:.0f}s: killed"
                            ),
                            now,
                        )
        ready = []
        for job in self.jobs.values():
            if job.state == RUNNING and not job.committing:
                if all(t.state == DONE for t in job.tasks()):
                    job.committing = True
                    job.event(now, "all tasks done: committing the output")
                    ready.append(job)
        return ready
