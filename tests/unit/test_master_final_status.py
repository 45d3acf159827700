"""An ended job's status as the master records it in ZooKeeper (no sockets)."""

from __future__ import annotations

from test_mr_scheduler import Sim, spec, splits

from mr.master.scheduler import FAILED
from mr.master.server import FINAL_STATUS_BYTES, final_status_bytes
from mr.proto import mr_pb2


def test_final_status_of_a_job_failed_by_huge_errors_fits_a_znode() -> None:
    """A user exception may carry a message of any size: the record stays far below
    ZooKeeper's 1 MB request limit, and still names the task and the exception."""
    sim = Sim(workers=1, slots=1)
    job = sim.s.submit(spec(reducers=1, max_attempts=4), splits(1, lambda i: ("host-0",)), 0)
    huge = "ValueError: " + "x" * 150_000
    for _ in range(4):
        sim.beat("worker-0")
        (ref,) = sim.running["worker-0"]
        sim.finish("worker-0", ref, ok=False, error=huge)
    assert job.state == FAILED and len(job.error) > 600_000
    raw = final_status_bytes(job)
    assert len(raw) <= FINAL_STATUS_BYTES
    status = mr_pb2.JobStatus.FromString(raw)
    assert status.state == FAILED and "m-00000" in status.error and "ValueError" in status.error
    assert status.traceback == job.traceback
    assert [a.state for a in status.attempts] == [FAILED] * 4


def test_final_status_keeps_what_status_shows() -> None:
    sim = Sim()
    job = sim.s.submit(spec(), splits(4), sim.now)
    sim.run_to_end("j1")
    status = mr_pb2.JobStatus.FromString(final_status_bytes(job))
    assert (status.maps_total, status.maps_done, status.reduces_done) == (4, 4, 2)
    assert len(status.attempts) == 6 and list(status.events) == job.events[-50:]
