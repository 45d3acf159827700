"""`mr submit`, `mr jobs`, `mr status`, `mr kill`: jobs from the command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from gfs.cli import positive_int
from mr.errors import UsageError
from mr.proto import mr_pb2

Handler = Callable[[argparse.Namespace], int]


def add_commands(commands: Any, global_options: Callable[[argparse.ArgumentParser], None]) -> None:
    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        global_options(sub)
        sub.set_defaults(handler=handler)
        return sub

    submit = command("submit", cmd_submit, "submit a job file and (by default) wait for it")
    submit.add_argument("jobfile", metavar="JOBFILE")
    submit.add_argument("--input", required=True, metavar="PATH[,PATH...]")
    submit.add_argument("--output", required=True, metavar="PATH")
    submit.add_argument("--reducers", type=positive_int, metavar="R")
    submit.add_argument(
        "-D", dest="params", action="append", default=[], type=key_value, metavar="KEY=VALUE"
    )
    submit.add_argument("--max-attempts", type=positive_int, default=0, metavar="N")
    submit.add_argument("--no-speculation", action="store_true")
    submit.add_argument("--no-wait", action="store_true", help="print the job id and return")
    submit.add_argument("--json", action="store_true", help="print the result as JSON")

    jobs = command("jobs", cmd_jobs, "list the jobs the active master knows")
    jobs.add_argument("--json", action="store_true")
    status = command("status", cmd_status, "show one job: progress, counters, attempts")
    status.add_argument("job_id", metavar="JOB_ID")
    status.add_argument("--json", action="store_true")
    kill = command("kill", cmd_kill, "kill a job")
    kill.add_argument("job_id", metavar="JOB_ID")


def key_value(text: str) -> tuple[str, str]:
    """argparse type of -D: KEY=VALUE (a usage error, exit 2, otherwise)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _client(ns: argparse.Namespace) -> Any:
    from mr.cli import cluster_path
    from mr.client import MrClient

    return MrClient(cluster_path(ns))


def cmd_submit(ns: argparse.Namespace) -> int:
    from mr.cli import cluster_path
    from mr.client import MrClient
    from mr.job import dumps_job, load_job_file

    params = dict(ns.params)
    inputs = [p for p in ns.input.split(",") if p]
    if not inputs:
        raise UsageError("--input names no path")
    job = load_job_file(ns.jobfile)  # refused here, before anything is written
    reducers = ns.reducers or job.num_reducers or 1
    cluster = cluster_path(ns)
    params = job_params(job, cluster, inputs, reducers, params)
    with MrClient(cluster) as client:
        job_id = client.submit(
            job,
            dumps_job(job),
            inputs,
            ns.output,
            reducers=reducers,
            params=params,
            max_attempts=ns.max_attempts,
            speculation=not ns.no_speculation,
        )
        if ns.no_wait:
            print(job_id)
            return 0
        display = None if ns.json else Progress(sys.stdout, job_id)
        final = client.wait(job_id, display.update if display else None)
    if ns.json:
        print(json.dumps(status_json(final), indent=2))
    else:
        assert display is not None
        display.finish(final)
    return 0 if final.state == "SUCCEEDED" else 1


def job_params(
    job: Any, cluster: Any, inputs: list[str], reducers: int, params: dict[str, str]
) -> dict[str, str]:
    """The -D pairs plus what the framework adds before the job starts: for a total-order
    job (SAMPLE_KEYS), partition boundaries sampled from the input in GFS, exactly as
    `mr run-local` samples local files."""
    from mr.job import gfs_inputs
    from mr.runtime import prepare_params

    if not (job.sample_keys and reducers > 1):
        return prepare_params(job, [], _no_read, reducers, params)
    from gfs.client import GfsClient

    with GfsClient(cluster) as gfs:
        files = gfs_inputs(gfs, inputs)  # what the master will split, in its order

        located: dict[str, Any] = {}  # path -> chunk list: one stat per file, not per read

        def read_range(path: str, offset: int, length: int | None) -> Any:
            if path not in located:
                located[path] = gfs.stat(path)[1]
            return gfs.read_range(path, offset, length, chunks=located[path])

        return prepare_params(job, files, read_range, reducers, params)


def _no_read(path: str, offset: int, length: int | None) -> Any:
    raise AssertionError("no sampling without SAMPLE_KEYS")


class Progress:
    """Live progress: one rewritten line on a terminal, plain lines otherwise."""

    def __init__(self, out: TextIO, job_id: str) -> None:
        self.out = out
        self.job_id = job_id
        self.tty = out.isatty()
        self.started = time.monotonic()
        self.last_line = ""
        self.events_seen = 0
        print(f"job {job_id} submitted", file=out, flush=True)

    def line(self, status: mr_pb2.JobStatus) -> str:
        return (
            f"{status.state:<9} map {status.map_progress * 100:5.1f}%  "
            f"reduce {status.reduce_progress * 100:5.1f}%  "
            f"maps {status.maps_done}/{status.maps_total}  "
            f"reduces {status.reduces_done}/{status.reduces_total}  "
            f"{time.monotonic() - self.started:6.1f}s"
        )

    def update(self, status: mr_pb2.JobStatus) -> None:
        events = list(status.events)
        if len(events) < self.events_seen:  # a new master's shorter history
            self.events_seen = 0
        fresh = [e for e in events[self.events_seen :] if _notable(e)]
        self.events_seen = len(events)
        line = self.line(status)
        if self.tty:
            for event in fresh:
                self.out.write("\r\033[K" + _event_text(event) + "\n")
            self.out.write("\r\033[K" + line)
        else:
            for event in fresh:
                self.out.write(_event_text(event) + "\n")
            if _coarse(line) != _coarse(self.last_line):
                self.out.write(line + "\n")
        self.last_line = line
        self.out.flush()

    def finish(self, status: mr_pb2.JobStatus) -> None:
        if self.tty:
            self.out.write("\n")
        print(
            f"job {status.job_id} {status.state} in {time.monotonic() - self.started:.1f}s",
            file=self.out,
        )
        if status.error:
            print(f"error: {status.error}", file=self.out)
            if status.traceback:
                print(status.traceback.rstrip(), file=self.out)
        if status.state == "SUCCEEDED":
            print(f"output: {status.output}", file=self.out)
        print_counters(dict(status.counters), self.out)


def _notable(event: str) -> bool:
    return any(word in event for word in ("lost", "re-executing", "failed", "backup", "killed"))


def _event_text(event: str) -> str:
    _stamp, _, text = event.partition(" ")
    return f"  event: {text}"


def _coarse(line: str) -> str:
    """The progress line with percentages rounded to 10% and no clock: when to print again."""
    parts = line.split()
    out = []
    for part in parts:
        if part.endswith("%"):
            out.append(str(int(float(part[:-1]) // 10)))
        elif not part.endswith("s"):
            out.append(part)
    return " ".join(out)


def print_counters(counters: dict[str, int], out: TextIO) -> None:
    if not counters:
        return
    width = max(len(name) for name in counters)
    print("counters:", file=out)
    for name in sorted(counters):
        print(f"  {name:<{width}}  {counters[name]:>12,}", file=out)


def status_json(status: mr_pb2.JobStatus) -> dict[str, Any]:
    return {
        "job_id": status.job_id,
        "name": status.name,
        "state": status.state,
        "map_progress": round(status.map_progress, 4),
        "reduce_progress": round(status.reduce_progress, 4),
        "counters": dict(sorted(status.counters.items())),
        "error": status.error,
        "traceback": status.traceback,
        "output": status.output,
        "maps": {"total": status.maps_total, "done": status.maps_done},
        "reduces": {"total": status.reduces_total, "done": status.reduces_done},
        "submitted": status.submitted,
        "started": status.started,
        "finished": status.finished,
        "events": list(status.events),
        "attempts": [
            {
                "task": a.task,
                "attempt": a.attempt,
                "worker": a.worker,
                "state": a.state,
                "speculative": a.speculative,
                "error": a.error,
                "traceback": a.traceback,
                "start": a.start,
                "end": a.end,
                "data_local": a.data_local,
                "progress": round(a.progress, 4),
            }
            for a in status.attempts
        ],
    }


def cmd_jobs(ns: argparse.Namespace) -> int:
    from mr.cli import print_table

    with _client(ns) as client:
        jobs = client.jobs()
    if ns.json:
        print(json.dumps([_job_row_json(j) for j in jobs], indent=2))
        return 0
    rows = [
        {
            "JOB": j.job_id,
            "NAME": j.name,
            "STATE": j.state,
            "MAP": f"{j.map_progress * 100:.0f}%",
            "REDUCE": f"{j.reduce_progress * 100:.0f}%",
            "OUTPUT": j.output,
        }
        for j in jobs
    ]
    print_table(rows, ["JOB", "NAME", "STATE", "MAP", "REDUCE", "OUTPUT"])
    return 0


def _job_row_json(status: mr_pb2.JobStatus) -> dict[str, Any]:
    row = status_json(status)
    del row["attempts"], row["events"], row["traceback"]
    return row


def cmd_status(ns: argparse.Namespace) -> int:
    with _client(ns) as client:
        status = client.status(ns.job_id)
    if ns.json:
        print(json.dumps(status_json(status), indent=2))
        return 0
    print(f"job      {status.job_id} ({status.name})")
    print(f"state    {status.state}")
    print(f"map      {status.map_progress * 100:.1f}% ({status.maps_done}/{status.maps_total})")
    print(
        f"reduce   {status.reduce_progress * 100:.1f}% "
        f"({status.reduces_done}/{status.reduces_total})"
    )
    print(f"output   {status.output}")
    if status.error:
        print(f"error    {status.error}")
        if status.traceback:
            print(status.traceback.rstrip())
    print_counters(dict(status.counters), sys.stdout)
    from mr.cli import print_table

    rows = [
        {
            "TASK": a.task,
            "ATTEMPT": str(a.attempt),
            "WORKER": a.worker,
            "STATE": a.state,
            "SPECULATIVE": "yes" if a.speculative else "",
            "ERROR": a.error,
        }
        for a in status.attempts
    ]
    if rows:
        print("attempts:")
        print_table(rows, ["TASK", "ATTEMPT", "WORKER", "STATE", "SPECULATIVE", "ERROR"])
    return 0


def cmd_kill(ns: argparse.Namespace) -> int:
    with _client(ns) as client:
        client.kill(ns.job_id)
    print(f"killed {ns.job_id}")
    return 0
