"""`make bench`: the cluster next to plain Python, GNU tools and the gRPC ceiling, in one run.

    .venv/bin/python bench/run.py [--mb 256] [--quick] [--out bench/out] [--runs 3]
                                  [--io-mb N] [--sort-mb N] [--sort-reducers 4]
                                  [--tiny-files 64] [--profile] [--results FILE]

Environment defaults: BENCH_MB, BENCH_OUT, BENCH_RUNS, BENCH_QUICK=1, BENCH_PROFILE=1.

In one run, on a fresh local cluster in OUT/cluster (1 master, 3 workers with 2 slots each
and at most one running attempt per CPU unless --no-cpu-cap,
4 datanodes, replication 3, 64 MiB chunks; ZooKeeper as `mr cluster start` finds it):
  1. the word-count corpus (bench/gen_corpus.py, fixed seed, --mb MiB) and the sort records
     (bench/gen_records.py, fixed seed, --sort-mb MiB) are generated into OUT (kept for the
     next run);
  2. I/O: `gfs put` and `gfs get` of an --io-mb MiB file (default 2 x --mb: 512 MiB) next to
     `cp` of it on the same disk and to the loopback gRPC streaming ceiling measured now
     (bench/grpc_ceiling.py: two Python processes, 1 MiB messages, same total size);
  3. word count: `mr submit jobs/wordcount.py` on the corpus in GFS, from launch to return,
     next to one Python process (Counter over line.split()) and two (byte-range halves,
     merged Counters); every method's counts must be identical;
  4. sort: `mr submit jobs/sort.py --reducers R` next to one Python process (read, sorted(),
     write) and `LC_ALL=C sort`; all outputs must hold the same lines in the same order;
  5. a 16 MiB word count of many tiny tasks (the 16 MiB corpus cut into --tiny-files files,
     one map each) and of one 16 MiB file, both against the < 3 s target;
  6. (--profile) py-spy of the workers during one word count and of the datanodes and the
     client during one put, summarized into OUT/profile-*.txt.
Every timed method runs --runs times (rounds interleave the methods, so a busy neighbour
slows them alike; the page cache is warm) and the median counts. The table (wall seconds,
MB/s with MB = 10**6 bytes, ratio to the section's reference) and the issue's targets are
printed and written, with the machine facts and the command, into --results (default
bench/RESULTS.md, between generated-section markers; --quick: OUT/RESULTS-quick.md).
The cluster is stopped at the end, also on failure or Ctrl-C (--keep-cluster leaves it).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import pickle
import platform
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent  # the venv's mr and gfs scripts live next to its python
MIB = 1 << 20
BEGIN = "<!-- bench/run.py: generated section begins -->"
END = "<!-- bench/run.py: generated section ends -->"

# Reference figures from issue 6 (same machine kind), shown for context, not measured here.
PYSPARK_DF_RATIO = 2.6  # PySpark 4.3 DataFrame local[2] / two-process Python, 256 MiB

CONFIG = """\
# Written by bench/run.py: the benchmark cluster.
[cluster]
dir = "{dir}"

[gfs]
chunk_size = 67108864
replication = 3
datanodes = 4

[mr]
masters = 1
workers = 3
slots = 2
cap_to_cpus = {cap}
"""


class BenchError(Exception):
    pass


# -- small helpers --------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(
    cmd: list[str], env: dict[str, str] | None = None, check: bool = True, **kw: Any
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise BenchError(f"{shlex.join(cmd)} exited {proc.returncode}:\n  " + "\n  ".join(tail))
    return proc


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    proc = run(cmd, env)
    return time.perf_counter() - start, proc.stdout


def parallel_dd(src: Path, copy: Path, n: int) -> float:
    """Seconds for n `dd oflag=direct` copies of src written at once."""
    outs = [copy.with_name(f"{copy.name}.{i}") for i in range(n)]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(["dd", f"if={src}", f"of={o}", "bs=4M", "oflag=direct", "status=none"])
        for o in outs
    ]
    try:
        codes = [proc.wait(timeout=600) for proc in procs]
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        raise BenchError("dd took more than 10 minutes") from None
    took = time.perf_counter() - start
    for o in outs:
        o.unlink(missing_ok=True)
    if any(codes):
        raise BenchError(f"dd exited {codes}")
    return took


def warm(path: Path) -> None:
    """Read a file once, so it is in the page cache."""
    with open(path, "rb") as f:
        while f.read(16 * MIB):
            pass


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def top_processes(n: int = 6) -> list[str]:
    proc = run(["ps", "-eo", "pcpu,etime,args", "--sort=-pcpu"], check=False)
    lines = proc.stdout.splitlines()[1 : n + 1]
    return [" ".join(line.split())[:110] for line in lines]


def machine_facts() -> dict[str, str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": f"{int(mem) // 1024} MiB",
        "python": platform.python_version(),
        "kernel": platform.release(),
        "grpcio": _version("grpc"),
        "GNU sort": (
            run(["sort", "--version"], check=False).stdout.split("\n", 1)[0].split() or ["?"]
        )[-1],
    }


def _version(module: str) -> str:
    try:
        return str(__import__(module).__version__)
    except Exception:
        return "?"


# -- inputs -------------------------------------------------------------------------------


def generate(script: str, mb: int, path: Path, slack: int) -> Path:
    """Run a generator (fixed seed) unless `path` exists with a plausible size."""
    target = mb * MIB
    if path.exists() and target - slack < path.stat().st_size <= target:
        log(f"reusing {path.name} ({path.stat().st_size:,} bytes)")
        return path
    log(f"generating {path.name} ({mb} MiB) with bench/{script}")
    tmp = path.with_name(path.name + ".tmp")
    run([sys.executable, str(BENCH / script), "--mb", str(mb), "--out", str(tmp)])
    tmp.rename(path)
    return path


def io_file(corpus: Path, mb: int, path: Path) -> Path:
    """An `mb` MiB file for put/get: the corpus repeated, cut at exactly mb MiB."""
    if path.exists() and path.stat().st_size == mb * MIB:
        return path
    left = mb * MIB
    with open(path, "wb") as out:
        while left:
            with open(corpus, "rb") as src:
                while left and (data := src.read(min(16 * MIB, left))):
                    out.write(data)
                    left -= len(data)
    return path


def tiny_files(corpus16: Path, n: int, out: Path) -> list[Path]:
    """The 16 MiB corpus cut into n files of about equal size, at line boundaries."""
    data = corpus16.read_bytes()
    want = [out / f"tiny-{i:04d}.txt" for i in range(n)]
    if out.is_dir() and sorted(out.iterdir()) == want:
        if sum(p.stat().st_size for p in want) == len(data):
            return want
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start = 0
    for i, path in enumerate(want):
        end = len(data) if i == n - 1 else data.find(b"\n", (i + 1) * len(data) // n) + 1
        end = end if end > start else len(data)
        path.write_bytes(data[start:end])
        start = end
    return want


# -- results ------------------------------------------------------------------------------


@dataclass
class Row:
    section: str
    method: str
    times: list[float]
    nbytes: int
    reference: bool = False
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def mbps(self) -> float:
        return self.nbytes / self.median / 1e6


@dataclass
class Target:
    name: str
    measured: str
    goal: str
    ok: bool


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    load: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        r = row
        spread = f" (runs {', '.join(f'{t:.2f}' for t in r.times)})" if len(r.times) > 1 else ""
        log(f"{r.section}: {r.method}: {r.median:.2f} s, {r.mbps:.0f} MB/s{spread}")
        return row

    def reference(self, section: str) -> Row | None:
        return next((r for r in self.rows if r.section == section and r.reference), None)

    def ratio(self, row: Row) -> float | None:
        ref = self.reference(row.section)
        return row.median / ref.median if ref else None

    def table(self) -> list[list[str]]:
        out = []
        for r in self.rows:
            ratio = self.ratio(r)
            ratio_text = "ref" if r.reference else (f"{ratio:.2f}" if ratio is not None else "")
            runs = "/".join(f"{t:.2f}" for t in r.times)
            out.append(
                [
                    r.section,
                    r.method,
                    f"{r.median:.2f}",
                    f"{r.mbps:.0f}",
                    ratio_text,
                    runs,
                    r.note,
                ]
            )
        return out


HEADER = ["section", "method", "median s", "MB/s", "× ref", "runs s", "note"]


def text_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    return "\n".join(line.rstrip() for line in lines)


def md_table(rows: list[list[str]], header: list[str]) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# -- the cluster --------------------------------------------------------------------------


class Cluster:
    def __init__(self, out: Path, cpu_cap: bool = True) -> None:
        self.dir = out / "cluster"
        self.cpu_cap = cpu_cap
        self.config = out / "bench-cluster.toml"
        self.env = {**os.environ, "MR_CLUSTER": str(self.dir)}
        self.started = False

    def mr(self, *args: str) -> list[str]:
        return [str(BIN / "mr"), "--cluster", str(self.dir), *args]

    def gfs(self, *args: str) -> list[str]:
        return [str(BIN / "gfs"), "--cluster", str(self.dir), *args]

    def start(self) -> None:
        if (self.dir / "cluster.json").exists():
            log("stopping a cluster left from an earlier run")
            run(self.mr("cluster", "stop"), self.env, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        cap = "true" if self.cpu_cap else "false"
        self.config.write_text(CONFIG.format(dir=self.dir, cap=cap))
        self.started = True  # a failed start may leave processes: stop them in any case
        start = time.perf_counter()
        run(self.mr("cluster", "start", "--config", str(self.config)), self.env)
        log(f"cluster started in {time.perf_counter() - start:.1f} s: {self.dir}")

    def stop(self) -> None:
        if not self.started:
            return
        # A second Ctrl-C must not leave the cluster half stopped (stop has its own timeouts).
        old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            proc = run(self.mr("cluster", "stop"), self.env, check=False)
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
        self.started = False
        if proc.returncode != 0:
            log(f"cluster stop: {proc.stderr.strip()}")
            return
        # Its data (the replicas of every file put, a few GiB) is not needed again: every
        # run starts a fresh cluster.
        shutil.rmtree(self.dir / "data", ignore_errors=True)
        log(f"cluster stopped; its data removed ({self.dir}/data)")

    def pids(self, role: str) -> dict[str, int]:
        """name -> pid of the live processes of a role."""
        rows = json.loads(run(self.mr("cluster", "status", "--json"), self.env).stdout)
        return {r["name"]: int(r["pid"]) for r in rows if r["role"] == role and r["alive"]}

    def put(self, local: Path | list[Path], remote: str) -> float:
        locals_ = [str(p) for p in (local if isinstance(local, list) else [local])]
        return timed(self.gfs("put", "-f", *locals_, remote), self.env)[0]

    def parts(self, output: str) -> list[str]:
        entries = json.loads(run(self.gfs("ls", "--json", output), self.env).stdout)
        names = [e["path"] for e in entries if e["path"].rsplit("/", 1)[1].startswith("part-")]
        if not any(e["path"].endswith("/_SUCCESS") for e in entries):
            raise BenchError(f"{output}: no _SUCCESS")
        return sorted(names)

    def cat(self, output: str) -> Iterator[bytes]:
        """The job output's parts, concatenated, streamed."""
        parts = self.parts(output)
        if not parts:
            return
        proc = subprocess.Popen(self.gfs("cat", *parts), stdout=subprocess.PIPE, env=self.env)
        assert proc.stdout is not None
        with proc.stdout:
            while data := proc.stdout.read(4 * MIB):
                yield data
        if proc.wait() != 0:
            raise BenchError(f"gfs cat {output}/part-* exited {proc.returncode}")

    def submit(self, jobfile: str, inputs: str, output: str, *extra: str) -> tuple[float, dict]:
        """Wall seconds from launching `mr submit` to its return, and its --json status."""
        cmd = self.mr("submit", str(ROOT / "jobs" / jobfile), "--input", inputs)
        cmd += ["--output", output, *extra, "--json"]
        launched = time.time()
        busy0 = cpu_busy()
        seconds, stdout = timed(cmd, self.env)
        busy1 = cpu_busy()
        status = json.loads(stdout)
        if status.get("state") != "SUCCEEDED":
            raise BenchError(f"{jobfile} {output}: {status.get('state')}: {status.get('error')}")
        status["_launched"] = launched
        status["_busy"] = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])
        return seconds, status


def job_breakdown(status: dict[str, Any], wall: float) -> str:
    """Where a job's wall time went, from the master's timestamps and the attempts."""
    t0 = status["_launched"]
    attempts = status["attempts"]
    states = sorted({a["state"] for a in attempts})
    maps = [a for a in attempts if a["task"].startswith("m-")]
    reduces = [a for a in attempts if a["task"].startswith("r-")]

    def span(items: list[dict[str, Any]]) -> str:
        if not items:
            return "-"
        first = min(a["start"] for a in items) - t0
        last = max(a["end"] for a in items) - t0
        return f"{first:.2f}-{last:.2f}"

    c = status["counters"]
    return (
        f"wall {wall:.2f}: submitted at {status['submitted'] - t0:.2f}, "
        f"maps ({len(maps)}) {span(maps)}, reduces ({len(reduces)}) {span(reduces)}, "
        f"finished {status['finished'] - t0:.2f}; data-local maps "
        f"{c.get('data_local_maps', 0)}/{c.get('launched_maps', 0)}, "
        f"launched {c.get('launched_maps', 0)}+{c.get('launched_reduces', 0)} "
        f"(attempt states: {', '.join(states)}); both cores {status['_busy']:.0%} busy"
    )


# -- peak memory of workers and their attempts ---------------------------------------------


class RssSampler:
    """Samples VmHWM (peak RSS) of the worker processes, of their children (the forkserver
    and multiprocessing's resource tracker: the base every attempt is forked from) and of
    the grandchildren and below (the task attempts)."""

    def __init__(self, workers: list[int], every: float = 0.5) -> None:
        self.workers = workers
        self.every = every
        self.peak_worker = 0
        self.peak_base = 0
        self.peak_child = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @staticmethod
    def _hwm(pid: int) -> int:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    @staticmethod
    def _children(pid: int) -> list[int]:
        kids: list[int] = []
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError):
                    kids += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass
        return kids

    def _sample(self) -> None:
        for pid in self.workers:
            self.peak_worker = max(self.peak_worker, self._hwm(pid))
            todo = []
            for base in self._children(pid):
                self.peak_base = max(self.peak_base, self._hwm(base))
                todo += self._children(base)
            while todo:
                child = todo.pop()
                self.peak_child = max(self.peak_child, self._hwm(child))
                todo += self._children(child)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()


class OthersMeter:
    """How much CPU other users took from the machine while a section ran.

    Ours: this process and the cluster's processes, each with its descendants, counting
    utime + stime + cutime + cstime (so exited children are included through whoever
    reaped them). Others: the machine's busy time (/proc/stat) minus ours."""

    def __init__(self, cl: Cluster) -> None:
        rows = json.loads(run(cl.mr("cluster", "status", "--json"), cl.env).stdout)
        self.roots = [os.getpid()] + [int(r["pid"]) for r in rows if r["alive"]]

    @staticmethod
    def _ticks(pid: int) -> int:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return -1
        return sum(int(x) for x in fields[11:15])

    def _ours(self) -> dict[int, int]:
        seen: dict[int, int] = {}
        todo = list(self.roots)
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            ticks = self._ticks(pid)
            if ticks >= 0:
                seen[pid] = ticks
                todo += RssSampler._children(pid)
        return seen

    @contextlib.contextmanager
    def measure(self) -> Iterator[dict[str, float]]:
        result: dict[str, float] = {}
        ours0, busy0 = self._ours(), cpu_busy()
        try:
            yield result
        finally:
            ours1, busy1 = self._ours(), cpu_busy()
            ours = sum(t - ours0.get(pid, 0) for pid, t in ours1.items())
            ncpu = os.cpu_count() or 1
            elapsed = max(1, busy1[1] - busy0[1]) / ncpu  # ticks per core
            busy = busy1[0] - busy0[0]
            result["ours"] = ours / elapsed
            result["others"] = max(0, busy - ours) / elapsed


# -- the benchmark ------------------------------------------------------------------------


SECTIONS = ("io", "wordcount", "sort", "tiny")


@dataclass
class Params:
    mb: int
    io_mb: int
    sort_mb: int
    runs: int
    sort_reducers: int
    tiny_files: int
    out: Path
    profile: bool
    keep_cluster: bool
    results: Path
    command: str
    strict: bool
    pyc_cache: bool
    only: frozenset[str] = frozenset(SECTIONS)
    cpu_cap: bool = True


def bench_io(p: Params, cl: Cluster, res: Results, corpus: Path) -> None:
    section = f"I/O {p.io_mb} MiB"
    src = io_file(corpus, p.io_mb, p.out / f"io-{p.io_mb}mb.bin")
    nbytes = src.stat().st_size
    log(f"{section}: gRPC ceiling (bench/grpc_ceiling.py, 1 MiB messages)")
    ceiling = json.loads(
        run(
            [
                sys.executable,
                str(BENCH / "grpc_ceiling.py"),
                "--mb",
                str(p.io_mb),
                "--runs",
                str(p.runs),
                "--json",
            ]
        ).stdout
    )
    by_dir = {c["direction"]: c for c in ceiling}
    # The reference: the faster direction, so both targets are judged against the higher bar.
    best = max(by_dir.values(), key=lambda c: c["MBps"])
    for direction, c in by_dir.items():
        label = "server→client (get-like)" if direction == "down" else "client→server (put-like)"
        res.add(
            Row(
                section,
                f"gRPC ceiling, 2 Python procs, 1 MiB msgs, {label}",
                [float(c["seconds"])] * 1,
                nbytes,
                reference=c is best,
                note=f"median of {c['runs']}",
            )
        )
    warm(src)
    cps, dds, dd3s, puts, cold, hot, local = [], [], [], [], [], [], []
    cpu_put: list[dict[str, float]] = []
    cpu_get: list[dict[str, float]] = []
    copy = p.out / "cp-copy.bin"
    got = p.out / "get-copy.bin"
    meter = CpuMeter(cl)
    for i in range(1, p.runs + 1):
        copy.unlink(missing_ok=True)
        cps.append(timed(["cp", str(src), str(copy)])[0])
        copy.unlink(missing_ok=True)
        dds.append(parallel_dd(src, copy, 1))
        dd3s.append(parallel_dd(src, copy, 3))
        with meter.measure() as cpu:
            puts.append(cl.put(src, f"/bench/io-{i}"))
        cpu_put.append(cpu)
        got.unlink(missing_ok=True)
        cold.append(timed(cl.gfs("get", f"/bench/io-{i}", str(got)), cl.env)[0])
        if i == 1 and not _same_file(src, got):
            raise BenchError("gfs get returned different bytes than were put")
        got.unlink(missing_ok=True)
        if i > 1:
            run(cl.gfs("rm", f"/bench/io-{i - 1}"), cl.env)
    # The last file again, every replica in the page cache: the namenode hands out a chunk's
    # replicas in random order (to spread readers), so one get warms only some of them.
    stat = json.loads(run(cl.gfs("stat", "--json", f"/bench/io-{p.runs}"), cl.env).stdout)
    for chunk in stat["chunks"]:
        for datanode in chunk["replicas"]:
            warm(cl.dir / "data" / datanode / "chunks" / f"{chunk['handle']}.chunk")
    for _ in range(p.runs):
        got.unlink(missing_ok=True)
        with meter.measure() as cpu:
            hot.append(timed(cl.gfs("get", f"/bench/io-{p.runs}", str(got)), cl.env)[0])
        cpu_get.append(cpu)
    # A client on a datanode's host (as a task is) reads the replicas there from their files.
    on_host = {**cl.env, "MR_HOST": "host-0"}
    for _ in range(p.runs):
        got.unlink(missing_ok=True)
        local.append(timed(cl.gfs("get", f"/bench/io-{p.runs}", str(got)), on_host)[0])
    got.unlink(missing_ok=True)
    run(cl.gfs("rm", f"/bench/io-{p.runs}"), cl.env)
    noop = [timed(cl.gfs("ls", "/"), cl.env)[0] for _ in range(3)]
    res.checks.append(f"gfs get returned the bytes put ({nbytes:,} bytes, compared)")
    res.add(Row(section, "cp (same disk, to the page cache)", cps, nbytes))
    res.add(Row(section, "dd oflag=direct bs=4M (the disk's write rate)", dds, nbytes))
    res.add(
        Row(
            section,
            "3 × dd oflag=direct bs=4M at once (the disk under a put's 3 copies)",
            dd3s,
            nbytes,
        )
    )
    put_row = res.add(
        Row(
            section,
            "gfs put (replication 3, 64 MiB chunks)",
            puts,
            nbytes,
            note=CpuMeter.text(cpu_put, statistics.median(puts)),
        )
    )
    cold_row = res.add(
        Row(section, "gfs get, right after its put (replicas read from disk)", cold, nbytes)
    )
    get_row = res.add(
        Row(
            section,
            "gfs get, again (replicas in the page cache)",
            hot,
            nbytes,
            note=CpuMeter.text(cpu_get, statistics.median(hot)),
        )
    )
    local_row = res.add(
        Row(
            section,
            "gfs get on a datanode's host (MR_HOST=host-0: replicas there read from files)",
            local,
            nbytes,
        )
    )
    res.notes.append(
        f"{section}: every gfs command pays its start-up: `gfs ls /` takes "
        f"{statistics.median(noop):.2f} s (Python start, imports, ZooKeeper lookup, one RPC); "
        "the datanodes write with O_DIRECT, so a get right after a put reads the disk"
    )
    best_mbps = float(best["MBps"])
    put_s, dd3_s = statistics.median(puts), statistics.median(dd3s)
    res.notes.append(
        f"{section}: gfs put took {put_s:.2f} s = {put_s / dd3_s:.2f} × the 3 parallel dd "
        f"({dd3_s:.2f} s), the disk writing a put's 3 durable copies; 35% of the ceiling "
        f"means {nbytes / (0.35 * best_mbps * 1e6):.2f} s"
    )
    for row, what in (
        (get_row, "warm"),
        (cold_row, "right after put"),
        (local_row, "warm, client on a datanode's host"),
    ):
        res.targets.append(
            Target(
                f"gfs get of {p.io_mb} MiB ({what}) ≥ 50% of the gRPC ceiling",
                f"{row.mbps:.0f} MB/s = {row.mbps / best_mbps:.0%} of {best_mbps:.0f}",
                "≥ 50%",
                row.mbps >= 0.5 * best_mbps,
            )
        )
    res.targets.append(
        Target(
            f"gfs put of {p.io_mb} MiB (replication 3) ≥ 35% of the gRPC ceiling",
            f"{put_row.mbps:.0f} MB/s = {put_row.mbps / best_mbps:.0%} of {best_mbps:.0f}",
            "≥ 35%",
            put_row.mbps >= 0.35 * best_mbps,
        )
    )


class CpuMeter:
    """CPU seconds used by each cluster process and by our children during a block."""

    def __init__(self, cl: Cluster) -> None:
        rows = json.loads(run(cl.mr("cluster", "status", "--json"), cl.env).stdout)
        self.pids = {r["name"]: int(r["pid"]) for r in rows if r["alive"]}
        self.tick = os.sysconf("SC_CLK_TCK")

    def _cpu(self) -> dict[str, float]:
        out = {}
        for name, pid in self.pids.items():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[name] = (int(fields[11]) + int(fields[12])) / self.tick
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        out["client"] = usage.ru_utime + usage.ru_stime
        return out

    @contextlib.contextmanager
    def measure(self) -> Iterator[dict[str, float]]:
        result: dict[str, float] = {}
        before = self._cpu()
        try:
            yield result
        finally:
            after = self._cpu()
            for name, value in after.items():
                role = name.rsplit("-", 1)[0] if name[-1].isdigit() else name
                result[role] = result.get(role, 0.0) + value - before.get(name, value)

    @staticmethod
    def text(samples: list[dict[str, float]], wall: float) -> str:
        """Median CPU seconds per role, e.g. `CPU s: client 0.9, datanode 1.2 (wall 2.0)`."""
        roles = sorted(
            {r for s in samples for r in s}, key=lambda r: -max(s.get(r, 0) for s in samples)
        )
        parts = []
        for role in roles:
            value = statistics.median(s.get(role, 0.0) for s in samples)
            if value >= 0.05:
                parts.append(f"{role} {value:.2f}")
        return f"CPU s: {', '.join(parts)} (wall {wall:.2f}, 2 cores)"


def _same_file(a: Path, b: Path) -> bool:
    return _sha(a) == _sha(b)


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while data := f.read(16 * MIB):
            h.update(data)
    return h.hexdigest()


def read_counts(cl: Cluster, output: str) -> dict[str, int]:
    text = b"".join(cl.cat(output)).decode("utf-8")
    counts = {}
    for line in text.splitlines():
        word, _, n = line.rpartition("\t")
        counts[word] = int(n)
    return counts


def baseline_wc(method: str, path: Path, dump: Path) -> float:
    cmd = [sys.executable, str(BENCH / "baselines.py"), method, str(path), "--dump", str(dump)]
    return float(json.loads(run(cmd).stdout)["seconds"])


def bench_wordcount(
    p: Params,
    cl: Cluster,
    res: Results,
    corpus: Path,
    remote: str,
    section: str,
    tag: str,
    extra_jobs: list[tuple[str, str]] | None = None,
    memory: list[int] | None = None,
) -> tuple[Row, list[Row]]:
    """Rounds of: one process, two processes, then each cluster job; returns the
    two-process row and the cluster rows. `extra_jobs`: (label, input) besides `remote`."""
    nbytes = corpus.stat().st_size
    warm(corpus)
    jobs = [(f"mr submit jobs/wordcount.py ({remote})", remote), *(extra_jobs or [])]
    one, two = [], []
    times: dict[str, list[float]] = {label: [] for label, _ in jobs}
    outputs: dict[str, list[str]] = {label: [] for label, _ in jobs}
    breakdowns: dict[str, list[str]] = {label: [] for label, _ in jobs}
    dumps = {m: p.out / f"counts-{tag}-{m}.pickle" for m in ("wc1", "wc2")}
    workers = list(cl.pids("worker").values())
    with RssSampler(workers) as rss:
        for i in range(1, p.runs + 1):
            one.append(baseline_wc("wc1", corpus, dumps["wc1"]))
            two.append(baseline_wc("wc2", corpus, dumps["wc2"]))
            for j, (label, inputs) in enumerate(jobs):
                output = f"/bench/wc-{tag}-{j}-{i}"
                seconds, status = cl.submit("wordcount.py", inputs, output)
                times[label].append(seconds)
                outputs[label].append(output)
                breakdowns[label].append(job_breakdown(status, seconds))
            log(f"{section}: round {i} done (load {loadavg()})")
    if memory is not None:
        memory += [rss.peak_worker, rss.peak_child, rss.peak_base]
    res.add(Row(section, "Python, 1 process: Counter over line.split()", one, nbytes))
    ref = res.add(
        Row(
            section,
            "Python, 2 processes: byte-range halves, merged Counters",
            two,
            nbytes,
            reference=True,
        )
    )
    rows = []
    for label, _ in jobs:
        rows.append(res.add(Row(section, label, times[label], nbytes)))
        mid = sorted(range(len(times[label])), key=lambda k: times[label][k])[
            len(times[label]) // 2
        ]
        res.notes.append(f"{section}, {label}, median run: {breakdowns[label][mid]}")
    with open(dumps["wc1"], "rb") as f:
        expected = pickle.load(f)
    with open(dumps["wc2"], "rb") as f:
        if pickle.load(f) != expected:
            raise BenchError(f"{section}: the two-process counts differ from one process")
    for label, _ in jobs:
        for output in outputs[label]:
            if read_counts(cl, output) != expected:
                raise BenchError(f"{section}: {output} counts differ from the Counter baseline")
            run(cl.gfs("rm", "-r", output), cl.env)
    total = sum(expected.values())
    res.checks.append(
        f"{section}: identical counts from 1 process, 2 processes and "
        f"{sum(len(o) for o in outputs.values())} cluster runs "
        f"({len(expected):,} distinct words, {total:,} words)"
    )
    return ref, rows


def bench_sort(p: Params, cl: Cluster, res: Results, records: Path, memory: list[int]) -> None:
    section = f"sort {p.sort_mb} MiB"
    nbytes = records.stat().st_size
    log(f"{section}: putting the records into GFS")
    seconds = cl.put(records, "/bench/records.txt")
    res.notes.append(
        f"gfs put of the sort records ({nbytes:,} bytes): {seconds:.2f} s, "
        f"{nbytes / seconds / 1e6:.0f} MB/s"
    )
    warm(records)
    py_out, gnu_out = p.out / "sorted-python.txt", p.out / "sorted-gnu.txt"
    py, gnu, mr = [], [], []
    outputs, breakdowns = [], []
    env = {**os.environ, "LC_ALL": "C"}
    workers = list(cl.pids("worker").values())
    with RssSampler(workers) as rss:
        for i in range(1, p.runs + 1):
            cmd = [sys.executable, str(BENCH / "baselines.py"), "sort", str(records), str(py_out)]
            py.append(float(json.loads(run(cmd).stdout)["seconds"]))
            gnu.append(timed(["sort", "-o", str(gnu_out), str(records)], env)[0])
            output = f"/bench/sort-{i}"
            extra = ["--reducers", str(p.sort_reducers)]
            seconds, status = cl.submit("sort.py", "/bench/records.txt", output, *extra)
            mr.append(seconds)
            outputs.append(output)
            breakdowns.append(job_breakdown(status, seconds))
            log(f"{section}: round {i} done (load {loadavg()})")
    memory += [rss.peak_worker, rss.peak_child, rss.peak_base]
    ref = res.add(
        Row(section, "Python, 1 process: read, sorted(), write", py, nbytes, reference=True)
    )
    del ref
    res.add(Row(section, "GNU sort, LC_ALL=C (its default threads)", gnu, nbytes))
    row = res.add(Row(section, f"mr submit jobs/sort.py --reducers {p.sort_reducers}", mr, nbytes))
    mid = sorted(range(len(mr)), key=lambda k: mr[k])[len(mr) // 2]
    res.notes.append(f"{section}, mr sort, median run: {breakdowns[mid]}")
    want = _sha(py_out)
    if _sha(gnu_out) != want:
        raise BenchError(f"{section}: GNU sort and Python sorted() disagree (equal keys?)")
    for output in outputs:
        h = hashlib.sha256()
        for data in cl.cat(output):
            h.update(data)
        if h.hexdigest() != want:
            raise BenchError(f"{section}: {output} parts, concatenated, differ from sorted()")
        run(cl.gfs("rm", "-r", output), cl.env)
    res.checks.append(
        f"{section}: Python sorted(), GNU sort and {len(outputs)} cluster runs: the same "
        f"{nbytes // 100:,} lines in the same order (SHA-256 of the concatenated parts)"
    )
    ratio = res.ratio(row) or 0.0
    res.targets.append(
        Target(
            f"sort {p.sort_mb} MiB ≤ 2 × one-process sorted()",
            f"{row.median:.2f} s = {ratio:.2f} ×",
            "≤ 2.00 ×",
            ratio <= 2.0,
        )
    )


def bench_small(p: Params, cl: Cluster, res: Results) -> None:
    corpus16 = generate("gen_corpus.py", 16, p.out / "corpus-16mb.txt", 4096)
    tiny = tiny_files(corpus16, p.tiny_files, p.out / f"tiny-{p.tiny_files}")
    run(cl.gfs("mkdir", "-p", "/bench/tiny"), cl.env)
    cl.put(tiny, "/bench/tiny/")
    cl.put(corpus16, "/bench/corpus-16mb.txt")
    section = "word count 16 MiB, small jobs"
    _, rows = bench_wordcount(
        p,
        cl,
        res,
        corpus16,
        "/bench/tiny",
        section,
        "small",
        extra_jobs=[
            ("mr submit jobs/wordcount.py (/bench/corpus-16mb.txt)", "/bench/corpus-16mb.txt")
        ],
    )
    rows[0].note = f"{p.tiny_files} files: {p.tiny_files} maps"
    rows[1].note = "1 file: 1 map"
    for row in rows:
        res.targets.append(
            Target(
                f"16 MiB word count, {row.note}, end to end < 3 s",
                f"{row.median:.2f} s",
                "< 3.00 s",
                row.median < 3.0,
            )
        )


def bench_main_wordcount(
    p: Params, cl: Cluster, res: Results, corpus: Path, memory: list[int]
) -> None:
    section = f"word count {p.mb} MiB"
    log(f"{section}: putting the corpus into GFS")
    nbytes = corpus.stat().st_size
    seconds = cl.put(corpus, "/bench/corpus.txt")
    res.notes.append(
        f"gfs put of the corpus ({nbytes:,} bytes): {seconds:.2f} s, "
        f"{nbytes / seconds / 1e6:.0f} MB/s"
    )
    ref, rows = bench_wordcount(
        p, cl, res, corpus, "/bench/corpus.txt", section, str(p.mb), memory=memory
    )
    ratio = rows[0].median / ref.median
    res.targets.append(
        Target(
            f"word count {p.mb} MiB ≤ 1.25 × the two-process baseline",
            f"{rows[0].median:.2f} s = {ratio:.2f} ×",
            "≤ 1.25 ×",
            ratio <= 1.25,
        )
    )
    res.targets.append(
        Target(
            f"word count {p.mb} MiB faster than PySpark DataFrame local[2] "
            f"(issue: {PYSPARK_DF_RATIO} × two-process; not run here)",
            f"{ratio:.2f} ×",
            f"< {PYSPARK_DF_RATIO} ×",
            ratio < PYSPARK_DF_RATIO,
        )
    )


def profile(p: Params, cl: Cluster, res: Results, corpus: Path) -> None:
    """py-spy of the workers (with their forkservers and attempts) during one word count of
    the corpus and one of the 16 MiB in tiny files, and of the datanodes and the client
    during one put of the corpus."""
    pyspy = BIN / "py-spy"
    if not pyspy.exists():
        res.notes.append("profile skipped: no py-spy in the venv (pip install py-spy)")
        return
    sys.path.insert(0, str(BENCH))
    from pyspy_summary import summarize

    jobs = [
        ("wordcount", "wordcount.py", "/bench/corpus.txt", []),
        ("tiny", "wordcount.py", "/bench/tiny", []),
        ("sort", "sort.py", "/bench/records.txt", ["--reducers", str(p.sort_reducers)]),
    ]
    # Only what the sections run put in GFS (--only): the put profile needs none of it.
    for tag, jobfile, inputs, extra in [job for job in jobs if job[0] in p.only]:
        log(f"profile: py-spy on the workers during one {jobfile} of {inputs}")
        workers = cl.pids("worker")
        raws = [p.out / f"pyspy-{tag}-{name}.txt" for name in workers]
        recorders = [
            _pyspy(pyspy, pid, raw, subprocesses=True)
            for pid, raw in zip(workers.values(), raws, strict=True)
        ]
        time.sleep(1.0)
        try:
            seconds, status = cl.submit(jobfile, inputs, f"/bench/profile-{tag}", *extra)
        finally:
            _stop_recorders(recorders)
        title = f"workers, forkservers and attempts: {jobfile} of {inputs} (under py-spy)"
        text = summarize(raws, title=title) + "\n" + job_breakdown(status, seconds) + "\n"
        (p.out / f"profile-{tag}.txt").write_text(text)
    if "io" in p.only:
        _profile_put(pyspy, p, cl, corpus)
    _profile_map_side(p, res, corpus)


def _profile_put(pyspy: Path, p: Params, cl: Cluster, corpus: Path) -> None:
    from pyspy_summary import summarize

    log("profile: py-spy on the datanodes and the client during one put")
    datanodes = cl.pids("datanode")
    raws = [p.out / f"pyspy-put-{name}.txt" for name in datanodes]
    recorders = [_pyspy(pyspy, pid, raw) for pid, raw in zip(datanodes.values(), raws, strict=True)]
    client_raw = p.out / "pyspy-put-client.txt"
    time.sleep(1.0)
    try:
        cmd = [str(pyspy), "record", "--format", "raw", "--rate", "200", "-o", str(client_raw)]
        cmd += ["--", *cl.gfs("put", "-f", str(corpus), "/bench/profile-put")]
        start = time.perf_counter()
        run(cmd, cl.env)
        seconds = time.perf_counter() - start
    finally:
        _stop_recorders(recorders)
    text = summarize(raws, title=f"datanodes during gfs put of {corpus.name}")
    text += "\n" + summarize([client_raw], title="the gfs put client (under py-spy)")
    text += f"\nput under py-spy: {seconds:.2f} s\n"
    (p.out / "profile-put.txt").write_text(text)


def _profile_map_side(p: Params, res: Results, corpus: Path) -> None:
    log("profile: bench/map_throughput.py (the map side in one process, no cluster)")
    cmd = [sys.executable, str(BENCH / "map_throughput.py"), "--mb", str(min(p.mb, 64))]
    cmd += ["--reducers", "1", "--repeat", "1", "--corpus", str(corpus)]
    text = run(cmd).stdout
    (p.out / "map-throughput.txt").write_text(text)
    cpu = {}
    for line in text.splitlines():
        words = line.split()
        if line.startswith(("counter", "run_map")) and len(words) >= 4:
            cpu["counter" if line.startswith("counter") else "run_map"] = float(words[-4])
    if len(cpu) == 2:
        res.notes.append(
            f"map side on one core (bench/map_throughput.py, {min(p.mb, 64)} MiB, no cluster): "
            f"Counter over line.split() {cpu['counter']:.2f} CPU s, the runtime's map_split "
            f"of jobs/wordcount.py {cpu['run_map']:.2f} CPU s = "
            f"{cpu['run_map'] / cpu['counter']:.2f} ×"
        )
    log("profile: bench/map_hotpath.py (the map loop's pieces, one process)")
    cmd = [sys.executable, str(BENCH / "map_hotpath.py"), "--repeat", "3"]
    corpus16 = generate("gen_corpus.py", 16, p.out / "corpus-16mb.txt", 4096)  # --only io
    cmd += ["--corpus", str(corpus16)]
    text = run(cmd).stdout
    (p.out / "map-hotpath.txt").write_text(text)
    ratios = [line.split() for line in text.splitlines() if line.endswith("x counter")]
    res.notes.append(
        "the map loop's pieces on one core (bench/map_hotpath.py; CPU × Counter over "
        "line.split()): " + ", ".join(f"{' '.join(r[:-4])} {r[-3]}" for r in ratios)
    )
    res.notes.append(
        "profiles (py-spy, 200 Hz; raw stacks beside them): bench/out/profile-wordcount.txt, "
        "profile-tiny.txt, profile-sort.txt, profile-put.txt, map-throughput.txt, "
        "map-hotpath.txt"
    )


def _pyspy(pyspy: Path, pid: int, raw: Path, subprocesses: bool = False) -> subprocess.Popen:
    cmd = [str(pyspy), "record", "--pid", str(pid), "--format", "raw", "--rate", "200"]
    cmd += ["--nonblocking", "-o", str(raw)]
    if subprocesses:
        cmd.append("--subprocesses")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop_recorders(recorders: list[subprocess.Popen]) -> None:
    for rec in recorders:
        rec.send_signal(signal.SIGINT)
    for rec in recorders:
        try:
            rec.wait(timeout=30)
        except subprocess.TimeoutExpired:
            rec.kill()
            rec.wait()


def report(p: Params, res: Results, facts: dict[str, str], started: float) -> str:
    rows = res.table()
    targets = [[t.name, t.measured, t.goal, "PASS" if t.ok else "FAIL"] for t in res.targets]
    theader = ["target (issue 6)", "measured", "goal", ""]
    print()
    print(text_table(rows, HEADER))
    print()
    print(text_table(targets, theader))
    print()
    for line in res.checks:
        print(f"check: {line}")
    for line in res.notes:
        print(f"note: {line}")
    minutes = (time.time() - started) / 60
    md = [
        BEGIN,
        f"## `make bench`: measured {time.strftime('%Y-%m-%d %H:%M %Z', time.localtime(started))}",
        "",
        f"Command: `{p.command}` ({minutes:.1f} min in all). Every method ran {p.runs} "
        "times, in interleaved rounds, with a warm page cache; the median counts. "
        "MB/s: 10**6 bytes per second of input. × ref: median wall time over the "
        "section's reference (`ref`). The cluster: 1 master, 3 workers × 2 slots, "
        f"{'at most one running attempt per CPU (`[mr] cap_to_cpus`), ' if p.cpu_cap else ''}"
        "4 datanodes, replication 3, 64 MiB chunks, all on this machine with ZooKeeper.",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in facts.items()) + ".",
        "",
        "Load (the machine is shared: the CPU other processes took from the cores while each "
        "section ran; loadavg 1/5/15 min includes ours): " + "; ".join(res.load) + ".",
        "",
        md_table(rows, HEADER),
        "",
        md_table(targets, theader),
        "",
        *[f"- check: {line}" for line in res.checks],
        *[f"- {line}" for line in res.notes],
        END,
    ]
    return "\n".join(md) + "\n"


def write_results(path: Path, section: str) -> None:
    old = path.read_text() if path.exists() else "# Benchmark results (issue 6)\n\n"
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + section.rstrip("\n") + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + section
    path.write_text(new)


def parse_args(argv: list[str] | None) -> Params:
    env = os.environ
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mb", type=int, help="corpus MiB (default 256; --quick: 16)")
    ap.add_argument("--quick", action="store_true", default=env.get("BENCH_QUICK") == "1")
    ap.add_argument("--out", type=Path, default=Path(env.get("BENCH_OUT", BENCH / "out")))
    ap.add_argument("--runs", type=int, default=int(env.get("BENCH_RUNS", 0)) or None)
    ap.add_argument("--io-mb", type=int, help="put/get file MiB (default 2 × --mb)")
    ap.add_argument("--sort-mb", type=int, help="sort records MiB (default --mb)")
    ap.add_argument("--sort-reducers", type=int, default=4)
    ap.add_argument("--tiny-files", type=int, default=64, help="files of the 16 MiB job")
    ap.add_argument("--profile", action="store_true", default=env.get("BENCH_PROFILE") == "1")
    ap.add_argument("--keep-cluster", action="store_true", help="leave the cluster running")
    ap.add_argument("--results", type=Path, help="Markdown file for the generated section")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    ap.add_argument(
        "--only",
        help=f"comma-separated sections to run, of {','.join(SECTIONS)} (the table then goes "
        "to OUT/RESULTS-only.md unless --results is given)",
    )
    ap.add_argument(
        "--no-pyc-cache",
        action="store_true",
        help="keep PYTHONDONTWRITEBYTECODE as it is (default: cache bytecode in OUT/pycache)",
    )
    ap.add_argument(
        "--no-cpu-cap",
        action="store_true",
        help="run the cluster with [mr] cap_to_cpus = false (6 slots on the machine's cores)",
    )
    a = ap.parse_args(argv)
    if a.mb is None:
        a.mb = int(env.get("BENCH_MB", 16 if a.quick else 256))
    runs = a.runs or (1 if a.quick else 3)
    out = a.out.resolve()
    only = frozenset(a.only.split(",")) if a.only else frozenset(SECTIONS)
    if not only <= set(SECTIONS):
        ap.error(f"--only: unknown section(s) {','.join(sorted(only - set(SECTIONS)))}")
    if a.results is None:
        partial = out / "RESULTS-only.md" if a.only else BENCH / "RESULTS.md"
        a.results = out / "RESULTS-quick.md" if a.quick else partial
    given = sys.argv[1:] if argv is None else argv
    command = shlex.join([".venv/bin/python", "bench/run.py", *given])
    if env.get("MAKELEVEL"):
        command = "make bench" + (f" BENCH_ARGS={shlex.quote(shlex.join(given))}" if given else "")
    return Params(
        mb=a.mb,
        io_mb=a.io_mb or 2 * a.mb,
        sort_mb=a.sort_mb or a.mb,
        runs=runs,
        sort_reducers=a.sort_reducers,
        tiny_files=a.tiny_files,
        out=out,
        profile=a.profile,
        keep_cluster=a.keep_cluster,
        results=a.results,
        command=command,
        strict=a.strict,
        pyc_cache=not a.no_pyc_cache,
        only=only,
        cpu_cap=not a.no_cpu_cap,
    )


def main(argv: list[str] | None = None) -> int:
    p = parse_args(argv)
    p.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    facts = machine_facts()
    facts["bytecode cache"] = bytecode_cache(p)
    res = Results()
    res.load.append(f"at start {loadavg()}")
    log(f"machine: {facts}; load {loadavg()}")
    for line in top_processes():
        log(f"  top: {line}")
    # Ctrl-C, SIGTERM and SIGHUP end the run through the finally below, which stops the
    # cluster. SIGINT too: a shell starting us in the background may have set it to ignore.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    corpus = generate("gen_corpus.py", p.mb, p.out / f"corpus-{p.mb}mb.txt", 4096)
    records = generate("gen_records.py", p.sort_mb, p.out / f"records-{p.sort_mb}mb.txt", 100)
    cl = Cluster(p.out, cpu_cap=p.cpu_cap)
    mem_wc: list[int] = []
    memory_sort: list[int] = []
    try:
        cl.start()
        run(cl.gfs("mkdir", "-p", "/bench"), cl.env)
        others = OthersMeter(cl)
        sections = [
            ("io", "I/O", lambda: bench_io(p, cl, res, corpus)),
            ("wordcount", "word count", lambda: bench_main_wordcount(p, cl, res, corpus, mem_wc)),
            ("sort", "sort", lambda: bench_sort(p, cl, res, records, memory_sort)),
            ("tiny", "16 MiB word count", lambda: bench_small(p, cl, res)),
        ]
        for key, name, step in sections:
            if key not in p.only:
                continue
            with others.measure() as load:
                step()
            res.load.append(
                f"{name}: other processes used {load['others']:.2f} of the "
                f"{os.cpu_count()} cores on average, ours {load['ours']:.2f} "
                f"(loadavg after: {loadavg()})"
            )
            log(f"load: {res.load[-1]}")
        if p.profile:
            profile(p, cl, res, corpus)
    finally:
        if p.keep_cluster:
            log(f"leaving the cluster running: mr --cluster {cl.dir} cluster stop")
        else:
            cl.stop()
    budget = 256 * MIB
    for name, mem in (("word count", mem_wc), ("sort", memory_sort)):
        if mem:
            res.notes.append(
                f"peak RSS during the {name} runs: worker process {mem[0] / MIB:.0f} MiB, "
                f"largest task attempt {mem[1] / MIB:.0f} MiB, the forkserver the attempts "
                f"start from {mem[2] / MIB:.0f} MiB (task_memory_bytes {budget // MIB} MiB "
                "bounds the task's buffers, not the interpreter)"
            )
    peaks = [(m[1], m[2]) for m in (mem_wc, memory_sort) if m]
    if peaks:
        attempt, base = max(peaks)
        res.targets.append(
            Target(
                "peak RSS of a task attempt ≤ task_memory_bytes + the forkserver's RSS "
                "(measured with 64 MiB splits; input size not varied)",
                f"{attempt / MIB:.0f} MiB",
                f"≤ {budget // MIB} + {base / MIB:.0f} MiB",
                attempt <= budget + base,
            )
        )
    section = report(p, res, facts, started)
    p.results.parent.mkdir(parents=True, exist_ok=True)
    write_results(p.results, section)
    log(f"results written to {p.results}")
    return 1 if p.strict and not all(t.ok for t in res.targets) else 0


def bytecode_cache(p: Params) -> str:
    """Let every process we start cache bytecode, as an installed package does, in OUT/pycache
    (PYTHONPYCACHEPREFIX: nothing is written into the source tree), even where the
    environment sets PYTHONDONTWRITEBYTECODE; then compile what the cluster imports once."""
    if not p.pyc_cache:
        off = os.environ.get("PYTHONDONTWRITEBYTECODE")
        return "as the environment has it" + (" (PYTHONDONTWRITEBYTECODE set)" if off else "")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(p.out / "pycache")
    modules = [
        "gfs.cli",
        "gfs.client",
        "gfs.datanode.server",
        "gfs.namenode.server",
        "mr.cli",
        "mr.jobcli",
        "mr.client",
        "mr.cluster",
        "mr.master.server",
        "mr.worker.server",
        "mr.worker.attempt",
        "mr.runtime",
        "mr.local",
        "encodings.idna",
    ]
    code = f"import importlib\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
    run([sys.executable, "-c", code], check=False, cwd=str(ROOT))
    return "on (PYTHONPYCACHEPREFIX=OUT/pycache; --no-pyc-cache to measure without)"


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def entry() -> None:
    try:
        status = main()
    except BenchError as exc:
        print(f"bench: FAILED: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("bench: interrupted; the cluster was stopped", file=sys.stderr)
        sys.exit(130)
    sys.exit(status)


if __name__ == "__main__":
    entry()
