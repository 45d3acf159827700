"""Chaos for MapReduce: a stream of word count and sort jobs runs while a driver kills and
restarts random workers and, twice, the active master. Every job must succeed with exactly
the output of `mr run-local` on the same files."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "data" / "sample").glob("*.txt"))[:2]
CHUNK = 64 * 1024
JOBS = 6
MASTER_KILLS = (1, 3)  # jobs during which the active master is killed


def run_local(job: str, out: Path, reducers: int) -> dict[str, str]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mr.cli",
            "run-local",
            str(ROOT / "jobs" / job),
            "--input",
            ",".join(map(str, SAMPLES)),
            "--output",
            str(out),
            "--reducers",
            str(reducers),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return {p.name: p.read_text() for p in sorted(out.iterdir())}


def test_jobs_survive_chaos(cluster_factory, tmp_path: Path) -> None:
    cluster = cluster_factory(
        mr={"masters": 2, "workers": 3, "dead_after": 2.0, "max_attempts": 6},
        gfs={"chunk_size": CHUNK},
    )
    cluster.gfs("mkdir", "/in", check=True)
    cluster.gfs("put", *map(str, SAMPLES), "/in/", check=True)
    inputs = ",".join(f"/in/{p.name}" for p in SAMPLES)
    expected = {
        "wordcount.py": run_local("wordcount.py", tmp_path / "wc", 3),
        "sort.py": run_local("sort.py", tmp_path / "sort", 3),
    }
    rng = random.Random(20261121)
    stop = threading.Event()
    faults: list[str] = []

    def driver() -> None:
        """Kill a random worker every 1-2.5 s, restarting whatever is down first."""
        while not stop.wait(rng.uniform(1.0, 2.5)):
            try:
                for name in ("worker-0", "worker-1", "worker-2", "master-0", "master-1"):
                    if not cluster.alive(name):
                        cluster.restart(name)
                victim = rng.choice(["worker-0", "worker-1", "worker-2"])
                cluster.kill(victim)
                faults.append(victim)
            except AssertionError as exc:  # e.g. a process already down
                faults.append(f"skipped: {str(exc).splitlines()[0][:80]}")

    def kill_active_master() -> None:
        try:
            cluster.kill("master")
            faults.append("master")
        except AssertionError as exc:
            faults.append(f"master kill failed: {str(exc).splitlines()[0][:80]}")

    thread = threading.Thread(target=driver, daemon=True)
    thread.start()
    results = []
    try:
        for i in range(JOBS):
            job = "wordcount.py" if i % 2 == 0 else "sort.py"
            out = f"/out/{i}"
            if i in MASTER_KILLS:  # the active master dies 1 s into this job
                threading.Timer(1.0, kill_active_master).start()
            done = cluster.mr(
                "submit",
                str(ROOT / "jobs" / job),
                "--input",
                inputs,
                "--output",
                out,
                "--reducers",
                "3",
                "--json",
                timeout=240,
            )
            assert done.returncode == 0, (job, done.stdout[-2000:], done.stderr)
            results.append((job, out, json.loads(done.stdout)))
    finally:
        stop.set()
        thread.join(timeout=60)
    client = cluster.client()
    for job, out, status in results:
        assert status["state"] == "SUCCEEDED"
        parts = {Path(e.path).name: client.read_bytes(e.path).decode() for e in client.ls(out)}
        assert parts == expected[job], f"{out} ({job}) differs from run-local"
    lost = sum(1 for _, _, s in results for a in s["attempts"] if a["state"] == "LOST")
    print(
        f"jobs: {len(results)}, faults: {len(faults)} "
        f"({faults.count('master')} master kills), lost attempts: {lost}"
    )
    assert faults.count("master") == 2
