"""The MapReduce paper's fault experiment in miniature (Dean & Ghemawat 2004, section 5.3).

    .venv/bin/python bench/paper_experiment.py [--runs 1]

One job, one input, four ways, in one run on a fresh local cluster (6 workers):
  normal            no faults
  straggler+backup  one map is 20x slower on its first attempt; speculation on
  straggler         the same, with --no-speculation
  2 workers killed  kill -9 two workers when the map phase is 40% done

The job is a word count whose mapper sleeps per line, so its cost is time, not CPU: on a
2-core machine, CPU-bound tasks would measure contention, not scheduling. Prints a Markdown
table of wall times and ratios to normal (the paper's sort: no backups +44%, 200 of 1746
workers killed +5%).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

JOB = """
import os, time

def setup(params):
    global DELAY, SLOW_FILE, SLOW_FACTOR, MARKER
    DELAY = float(params.get("delay", "0"))
    SLOW_FILE = params.get("slow_file", "")
    SLOW_FACTOR = float(params.get("slow_factor", "1"))
    MARKER = params.get("marker", "")

_slow = None

def _first_attempt_of_slow_split(key):
    path, offset = key
    if not SLOW_FILE or not path.endswith(SLOW_FILE) or offset >= 65536:
        return False
    try:
        os.close(os.open(MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True

def mapper(key, line):
    global _slow
    if _slow is None:
        _slow = _first_attempt_of_slow_split(key)
    time.sleep(DELAY * (SLOW_FACTOR if _slow else 1.0))
    for word in line.split():
        yield word, 1

def combiner(word, counts):
    yield word, sum(counts)

def reducer(word, counts):
    yield word, sum(counts)
"""

CONFIG = """
[cluster]
dir = "{dir}"
[gfs]
chunk_size = 65536
datanodes = 4
heartbeat_interval = 0.3
dead_after = 3.0
[mr]
masters = 1
workers = 6
slots = 2
heartbeat_interval = 0.1
dead_after = 3.0
"""


def sh(*args: str, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=check, cwd=ROOT, **kw)


def run_job(
    cluster: str, job: Path, output: str, params: list[str], extra: list[str], on_start=None
) -> dict:
    args = [
        PY,
        "-m",
        "mr.cli",
        "--cluster",
        cluster,
        "submit",
        str(job),
        "--input",
        "/in",
        "--output",
        output,
        "--reducers",
        "4",
        "--json",
        *extra,
    ]
    for p in params:
        args += ["-D", p]
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    if on_start is not None:
        threading.Thread(target=on_start, daemon=True).start()
    out, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"job failed: {err}\n{out[-2000:]}")
    return json.loads(out)


def kill_two_workers_at(cluster: str, fraction: float) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        jobs = json.loads(sh(PY, "-m", "mr.cli", "--cluster", cluster, "jobs", "--json").stdout)
        running = [j for j in jobs if j["state"] == "RUNNING"]
        if running and running[-1]["map_progress"] >= fraction:
            for name in ("worker-0", "worker-1"):
                sh(PY, "-m", "mr.cli", "--cluster", cluster, "cluster", "kill", name)
            return
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1, help="runs per scenario (median)")
    parser.add_argument("--delay", type=float, default=0.0005, help="seconds per line")
    ns = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="paper-"))
    cluster = str(work / "cluster")
    config = work / "cluster.toml"
    config.write_text(CONFIG.format(dir=cluster))
    job = work / "slowcount.py"
    job.write_text(JOB)
    sh(PY, "-m", "mr.cli", "cluster", "start", "--config", str(config), "--cluster", cluster)
    try:
        books = sorted((ROOT / "data" / "sample").glob("*.txt"))[:4]
        sh(PY, "-m", "gfs.cli", "--cluster", cluster, "mkdir", "/in")
        sh(PY, "-m", "gfs.cli", "--cluster", cluster, "put", *map(str, books), "/in/")
        slow = [f"slow_file={books[0].name}", "slow_factor=20"]
        scenarios = [
            ("normal", [], [], None),
            ("straggler, backup tasks", slow, [], None),
            ("straggler, no backup tasks", slow, ["--no-speculation"], None),
            ("2 workers killed", [], [], lambda: kill_two_workers_at(cluster, 0.4)),
        ]
        results: dict[str, list[float]] = {}
        for run in range(ns.runs):
            for index, (name, params, extra, fault) in enumerate(scenarios):
                marker = work / f"marker-{uuid.uuid4().hex}"
                status = run_job(
                    cluster,
                    job,
                    f"/out/{run}-{index}",
                    [f"delay={ns.delay}", f"marker={marker}", *params],
                    extra,
                    fault,
                )
                results.setdefault(name, []).append(status["finished"] - status["submitted"])
                if fault is not None:
                    for worker in ("worker-0", "worker-1"):
                        sh(
                            PY,
                            "-m",
                            "mr.cli",
                            "--cluster",
                            cluster,
                            "cluster",
                            "restart",
                            worker,
                            check=False,
                        )
        normal = statistics.median(results["normal"])
        print("| scenario | wall (s) | vs normal |")
        print("|---|---|---|")
        for name, _p, _e, _f in scenarios:
            wall = statistics.median(results[name])
            print(f"| {name} | {wall:.1f} | {wall / normal - 1:+.0%} |")
    finally:
        sh(PY, "-m", "mr.cli", "--cluster", cluster, "cluster", "stop", check=False)


if __name__ == "__main__":
    main()
