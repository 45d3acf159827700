"""Job files: loading errors (one clear line each), shipping by value, version check."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

import pytest
from conftest import CLI_TIMEOUT as CHILD_TIMEOUT  # a child that hangs fails the test

from mr.errors import JobError
from mr.job import (
    JobDefinition,
    dumps_job,
    job_from_functions,
    job_line,
    load_job_file,
    loads_job,
)

ROOT = Path(__file__).resolve().parents[2]
GOOD = """
def mapper(key, value):
    yield value, 1

def reducer(key, values):
    yield key, sum(values)
"""


def write(tmp_path: Path, body: str, name: str = "job.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def load_error(path: Path) -> str:
    with pytest.raises(JobError) as info:
        load_job_file(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def in_fresh_process(code: str, stdin: bytes, cwd: Path) -> bytes:
    """What `python -c code` prints, in a process that has none of this one's modules."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        check=True,
        timeout=CHILD_TIMEOUT,
    )
    return out.stdout


def test_loads_a_good_job_with_defaults(tmp_path: Path) -> None:
    job = load_job_file(write(tmp_path, GOOD))
    assert job.input_format == "lines" and job.num_reducers is None and job.combiner is None
    assert job.name == "job" and job.reducers() == 1 and job.reducers(4) == 4
    assert list(job.mapper(None, "x")) == [("x", 1)]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("def mapper(k, v):\n    yield k,\n  oops\n", ":3: syntax error: "),
        ("import no_such_module_xyz\n" + GOOD, ":1: import error: No module named"),
        ("x = 1 / 0\n" + GOOD, ":1: error while loading: ZeroDivisionError: division by zero"),
        (
            "def reducer(k, vs):\n    yield k, 1\n",
            ": no mapper defined (need def mapper(key, value))",
        ),
        (
            "def mapper(k, v):\n    yield k, 1\n",
            ": no reducer defined (need def reducer(key, values))",
        ),
        (GOOD + "combiner = 3\n", ": combiner is not callable (int)"),
        (GOOD + "mapper = 'x'\n", ": mapper is not callable (str)"),
        (GOOD + "setup = [1]\n", ": setup is not callable (list)"),
        (GOOD + "partitioner = 2.5\n", ": partitioner is not callable (float)"),
        (GOOD + "INPUT_FORMAT = 'csv'\n", ': INPUT_FORMAT must be "lines" or "files", not \'csv\''),
        (GOOD + "NUM_REDUCERS = 0\n", ": NUM_REDUCERS must be an int >= 1, not 0"),
        (GOOD + "NUM_REDUCERS = '2'\n", ": NUM_REDUCERS must be an int >= 1, not '2'"),
        (GOOD + "SAMPLE_KEYS = -1\n", ": SAMPLE_KEYS must be an int >= 1, not -1"),
        (GOOD + "raise SystemExit(3)\n", ": exits while loading (SystemExit: 3)"),
    ],
)
def test_load_errors_are_one_clear_line(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    message = load_error(path)
    assert message.startswith(str(path)), message
    assert expected in message, message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert load_error(tmp_path / "nope.py") == f"{tmp_path / 'nope.py'}: no such job file"
    assert "is a directory" in load_error(tmp_path)


def test_every_example_job_loads() -> None:
    for path in sorted((ROOT / "jobs").glob("*.py")):
        if path.name == "__init__.py":
            continue
        job = load_job_file(path)
        assert isinstance(job, JobDefinition)
        assert loads_job(dumps_job(job)).input_format == job.input_format


def test_job_file_ships_by_value_to_a_process_without_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        import re
        WORD = re.compile(r"[a-z]+")
        SCALE = 10

        def helper(n):
            return n * SCALE

        def mapper(key, value):
            for w in WORD.findall(value):
                yield w, helper(1)

        def reducer(key, values):
            yield key, sum(values)
        """,
        name="shipped_job.py",
    )
    blob = dumps_job(load_job_file(path))
    path.unlink()  # the worker has no copy
    code = (
        "import sys; from mr.job import loads_job;"
        "job = loads_job(sys.stdin.buffer.read());"
        "print(list(job.mapper(None, 'ab, cd')))"
    )
    assert in_fresh_process(code, blob, tmp_path).decode().strip() == "[('ab', 10), ('cd', 10)]"


def test_shipped_code_keeps_its_file_and_lines(tmp_path: Path) -> None:
    """A task's traceback names the job file and line (cloudpickle 3.1.3 and later would
    write "<dynamic-code>"): `mr status` shows it, and job_line() finds it."""
    path = write(
        tmp_path,
        """
        def check(value):
            raise ValueError(value)

        def mapper(key, value):
            yield check(value), 1

        def reducer(key, values):
            yield key, sum(values)
        """,
        name="boom_job.py",
    )
    job = loads_job(dumps_job(load_job_file(path)))
    with pytest.raises(ValueError) as raised:
        list(job.mapper(None, "x"))
    frames = [(f.filename, f.lineno) for f in traceback.extract_tb(raised.value.__traceback__)]
    assert frames[-2:] == [(str(path), 6), (str(path), 3)]
    assert job_line(raised.value, str(path)) == 3


def test_key_classes_shipped_in_frames_and_boundaries_keep_their_file(tmp_path: Path) -> None:
    """Map output and total-order boundaries carry a job file's key class by value too: a
    key method that raises in the reduce still names the job file and line."""
    import pickle

    from mr import runtime

    path = write(
        tmp_path,
        """
        class Key:
            def __init__(self, word):
                self.word = word

            def __lt__(self, other):
                raise ValueError(self.word)

        def mapper(key, value):
            yield Key(value), 1

        def reducer(key, values):
            yield key, sum(values)
        """,
        name="key_job.py",
    )
    key_class = load_job_file(path).mapper(None, "x").__next__()[0].__class__
    framed = bytes(runtime._frame_bytes([(key_class("a"), 1)]))
    from_frame = pickle.loads(framed[4:])[0][0]
    from_bounds = runtime.decode_boundaries(runtime.encode_boundaries([key_class("b")]))[0]
    for key in (from_frame, from_bounds):
        with pytest.raises(ValueError) as raised:
            key < key  # noqa: B015
        last = traceback.extract_tb(raised.value.__traceback__)[-1]
        assert (last.filename, last.lineno) == (str(path), 7)


def test_lambdas_and_closures_round_trip() -> None:
    factor = 3

    def make_mapper(sep: str):  # type: ignore[no-untyped-def]
        return lambda key, value: ((w, factor) for w in value.split(sep))

    job = job_from_functions(
        make_mapper(","),
        lambda key, values: iter([(key, sum(values))]),
        combiner=lambda key, values: iter([(key, sum(values))]),
        num_reducers=2,
        name="adhoc",
    )
    again = loads_job(dumps_job(job))
    assert list(again.mapper(None, "a,b")) == [("a", 3), ("b", 3)]
    assert list(again.reducer("a", [1, 2])) == [("a", 3)]
    assert again.num_reducers == 2 and again.name == "adhoc"


def test_other_python_version_is_refused() -> None:
    blob = bytearray(dumps_job(job_from_functions(lambda k, v: iter(()), lambda k, v: iter(()))))
    blob[7] = (blob[7] + 1) % 256  # the minor version byte
    with pytest.raises(JobError, match=r"job was pickled by Python 3\.\d+; this process runs 3\."):
        loads_job(bytes(blob))
    with pytest.raises(JobError, match="not a pickled job"):
        loads_job(b"garbage")


def test_job_from_functions_validates() -> None:
    with pytest.raises(JobError, match="no reducer defined"):
        job_from_functions(lambda k, v: iter(()), None)  # type: ignore[arg-type]
    with pytest.raises(JobError, match="SAMPLE_KEYS and partitioner exclude each other"):
        job_from_functions(
            lambda k, v: iter(()), lambda k, v: iter(()), partitioner=lambda k, n: 0, sample_keys=5
        )


def test_setup_state_travels_with_the_job(tmp_path: Path) -> None:
    # grep's setup() sets a module global that mapper() reads: both must share it after
    # unpickling in another process.
    blob = dumps_job(load_job_file(ROOT / "jobs" / "grep.py"))
    code = (
        "import sys; from mr.job import loads_job;"
        "job = loads_job(sys.stdin.buffer.read()); job.setup({'pattern': 'b+'});"
        "print(list(job.mapper(('p', 7), 'abbc')), list(job.mapper(('p', 9), 'x')))"
    )
    assert in_fresh_process(code, blob, tmp_path).decode().strip() == (
        "[('p:000000000007', 'abbc')] []"
    )


def test_keys_of_a_class_from_the_job_file_cross_processes(tmp_path: Path) -> None:
    # The map and the reduce run in processes that have no module of that name: run
    # files must carry the class by value, and both sides must agree on it.
    path = write(
        tmp_path,
        """
        from dataclasses import dataclass

        @dataclass(frozen=True, order=True)
        class Key:
            word: str

        def mapper(key, line):
            for w in line.split():
                yield Key(w), 1

        combiner = None

        def reducer(key, values):
            yield key.word, sum(values)
        """,
    )
    blob = tmp_path / "blob"
    blob.write_bytes(dumps_job(load_job_file(path)))
    path.unlink()
    common = (
        "from mr.job import loads_job; from mr.counters import Counters; import mr.runtime as rt;"
    )
    map_code = (
        common + "job = loads_job(open('blob', 'rb').read());"
        "rt.run_map(job, [((0, 0), 'b a b'), ((0, 6), 'c a')], 1, 'm', {}, 1 << 20, Counters())"
    )
    reduce_code = (
        common + "import sys; job = loads_job(open('blob', 'rb').read());"
        "rt.run_reduce(job, ['m/part-00000'], sys.stdout.buffer, {}, Counters())"
    )
    in_fresh_process(map_code, b"", tmp_path)
    assert in_fresh_process(reduce_code, b"", tmp_path) == b"a\t2\nb\t2\nc\t1\n"


def test_a_job_that_cannot_be_pickled_is_refused(tmp_path: Path) -> None:
    import threading

    lock = threading.Lock()

    def mapper(key: object, line: str) -> object:
        with lock:  # a closure over a lock: cloudpickle cannot ship it
            yield line, 1

    job = job_from_functions(mapper, lambda k, vs: [(k, sum(vs))])
    with pytest.raises(JobError, match="cannot pickle the job: TypeError"):
        dumps_job(job)
