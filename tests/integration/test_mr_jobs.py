"""MapReduce on a real local cluster: example jobs against sequential references, the
contract's output format, locality, parallelism, failures, and refusals at submit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import wordcount_reference

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "data" / "sample").glob("*.txt"))
MR = {"masters": 1, "workers": 3}
WORDCOUNT = str(ROOT / "jobs" / "wordcount.py")
CHUNK = 128 * 1024  # the sample texts span many chunks, so lines cross chunk boundaries


@pytest.fixture
def mr_cluster(cluster_factory):
    return cluster_factory(mr=MR, gfs={"chunk_size": CHUNK})


def put_samples(cluster, remote: str = "/in", count: int = 3) -> list[Path]:
    files = SAMPLES[:count]
    cluster.gfs("mkdir", "-p", remote, check=True)
    cluster.gfs("put", *map(str, files), remote + "/", check=True)
    return files


def read_parts(cluster, output: str) -> dict[str, str]:
    listing = json.loads(cluster.gfs("ls", output, "--json", check=True).stdout)
    names = sorted(Path(e["path"]).name for e in listing)
    return {name: cluster.gfs("cat", f"{output}/{name}", check=True).stdout for name in names}


def submit(cluster, *args: str, check: bool = True):
    return cluster.mr("submit", *args, "--json", check=check, timeout=180)


def check_parts(parts: dict[str, str], reducers: int) -> list[tuple[str, str]]:
    """Contract: part-00000..part-{R-1} + empty _SUCCESS; keys ascend within a part; each
    key in exactly one part. Returns every (key, value) line."""
    assert sorted(parts) == sorted([f"part-{r:05d}" for r in range(reducers)] + ["_SUCCESS"])
    assert parts["_SUCCESS"] == ""
    seen: set[str] = set()
    pairs = []
    for name in sorted(parts):
        if name == "_SUCCESS":
            continue
        keys = []
        for line in parts[name].splitlines():
            key, _, value = line.partition("\t")
            keys.append(key)
            pairs.append((key, value))
        assert not seen & set(keys), f"a key appears in two parts ({name})"
        seen |= set(keys)
    return pairs


@pytest.mark.parametrize("reducers", [1, 3])
def test_wordcount_matches_reference_and_contract(mr_cluster, reducers: int) -> None:
    files = put_samples(mr_cluster)
    result = submit(
        mr_cluster,
        WORDCOUNT,
        "--input",
        "/in",
        "--output",
        "/out/wc",
        "--reducers",
        str(reducers),
    )
    status = json.loads(result.stdout)
    assert result.returncode == 0, result.stderr
    assert status["state"] == "SUCCEEDED"
    late = mr_cluster.mr("kill", status["job_id"], timeout=60)  # too late: it stays done
    assert late.returncode == 1 and "already ended: SUCCEEDED" in late.stderr, late.stderr
    pairs = check_parts(read_parts(mr_cluster, "/out/wc"), reducers)
    got = {k: int(v) for k, v in pairs}
    assert got == dict(wordcount_reference(files))
    for name, part in read_parts(mr_cluster, "/out/wc").items():
        keys = [line.split("\t")[0] for line in part.splitlines()]
        assert keys == sorted(keys), f"{name} keys not ascending"
    counters = status["counters"]
    maps = [a for a in status["attempts"] if a["task"].startswith("m-")]
    assert counters["map_input_records"] == sum(
        len(f.read_text(errors="replace").splitlines()) for f in files
    )
    # No faults: every task ran exactly one regular attempt, none failed or was lost. (On a
    # loaded machine a slow start can earn a task a speculative backup: never a retry.)
    regular = [a["task"] for a in status["attempts"] if not a["speculative"]]
    assert len(regular) == len(set(regular)), status["attempts"]
    assert {a["state"] for a in status["attempts"]} <= {"SUCCEEDED", "KILLED"}
    assert len(maps) > 3 and counters["data_local_maps"] > 0
    assert counters["data_local_maps"] + counters.get("remote_maps", 0) == len(maps)


def test_maps_run_in_parallel(mr_cluster) -> None:
    put_samples(mr_cluster, count=2)
    status = json.loads(submit(mr_cluster, WORDCOUNT, "--input", "/in", "--output", "/o").stdout)
    maps = sorted((a["start"], a["end"]) for a in status["attempts"] if a["task"].startswith("m-"))
    overlaps = sum(1 for (s1, e1), (s2, _e2) in zip(maps, maps[1:], strict=False) if s2 < e1)
    assert overlaps >= 1, maps


def test_submit_refusals_write_nothing(mr_cluster, tmp_path: Path) -> None:
    put_samples(mr_cluster, count=1)
    before = mr_cluster.gfs("ls", "-R", "/", check=True).stdout
    no_mapper = tmp_path / "nomapper.py"
    no_mapper.write_text("def reducer(k, vs):\n    yield k, sum(vs)\n")
    cases = [
        ([WORDCOUNT, "--input", "/missing", "--output", "/o1"], r"/missing"),
        ([WORDCOUNT, "--input", "/in", "--output", "/in"], r"exists"),
        ([WORDCOUNT, "--input", "/in", "--output", f"/in/{SAMPLES[0].name}/o"], r"is a file"),
        ([str(no_mapper), "--input", "/in", "--output", "/o2"], r"mapper"),
        ([str(tmp_path / "absent.py"), "--input", "/in", "--output", "/o3"], r"absent\.py"),
    ]
    for args, pattern in cases:
        result = mr_cluster.mr("submit", *args, timeout=60)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and re.search(pattern, lines[0]), result.stderr
    usage = [
        ["--reducers", "0"],
        ["--reducers", "-2"],
        ["--max-attempts", "-1"],
        ["--max-attempts", "0"],
        ["-D", "novalue"],
        ["-D", "=x"],
    ]
    for extra in usage:
        args = [WORDCOUNT, "--input", "/in", "--output", "/o4", *extra]
        result = mr_cluster.mr("submit", *args, timeout=60)
        assert result.returncode == 2, (extra, result.stdout, result.stderr)
        assert re.search(r"positive integer|KEY=VALUE", result.stderr), result.stderr
    assert mr_cluster.gfs("ls", "-R", "/", check=True).stdout == before


def test_raising_mapper_fails_after_max_attempts(mr_cluster, tmp_path: Path) -> None:
    put_samples(mr_cluster, count=1)
    job = tmp_path / "boom.py"
    job.write_text(
        "def mapper(key, line):\n"
        "    raise ValueError('bad record at ' + str(key[1]))\n"
        "    yield\n"
        "def reducer(key, values):\n"
        "    yield key, sum(values)\n"
    )
    result = submit(
        mr_cluster,
        str(job),
        "--input",
        "/in",
        "--output",
        "/o",
        "--max-attempts",
        "2",
        check=False,
    )
    assert result.returncode == 1
    status = json.loads(result.stdout)
    assert status["state"] == "FAILED"
    assert "ValueError: bad record at" in status["error"]
    assert "Traceback" in status["traceback"] and "boom.py" in status["traceback"]
    failed = [a for a in status["attempts"] if a["state"] == "FAILED"]
    assert failed and all("ValueError" in a["error"] for a in failed)
    client = mr_cluster.client()
    assert not client.exists("/o")
    # A failed job leaves nothing behind: its code and temp files go too.
    mr_cluster.wait_until(
        lambda: not client.exists(f"/.mr/jobs/{status['job_id']}"),
        timeout=15,
        what="the failed job's /.mr/jobs directory to be deleted",
    )


def _local_run(job: str, inputs: list[Path], out: Path, reducers: int, *params: str) -> None:
    import subprocess
    import sys

    args = [sys.executable, "-m", "mr.cli", "run-local", str(ROOT / "jobs" / job)]
    args += ["--input", ",".join(map(str, inputs)), "--output", str(out)]
    args += ["--reducers", str(reducers), "--chunk-size", str(CHUNK)]
    for p in params:
        args += ["-D", p]
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr


def _local_parts(out: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(out.iterdir())}


def _write_join_inputs(where: Path) -> list[Path]:
    import random

    rng = random.Random(7)
    users = where / "users.csv"
    orders = where / "orders.csv"
    users.write_text("".join(f"{i},user{i}\n" for i in range(4000)))
    orders.write_text(
        "".join(f"{rng.randrange(5000)},item{rng.randrange(10**6)}\n" for _ in range(16000))
    )
    return [users, orders]


def test_every_example_job_matches_run_local(mr_cluster, tmp_path: Path) -> None:
    """Each example job on the cluster gives what `mr run-local` gives on the same files
    (which tests/integration/test_run_local.py checks against plain Python references):
    part for part and byte for byte where keys hold no paths, line for line otherwise."""
    local_in = tmp_path / "t"
    local_in.mkdir()
    books = SAMPLES[:3]
    for book in books:
        (local_in / book.name).write_bytes(book.read_bytes())
    join_files = _write_join_inputs(local_in)
    mr_cluster.gfs("mkdir", "-p", "/t", check=True)
    mr_cluster.gfs(
        "put", *[str(local_in / b.name) for b in books], *map(str, join_files), "/t/", check=True
    )
    book_inputs_local = [local_in / b.name for b in books]
    book_inputs_gfs = ",".join(f"/t/{b.name}" for b in books)
    cases = [
        ("wordcount.py", book_inputs_local, book_inputs_gfs, (), True),
        ("sort.py", book_inputs_local, book_inputs_gfs, (), True),
        ("grep.py", book_inputs_local, book_inputs_gfs, ("pattern=[Tt]he [a-z]+ing",), False),
        ("invertedindex.py", book_inputs_local, book_inputs_gfs, (), False),
        ("join.py", join_files, "/t/users.csv,/t/orders.csv", (), True),
    ]
    for reducers in (1, 3):
        for job, local_inputs, gfs_inputs, params, exact in cases:
            name = f"{job[:-3]}-{reducers}"
            args = [str(ROOT / "jobs" / job), "--input", gfs_inputs, "--output", f"/o/{name}"]
            args += ["--reducers", str(reducers)]
            for p in params:
                args += ["-D", p]
            status = json.loads(submit(mr_cluster, *args).stdout)
            assert status["state"] == "SUCCEEDED", (job, status["error"])
            cluster_parts = read_parts(mr_cluster, f"/o/{name}")
            check_parts(cluster_parts, reducers)
            _local_run(job, local_inputs, tmp_path / name, reducers, *params)
            local_parts = _local_parts(tmp_path / name)
            if exact:
                assert cluster_parts == local_parts, f"{name}: cluster differs from run-local"
            else:

                def lines(parts: dict[str, str], prefix: str = "") -> list[str]:
                    text = "".join(parts[p] for p in sorted(parts) if p.startswith("part-"))
                    return sorted(text.replace(prefix, "").splitlines())

                assert lines(cluster_parts) == lines(local_parts, str(tmp_path)), name
            if job == "sort.py":
                text = "".join(cluster_parts[p] for p in sorted(cluster_parts) if p != "_SUCCESS")
                keys = [line.split("\t")[0] for line in text.splitlines()]
                assert keys == sorted(keys), "sort parts are not globally ordered"
    # The two-job pipeline: word count, then its top 20.
    status = json.loads(
        submit(
            mr_cluster,
            str(ROOT / "jobs" / "topk.py"),
            "--input",
            "/o/wordcount-3",
            "--output",
            "/o/top",
        ).stdout
    )
    assert status["state"] == "SUCCEEDED"
    top = read_parts(mr_cluster, "/o/top")["part-00000"].splitlines()
    counts = wordcount_reference(books)
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    assert [tuple(line.split("\t")[1:]) for line in top] == [(w, str(c)) for w, c in expected]


def test_workers_with_different_hash_seeds(mr_cluster) -> None:
    files = put_samples(mr_cluster, count=2)
    for i, seed in enumerate(("1", "2", "31337")):
        mr_cluster.env["PYTHONHASHSEED"] = seed
        mr_cluster.restart(f"worker-{i}")
    mr_cluster.env.pop("PYTHONHASHSEED")
    status = json.loads(
        submit(mr_cluster, WORDCOUNT, "--input", "/in", "--output", "/wc", "--reducers", "4").stdout
    )
    assert status["state"] == "SUCCEEDED"
    pairs = check_parts(read_parts(mr_cluster, "/wc"), 4)
    assert {k: int(v) for k, v in pairs} == dict(wordcount_reference(files))


def test_reduces_run_in_parallel(mr_cluster, tmp_path: Path) -> None:
    put_samples(mr_cluster, count=2)
    slow = tmp_path / "slowreduce.py"
    slow.write_text(
        "import time\n"
        "def mapper(key, line):\n"
        "    for word in line.split():\n"
        "        yield word[:1], 1\n"
        "def reducer(key, values):\n"
        "    time.sleep(0.05)\n"
        "    yield key, sum(values)\n"
    )
    status = json.loads(
        submit(mr_cluster, str(slow), "--input", "/in", "--output", "/o", "--reducers", "4").stdout
    )
    reduces = sorted(
        (a["start"], a["end"]) for a in status["attempts"] if a["task"].startswith("r-")
    )
    assert (
        sum(1 for (_s1, e1), (s2, _e2) in zip(reduces, reduces[1:], strict=False) if s2 < e1) >= 1
    )


SLOW_START_COUNT = """
import time

_started = False


def mapper(key, line):
    global _started
    if not _started:  # each attempt: long enough to count as CPU-bound for cap_to_cpus
        _started = True
        time.sleep(0.6)
    for word in line.split():
        yield word, 1


def reducer(word, counts):
    yield word, sum(counts)
"""


def test_cap_to_cpus_bounds_attempts_running_at_once(cluster_factory, tmp_path: Path) -> None:
    """[mr] cap_to_cpus: the three workers share this machine, so at most one long map per
    CPU runs at once, whatever their 6 slots (the master's own start and end times;
    reduces waiting for maps are not counted)."""
    from mr.worker.server import usable_cpus

    cluster = cluster_factory(mr={**MR, "cap_to_cpus": True}, gfs={"chunk_size": CHUNK})
    files = put_samples(cluster, count=2)
    job = tmp_path / "slowstart.py"
    job.write_text(SLOW_START_COUNT)
    status = json.loads(
        submit(cluster, str(job), "--input", "/in", "--output", "/o", "--reducers", "2").stdout
    )
    assert status["state"] == "SUCCEEDED"
    maps = [a for a in status["attempts"] if a["task"].startswith("m-")]
    assert len(maps) > 2  # more than this machine's 2 CPUs, in CI at least
    edges = sorted(
        (t, step) for a in maps for t, step in ((a["start"], 1), (a["end"], -1))
    )  # at equal times an end (-1) sorts first: a freed CPU is taken at once
    running = peak = 0
    for _t, step in edges:
        running += step
        peak = max(peak, running)
    cpus = usable_cpus()  # what the workers report
    assert 1 <= peak <= cpus, (peak, cpus)
    client = cluster.client()
    got = {}
    for entry in client.ls("/o"):
        if entry.path.rsplit("/", 1)[1].startswith("part-"):
            for line in client.read_bytes(entry.path).decode().splitlines():
                key, _, value = line.partition("\t")
                got[key] = int(value)
    assert got == wordcount_reference(files)


def test_every_map_data_local_when_every_host_has_every_chunk(cluster_factory) -> None:
    cluster = cluster_factory(mr=MR, gfs={"chunk_size": CHUNK, "datanodes": 3})
    put_samples(cluster, count=2)
    status = json.loads(submit(cluster, WORDCOUNT, "--input", "/in", "--output", "/o").stdout)
    maps = [a for a in status["attempts"] if a["task"].startswith("m-")]
    assert status["counters"]["data_local_maps"] == len(maps) > 0
    assert status["counters"].get("remote_maps", 0) == 0


def test_python_api_with_lambdas_and_closures(mr_cluster) -> None:
    from mr.client import run_job

    files = put_samples(mr_cluster, count=1)
    minimum = 3  # captured by the closure below, shipped by value

    def long_words(key, line):
        for word in line.split():
            if len(word) >= minimum:
                yield word, 1

    result = run_job(
        mapper=long_words,
        reducer=lambda word, counts: [(word, sum(counts))],
        combiner=lambda word, counts: [(word, sum(counts))],
        inputs=["/in"],
        output="/py",
        cluster=mr_cluster.dir,
        reducers=2,
    )
    assert result.succeeded, result.error
    expected = {w: c for w, c in wordcount_reference(files).items() if len(w) >= minimum}
    pairs = check_parts(read_parts(mr_cluster, "/py"), 2)
    assert {k: int(v) for k, v in pairs} == expected
    assert result.counters["reduce_output_records"] == len(expected)


def test_a_worker_of_another_python_is_refused_at_registration(mr_cluster) -> None:
    """Job code is pickled for one Python major.minor: the master says so to a worker that
    runs another one (whose log then says why it gets no work), and gives it no epoch."""
    from gfs import rpc
    from mr.proto import mr_pb2, mr_pb2_grpc

    with rpc.channel(mr_cluster.address("master-0"), mr_cluster.secret) as channel:
        reply = mr_pb2_grpc.MasterStub(channel).Register(
            mr_pb2.RegisterRequest(
                worker="worker-py27",
                address="127.0.0.1:1",
                host="h",
                slots=1,
                python_version="2.7",
                incarnation="x",
            ),
            timeout=30,
        )
    assert "worker runs Python 2.7" in reply.error and "pickled" in reply.error
    assert reply.epoch == 0  # no epoch: it is not one of the master's workers
