"""Job definitions: loading a job file, building one from functions, shipping it.

A job file is a Python module (see CONTRACT.md "A job file" and jobs/):

    mapper(key, value)        required; yields (key, value) pairs
    reducer(key, values)      required; yields (key, value) pairs
    combiner(key, values)     optional; a partial reducer run on map output (see below)
    partitioner(key, n)       optional; -> int in [0, n); default: mr.partition.partition
    setup(params)             optional; called in every task before any record, with -D pairs
    INPUT_FORMAT              "lines" (default) or "files"
    NUM_REDUCERS              optional int >= 1 (--reducers wins; else 1)
    SAMPLE_KEYS               optional int >= 1: total-order output (see mr.runtime.sample_keys)
    boundaries(keys, n)       optional with SAMPLE_KEYS: n-1 partition boundaries from the
                              sorted sample of map output keys (default: evenly spaced)

The combiner must be a "partial reducer": it may be run zero, one or several times on any
subset of a key's values, which reach it in an unspecified (but deterministic) order, and
its output must be valid input for the reducer.

Shipping: the client loads the file under a unique module name that no worker can import,
and registers that module with cloudpickle by value, so dumps_job() carries the code
itself (functions, lambdas, closures, module-level helpers and constants). Imports of
installed packages (re, numpy, ...) stay references: workers need those installed. The blob
records the Python major.minor; loads_job() refuses a blob from another version, since
cloudpickle only works between identical versions.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import struct
import sys
import sysconfig
import traceback
import types
from collections import ChainMap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle

from mr.errors import JobError

logger = logging.getLogger(__name__)

INPUT_FORMATS = ("lines", "files")
_MAGIC = b"MRJOB1"
_HEADER = struct.Struct("<6sBB")  # magic, python major, python minor

Mapper = Callable[[Any, Any], Any]
BatchMapper = Callable[[Any, list[Any]], Any]
Reducer = Callable[[Any, Any], Any]


@dataclass
class JobDefinition:
    mapper: Mapper
    reducer: Reducer
    combiner: Reducer | None = None
    partitioner: Callable[[Any, int], int] | None = None
    setup: Callable[[dict[str, str]], Any] | None = None
    input_format: str = "lines"
    num_reducers: int | None = None
    name: str = "job"
    sample_keys: int | None = None  # SAMPLE_KEYS: sample size for total-order partitioning
    boundaries: Callable[[list[Any], int], list[Any]] | None = None
    mapper_batch: BatchMapper | None = None  # used instead of mapper when defined
    source: str = ""  # the job file, for messages

    def __post_init__(self) -> None:
        validate(self)

    def reducers(self, requested: int | None = None) -> int:
        """--reducers if given, else NUM_REDUCERS, else 1."""
        return requested or self.num_reducers or 1


def _where(job: JobDefinition) -> str:
    return f"{job.source}: " if job.source else ""


def validate(job: JobDefinition) -> None:
    """Raise JobError (one line) unless the definition is usable."""
    where = _where(job)
    for attr, signature in (("mapper", "mapper(key, value)"), ("reducer", "reducer(key, values)")):
        fn = getattr(job, attr)
        if fn is None:
            raise JobError(f"{where}no {attr} defined (need def {signature})")
        if not callable(fn):
            raise JobError(f"{where}{attr} is not callable ({type(fn).__name__})")
    for attr in ("mapper_batch", "combiner", "partitioner", "setup", "boundaries"):
        fn = getattr(job, attr)
        if fn is not None and not callable(fn):
            raise JobError(f"{where}{attr} is not callable ({type(fn).__name__})")
    if job.input_format not in INPUT_FORMATS:
        raise JobError(f'{where}INPUT_FORMAT must be "lines" or "files", not {job.input_format!r}')
    n = job.num_reducers
    if n is not None and (type(n) is not int or n < 1):
        raise JobError(f"{where}NUM_REDUCERS must be an int >= 1, not {n!r}")
    s = job.sample_keys
    if s is not None and (type(s) is not int or s < 1):
        raise JobError(f"{where}SAMPLE_KEYS must be an int >= 1, not {s!r}")
    if job.boundaries is not None and s is None:
        raise JobError(f"{where}boundaries() needs SAMPLE_KEYS (the sample size)")
    if s is not None and job.partitioner is not None:
        raise JobError(f"{where}SAMPLE_KEYS and partitioner exclude each other")


def load_job_file(path: str | os.PathLike[str]) -> JobDefinition:
    """Load and validate a job file; every problem is a one-line JobError."""
    path = os.fspath(path)
    try:
        source = Path(path).read_bytes()
    except FileNotFoundError:
        raise JobError(f"{path}: no such job file") from None
    except IsADirectoryError:
        raise JobError(f"{path}: is a directory, not a job file") from None
    except OSError as exc:
        raise JobError(f"{path}: cannot read job file: {exc.strerror or exc}") from None
    try:
        code = compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        line = f":{exc.lineno}" if exc.lineno else ""
        raise JobError(f"{path}{line}: syntax error: {exc.msg}") from None
    except ValueError as exc:  # e.g. null bytes
        raise JobError(f"{path}: cannot compile: {exc}") from None
    # A unique name nobody can import: cloudpickle then ships the code by value.
    digest = hashlib.sha1(os.path.abspath(path).encode() + source).hexdigest()[:12]
    stem = "".join(c if c.isalnum() else "_" for c in Path(path).stem)
    module_name = f"_mr_job_{stem}_{digest}"
    module = types.ModuleType(module_name)
    module.__file__ = os.path.abspath(path)
    sys.modules[module_name] = module
    try:
        exec(code, module.__dict__)
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        line = job_line(exc, path)
        where = "" if line is None else f":{line}"
        raise JobError(f"{path}{where}: {_load_failure(exc)}") from None
    cloudpickle.register_pickle_by_value(module)
    return job_from_module(module, source=path)


def _load_failure(exc: BaseException) -> str:
    detail = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, ImportError):
        return f"import error: {detail}"
    if isinstance(exc, SystemExit):
        return f"exits while loading (SystemExit: {exc.code})"
    return f"error while loading: {type(exc).__name__}: {detail}"


def job_line(exc: BaseException, path: str) -> int | None:
    """The line of the innermost frame of the job file `path` in the exception's
    traceback, if the job's own code is in it."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == os.path.abspath(path):
            line = frame.lineno
    return line


def job_from_module(module: types.ModuleType, source: str = "") -> JobDefinition:
    """A JobDefinition from the attributes of a loaded module."""
    get = module.__dict__.get
    name = Path(source).stem if source else module.__name__
    fields: dict[str, Any] = {
        "mapper": get("mapper"),
        "reducer": get("reducer"),
        "combiner": get("combiner"),
        "partitioner": get("partitioner"),
        "setup": get("setup"),
        "input_format": get("INPUT_FORMAT", "lines"),
        "num_reducers": get("NUM_REDUCERS"),
        "name": get("NAME", name),
        "sample_keys": get("SAMPLE_KEYS"),
        "boundaries": get("boundaries"),
        "mapper_batch": get("mapper_batch"),
        "source": source,
    }
    return JobDefinition(**fields)


def job_from_functions(
    mapper: Mapper,
    reducer: Reducer,
    combiner: Reducer | None = None,
    partitioner: Callable[[Any, int], int] | None = None,
    setup: Callable[[dict[str, str]], Any] | None = None,
    input_format: str = "lines",
    num_reducers: int | None = None,
    name: str = "job",
    sample_keys: int | None = None,
    boundaries: Callable[[list[Any], int], list[Any]] | None = None,
    mapper_batch: BatchMapper | None = None,
) -> JobDefinition:
    """A job from plain functions, lambdas or closures (a script or a notebook).

    Functions defined in __main__ (scripts, notebooks) are shipped by value by cloudpickle.
    Functions from other modules of your own (not installed packages, not the standard
    library) are shipped by value too: their module is registered with cloudpickle.
    """
    job = JobDefinition(
        mapper=mapper,
        reducer=reducer,
        combiner=combiner,
        partitioner=partitioner,
        setup=setup,
        input_format=input_format,
        num_reducers=num_reducers,
        name=name,
        sample_keys=sample_keys,
        boundaries=boundaries,
        mapper_batch=mapper_batch,
    )
    for fn in (mapper, mapper_batch, reducer, combiner, partitioner, setup, boundaries):
        _register_user_module(fn)
    return job


def _installed_roots() -> tuple[str, ...]:
    names = ("stdlib", "platstdlib", "purelib", "platlib")
    paths = sysconfig.get_paths()
    return tuple(os.path.abspath(paths[n]) + os.sep for n in names if n in paths)


def _register_user_module(fn: Any) -> None:
    module_name = getattr(fn, "__module__", None)
    if not module_name or module_name == "__main__":
        return
    if module_name.split(".")[0] in ("mr", "gfs", "builtins", "cloudpickle"):
        return
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if module is None or not file:
        return
    if os.path.abspath(file).startswith(_installed_roots()):
        return
    try:
        cloudpickle.register_pickle_by_value(module)
    except ValueError:  # not importable by that name
        logger.debug("cannot register %s by value", module_name)


_DYNAMIC_CODE = "<dynamic-code>"  # what cloudpickle >= 3.1.3 writes for a code's file name


def _code_reduce_keeping_filename(code: types.CodeType) -> Any:
    rebuild, args = cloudpickle.Pickler.dispatch_table[types.CodeType](code)
    # Only co_filename can be "<dynamic-code>": the other strings are names.
    args = tuple(
        code.co_filename if isinstance(arg, str) and arg == _DYNAMIC_CODE else arg for arg in args
    )
    return rebuild, args


class UserCodePickler(cloudpickle.Pickler):
    """cloudpickle's Pickler, except that code keeps its file name (cloudpickle 3.1.3 and
    later write "<dynamic-code>"): a traceback from user code shipped by value (the job,
    key classes in map output, total-order boundaries) then names its file and lines,
    which `mr status` shows and job_line() finds."""

    dispatch_table = ChainMap(
        {types.CodeType: _code_reduce_keeping_filename}, cloudpickle.Pickler.dispatch_table
    )


def dumps_by_value(obj: Any) -> bytes:
    """cloudpickle.dumps(obj, protocol=5) through UserCodePickler."""
    buffer = io.BytesIO()
    UserCodePickler(buffer, protocol=5).dump(obj)
    return buffer.getvalue()


def dumps_job(job: JobDefinition) -> bytes:
    """The job, cloudpickled, behind a header naming this Python's major.minor."""
    validate(job)
    header = _HEADER.pack(_MAGIC, sys.version_info.major, sys.version_info.minor)
    try:
        return header + dumps_by_value(job)
    except Exception as exc:
        detail = " ".join(str(exc).split())
        where = _where(job)
        raise JobError(f"{where}cannot pickle the job: {type(exc).__name__}: {detail}") from None


def loads_job(blob: bytes) -> JobDefinition:
    """Unpickle a dumps_job() blob; only for blobs from our own master (pickle runs code)."""
    if len(blob) < _HEADER.size or blob[: len(_MAGIC)] != _MAGIC:
        raise JobError("not a pickled job (bad header)")
    _, major, minor = _HEADER.unpack_from(blob)
    here = sys.version_info[:2]
    if (major, minor) != here:
        raise JobError(
            f"job was pickled by Python {major}.{minor}; this process runs "
            f"{here[0]}.{here[1]} (cloudpickle needs the same version)"
        )
    try:
        job = cloudpickle.loads(blob[_HEADER.size :])
    except Exception as exc:
        detail = " ".join(str(exc).split())
        raise JobError(f"cannot unpickle the job: {type(exc).__name__}: {detail}") from None
    if not isinstance(job, JobDefinition):
        raise JobError(f"pickled object is a {type(job).__name__}, not a JobDefinition")
    return job


def skipped_input(name: str) -> bool:
    """A file or directory name that an input directory does not contribute (`_SUCCESS`,
    `.hidden`): one rule for the master, `mr submit`'s sampling and the local runner."""
    return name.startswith(("_", "."))


def gfs_inputs(gfs: Any, inputs: Iterable[str]) -> list[tuple[str, int]]:
    """(path, size) of every input file in GFS, in the order `mr run-local` takes local
    files: inputs as given, a directory's files sorted by path (skipped_input names left
    out), each file once. The master's splits and `mr submit`'s sampling both use it."""
    from gfs import paths
    from gfs.errors import NotFound

    files: dict[str, int] = {}
    for raw in inputs:
        path = paths.normalize(raw)
        try:
            status = gfs.status(path)
        except NotFound:
            raise NotFound(f"input {path}: no such file or directory") from None
        if not status.is_dir:
            files.setdefault(path, status.size)
            continue
        for entry in gfs.ls(path, recursive=True):
            relative = entry.path[len(path) :].strip("/").split("/")
            if not entry.is_dir and not any(map(skipped_input, relative)):
                files.setdefault(entry.path, entry.size)
    return list(files.items())


def python_version() -> str:
    """ "3.11": what RegisterRequest.python_version should carry."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"
