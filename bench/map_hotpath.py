"""Micro-benchmark of the word-count map loop's pieces, next to a bare Counter.

    .venv/bin/python bench/map_hotpath.py [--corpus bench/out/corpus-16mb.txt] [--lines 200000]

One process, CPU seconds (best of --repeat), on the first --lines lines of a corpus:
  counter      Counter.update(line.split()) per line: the one-process baseline
  pairs only   what the runtime does before buffering: the job's mapper (a generator
               yielding (word, 1)) over ~40-line slices, materialized as lists of pairs
               (list(chain.from_iterable(map(mapper, keys, lines))), as in run_map)
  runtime now  pairs + _CombineOutput.add's hot path: the "every value is the same object"
               check (countOf(map(is_, map(_value, pairs), repeat(v0)), True)) and the
               counting (_count_elements(counter, map(_key, pairs)))
  no check     the same without the identity check
  batch map    a mapPartitions-style mapper: Counter(chain.from_iterable(map(str.split,
               lines))) per 4096-line batch, merged; what a batch/combining map API allows
All variants must produce the baseline's counts (checked).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, _count_elements  # type: ignore[attr-defined]
from collections.abc import Callable, Iterator
from itertools import chain, islice, repeat
from operator import countOf, is_, itemgetter
from pathlib import Path

_key = itemgetter(0)
_value = itemgetter(1)
SLICE_LINES = 40  # run_map adapts its slice so a slice yields ~512 pairs: ~40 lines here


def mapper(key: object, line: str) -> Iterator[tuple[str, int]]:  # jobs/wordcount.py
    for word in line.split():
        yield word, 1


def slices(lines: list[str]) -> Iterator[list[tuple[str, int]]]:
    keys = repeat(None)
    for i in range(0, len(lines), SLICE_LINES):
        yield list(
            chain.from_iterable(map(mapper, islice(keys, SLICE_LINES), lines[i : i + SLICE_LINES]))
        )


def counter(lines: list[str]) -> Counter[str]:
    c: Counter[str] = Counter()
    for line in lines:
        c.update(line.split())
    return c


def pairs_only(lines: list[str]) -> Counter[str]:
    n = 0
    for pairs in slices(lines):
        n += len(pairs)
    return Counter({"": n})


def runtime_now(lines: list[str]) -> Counter[str]:
    c: Counter[str] = Counter()
    for pairs in slices(lines):
        v0 = pairs[0][1]
        if countOf(map(is_, map(_value, pairs), repeat(v0)), True) != len(pairs):
            raise AssertionError("values differ")
        _count_elements(c, map(_key, pairs))
    return c


def no_check(lines: list[str]) -> Counter[str]:
    c: Counter[str] = Counter()
    for pairs in slices(lines):
        _count_elements(c, map(_key, pairs))
    return c


def batch_map(lines: list[str]) -> Counter[str]:
    c: Counter[str] = Counter()
    for i in range(0, len(lines), 4096):
        c.update(Counter(chain.from_iterable(map(str.split, lines[i : i + 4096]))))
    return c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    here = Path(__file__).resolve().parent
    ap.add_argument("--corpus", type=Path, default=here / "out" / "corpus-16mb.txt")
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    with open(a.corpus, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in islice(f, a.lines)]
    variants: list[tuple[str, Callable[[list[str]], Counter[str]]]] = [
        ("counter", counter),
        ("pairs only", pairs_only),
        ("runtime now", runtime_now),
        ("no check", no_check),
        ("batch map", batch_map),
    ]
    expected = counter(lines)
    base = 0.0
    print(f"{len(lines):,} lines, {sum(expected.values()):,} words; CPU s, best of {a.repeat}")
    for name, fn in variants:
        best = 1e9
        for _ in range(a.repeat):
            start = time.process_time()
            got = fn(lines)
            best = min(best, time.process_time() - start)
        if name != "pairs only" and got != expected:
            raise SystemExit(f"{name}: counts differ")
        base = base or best
        print(f"{name:12s} {best:7.3f}  {best / base:5.2f} x counter")


if __name__ == "__main__":
    main()
