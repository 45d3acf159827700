"""What a successor master needs, kept in ZooKeeper (small records only).

    <root>/mr/jobs/<job_id>               JSON: the job spec, state, submit time, error
    <root>/mr/jobs/<job_id>/maps/<task>   JSON: {"attempt", "worker"} of a finished map
                                          (deleted once the job has ended)

Reduce commits need no record: a committed reduce is a part file in the job's staged
output directory in GFS, and the job's commit is the output directory itself.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError

from gfs import zk
from mr.master.scheduler import TERMINAL, Job, JobSpec

logger = logging.getLogger(__name__)

JOBS = "mr/jobs"


@dataclass(frozen=True)
class StoredJob:
    spec: JobSpec
    state: str
    submitted: float
    error: str
    done_maps: dict[str, tuple[int, str]]


class JobStore:
    def __init__(self, client: KazooClient, root: str) -> None:
        self.client = client
        self.base = zk.znode(root, JOBS)

    def _job_path(self, job_id: str) -> str:
        return f"{self.base}/{job_id}"

    def save_job(self, job: Job) -> None:
        record = {
            "spec": {**dataclasses.asdict(job.spec), "inputs": list(job.spec.inputs)},
            "state": job.state,
            "submitted": job.submitted,
            "error": job.error,
        }
        data = json.dumps(record).encode()
        path = self._job_path(job.job_id)
        try:
            self.client.set(path, data)
        except NoNodeError:
            self.client.ensure_path(self.base)
            try:
                self.client.create(path, data)
            except NodeExistsError:
                self.client.set(path, data)
        if job.state in TERMINAL:
            self._drop_map_records(path)

    def _drop_map_records(self, path: str) -> None:
        """An ended job is resumed by nobody: its map records would only slow a takeover.
        The deletes are sent without waiting for each (this runs under the master's lock);
        ZooKeeper applies a session's requests in order, so the parent goes last."""
        try:
            tasks = self.client.get_children(f"{path}/maps")
        except NoNodeError:
            return
        for task in tasks:
            self.client.delete_async(f"{path}/maps/{task}")
        self.client.delete_async(f"{path}/maps")

    def map_done(self, job_id: str, task: str, attempt: int, worker: str) -> None:
        path = f"{self._job_path(job_id)}/maps/{task}"
        data = json.dumps({"attempt": attempt, "worker": worker}).encode()
        try:
            self.client.set(path, data)
        except NoNodeError:
            try:
                self.client.create(path, data, makepath=True)
            except NodeExistsError:
                self.client.set(path, data)

    def map_undone(self, job_id: str, task: str) -> None:
        try:
            self.client.delete(f"{self._job_path(job_id)}/maps/{task}")
        except NoNodeError:
            pass

    def load(self) -> list[StoredJob]:
        try:
            job_ids = self.client.get_children(self.base)
        except NoNodeError:
            return []
        jobs = []
        for job_id in sorted(job_ids):
            try:
                raw, _ = self.client.get(self._job_path(job_id))
                record: dict[str, Any] = json.loads(raw)
                spec = JobSpec(**{**record["spec"], "inputs": tuple(record["spec"]["inputs"])})
            except (NoNodeError, ValueError, TypeError, KeyError) as exc:
                logger.warning("skipping unreadable job record %s: %s", job_id, exc)
                continue
            done: dict[str, tuple[int, str]] = {}
            try:
                for task in self.client.get_children(f"{self._job_path(job_id)}/maps"):
                    raw, _ = self.client.get(f"{self._job_path(job_id)}/maps/{task}")
                    entry = json.loads(raw)
                    done[task] = (int(entry["attempt"]), str(entry["worker"]))
            except NoNodeError:
                pass
            jobs.append(
                StoredJob(spec, record["state"], record["submitted"], record["error"], done)
            )
        return jobs
