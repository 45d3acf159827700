"""The master's scheduler, driven by events and `now` (no sockets, no sleeps)."""

from __future__ import annotations

import pytest

from mr.master.scheduler import (
    DONE,
    FAILED,
    KILLED,
    LOST,
    PENDING,
    RUNNING,
    SHUFFLE_SHARE,
    SUCCEEDED,
    AttemptRef,
    AttemptReport,
    DoneTask,
    HeartbeatResult,
    Job,
    JobSpec,
    MapSplit,
    Scheduler,
)

DEAD_AFTER = 5.0


def spec(job_id: str = "j1", reducers: int = 2, max_attempts: int = 3) -> JobSpec:
    return JobSpec(
        job_id=job_id,
        name=job_id,
        inputs=("/in",),
        output=f"/out/{job_id}",
        reducers=reducers,
        params={},
        input_format="lines",
        max_attempts=max_attempts,
        speculation=True,
        code_path=f"/.mr/jobs/{job_id}/job.pkl",
    )


def splits(n: int, host_of=lambda i: (f"host-{i % 3}",)) -> list[MapSplit]:
    return [MapSplit("/in/f", i * 100, 100, host_of(i)) for i in range(n)]


class Sim:
    """Workers that remember what they run and report back."""

    def __init__(self, workers: int = 3, slots: int = 2) -> None:
        self.now = 0.0
        self.s = Scheduler(dead_after=DEAD_AFTER)
        self.running: dict[str, dict[AttemptRef, float]] = {}
        for i in range(workers):
            self.add_worker(f"worker-{i}", f"host-{i}", slots)

    def add_worker(self, name: str, host: str, slots: int = 2, incarnation: str = "a") -> None:
        self.s.register(name, f"addr-{name}", host, slots, incarnation, self.now)
        self.running[name] = {}

    def beat(self, name: str, finished=(), failures=(), incarnation: str = "a") -> HeartbeatResult:
        run = {ref: (p, 0) for ref, p in self.running[name].items()}
        for report in finished:
            run.pop(report.ref, None)
            self.running[name].pop(report.ref, None)
        result = self.s.heartbeat(name, incarnation, run, list(finished), list(failures), self.now)
        for ref in result.kill:
            self.running[name].pop(ref, None)
        for assign in result.assign:
            self.running[name][assign.attempt.ref] = 0.0
        return result

    def finish(
        self, name: str, ref: AttemptRef, ok: bool = True, error: str = ""
    ) -> HeartbeatResult:
        return self.beat(name, finished=[AttemptReport(ref, ok, error, "Traceback ...")])

    def commit(self, name: str, ref: AttemptRef) -> bool:
        granted, _ = self.s.request_commit(ref, self.now)
        if granted:
            self.s.commit_done(ref, True, self.now)
        self.finish(name, ref)
        return granted

    def run_to_end(self, job_id: str) -> None:
        """Everyone finishes whatever they are given until the job is ready to commit."""
        for _ in range(100):
            self.now += 0.1
            for name in list(self.running):
                if not self.s.workers[name].alive:
                    continue
                for ref in list(self.running[name]):
                    if ref.task.startswith("m-"):
                        self.finish(name, ref)
                    else:
                        self.commit(name, ref)
                self.beat(name)
            for job in self.s.tick(self.now):
                self.s.job_committed(job.job_id, True, self.now)
            if self.s.jobs[job_id].state == SUCCEEDED:
                return
        raise AssertionError("job did not finish")


def test_data_local_maps_first_and_every_task_once() -> None:
    sim = Sim()
    job = sim.s.submit(spec(), splits(6), sim.now)
    for name in sim.running:
        result = sim.beat(name)
        assert len(result.assign) == 2
        for assign in result.assign:
            assert assign.attempt.data_local, (name, assign.task.task_id)
    assert job.state == RUNNING and job.counters["data_local_maps"] == 6
    sim.run_to_end("j1")
    assert all(len(t.attempts) == 1 for t in job.tasks())
    assert job.counters.get("remote_maps", 0) == 0
    assert {a.progress for t in job.tasks() for a in t.attempts} == {1.0}  # reported 0.0


def test_remote_map_when_no_local_work() -> None:
    sim = Sim(workers=1)
    job = sim.s.submit(spec(), splits(2, host_of=lambda i: ("host-9",)), sim.now)
    result = sim.beat("worker-0")
    assert [a.task.task_id for a in result.assign] == ["m-00000", "m-00001"]
    assert job.counters["remote_maps"] == 2


def test_reduces_wait_until_all_maps_are_assigned_and_get_locations() -> None:
    sim = Sim(workers=1, slots=4)
    sim.s.submit(spec(reducers=2), splits(2), sim.now)
    first = sim.beat("worker-0")
    kinds = [a.task.kind for a in first.assign]
    assert kinds == ["map", "map", "reduce", "reduce"]
    assert all(loc.maps == [] for loc in first.locations)
    m0 = first.assign[0].attempt.ref
    sim.finish("worker-0", m0)
    result = sim.beat("worker-0")  # reducers report generation 0: they get the new list
    assert {tuple(m.task for m in loc.maps) for loc in result.locations} == {("m-00000",)}


def test_reduces_holding_every_slot_give_one_up_to_a_rerun_map() -> None:
    """Reduces took every slot once all maps were out; then the worker holding the map
    outputs died. Without preemption the re-executed maps would never find a slot."""
    sim = Sim(workers=2, slots=1)
    sim.add_worker("worker-2", "host-2", slots=2)
    job = sim.s.submit(spec(reducers=2), splits(2, host_of=lambda i: ("host-2",)), sim.now)
    sim.beat("worker-2")  # both maps, data-local
    sim.beat("worker-0")  # every map is out: the reduces start, one per worker
    sim.beat("worker-1")
    assert [len(sim.running[n]) for n in ("worker-0", "worker-1", "worker-2")] == [1, 1, 2]
    for ref in list(sim.running["worker-2"]):
        sim.finish("worker-2", ref)
    sim.now += DEAD_AFTER + 1
    sim.beat("worker-0")
    sim.beat("worker-1")
    sim.s.tick(sim.now)  # worker-2 and the map outputs on it are gone
    assert [t.state for t in job.maps] == [PENDING, PENDING]
    result = sim.beat("worker-0")
    assert [r.task for r in result.kill] == ["r-00000"] and not result.assign
    preempted = job.reduces[0].attempts[0]
    assert preempted.state == KILLED and "preempted" in preempted.error
    assert job.reduces[0].state == PENDING
    assert [a.task.task_id for a in sim.beat("worker-0").assign] == ["m-00000"]
    assert not sim.beat("worker-1").kill  # a map runs: no more preemption
    sim.run_to_end("j1")
    assert job.counters["preempted_reduces"] == 1
    assert all(t.failures == 0 for t in job.tasks())


def _reduces_on_two_of_three_single_slot_workers(sim: Sim) -> Job:
    """Maps m0, m1, m2 on worker-0, -1, -2; m0 and m1 finish, so the reduces start there."""
    job = sim.s.submit(spec(reducers=2), splits(3), sim.now)
    for name in ("worker-0", "worker-1", "worker-2"):
        sim.beat(name)
    for name in ("worker-0", "worker-1"):
        (ref,) = sim.running[name]
        assert [a.task.kind for a in sim.finish(name, ref).assign] == ["reduce"]
    return job


def test_a_map_barred_from_the_only_free_worker_gets_a_reduces_slot() -> None:
    """The last map fails on worker-2, the only free worker, where it may not run again
    while others have not failed it: a free slot that no pending map may use does not
    count, and a reduce elsewhere gives its slot up."""
    sim = Sim(workers=3, slots=1)
    job = _reduces_on_two_of_three_single_slot_workers(sim)
    (ref,) = sim.running["worker-2"]
    assert not sim.finish("worker-2", ref, ok=False, error="flaky").assign
    assert [r.task for r in sim.beat("worker-0").kill] == ["r-00000"]
    assert [a.task.task_id for a in sim.beat("worker-0").assign] == ["m-00002"]
    sim.run_to_end("j1")
    assert job.counters["preempted_reduces"] == 1


def test_only_reduces_still_fetching_are_preempted() -> None:
    """A reduce past its shuffle (progress >= SHUFFLE_SHARE) needs no map and will free its
    slot; a committed one is done. Neither is preempted; one still fetching is."""
    sim = Sim(workers=3, slots=1)
    job = _reduces_on_two_of_three_single_slot_workers(sim)
    (ref,) = sim.running["worker-2"]
    sim.finish("worker-2", ref)
    reducing, fetching = (next(iter(sim.running[n])) for n in ("worker-0", "worker-1"))
    sim.running["worker-0"][reducing] = SHUFFLE_SHARE
    sim.running["worker-1"][fetching] = 0.2
    for name in ("worker-0", "worker-1"):
        sim.beat(name)
    sim.now += DEAD_AFTER + 1
    for name in ("worker-0", "worker-1"):
        sim.beat(name)
    sim.s.tick(sim.now)  # worker-2 is lost, and with it m2's output
    assert job.maps[2].state == PENDING
    assert not sim.beat("worker-0").kill
    assert sim.s.request_commit(reducing, sim.now) == (True, "")
    sim.s.commit_done(reducing, True, sim.now)  # committed; its end not reported yet
    sim.running["worker-0"][reducing] = 0.0
    assert not sim.beat("worker-0").kill
    assert sim.beat("worker-1").kill == [fetching]
    sim.run_to_end("j1")
    assert [len(t.attempts) for t in job.reduces] == [1, 2]


def test_fifo_between_jobs() -> None:
    sim = Sim(workers=1, slots=1)
    sim.s.submit(spec("a", reducers=1), splits(1), sim.now)
    sim.s.submit(spec("b", reducers=1), splits(1), sim.now)
    assert sim.beat("worker-0").assign[0].job.job_id == "a"
    assert sim.s.jobs["b"].state == PENDING


def test_submitted_as_finds_the_job_of_a_submission() -> None:
    """The master's Submit asks this first, under the same lock: a Submit resent after a
    failover gets the job the first one made."""
    sim = Sim(workers=1, slots=1)
    first = sim.s.submit(JobSpec(**{**spec("a").__dict__, "submission_id": "k1"}), [], sim.now)
    other = sim.s.submit(JobSpec(**{**spec("c").__dict__, "submission_id": "k2"}), [], sim.now)
    plain = sim.s.submit(spec("d"), [], sim.now)  # no id: never matched
    assert sim.s.submitted_as("k1") is first and sim.s.submitted_as("k2") is other
    assert sim.s.submitted_as("k3") is None and sim.s.submitted_as("") is None
    assert plain.spec.submission_id == ""


def test_failed_attempt_is_retried_on_another_worker_then_job_fails() -> None:
    sim = Sim(workers=2, slots=1)
    job = sim.s.submit(spec(reducers=1, max_attempts=3), splits(1, lambda i: ("host-0",)), 0)
    (a0,) = sim.beat("worker-0").assign
    sim.finish("worker-0", a0.attempt.ref, ok=False, error="ValueError: boom")
    assert sim.beat("worker-0").assign == []  # failed there: wait for another worker
    (a1,) = sim.beat("worker-1").assign
    assert a1.task.task_id == "m-00000" and a1.attempt.ref.attempt == 1
    # every live worker has failed it now: it may run anywhere again, at once
    (a2,) = sim.finish("worker-1", a1.attempt.ref, ok=False, error="ValueError: boom").assign
    assert a2.task.task_id == "m-00000" and a2.attempt.ref.attempt == 2
    sim.finish("worker-1", a2.attempt.ref, ok=False, error="ValueError: boom")
    assert job.state == FAILED
    assert "m-00000 failed 3 times" in job.error and "ValueError: boom" in job.error
    assert job.traceback == "Traceback ..."
    assert [a.state for a in job.maps[0].attempts] == [FAILED, FAILED, FAILED]


def test_lost_worker_running_and_finished_maps_are_redone() -> None:
    sim = Sim(workers=2, slots=2)
    job = sim.s.submit(spec(reducers=1), splits(3, lambda i: ("host-0",)), 0)
    first = sim.beat("worker-0").assign
    sim.finish("worker-0", first[0].attempt.ref)  # m-00000 done on worker-0
    assert job.maps[0].state == DONE
    gen = job.map_generation
    sim.now = 1.0
    sim.beat("worker-1")
    sim.now = 1.0 + DEAD_AFTER + 0.1
    sim.beat("worker-1")
    sim.s.tick(sim.now)
    assert not sim.s.workers["worker-0"].alive
    assert job.maps[0].state == PENDING and job.map_generation > gen
    assert [a.state for a in job.maps[0].attempts] == [SUCCEEDED]
    assert job.maps[1].attempts[0].state == LOST
    assert any("re-executing m-00000" in e for e in job.events)
    assert any("lost worker-0" in e for e in job.events)
    sim.running["worker-0"].clear()
    del sim.running["worker-0"]
    sim.run_to_end("j1")
    assert job.counters["lost_attempts"] >= 1 and job.counters["reexecuted_maps"] == 1


def test_restarted_worker_is_a_new_incarnation() -> None:
    sim = Sim(workers=1, slots=1)
    job = sim.s.submit(spec(reducers=1), splits(1), 0)
    (a,) = sim.beat("worker-0").assign
    assert sim.beat("worker-0", incarnation="b").reregister
    sim.add_worker("worker-0", "host-0", 1, incarnation="b")
    assert a.attempt.state == LOST and job.maps[0].state == PENDING
    # a late report from the old incarnation changes nothing
    sim.s.heartbeat("worker-0", "a", {}, [AttemptReport(a.attempt.ref, True)], [], 1.0)
    assert a.attempt.state == LOST


def test_assignment_lost_in_transit_is_given_out_again() -> None:
    sim = Sim(workers=1, slots=1)
    job = sim.s.submit(spec(reducers=1), splits(1), 0)
    sim.beat("worker-0")
    sim.running["worker-0"].clear()  # the reply never arrived
    sim.now = 10.0
    result = sim.beat("worker-0")
    assert job.maps[0].attempts[0].state == LOST
    assert [a.attempt.ref.attempt for a in result.assign] == [1]


def test_only_one_reduce_attempt_commits() -> None:
    sim = Sim(workers=2, slots=1)
    job = sim.s.submit(spec(reducers=1), [], 0)
    (r0,) = sim.beat("worker-0").assign
    # pretend a second attempt exists (a backup)
    task = job.reduces[0]
    backup = sim.s._launch(job, task, sim.s.workers["worker-1"], 0.5, speculative=True)
    sim.running["worker-1"][backup.attempt.ref] = 0.0
    assert sim.s.request_commit(r0.attempt.ref, 1.0) == (True, "")
    assert sim.s.request_commit(backup.attempt.ref, 1.0)[0] is False
    sim.s.commit_done(r0.attempt.ref, True, 1.0)
    assert task.state == DONE and backup.attempt.state == KILLED
    assert sim.s.request_commit(backup.attempt.ref, 1.1)[0] is False
    result = sim.beat("worker-1")
    assert backup.attempt.ref in result.kill


def test_fetch_failures_reexecute_the_map() -> None:
    sim = Sim(workers=2, slots=2)
    job = sim.s.submit(spec(reducers=1), splits(1, lambda i: ("host-0",)), 0)
    assigned = sim.beat("worker-0").assign
    m, r = (a.attempt.ref for a in assigned)
    assert r.task == "r-00000"
    sim.finish("worker-0", m)
    for _ in range(3):
        assert job.maps[0].state == DONE
        sim.beat("worker-0", failures=[(r, "m-00000", "UNAVAILABLE")])
    assert job.maps[0].state in (PENDING, RUNNING)
    assert any("could not fetch" in e for e in job.events)


def test_kill_job_kills_running_attempts() -> None:
    sim = Sim(workers=1, slots=2)
    job = sim.s.submit(spec(reducers=1), splits(2), 0)
    sim.beat("worker-0")
    sim.s.kill_job("j1", 1.0)
    assert job.state == KILLED
    result = sim.beat("worker-0")
    assert len(result.kill) == 2 and "j1" in result.drop_jobs


@pytest.mark.parametrize("reducers", [1, 3])
def test_empty_input_still_writes_every_part(reducers: int) -> None:
    sim = Sim(workers=1, slots=4)
    job = sim.s.submit(spec(reducers=reducers), [], 0)
    assert len(sim.beat("worker-0").assign) == reducers
    sim.run_to_end("j1")
    assert job.state == SUCCEEDED


def progress_beat(sim: Sim, name: str, progress: dict[AttemptRef, float]) -> HeartbeatResult:
    sim.running[name].update(progress)
    return sim.beat(name)


def test_backup_for_a_straggler_and_the_backup_wins() -> None:
    sim = Sim(workers=3, slots=2)
    job = sim.s.submit(spec(reducers=1), splits(4), 0)
    assigned = {name: sim.beat(name).assign for name in ["worker-0", "worker-1"]}
    maps = [a.attempt.ref for name in assigned for a in assigned[name] if a.task.kind == "map"]
    straggler = maps[0]
    sim.now = 1.0
    for ref in maps[1:]:
        worker = next(n for n in assigned if any(a.attempt.ref == ref for a in assigned[n]))
        sim.finish(worker, ref)
    # typical map: 1 s; the straggler is at 5% after 1.2 s: about 23 s left
    sim.now = 1.2
    progress_beat(sim, "worker-0", {straggler: 0.05})
    result = sim.beat("worker-2")
    backups = [a for a in result.assign if a.attempt.speculative]
    assert [b.task.task_id for b in backups] == [straggler.task]
    assert job.counters["backups_launched"] == 1
    # at most one backup per task
    assert not [a for a in sim.beat("worker-1").assign if a.attempt.speculative]
    sim.now = 2.0
    sim.finish("worker-2", backups[0].attempt.ref)
    task = job.task(straggler.task)
    assert task.winner.speculative and task.attempts[0].state == KILLED
    assert job.counters["backups_won"] == 1 and job.counters["backup_ms_saved"] == 2000
    assert straggler in sim.beat("worker-0").kill


def test_no_backups_for_uniform_tasks_or_when_disabled() -> None:
    for speculation in (True, False):
        sim = Sim(workers=2, slots=2)
        s = spec(reducers=1)
        s = JobSpec(**{**s.__dict__, "speculation": speculation})
        job = sim.s.submit(s, splits(4), 0)
        refs = {n: [a.attempt.ref for a in sim.beat(n).assign] for n in sim.running}
        sim.now = 1.0
        sim.finish("worker-0", refs["worker-0"][0])
        sim.now = 1.05  # the others are on track
        for name, attempts in refs.items():
            progress_beat(sim, name, {r: 0.95 for r in attempts if r in sim.running[name]})
        assert not any(a.attempt.speculative for n in sim.running for a in sim.beat(n).assign)
        assert job.counters.get("backups_launched", 0) == 0
        # Now a real straggler, and a worker with free slots: a backup only when enabled.
        sim.now = 30.0
        sim.add_worker("worker-9", "host-9")
        backups = [a for a in sim.beat("worker-9").assign if a.attempt.speculative]
        assert len(backups) == (1 if speculation else 0)
        assert job.counters.get("backups_launched", 0) == len(backups)


def test_hung_attempt_is_failed_and_retried() -> None:
    sim = Sim(workers=1, slots=1)
    sim.s.task_timeout = 10.0
    job = sim.s.submit(spec(reducers=1), splits(1), 0)
    (a,) = sim.beat("worker-0").assign
    sim.now = 9.0
    progress_beat(sim, "worker-0", {a.attempt.ref: 0.5})  # progress resets the clock
    for t in (12.0, 15.0, 18.0):  # alive, but stuck at 50%
        sim.now = t
        sim.beat("worker-0")
        sim.s.tick(sim.now)
    assert a.attempt.state == RUNNING
    sim.now = 19.5
    sim.beat("worker-0")
    sim.s.tick(sim.now)
    assert a.attempt.state == FAILED and "no progress" in a.attempt.error
    result = sim.beat("worker-0")
    assert a.attempt.ref in result.kill
    assert job.maps[0].failures == 1


def test_big_split_next_to_a_small_one_is_not_a_straggler() -> None:
    sim = Sim(workers=3, slots=1)
    sizes = [128 * 1024, 8 * 1024]
    split_list = [
        MapSplit("/in/f", 0, sizes[0], ("host-0",)),
        MapSplit("/in/f", sizes[0], sizes[1], ("host-1",)),
    ]
    job = sim.s.submit(spec(reducers=1), split_list, 0)
    big = sim.beat("worker-0").assign[0].attempt.ref
    small = sim.beat("worker-1").assign[0].attempt.ref
    sim.now = 0.1
    sim.finish("worker-1", small)  # 8 KiB in 0.1 s
    sim.now = 1.5  # the big one is at 90%: on track for its size
    progress_beat(sim, "worker-0", {big: 0.9})
    assert not [a for a in sim.beat("worker-2").assign if a.attempt.speculative]
    assert job.counters.get("backups_launched", 0) == 0


def test_reexecuted_map_counters_count_once() -> None:
    sim = Sim(workers=2, slots=1)
    job = sim.s.submit(spec(reducers=1), splits(1, lambda i: ("host-0",)), 0)
    (a,) = sim.beat("worker-0").assign
    sim.beat(
        "worker-0", finished=[AttemptReport(a.attempt.ref, True, counters={"map_input_records": 7})]
    )
    assert job.counters["map_input_records"] == 7
    sim.now = DEAD_AFTER + 1
    sim.beat("worker-1")
    sim.s.tick(sim.now)  # worker-0 lost: its map runs again
    assert job.counters["map_input_records"] == 0
    (b,) = [x for x in sim.beat("worker-1").assign if x.task.kind == "map"]
    sim.beat(
        "worker-1", finished=[AttemptReport(b.attempt.ref, True, counters={"map_input_records": 7})]
    )
    assert job.counters["map_input_records"] == 7


def test_job_published_before_the_last_reduce_reports_its_end() -> None:
    # The master publishes a job as soon as its last reduce commits; that reduce's worker
    # reports the attempt's end a heartbeat later. The attempt succeeded: never "killed".
    sim = Sim(workers=1, slots=4)
    job = sim.s.submit(spec(reducers=1), splits(2), sim.now)
    assigned = sim.beat("worker-0").assign
    reduce_ref = next(a.attempt.ref for a in assigned if a.task.kind == "reduce")
    for a in assigned:
        if a.task.kind == "map":
            sim.finish("worker-0", a.attempt.ref)
    assert sim.s.request_commit(reduce_ref, sim.now) == (True, "")
    sim.s.commit_done(reduce_ref, True, sim.now)
    for ready in sim.s.tick(sim.now):
        sim.s.job_committed(ready.job_id, True, sim.now)
    assert job.state == SUCCEEDED
    sim.finish("worker-0", reduce_ref)  # the late report changes nothing
    states = {a.ref.task: a.state for t in job.tasks() for a in t.attempts}
    assert set(states.values()) == {SUCCEEDED}
    assert job.counters.get("killed_attempts", 0) == 0


def _capped_sim(cap: bool) -> Sim:
    """Three workers with 2 slots each: two share a 2-CPU machine, one has its own."""
    sim = Sim(workers=0)
    sim.s = Scheduler(dead_after=DEAD_AFTER, cap_to_cpus=cap)
    for name, machine in (("worker-0", "box"), ("worker-1", "box"), ("worker-2", "other")):
        sim.s.register(name, f"addr-{name}", name, 2, "a", sim.now, machine=machine, cpus=2)
        sim.running[name] = {}
    return sim


def _counts(sim: Sim) -> list[int]:
    return [len(sim.running[n]) for n in ("worker-0", "worker-1", "worker-2")]


def test_cap_to_cpus_shares_a_machines_cpus_between_its_workers() -> None:
    sim = _capped_sim(cap=True)
    sim.s.submit(spec("j", reducers=1), splits(8, host_of=lambda i: ()), sim.now)
    for name in ("worker-0", "worker-0", "worker-1", "worker-2"):
        sim.beat(name)
    # "box" runs one attempt per CPU, one per worker: worker-0 beating first (and again)
    # does not take both; "other" has its 2 CPUs to itself.
    assert _counts(sim) == [1, 1, 2]
    # A finished attempt frees its worker's share: the next attempt takes it at once.
    sim.finish("worker-0", next(iter(sim.running["worker-0"])))
    assert _counts(sim) == [1, 1, 2]
    # A dead worker's attempts no longer count, and its peer gets the whole machine.
    sim.now += DEAD_AFTER + 1
    sim.beat("worker-1")
    sim.beat("worker-2")
    sim.s.tick(sim.now)
    assert not sim.s.workers["worker-0"].alive
    sim.beat("worker-1")
    assert len(sim.running["worker-1"]) == 2
    sim.run_to_end("j")


def test_cap_to_cpus_never_keeps_a_rerun_map_from_reduces_waiting_for_it() -> None:
    """Reduces that wait for maps are not counted: when a finished map must run again, the
    machine whose CPUs those reduces would hold still takes it."""
    sim = _capped_sim(cap=True)
    sim.s.submit(spec("j", reducers=2), splits(2, host_of=lambda i: ("worker-2",)), sim.now)
    sim.beat("worker-2")  # both maps, data-local
    sim.beat("worker-1")  # every map is out: the reduces start, and wait
    sim.beat("worker-0")
    assert sorted(r.task for r in sim.running["worker-1"]) == ["r-00000", "r-00001"]
    sim.now += 1.0  # long enough to count as CPU-bound
    for ref in list(sim.running["worker-2"]):
        sim.finish("worker-2", ref)
    sim.now += DEAD_AFTER + 1  # worker-2 and its map outputs are gone
    for name in ("worker-0", "worker-1"):
        sim.beat(name)
    sim.s.tick(sim.now)
    assert [t.state for t in sim.s.jobs["j"].maps] == [PENDING, PENDING]
    given = [a.task.task_id for n in ("worker-0", "worker-1") for a in sim.beat(n).assign]
    assert given == ["m-00000"]  # worker-0's CPU share; worker-1's slots hold the reduces
    sim.run_to_end("j")


def test_cap_to_cpus_lets_short_attempts_overlap() -> None:
    """Maps that end within SHORT_ATTEMPT wait on start-up more than on a CPU: once two
    have ended that fast, the cap no longer holds them back."""
    sim = _capped_sim(cap=True)
    sim.s.submit(spec("j", reducers=1), splits(12, host_of=lambda i: ()), sim.now)
    sim.beat("worker-0")
    assert len(sim.running["worker-0"]) == 1  # CPU-bound until shown otherwise
    sim.beat("worker-1")
    sim.now += 0.05
    for name in ("worker-0", "worker-1"):
        for ref in list(sim.running[name]):
            sim.finish(name, ref)
    for name in ("worker-0", "worker-1"):
        sim.beat(name)
    assert [len(sim.running[n]) for n in ("worker-0", "worker-1")] == [2, 2]  # all slots
    sim.run_to_end("j")


def test_without_the_cap_or_the_cpu_count_slots_alone_count() -> None:
    sim = _capped_sim(cap=False)
    sim.s.submit(spec("j", reducers=1), splits(8, host_of=lambda i: ()), sim.now)
    for name in ("worker-0", "worker-1", "worker-2"):
        sim.beat(name)
    assert _counts(sim) == [2, 2, 2]
    unknown = Sim(workers=0)
    unknown.s = Scheduler(dead_after=DEAD_AFTER, cap_to_cpus=True)
    for name in ("worker-0", "worker-1"):
        unknown.s.register(name, f"addr-{name}", name, 2, "a", unknown.now, machine="box")
        unknown.running[name] = {}
    unknown.s.submit(spec("j", reducers=1), splits(8, host_of=lambda i: ()), unknown.now)
    for name in ("worker-0", "worker-1"):
        unknown.beat(name)
    assert [len(unknown.running[n]) for n in ("worker-0", "worker-1")] == [2, 2]  # cpus 0


def _restored(held_by_worker_0: bool) -> tuple[Sim, AttemptRef]:
    """A new master's view: maps m-00000 (on worker-0) and m-00001 (on worker-1) finished and
    reduce 0 committed under the old master; the workers then register again."""
    sim = Sim(workers=0)
    job = sim.s.restore_job(
        spec("j", reducers=2),
        splits(3),
        state=RUNNING,
        submitted=-5.0,
        done_maps={
            "m-00000": DoneTask(1, "worker-0", {"map_input_records": 10}),
            "m-00001": DoneTask(2, "worker-1", {"map_input_records": 7}),
        },
        committed_reduces=[0],
        done_reduces={"r-00000": DoneTask(0, "worker-1", {"reduce_output_records": 3})},
        now=sim.now,
    )
    assert [t.state for t in job.maps] == [DONE, DONE, PENDING]
    assert [t.state for t in job.reduces] == [DONE, PENDING]
    ref0 = AttemptRef("j", "m-00000", 1)
    held = [ref0] if held_by_worker_0 else []
    sim.s.register("worker-0", "addr-0", "host-0", 2, "a", sim.now, held)
    sim.running["worker-0"] = {}
    sim.s.register("worker-1", "addr-1", "host-1", 2, "a", sim.now, [AttemptRef("j", "m-00001", 2)])
    sim.running["worker-1"] = {}
    return sim, ref0


def test_restored_job_runs_only_what_is_left() -> None:
    sim, _ref0 = _restored(held_by_worker_0=True)
    given = {a.task.task_id for name in ("worker-0", "worker-1") for a in sim.beat(name).assign}
    # The held outputs and the committed reduce stay done; reduce 1 starts with the last map.
    assert given == {"m-00002", "r-00001"}
    sim.run_to_end("j")
    job = sim.s.jobs["j"]
    assert [len(t.attempts) for t in job.reduces] == [0, 1]  # reduce 0 never ran again
    assert job.task("m-00000").winner.ref == AttemptRef("j", "m-00000", 1)
    # The counters of the tasks done before the failover still count, once.
    assert job.counters["map_input_records"] == 17
    assert job.counters["reduce_output_records"] == 3


def test_restored_worker_without_its_outputs_has_those_maps_redone() -> None:
    sim, ref0 = _restored(held_by_worker_0=False)
    job = sim.s.jobs["j"]
    assert job.task("m-00000").state == PENDING  # worker-0 lost it (a restart, a new disk)
    assert job.task("m-00001").state == DONE
    given = {a.task.task_id for name in ("worker-0", "worker-1") for a in sim.beat(name).assign}
    assert given == {"m-00000", "m-00002", "r-00001"}
    sim.run_to_end("j")
    assert job.task("m-00000").winner.ref != ref0
    assert job.counters["map_input_records"] == 7  # m-00000's 10 went with its output
    # Numbered past the predecessor's attempt 1: a second "attempt 1" would be taken for
    # a late report of the first, its success ignored.
    assert [a.ref.attempt for a in job.task("m-00000").attempts] == [1, 2]
    assert job.counters.get("backups_launched", 0) == 0


def test_restored_worker_that_never_returns_has_its_maps_redone() -> None:
    sim = Sim(workers=0)
    sim.s.restore_job(
        spec("j", reducers=1),
        splits(2),
        state=RUNNING,
        submitted=0.0,
        done_maps={"m-00000": DoneTask(1, "worker-gone")},
        committed_reduces=[],
        now=sim.now,
    )
    sim.add_worker("worker-0", "host-0")
    assert {a.task.task_id for a in sim.beat("worker-0").assign} == {"m-00001", "r-00000"}
    sim.now += DEAD_AFTER + 1
    sim.beat("worker-0")
    sim.s.tick(sim.now)
    assert sim.s.jobs["j"].task("m-00000").state == PENDING
    sim.run_to_end("j")
