"""Submitting and watching jobs: the library behind `mr submit/jobs/status/kill` and the
Python API.

    from mr.client import run_job
    result = run_job(
        mapper=lambda key, line: ((w, 1) for w in line.split()),
        reducer=lambda word, counts: [(word, sum(counts))],
        inputs=["/data/books"], output="/out/wc", cluster=".cluster",
    )
    print(result.state, result.counters["map_input_records"])

The client finds the active master through ZooKeeper, and finds it again when a call fails
(a failover), so a waiting client follows the job to the new master.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from gfs import rpc, zk
from gfs.clusterdir import ClusterDir
from gfs.errors import Unavailable
from mr.errors import MrError
from mr.job import JobDefinition, dumps_job, job_from_functions
from mr.proto import mr_pb2, mr_pb2_grpc

CALL_TIMEOUT = 30.0
FAILOVER_SECONDS = 60.0  # how long to keep looking for an active master
TERMINAL = ("SUCCEEDED", "FAILED", "KILLED")


@dataclass(frozen=True)
class JobResult:
    job_id: str
    state: str
    counters: dict[str, int]
    error: str
    output: str
    status: mr_pb2.JobStatus

    @property
    def succeeded(self) -> bool:
        return self.state == "SUCCEEDED"


class MrClient:
    def __init__(self, cluster_dir: Path | str, failover_seconds: float = FAILOVER_SECONDS):
        self.dir = ClusterDir(Path(cluster_dir))
        info = self.dir.read_info()
        self.secret = self.dir.secret()
        self.zk_hosts = self.dir.zk_hosts()
        self.zk_root = str(info.get("zk_root") or "/minimr")
        self.failover_seconds = failover_seconds
        self.address = ""
        self.channel: grpc.Channel | None = None
        self.stub: mr_pb2_grpc.MasterStub | None = None

    def close(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    def __enter__(self) -> MrClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _lookup(self) -> str:
        info = zk.read_once(self.zk_hosts, self.secret, zk.znode(self.zk_root, zk.MASTER))
        return str(info["address"]) if info and info.get("address") else ""

    def _connect(self, deadline: float) -> mr_pb2_grpc.MasterStub:
        delay = 0.1
        while True:
            address = self._lookup()
            if address:
                if address != self.address:
                    self.close()
                    self.address = address
                    self.channel = rpc.channel(address, self.secret)
                    self.stub = mr_pb2_grpc.MasterStub(self.channel)
                assert self.stub is not None
                return self.stub
            if time.monotonic() > deadline:
                raise Unavailable("no active MapReduce master (is the cluster running?)")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def call(self, method: str, request: Any, idempotent: bool = True) -> Any:
        """Call the active master, following a failover for up to `failover_seconds`."""
        deadline = time.monotonic() + self.failover_seconds
        while True:
            stub = self.stub if self.stub is not None else self._connect(deadline)
            try:
                return getattr(stub, method)(request, timeout=CALL_TIMEOUT)
            except grpc.RpcError as exc:
                code = exc.code()
                retry = (code == grpc.StatusCode.UNAVAILABLE) and (
                    idempotent or "standby" in (exc.details() or "") or _refused(exc)
                )
                # A call that took too long may be resent when resending is harmless.
                retry = retry or (code == grpc.StatusCode.DEADLINE_EXCEEDED and idempotent)
                if not retry or time.monotonic() > deadline:
                    raise rpc.error_from_rpc(exc, method) from None
                self.stub = None
                self.address = ""
                time.sleep(0.2)

    # ---- jobs ----
    def submit(
        self,
        job: JobDefinition,
        code: bytes,
        inputs: Iterable[str],
        output: str,
        *,
        reducers: int,
        params: dict[str, str],
        max_attempts: int = 0,
        speculation: bool = True,
    ) -> str:
        if reducers < 1:
            raise MrError(f"reducers must be at least 1, not {reducers}")
        if max_attempts < 0:
            raise MrError(f"max_attempts must be at least 1 (0: the cluster's), not {max_attempts}")
        spec = mr_pb2.JobSpec(
            name=job.name,
            inputs=list(inputs),
            output=output,
            reducers=reducers,
            params=params,
            input_format=job.input_format,
            max_attempts=max_attempts,
            speculation=speculation,
            # Makes Submit safe to resend: a master that dies mid-call may have made the job.
            submission_id=uuid.uuid4().hex,
        )
        reply = self.call("Submit", mr_pb2.SubmitRequest(spec=spec, code=code))
        return str(reply.job_id)

    def status(self, job_id: str, wait_seconds: float = 0.0) -> mr_pb2.JobStatus:
        """The job's status; with `wait_seconds`, as soon as it ends or after that long."""
        return self.call("Status", mr_pb2.JobRequest(job_id=job_id, wait_seconds=wait_seconds))

    def jobs(self) -> list[mr_pb2.JobStatus]:
        return list(self.call("Jobs", mr_pb2.Empty()).jobs)

    def kill(self, job_id: str) -> None:
        self.call("Kill", mr_pb2.JobRequest(job_id=job_id))

    def wait(
        self,
        job_id: str,
        on_update: Callable[[mr_pb2.JobStatus], None] | None = None,
        poll: float = 0.25,
    ) -> mr_pb2.JobStatus:
        """Wait for the job's end (long polls: the end is heard at once); `on_update` gets
        every status on the way, about every `poll` seconds."""
        while True:
            asked = time.monotonic()
            status = self.status(job_id, wait_seconds=poll)
            if on_update is not None:
                on_update(status)
            if status.state in TERMINAL:
                return status
            time.sleep(max(0.0, poll - (time.monotonic() - asked)))  # a master that did not wait


def _refused(exc: grpc.RpcError) -> bool:
    """The request never reached a server (so even a non-idempotent call may be resent)."""
    details = (exc.details() or "").lower()
    return "connection refused" in details or "failed to connect" in details


def result_of(status: mr_pb2.JobStatus) -> JobResult:
    return JobResult(
        job_id=status.job_id,
        state=status.state,
        counters=dict(status.counters),
        error=status.error,
        output=status.output,
        status=status,
    )


def run_job(
    mapper: Callable[..., Any],
    reducer: Callable[..., Any],
    inputs: Iterable[str],
    output: str,
    *,
    cluster: Path | str = ".cluster",
    combiner: Callable[..., Any] | None = None,
    mapper_batch: Callable[..., Any] | None = None,
    partitioner: Callable[..., Any] | None = None,
    setup: Callable[..., Any] | None = None,
    input_format: str = "lines",
    reducers: int = 1,
    params: dict[str, str] | None = None,
    max_attempts: int = 0,
    speculation: bool = True,
    wait: bool = True,
    name: str = "python-api-job",
) -> JobResult:
    """Run plain functions (lambdas and closures too) as a job; return its result."""
    job = job_from_functions(
        mapper,
        reducer,
        combiner=combiner,
        mapper_batch=mapper_batch,
        partitioner=partitioner,
        setup=setup,
        input_format=input_format,
        num_reducers=reducers,
        name=name,
    )
    with MrClient(cluster) as client:
        job_id = client.submit(
            job,
            dumps_job(job),
            inputs,
            output,
            reducers=reducers,
            params=dict(params or {}),
            max_attempts=max_attempts,
            speculation=speculation,
        )
        status = client.wait(job_id) if wait else client.status(job_id)
    return result_of(status)
