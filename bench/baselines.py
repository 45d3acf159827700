"""Plain-Python baselines the cluster is measured against, one per fresh process.

    .venv/bin/python bench/baselines.py wc1 FILE [--dump COUNTS.pickle]
    .venv/bin/python bench/baselines.py wc2 FILE [--dump COUNTS.pickle]
    .venv/bin/python bench/baselines.py sort IN OUT

  wc1   one process: collections.Counter updated with line.split() for every line
  wc2   two processes (fork): the file cut in two byte ranges at a line boundary, each
        counted like wc1, the two Counters sent back (pickled) and merged; the practical
        limit for Python on 2 cores
  sort  one process: read every line (text), sorted(), write them all

Each prints one JSON line {"seconds": ...}: the wall time of the work, from before the file
is opened until the result is complete (for sort: written and closed), without interpreter
start-up or --dump. --dump pickles the counts afterwards, for the identity checks.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import pickle
import time
from collections import Counter
from typing import Any


class _Range(io.RawIOBase):
    """The bytes [start, end) of a file, as a raw stream."""

    def __init__(self, path: str, start: int, end: int) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        self.pos, self.end = start, end

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        n = os.preadv(self.fd, [memoryview(buf)[: max(0, self.end - self.pos)]], self.pos)
        self.pos += n
        return n

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()


def count_range(path: str, start: int, end: int) -> Counter[str]:
    """Counter over line.split() for each line in [start, end) (both at line starts),
    iterating a text stream exactly like `for line in open(path)`."""
    counts: Counter[str] = Counter()
    with io.TextIOWrapper(io.BufferedReader(_Range(path, start, end)), encoding="utf-8") as f:
        for line in f:
            counts.update(line.split())
    return counts


def line_boundary(path: str, near: int) -> int:
    """The first line start at or after `near` (the file size if none)."""
    size = os.path.getsize(path)
    if near <= 0:
        return 0
    with open(path, "rb") as f:
        f.seek(near - 1)
        while True:
            data = f.read(1 << 16)
            if not data:
                return size
            i = data.find(b"\n")
            if i >= 0:
                return f.tell() - len(data) + i + 1


def wc1(path: str) -> Counter[str]:
    return count_range(path, 0, os.path.getsize(path))


def wc2(path: str) -> Counter[str]:
    size = os.path.getsize(path)
    mid = line_boundary(path, size // 2)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        first, second = pool.starmap(count_range, [(path, 0, mid), (path, mid, size)])
    first.update(second)
    return first


def sort_lines(src: str, dst: str) -> int:
    with open(src, encoding="utf-8", newline="") as f:
        lines = f.readlines()
    out = sorted(lines)
    with open(dst, "w", encoding="utf-8", newline="") as g:
        g.writelines(out)
    return len(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("method", choices=["wc1", "wc2", "sort"])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--dump", help="pickle the counts here (wc1, wc2)")
    a = ap.parse_args()
    start = time.perf_counter()
    if a.method == "sort":
        if len(a.paths) != 2:
            ap.error("sort needs IN and OUT")
        n = sort_lines(a.paths[0], a.paths[1])
        seconds = time.perf_counter() - start
        print(json.dumps({"seconds": seconds, "records": n}))
        return
    counts = wc1(a.paths[0]) if a.method == "wc1" else wc2(a.paths[0])
    seconds = time.perf_counter() - start
    if a.dump:
        with open(a.dump, "wb") as f:
            pickle.dump(dict(counts), f, protocol=5)
    print(json.dumps({"seconds": seconds, "distinct": len(counts), "words": counts.total()}))


if __name__ == "__main__":
    main()
