#!/usr/bin/env python3
"""Deterministic random records for sort benchmarks (TeraSort-like, as text).

    python bench/gen_records.py --mb 256 --out records.txt [--seed 4242]

Each line is 100 bytes: a 10-character key drawn uniformly from [0-9A-Za-z], a tab, 88
payload characters from [a-z], and '\\n'. jobs/sort.py sorts by the text before the first
tab, so its output lines are the input lines; `LC_ALL=C sort` and Python's `sorted()` order
whole lines, which is the same order unless two keys are equal (about 1 in 10**5 chance for
2.7 M records; the benchmark checks). The file is floor(mb * 2**20 / 100) records; the same
arguments give a byte-identical file.

Needs numpy. Generates 256 MiB in a few seconds.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

KEY_CHARS = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PAYLOAD_CHARS = b"abcdefghijklmnopqrstuvwxyz"
KEY_LEN, LINE_LEN = 10, 100
BLOCK = 1 << 20  # records per generated block


def generate(mb: float, out: str, seed: int = 4242) -> int:
    rng = np.random.default_rng(seed)
    keys = np.frombuffer(KEY_CHARS, dtype=np.uint8)
    payload = np.frombuffer(PAYLOAD_CHARS, dtype=np.uint8)
    total = int(mb * (1 << 20)) // LINE_LEN
    done = 0
    with open(out, "wb") as f:
        while done < total:
            n = min(BLOCK, total - done)
            block = np.empty((n, LINE_LEN), dtype=np.uint8)
            block[:, :KEY_LEN] = keys[rng.integers(0, len(keys), size=(n, KEY_LEN))]
            block[:, KEY_LEN] = ord("\t")
            width = LINE_LEN - KEY_LEN - 2
            block[:, KEY_LEN + 1 : -1] = payload[rng.integers(0, len(payload), size=(n, width))]
            block[:, -1] = ord("\n")
            f.write(block.tobytes())
            done += n
    return total * LINE_LEN


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--mb", type=float, default=256, help="size in MiB (2**20 bytes)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=4242)
    a = ap.parse_args()
    t0 = time.perf_counter()
    n = generate(a.mb, a.out, a.seed)
    dt = time.perf_counter() - t0
    print(f"wrote {n} bytes to {a.out} in {dt:.2f}s ({n / 2**20 / dt:.1f} MiB/s)", file=sys.stderr)


if __name__ == "__main__":
    main()
