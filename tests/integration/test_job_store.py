"""The master's records in a real ZooKeeper (the session's test server), without a cluster."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from gfs import zk
from mr.master.scheduler import DONE, SUCCEEDED, DoneTask, Job, JobSpec, MapSplit, Scheduler
from mr.master.server import final_status_bytes
from mr.master.store import MAX_FINALS, JobStore


@pytest.fixture
def store(zookeeper_server: Any) -> Iterator[JobStore]:
    client = zk.connect(zookeeper_server.hosts, "test-secret")
    try:
        yield JobStore(client, f"/store-{uuid.uuid4().hex}")
    finally:
        zk.close(client)


def submitted(scheduler: Scheduler, job_id: str, maps: int) -> Job:
    spec = JobSpec(job_id, job_id, ("/in",), f"/out/{job_id}", 2, {}, "lines", 4, True, "/c")
    splits = [MapSplit("/in/f", i * 100, 100, ()) for i in range(maps)]
    return scheduler.submit(spec, splits, 0.0)


def test_task_records_and_final_status_round_trip(store: JobStore) -> None:
    job = submitted(Scheduler(dead_after=5.0), "job-1", maps=2)
    store.save_job(job)
    store.task_done("job-1", "m-00000", DoneTask(2, "worker-1", {"map_input_records": 5}))
    store.task_done("job-1", "r-00001", DoneTask(0, "worker-0", {"reduce_output_records": 3}))
    # A record from before counters were kept still loads.
    store.client.create(
        f"{store.base}/job-1/maps/m-00001", json.dumps({"attempt": 0, "worker": "w"}).encode()
    )
    (loaded,) = store.load()
    assert loaded.state == job.state and loaded.final is None
    assert loaded.done_maps == {
        "m-00000": DoneTask(2, "worker-1", {"map_input_records": 5}),
        "m-00001": DoneTask(0, "w", {}),
    }
    assert loaded.done_reduces == {"r-00001": DoneTask(0, "worker-0", {"reduce_output_records": 3})}

    for task in job.tasks():
        task.state = DONE
    job.state, job.counters = SUCCEEDED, {"map_input_records": 9}
    store.save_job(job, final_status_bytes(job))
    (ended,) = store.load()
    assert ended.state == SUCCEEDED and ended.done_maps == {} and ended.done_reduces == {}
    assert ended.final is not None
    assert (ended.final.maps_done, ended.final.reduces_done) == (2, 2)
    assert dict(ended.final.counters) == {"map_input_records": 9}


def test_only_the_newest_final_statuses_are_kept(store: JobStore) -> None:
    scheduler = Scheduler(dead_after=5.0)
    for i in range(MAX_FINALS + 3):
        job = submitted(scheduler, f"job-{i:04d}", maps=0)
        job.state = SUCCEEDED
        store.save_job(job, final_status_bytes(job))
    jobs = store.load()
    assert len(jobs) == MAX_FINALS + 3  # every job's record stays
    assert [j.spec.job_id for j in jobs if j.final is None] == ["job-0000", "job-0001", "job-0002"]
