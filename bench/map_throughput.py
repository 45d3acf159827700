"""Micro-benchmark: the map side of word count in one process, next to plain Python.

    .venv/bin/python bench/map_throughput.py [--mb 64] [--corpus FILE] [--reducers 1,4]

Times, on the first --mb MiB of a corpus (best of --repeat rounds, one core; CPU seconds of
this process, which a busy machine disturbs less than wall time; wall time is shown too):
  counter   collections.Counter over line.split() for each line of the file (the baseline)
  run_map   mr.runtime.map_split of jobs/wordcount.py over the same bytes, split like the
            cluster (64 MiB chunks), with R reduce partitions, writing the final run files
and checks that run_map's output, reduced, equals the baseline's counts.

Without --corpus the corpus comes from bench/gen_corpus.py (fixed seed), cached under
bench/out/ (git-ignored). That generator needs numpy, which is not a project dependency: it is
imported here if this interpreter has it, else `python3 bench/gen_corpus.py` is run.
"""

from __future__ import annotations

import argparse
import collections
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mr.counters import Counters  # noqa: E402
from mr.job import load_job_file  # noqa: E402
from mr.records import local_reader  # noqa: E402
from mr.runtime import map_split, run_reduce  # noqa: E402

CHUNK = 64 << 20


def corpus(mb: int) -> Path:
    cache = ROOT / "bench" / "out"  # git-ignored
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"corpus-{mb}mb.txt"
    if path.exists():
        return path
    generator = ROOT / "bench" / "gen_corpus.py"
    try:
        import numpy  # noqa: F401
    except ImportError:
        python = shutil.which("python3") or "python3"
    else:
        python = sys.executable
    tmp = path.with_suffix(".tmp")
    result = subprocess.run([python, str(generator), "--mb", str(mb), "--out", str(tmp)])
    if result.returncode != 0:
        sys.exit("cannot generate the corpus: bench/gen_corpus.py needs numpy (pip install numpy)")
    tmp.rename(path)
    return path


def counter_baseline(path: Path) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    with open(path, encoding="utf-8") as f:
        for line in f:
            counts.update(line.split())
    return counts


def framework(path: Path, reducers: int, work: Path) -> tuple[list[list[Path]], Counters]:
    job = load_job_file(ROOT / "jobs" / "wordcount.py")
    size = path.stat().st_size
    counters = Counters()
    outputs = []
    for i, offset in enumerate(range(0, size, CHUNK)):
        parts = map_split(
            job,
            str(path),
            offset,
            min(CHUNK, size - offset),
            size,
            local_reader(path),
            reducers,
            work / f"m-{i:05d}",
            {},
            256 << 20,
            counters,
        )
        outputs.append([p.path for p in parts])
    return outputs, counters


def reduce_all(outputs: list[list[Path]], reducers: int) -> dict[str, int]:
    job = load_job_file(ROOT / "jobs" / "wordcount.py")
    counts: dict[str, int] = {}
    for r in range(reducers):
        buf = io.BytesIO()
        run_reduce(job, [paths[r] for paths in outputs], buf, {}, Counters())
        for line in buf.getvalue().decode().splitlines():
            word, n = line.split("\t")
            counts[word] = int(n)
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--mb", type=int, default=64, help="MiB of corpus to use (default 64)")
    ap.add_argument("--corpus", type=Path, help="an existing text file (default: generated)")
    ap.add_argument("--reducers", default="1,4", help="partition counts to time (default 1,4)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the best time counts")
    a = ap.parse_args()
    source = a.corpus or corpus(a.mb)
    with tempfile.TemporaryDirectory(prefix="mr-bench-") as tmp:
        path = Path(tmp) / "input.txt"
        with open(source, "rb") as src, open(path, "wb") as dst:
            data = src.read(a.mb << 20)
            dst.write(data[: data.rfind(b"\n") + 1])
        del data
        mb = path.stat().st_size / (1 << 20)
        print(f"input: {mb:.1f} MiB from {source}; python {sys.version.split()[0]}")
        reducers = [int(x) for x in a.reducers.split(",")]
        best: dict[str, float] = {}
        wall: dict[str, float] = {}
        expected: collections.Counter[str] = collections.Counter()
        outputs: dict[int, list[list[Path]]] = {}
        counters = Counters()
        # Rounds interleave the methods, so a busy neighbour slows them alike.
        for _ in range(a.repeat):
            start, cpu = time.perf_counter(), time.process_time()
            expected = counter_baseline(path)
            best["counter"] = min(best.get("counter", 1e9), time.process_time() - cpu)
            wall["counter"] = min(wall.get("counter", 1e9), time.perf_counter() - start)
            for r in reducers:
                work = Path(tempfile.mkdtemp(dir=tmp))
                start, cpu = time.perf_counter(), time.process_time()
                outputs[r], counters = framework(path, r, work)
                name = f"run_map R={r}"
                best[name] = min(best.get(name, 1e9), time.process_time() - cpu)
                wall[name] = min(wall.get(name, 1e9), time.perf_counter() - start)
        base = best["counter"]
        print(f"{'method':24s} {'CPU s':>7s} {'MB/s':>7s} {'ratio':>6s} {'wall s':>7s}")
        for name, seconds in best.items():
            label = "counter (baseline)" if name == "counter" else name
            print(
                f"{label:24s} {seconds:7.2f} {mb / seconds:7.1f} {seconds / base:6.2f} "
                f"{wall[name]:7.2f}"
            )
        for r in reducers:
            got = reduce_all(outputs[r], r)
            if got != dict(expected):
                sys.exit(f"MISMATCH with R={r}: {len(got)} words vs {len(expected)}")
        print(f"counts identical ({len(expected)} distinct words, {sum(expected.values())} total)")
        print(f"map counters: {counters.to_dict()}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
