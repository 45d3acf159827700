"""`mr run-local`: run a job in this one process, on local files, for debugging.

    mr run-local JOBFILE --input PATH[,PATH...] --output DIR [--reducers R]
                 [-D KEY=VALUE]... [--chunk-size BYTES] [--json] [--pdb] [--debug]

Same semantics as the cluster (mr.runtime does the work in both): input split by
--chunk-size (default 64 MiB, the cluster's chunk size) or one split per file for
INPUT_FORMAT = "files"; the same partitioning, sorting, combiner, total-order sampling and
output format; DIR/part-00000..part-{R-1} and an empty DIR/_SUCCESS. Everything runs in
this process, one task after the other, with no threads, so `breakpoint()` in a mapper or
`--pdb` (post-mortem debugger on an exception in your code) just work.

The job is pickled and unpickled first, exactly as for the cluster, so code that relies
on something cloudpickle does not carry fails here too.

Inputs are files or directories (all files below them, in name order; names starting with
"_" or "." are skipped). An existing DIR is refused (exit 1, nothing written); the output
appears only once the whole job succeeded (built next to DIR, then renamed).

Python API: run_local(job_or_path, inputs, output_dir, reducers=None, params=None) -> Counters.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from gfs.cli import positive_int
from mr import counters as C
from mr.counters import Counters
from mr.errors import MrError, one_line
from mr.job import (
    JobDefinition,
    dumps_job,
    job_line,
    load_job_file,
    loads_job,
    skipped_input,
)
from mr.jobcli import key_value
from mr.records import local_reader
from mr.runtime import (
    DEFAULT_MAP_BUDGET,
    DEFAULT_REDUCE_BUDGET,
    map_split,
    part_name,
    prepare_params,
    run_reduce,
)

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 64 << 20


@dataclass(frozen=True)
class LocalSplit:
    path: str
    offset: int
    length: int
    size: int


def expand_inputs(inputs: Iterable[str]) -> list[tuple[str, int]]:
    """(path, size) of every input file, in the given order; a directory contributes all
    files below it sorted by path, skipping names that start with "_" or "."; a file given
    twice counts once. (The master expands GFS inputs the same way, so maps, and the order
    in which a key's values reach the reducer, are the same as in the cluster.)"""
    files: list[tuple[str, int]] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            found = []
            for root, dirs, names in os.walk(path):
                dirs[:] = [d for d in dirs if not skipped_input(d)]
                found.extend(os.path.join(root, n) for n in names if not skipped_input(n))
            for name in sorted(found):
                if os.path.isfile(name):
                    files.append((name, os.path.getsize(name)))
        elif path.is_file():
            files.append((given, path.stat().st_size))
        else:
            raise MrError(f"{given}: no such input file or directory")
    return list(dict(files).items())


def plan_splits(
    files: Sequence[tuple[str, int]], input_format: str, chunk_size: int
) -> list[LocalSplit]:
    """One split per chunk_size bytes of each file ("lines"; empty files have none), or one
    per file ("files")."""
    splits = []
    for path, size in files:
        if input_format == "files":
            splits.append(LocalSplit(path, 0, size, size))
            continue
        for offset in range(0, size, chunk_size):
            splits.append(LocalSplit(path, offset, min(chunk_size, size - offset), size))
    return splits


def _local_read_range(path: str, offset: int, length: int | None) -> Iterator[bytes]:
    return iter(local_reader(path)(offset, length))


def run_local(
    job: JobDefinition | str | os.PathLike[str],
    inputs: Sequence[str] | str,
    output_dir: str | os.PathLike[str],
    reducers: int | None = None,
    params: dict[str, str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    memory_budget_bytes: int = DEFAULT_MAP_BUDGET,
    on_task: Callable[[str], None] | None = None,
) -> Counters:
    """Run a job (definition or job file) over local inputs; returns the job's counters.

    `inputs`: paths (or one comma-separated string). Raises MrError subclasses for bad
    arguments; exceptions of the job's own code propagate unchanged.
    """
    if not isinstance(job, JobDefinition):
        job = load_job_file(job)
    # Ship it as the cluster does (a worker unpickles a copy): pickling problems and reliance
    # on state that does not travel show up here too.
    job = loads_job(dumps_job(job))
    if isinstance(inputs, str):
        inputs = [p for p in inputs.split(",") if p]
    if not inputs:
        raise MrError("no input given")
    if chunk_size < 1:
        raise MrError(f"chunk size must be >= 1, not {chunk_size}")
    if reducers is not None and reducers < 1:
        raise MrError(f"reducers must be >= 1, not {reducers}")
    output = Path(output_dir)
    if output.exists() or output.is_symlink():
        raise MrError(f"{output}: output directory already exists")
    if not output.parent.is_dir():
        raise MrError(f"{output.parent}: no such directory (parent of the output)")
    files = expand_inputs(inputs)
    n = job.reducers(reducers)
    task_params = prepare_params(job, files, _local_read_range, n, params)
    splits = plan_splits(files, job.input_format, chunk_size)

    staging = output.parent / f".{output.name}.mr-local-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    total = Counters()
    try:
        map_outputs: list[list[Path]] = []
        for i, split in enumerate(splits):
            task = f"m-{i:05d}"
            if on_task:
                on_task(task)
            counters = Counters()
            parts = map_split(
                job,
                split.path,
                split.offset,
                split.length,
                split.size,
                local_reader(split.path),
                n,
                staging / "_maps" / task,
                task_params,
                memory_budget_bytes,
                counters,
            )
            map_outputs.append([p.path for p in parts])
            total.merge(counters)
        for r in range(n):
            task = f"r-{r:05d}"
            if on_task:
                on_task(task)
            counters = Counters()
            with open(staging / part_name(r), "wb") as out:
                run_reduce(
                    job,
                    [paths[r] for paths in map_outputs],
                    out,
                    task_params,
                    counters,
                    DEFAULT_REDUCE_BUDGET,
                    tmp_dir=staging / "_maps",
                )
            total.merge(counters)
        shutil.rmtree(staging / "_maps", ignore_errors=True)
        (staging / "_SUCCESS").touch()
        if output.exists():
            raise MrError(f"{output}: output directory appeared while the job ran")
        os.rename(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    total.incr(C.LAUNCHED_MAPS, len(splits))
    total.incr(C.LAUNCHED_REDUCES, n)
    return total


# -- command line ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mr run-local",
        description="Run a job in this one process on local files (for debugging).",
    )
    parser.add_argument("jobfile", metavar="JOBFILE", help="the job's Python file")
    parser.add_argument(
        "--input",
        required=True,
        metavar="PATH[,PATH...]",
        help="input files or directories (names starting with _ or . are skipped)",
    )
    parser.add_argument("--output", required=True, metavar="DIR", help="must not exist")
    parser.add_argument(
        "--reducers", type=positive_int, metavar="R", help="default: NUM_REDUCERS, else 1"
    )
    parser.add_argument(
        "-D",
        dest="params",
        action="append",
        type=key_value,
        default=[],
        metavar="KEY=VALUE",
        help="job parameter, passed to setup(params); repeatable",
    )
    parser.add_argument(
        "--chunk-size",
        type=positive_int,
        default=DEFAULT_CHUNK_SIZE,
        metavar="BYTES",
        help=f"split size for line input (default {DEFAULT_CHUNK_SIZE})",
    )
    parser.add_argument(
        "--memory-budget",
        type=positive_int,
        default=DEFAULT_MAP_BUDGET,
        metavar="BYTES",
        help="map output buffered in memory before spilling to disk",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--pdb", action="store_true", help="post-mortem debugger on an exception in job code"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `mr run-local ARGS...` (mr/cli.py hands over the arguments)."""
    ns = build_parser().parse_args(list(argv) if argv is not None else None)
    current = {"task": ""}

    def on_task(task: str) -> None:
        current["task"] = task

    try:
        counters = run_local(
            ns.jobfile,
            ns.input,
            ns.output,
            reducers=ns.reducers,
            params=dict(ns.params),
            chunk_size=ns.chunk_size,
            memory_budget_bytes=ns.memory_budget,
            on_task=on_task,
        )
    except KeyboardInterrupt:
        print("mr: interrupted", file=sys.stderr)
        return 130
    except (MrError, OSError) as exc:
        if ns.debug:
            traceback.print_exc()
        print(f"mr: {one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # the job's own code raised
        if ns.debug or ns.pdb:
            traceback.print_exc()
        task = f"task {current['task']} failed: " if current["task"] else ""
        line = job_line(exc, ns.jobfile)
        where = "" if line is None else f" (at {ns.jobfile}:{line})"
        print(f"mr: {task}{type(exc).__name__}: {one_line(exc)}{where}", file=sys.stderr)
        if ns.pdb:
            import pdb

            pdb.post_mortem(exc.__traceback__)
        elif not ns.debug:
            print("mr: (--debug shows the traceback, --pdb opens a debugger)", file=sys.stderr)
        return 1
    values = counters.to_dict()
    if ns.json:
        print(json.dumps({"output": ns.output, "state": "SUCCEEDED", "counters": values}))
    else:
        from mr.jobcli import print_counters  # the same table as `mr submit` prints

        print(f"output: {ns.output}")
        print_counters(values, sys.stdout)
    return 0
