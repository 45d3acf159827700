"""What a successor master needs, kept in ZooKeeper (small records only).

    <root>/mr/jobs/<job_id>                  JSON: the job spec, state, submit time, error
    <root>/mr/jobs/<job_id>/maps/<task>      JSON: {"attempt", "worker", "counters"} of a
                                             finished map
    <root>/mr/jobs/<job_id>/reduces/<task>   the same of a committed reduce
                                             (both deleted once the job has ended)
    <root>/mr/finals/<job_id>                protobuf JobStatus: how the job ended (only
                                             the newest MAX_FINALS ended jobs keep one)

Reduce commits themselves need no record: a committed reduce is a part file in the job's
staged output directory in GFS, and the job's commit is the output directory itself. Its
record only keeps its counters; it is written before the part file is renamed into place.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError
from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError

from gfs import zk
from mr.master.scheduler import TERMINAL, DoneTask, Job, JobSpec
from mr.proto import mr_pb2

logger = logging.getLogger(__name__)

JOBS = "mr/jobs"
FINALS = "mr/finals"
MAX_FINALS = 100  # final statuses kept (up to 256 KiB each; job ids sort by submit time)
ERROR_CHARS = 8 << 10  # of a job's error in its record (ZooKeeper requests stay < 1 MB)


@dataclass(frozen=True)
class StoredJob:
    spec: JobSpec
    state: str
    submitted: float
    error: str
    done_maps: dict[str, DoneTask]
    done_reduces: dict[str, DoneTask]
    final: mr_pb2.JobStatus | None = None  # its status when it ended (ended jobs only)


def _kind_dir(task: str) -> str:
    return "maps" if task.startswith("m-") else "reduces"


class JobStore:
    def __init__(self, client: KazooClient, root: str) -> None:
        self.client = client
        self.base = zk.znode(root, JOBS)
        self.finals = zk.znode(root, FINALS)

    def _job_path(self, job_id: str) -> str:
        return f"{self.base}/{job_id}"

    def save_job(self, job: Job, final: bytes | None = None) -> None:
        """The job's record; `final`: its serialized JobStatus, once it has ended."""
        record = {
            "spec": {**dataclasses.asdict(job.spec), "inputs": list(job.spec.inputs)},
            "state": job.state,
            "submitted": job.submitted,
            "error": job.error[:ERROR_CHARS],
        }
        path = self._job_path(job.job_id)
        if final is not None:  # first: a record that says the job ended has its status
            self._put(f"{self.finals}/{job.job_id}", final)
            self._drop_old_finals()
        self._put(path, json.dumps(record).encode())
        if job.state in TERMINAL:
            self._drop_map_records(path)

    def _drop_old_finals(self) -> None:
        """Only the newest MAX_FINALS: job records stay, and would grow ZooKeeper's memory
        (and a takeover's reading) with every job otherwise."""
        try:
            kept = sorted(self.client.get_children(self.finals))
        except NoNodeError:
            return
        for job_id in kept[:-MAX_FINALS]:
            self.client.delete_async(f"{self.finals}/{job_id}")

    def _drop_map_records(self, path: str) -> None:
        """An ended job is resumed by nobody: its task records would only slow a takeover.
        The deletes are sent without waiting for each (this runs under the master's lock);
        ZooKeeper applies a session's requests in order, so the parents go last."""
        for kind in ("maps", "reduces"):
            try:
                tasks = self.client.get_children(f"{path}/{kind}")
            except NoNodeError:
                continue
            for task in tasks:
                self.client.delete_async(f"{path}/{kind}/{task}")
            self.client.delete_async(f"{path}/{kind}")

    def _put(self, path: str, data: bytes) -> None:
        try:
            self.client.set(path, data)
        except NoNodeError:
            try:
                self.client.create(path, data, makepath=True)
            except NodeExistsError:
                self.client.set(path, data)

    def task_done(self, job_id: str, task: str, done: DoneTask) -> None:
        path = f"{self._job_path(job_id)}/{_kind_dir(task)}/{task}"
        record = {"attempt": done.attempt, "worker": done.worker, "counters": done.counters}
        self._put(path, json.dumps(record).encode())

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
        try:
            finals = set(self.client.get_children(self.finals))
        except NoNodeError:
            finals = set()
        jobs = []
        for job_id in sorted(job_ids):
            try:
                raw, _ = self.client.get(self._job_path(job_id))
                record: dict[str, Any] = json.loads(raw)
                spec = JobSpec(**{**record["spec"], "inputs": tuple(record["spec"]["inputs"])})
            except (NoNodeError, ValueError, TypeError, KeyError) as exc:
                logger.warning("skipping unreadable job record %s: %s", job_id, exc)
                continue
            jobs.append(
                StoredJob(
                    spec,
                    record["state"],
                    record["submitted"],
                    record["error"],
                    self._done_tasks(job_id, "maps"),
                    self._done_tasks(job_id, "reduces"),
                    self._final(job_id) if job_id in finals else None,
                )
            )
        return jobs

    def _final(self, job_id: str) -> mr_pb2.JobStatus | None:
        try:
            raw, _ = self.client.get(f"{self.finals}/{job_id}")
            return mr_pb2.JobStatus.FromString(raw)
        except NoNodeError:
            return None  # dropped meanwhile
        except DecodeError as exc:
            logger.warning("skipping unreadable final status of %s: %s", job_id, exc)
            return None

    def _done_tasks(self, job_id: str, kind: str) -> dict[str, DoneTask]:
        done: dict[str, DoneTask] = {}
        folder = f"{self._job_path(job_id)}/{kind}"
        try:
            tasks = self.client.get_children(folder)
        except NoNodeError:
            return done
        for task in tasks:
            try:
                raw, _ = self.client.get(f"{folder}/{task}")
                entry = json.loads(raw)
                counters = {str(k): int(v) for k, v in entry.get("counters", {}).items()}
                done[task] = DoneTask(int(entry["attempt"]), str(entry["worker"]), counters)
            except NoNodeError:
                continue  # deleted meanwhile (a map undone)
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                logger.warning("skipping unreadable record %s/%s: %s", folder, task, exc)
        return done
