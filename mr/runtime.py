"""Running map and reduce tasks in this process: no threads, no RPC, no cluster.

The worker's attempt child process (and the local runner) call:

    run_map(job, batches_or_records, num_partitions, out_dir, params, memory_budget_bytes,
            counters, progress=None) -> [MapPartition(index, path, records, bytes)]
    run_reduce(job, run_files, out, params, counters, memory_budget_bytes=..., tmp_dir=None,
               progress=None) -> None
    map_split(job, path, offset, length, file_size, read, ...)   run_map over a split

and, once per job before any task (client at submit, local runner at start):

    prepare_params(job, files, read_range, reducers, params) -> params for every task
        (for a job with SAMPLE_KEYS and reducers > 1: samples the input, computes the
        partition boundaries and adds them as params[BOUNDARIES_PARAM]; tasks that see it
        partition by key ranges, so part-00000 < part-00001 < ...)

Run files (spills and final map output partitions alike) hold (key, value) pairs sorted by
key: a sequence of frames, each `4-byte little-endian length + pickle.dumps(list of pairs,
protocol 5)`, a few thousand pairs per frame, keys ascending across the whole file. An
empty partition is an empty file.

Ordering guarantees (what makes local and cluster output byte-identical): sorting and merging
are stable and compare keys only, never values. Without a combiner, the values of a key
reach the reducer in (map task order, order emitted by the mapper). With a combiner, the
combiner sees values in an unspecified but deterministic order.

Keys that compare equal are one key (1, 1.0 and True group together, as in any sort-based
grouping). Keys must be mutually orderable; with a combiner they must also be hashable.

Performance notes (the map loop is the hot path; see issue 6):
- records come in ~1 MiB frames; the mapper runs over slices of ~500 output pairs through
  C-level map/chain, never a Python loop per record;
- with a combiner, map output is combined in memory as it is produced (in-mapper combining):
  when every value of a slice is the same object (word count's 1) only the keys are
  counted, in a collections.Counter; the combiner then runs once per distinct key per
  spill, on `itertools.repeat(value, count)`;
- partitions are computed per distinct key (combiner) or per record (no combiner), and
  total-order (sampled) partitions by bisecting the sorted buffer, with no per-record call;
- a job's mapper_batch(keys, values) replaces the per-record mapper: it gets consecutive
  record batches joined to ~BATCH_CHARS (at least PROGRESS_STEPS calls per split), so a
  combining mapper_batch (word count's Counter) hands the buffer few pairs;
- mr.api.identity_reducer is recognised: merged frames are formatted as they come, with no
  groupby and no generator per record (the group count comes from comparing neighbours);
- merging uses list.sort over frames of every run at once (timsort merges presorted runs in C)
  instead of a heap of Python tuples.
"""

from __future__ import annotations

import base64
import gc
import io
import logging
import os
import pickle
import re
import sys
import tempfile
from bisect import bisect_left
from collections import Counter, _count_elements, defaultdict, deque  # type: ignore[attr-defined]
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, count, groupby, islice, repeat, starmap
from operator import countOf, eq, is_, itemgetter
from pathlib import Path
from struct import Struct
from typing import Any, BinaryIO

from mr import counters as C
from mr.api import identity_reducer
from mr.counters import Counters, activate
from mr.errors import JobError, TaskError
from mr.job import JobDefinition, UserCodePickler, dumps_by_value
from mr.partition import partition as default_partition
from mr.records import ReadFn, RecordBatch, file_batches, line_batches

logger = logging.getLogger(__name__)

BOUNDARIES_PARAM = "__boundaries__"  # params key carrying total-order partition boundaries
RESERVED_PREFIX = "__"  # params keys reserved for the framework; not passed to setup()

DEFAULT_MAP_BUDGET = 256 << 20
DEFAULT_REDUCE_BUDGET = 256 << 20
MAX_OPEN_RUNS = 200  # more run files than this are merged in passes...
RUN_MERGE_BYTES = 2 << 20  # ...and fewer when the budget is small: memory per open run
FRAME_PAIRS = 4096  # pairs per run-file frame to start with...
FRAME_MIN_PAIRS, FRAME_MAX_PAIRS = 64, 65536
FRAME_LOW_BYTES, FRAME_HIGH_BYTES = 128 << 10, 1 << 20  # ...adapted to stay within these
BATCH_CHARS = 8 << 20  # characters of input per mapper_batch call (at most budget / 16)
PROGRESS_STEPS = 8  # mapper_batch calls per split at least, for progress reports...
MIN_BATCH_CHARS = 256 << 10  # ...unless that makes batches smaller than this
SLICE_PAIRS = 512  # map output pairs per slice: small enough for the tuple free list and caches
OUTPUT_FLUSH_CHARS = 1 << 20
MAX_VALUE_COUNTERS = 8  # distinct "all values identical" objects counted by key alone

_LEN = Struct("<I")
_key = itemgetter(0)
_value = itemgetter(1)
_FORMAT = "%s\t%s\n"
_ORDER_ERROR = re.compile(r"between instances of '([^']+)' and '([^']+)'")


@dataclass(frozen=True)
class MapPartition:
    index: int  # reduce partition
    path: Path  # the run file: out_dir/part-NNNNN
    records: int
    bytes: int


def part_name(index: int) -> str:
    return f"part-{index:05d}"


# -- run files ------------------------------------------------------------------------------


def _frame_bytes(frame: list[Any]) -> memoryview:
    """Length header + pickle of one frame.

    The pickler runs in "fast" mode (no memo): 2-4x faster for lists of small tuples, the
    main cost of writing runs. A self-referencing value cannot be pickled that way: normal
    pickle then. Instances of classes defined in the job file (or a notebook) cannot be
    pickled by reference in a worker, which has no such module: cloudpickle then, which
    carries the class by value (pickle.loads reads it back).
    """
    buf = io.BytesIO()
    buf.write(b"\0\0\0\0")
    pickler = pickle.Pickler(buf, protocol=5)
    pickler.fast = True
    try:
        pickler.dump(frame)
    except Exception as exc:
        buf = io.BytesIO()
        buf.write(b"\0\0\0\0")
        try:
            if isinstance(exc, ValueError | RecursionError):
                pickle.Pickler(buf, protocol=5).dump(frame)
            else:
                UserCodePickler(buf, protocol=5).dump(frame)
        except Exception as again:
            detail = " ".join(str(again).split())
            raise TaskError(
                f"map output must be picklable: {type(again).__name__}: {detail}"
            ) from None
    view = buf.getbuffer()
    _LEN.pack_into(view, 0, len(view) - _LEN.size)
    return view


class RunWriter:
    """Writes sorted pairs as frames; counts records and bytes."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.records = 0
        self.bytes = 0
        self._frame_pairs = FRAME_PAIRS

    def write(self, pairs: Sequence[tuple[Any, Any]]) -> None:
        """Append pairs (sorted, and not below what was written before)."""
        i, n = 0, len(pairs)
        while i < n:
            step = self._frame_pairs
            frame = pairs[i : i + step] if (i or n > step) else pairs
            frame = frame if type(frame) is list else list(frame)
            data = _frame_bytes(frame)
            self.f.write(data)
            self.bytes += len(data)
            self.records += len(frame)
            i += len(frame)
            # Keep frames around a few hundred KiB whatever the pair size: big enough to
            # amortize pickling, small enough for hundreds of runs merged at once.
            size = len(data)
            if size > FRAME_HIGH_BYTES and step > FRAME_MIN_PAIRS:
                self._frame_pairs = max(FRAME_MIN_PAIRS, step // 2)
            elif size < FRAME_LOW_BYTES and step < FRAME_MAX_PAIRS and len(frame) == step:
                self._frame_pairs = min(FRAME_MAX_PAIRS, step * 2)

    def write_frames(self, frames: Iterable[Sequence[tuple[Any, Any]]]) -> None:
        for frame in frames:
            self.write(frame)


def write_run(path: str | os.PathLike[str], sorted_pairs: Iterable[tuple[Any, Any]]) -> int:
    """Write pairs (already sorted by key) as a run file; returns the number of records."""
    with open(path, "wb") as f:
        writer = RunWriter(f)
        it = iter(sorted_pairs)
        while batch := list(islice(it, FRAME_PAIRS)):
            writer.write(batch)
        return writer.records


def iter_run_frames(
    path: str | os.PathLike[str], on_bytes: Callable[[int], None] | None = None
) -> Iterator[list[tuple[Any, Any]]]:
    """The frames (lists of pairs) of a run file; opens it on first use."""
    with open(path, "rb") as f:
        read = f.read
        while head := read(4):
            if len(head) < 4:
                raise TaskError(f"{path}: truncated run file (partial frame header)")
            (n,) = _LEN.unpack(head)
            payload = read(n)
            if len(payload) < n:
                raise TaskError(f"{path}: truncated run file ({len(payload)} of {n} bytes)")
            if on_bytes is not None:
                on_bytes(4 + n)
            frame = pickle.loads(payload)
            if frame:
                yield frame


def iter_run(path: str | os.PathLike[str]) -> Iterator[tuple[Any, Any]]:
    """The pairs of a run file, in order."""
    return chain.from_iterable(iter_run_frames(path))


# -- sorting and merging -------------------------------------------------------------------


def unorderable(exc: TypeError) -> TaskError:
    """The one-line error for keys that cannot be compared."""
    m = _ORDER_ERROR.search(str(exc))
    if m:
        return TaskError(f"keys are not mutually orderable: '{m.group(1)}' and '{m.group(2)}'")
    return TaskError(f"keys are not mutually orderable: {' '.join(str(exc).split())}")


def sort_pairs(pairs: list[tuple[Any, Any]]) -> None:
    """Sort in place by key only (stable)."""
    try:
        pairs.sort(key=_key)
    except TypeError as exc:
        raise unorderable(exc) from None


def merge_frames(sources: Sequence[Iterator[list[tuple[Any, Any]]]]) -> Iterator[list[Any]]:
    """Merge sorted runs (given as iterators of sorted, non-empty frames) into sorted batches.

    Stable: for equal keys, pairs of an earlier source come first. Each round takes the
    smallest "last buffered key" of the sources that may still read more (the bound):
    nothing unread can sort below it, so every buffered pair below it is emitted, and these
    pieces are sorted together (timsort merges presorted runs in C). Sources whose buffer
    holds only keys equal to the bound then read their next frame. Keys are compared with
    `<` only, values never.
    """
    bufs: list[list[Any]] = []
    its: list[Iterator[list[Any]] | None] = []  # None: read to its end
    for it in sources:
        first = next(it, None)
        if first:
            bufs.append(first)
            its.append(it)
    starts = [0] * len(bufs)
    while bufs:
        live = [i for i, it in enumerate(its) if it is not None]
        if not live:  # everything is buffered
            out = list(chain.from_iterable(b[s:] for b, s in zip(bufs, starts, strict=True)))
            if len(bufs) > 1:
                sort_pairs(out)
            if out:
                yield out
            return
        if len(bufs) == 1:
            it = its[0]
            assert it is not None
            yield bufs[0][starts[0] :]
            yield from it
            return
        out = []
        with _ordering():
            bound = min([bufs[i][-1][0] for i in live])
            for i, buf in enumerate(bufs):
                j = bisect_left(buf, bound, starts[i], key=_key)
                if j > starts[i]:
                    out += buf[starts[i] : j]
                    starts[i] = j
            full = [i for i in live if not bound < bufs[i][-1][0]]
        for i in full:
            # Every buffered pair left equals the bound: read on.
            rest = bufs[i][starts[i] :]
            it = its[i]
            assert it is not None
            nxt = next(it, None)
            while nxt is not None and not nxt:
                nxt = next(it, None)
            if nxt is None:
                its[i] = None
                nxt = []
            bufs[i] = rest + nxt if rest else nxt
            starts[i] = 0
        keep = [i for i in range(len(bufs)) if starts[i] < len(bufs[i])]
        if len(keep) < len(bufs):
            bufs = [bufs[i] for i in keep]
            its = [its[i] for i in keep]
            starts = [starts[i] for i in keep]
        if out:
            sort_pairs(out)
            yield out


@contextmanager
def _ordering() -> Iterator[None]:
    """Key comparisons inside: a TypeError means keys that cannot be ordered."""
    try:
        yield
    except TypeError as exc:
        raise unorderable(exc) from None


def max_open_runs(memory_budget_bytes: int) -> int:
    """How many runs to merge at once: each holds a frame (up to ~1 MiB pickled) in memory."""
    return max(2, min(MAX_OPEN_RUNS, memory_budget_bytes // RUN_MERGE_BYTES))


def merge_run_files(
    paths: Sequence[str | os.PathLike[str]],
    tmp_dir: str | os.PathLike[str] | None = None,
    max_open: int = MAX_OPEN_RUNS,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[list[Any]]:
    """Sorted batches of all pairs of `paths` (stable in path order); with more files than
    `max_open`, consecutive groups are first merged into temp runs in `tmp_dir`."""
    paths = list(paths)
    max_open = max(2, max_open)
    temps: list[str] = []
    try:
        while len(paths) > max_open:
            merged = []
            for i in range(0, len(paths), max_open):
                group = paths[i : i + max_open]
                if len(group) == 1:
                    merged.append(group[0])
                    continue
                fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="merge-", suffix=".run")
                temps.append(tmp)
                with os.fdopen(fd, "wb") as f:
                    RunWriter(f).write_frames(merge_frames([iter_run_frames(p) for p in group]))
                for p in group:
                    if os.fspath(p) in temps:
                        os.unlink(p)
                        temps.remove(os.fspath(p))
                merged.append(tmp)
            paths = merged
        yield from merge_frames([iter_run_frames(p, on_bytes) for p in paths])
    finally:
        for tmp in temps:
            try:
                os.unlink(tmp)
            except OSError:
                pass


# -- task plumbing -------------------------------------------------------------------------


def _short(obj: Any, limit: int = 80) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_pairs(batch: list[Any], what: str) -> list[Any]:
    """`batch` if its items are (key, value) pairs: tuples or lists of two items.

    One C-level pass over the lengths, plus the first item's type (a bare string is the
    likely mistake; a slice of nothing but 2-character strings would slip through)."""
    n = len(batch)
    try:
        if countOf(map(len, batch), 2) == n and isinstance(batch[0], tuple | list):
            return batch
    except TypeError:  # an item without len()
        pass
    for item in batch:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise TaskError(f"{what} must yield (key, value) pairs, got {_short(item)}")
    return batch


def _not_iterable(exc: TypeError, what: str) -> TaskError | None:
    """A TaskError when `exc` says the user function returned a non-iterable (raised by
    chain itself, so the traceback has no frame below ours)."""
    tb = exc.__traceback__
    if tb is not None and tb.tb_next is None and "not iterable" in str(exc):
        return TaskError(
            f"{what} must be a generator yielding (key, value) pairs "
            f"({' '.join(str(exc).split())}; is a `yield` missing?)"
        )
    return None


def user_params(params: dict[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (params or {}).items() if not k.startswith(RESERVED_PREFIX)}


@contextmanager
def _task(job: JobDefinition, params: dict[str, str] | None, counters: Counters) -> Iterator[None]:
    """Counters active for mr.api, relaxed GC, setup(params) before any record."""
    with activate(counters), _gc_relaxed():
        if job.setup is not None:
            job.setup(user_params(params))
        yield


@contextmanager
def _gc_relaxed() -> Iterator[None]:
    """Collect the young generation less often: the map loop allocates millions of short
    tuples and buffers many long-lived ones, and the default thresholds make the cyclic
    GC re-scan those buffers over and over. Cycles are still collected."""
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], 50_000), max(old[1], 20), max(old[2], 20))
    try:
        yield
    finally:
        gc.set_threshold(*old)


def encode_boundaries(boundaries: Sequence[Any]) -> str:
    """The params value carrying total-order boundaries (base64 of a cloudpickle)."""
    return base64.b64encode(dumps_by_value(list(boundaries))).decode("ascii")


def decode_boundaries(text: str) -> list[Any]:
    try:
        bounds = pickle.loads(base64.b64decode(text.encode("ascii")))
    except Exception as exc:
        raise TaskError(f"bad {BOUNDARIES_PARAM} parameter: {type(exc).__name__}: {exc}") from None
    if not isinstance(bounds, list):
        raise TaskError(f"bad {BOUNDARIES_PARAM} parameter: not a list")
    return bounds


class _Partitioning:
    """How keys map to partitions: by a function (default stable hash, or the job's), or by
    ranges of sorted keys (total order from sampled boundaries)."""

    def __init__(self, job: JobDefinition, n: int, params: dict[str, str] | None) -> None:
        if n < 1:
            raise TaskError(f"number of partitions must be >= 1, not {n}")
        self.n = n
        self.bounds: list[Any] | None = None
        self.user = job.partitioner
        self.fn: Callable[[Any, int], int] = job.partitioner or default_partition
        text = (params or {}).get(BOUNDARIES_PARAM)
        if text is not None and job.partitioner is None:
            bounds = decode_boundaries(text)
            if len(bounds) > n - 1:
                raise TaskError(
                    f"{len(bounds)} partition boundaries for {n} partitions (at most {n - 1})"
                )
            self.bounds = bounds

    @property
    def by_key_range(self) -> bool:
        """Partitions are cut from a sorted list (one partition, or sampled boundaries);
        else each pair goes to the partition its key hashes to (scatter)."""
        return self.n == 1 or self.bounds is not None

    def split_sorted(self, pairs: list[Any]) -> list[list[Any]]:
        """Partitions of a key-sorted list, each still sorted (when by_key_range)."""
        assert self.by_key_range
        if self.bounds is None:
            return [pairs]
        # Partition i holds bounds[i-1] <= key < bounds[i] (bisect_right of the key).
        cuts = [0]
        try:
            for b in self.bounds:
                cuts.append(bisect_left(pairs, b, cuts[-1], key=_key))
        except TypeError as exc:
            raise unorderable(exc) from None
        cuts.append(len(pairs))
        parts = [pairs[cuts[i] : cuts[i + 1]] for i in range(len(cuts) - 1)]
        return parts + [[] for _ in range(self.n - len(parts))]

    def scatter(self, pairs: list[Any], into: list[list[Any]]) -> None:
        """Append each pair to the list of its key's partition, in order."""
        appends = [p.append for p in into]
        for r, pair in zip(self.of_keys(list(map(_key, pairs))), pairs, strict=True):
            appends[r](pair)

    def of_keys(self, keys: list[Any]) -> list[int]:
        """Partition numbers of keys, checked when the job's partitioner made them."""
        rs = list(map(self.fn, keys, repeat(self.n)))
        if self.user is not None and rs:
            ok = countOf(map(type, rs), int) == len(rs) and min(rs) >= 0 and max(rs) < self.n
            if not ok:
                for key, r in zip(keys, rs, strict=True):
                    if type(r) is not int or not 0 <= r < self.n:
                        raise TaskError(
                            f"partitioner returned {_short(r, 30)} for key {_short(key, 50)} "
                            f"(must be an int in [0, {self.n}))"
                        )
        return rs


# -- map ------------------------------------------------------------------------------------


class _MapOutput:
    """Buffers map output; spills sorted runs per partition beyond the memory budget; at the
    end leaves exactly one sorted file per partition, out_dir/part-NNNNN."""

    def __init__(
        self,
        job: JobDefinition,
        parts: _Partitioning,
        out_dir: Path,
        budget: int,
        counters: Counters,
    ) -> None:
        self.job = job
        self.parts = parts
        self.out_dir = out_dir
        self.budget = max(0, budget)
        self.counters = counters
        self.spills: list[list[Path | None]] = []  # per spill: a file per partition or None
        self.buffered = 0  # records held in memory
        self.unchecked = 0  # estimated bytes added since the last budget check
        self.check_every = min(1 << 20, self.budget // 64)
        self.slice_records = 64  # _feed_records' adaptive slice, kept across batches

    # subclasses: add(pairs), estimate() -> bytes, drain() -> sorted partitions
    def add(self, pairs: list[tuple[Any, Any]], what: str = "mapper") -> None:
        """Buffer pairs `what` (the user function, for messages) produced; checks them."""
        raise NotImplementedError

    def estimate(self) -> int:
        raise NotImplementedError

    def drain(self) -> list[list[Any]]:
        raise NotImplementedError

    def maybe_spill(self) -> None:
        # The real estimate walks the buffer's structures: only after enough new data.
        if self.unchecked < self.check_every:
            return
        self.unchecked = 0
        if self.buffered and self.estimate() > self.budget:
            self._spill()

    def _spill(self) -> None:
        runs = self.drain()
        files: list[Path | None] = []
        spilled = 0
        for r, run in enumerate(runs):
            if not run:
                files.append(None)
                continue
            path = self.out_dir / f"spill-{len(self.spills):05d}-{r:05d}"
            with open(path, "wb") as f:
                writer = RunWriter(f)
                writer.write(run)
            spilled += writer.records
            files.append(path)
        self.spills.append(files)
        self.counters.incr(C.SPILLED_RECORDS, spilled)

    def finish(self) -> list[MapPartition]:
        n = self.parts.n
        if not self.spills:
            runs = self.drain()
            return [self._write_final(r, [runs[r]] if runs[r] else []) for r in range(n)]
        if self.buffered:
            self._spill()
        results = []
        for r in range(n):
            paths = [files[r] for files in self.spills if files[r] is not None]
            frames: Iterable[list[Any]] = merge_run_files(
                paths, self.out_dir, max_open_runs(self.budget)
            )
            if self.job.combiner is not None and len(paths) > 1:
                frames = combine_sorted(frames, self.job.combiner, self.counters)
            results.append(self._write_final(r, frames))
            for p in paths:
                os.unlink(p)
        return results

    def _write_final(self, r: int, frames: Iterable[Sequence[Any]]) -> MapPartition:
        path = self.out_dir / part_name(r)
        with open(path, "wb") as f:
            writer = RunWriter(f)
            writer.write_frames(frames)
        self.counters.incr(C.MAP_OUTPUT_BYTES, writer.bytes)
        return MapPartition(r, path, writer.records, writer.bytes)


class _SortOutput(_MapOutput):
    """No combiner: pairs kept as they come, sorted (stably) at spill time."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.by_partition = not self.parts.by_key_range
        self.lists: list[list[Any]] = [[] for _ in range(self.parts.n if self.by_partition else 1)]
        self.bytes = 0

    def add(self, pairs: list[tuple[Any, Any]], what: str = "mapper") -> None:
        pairs = check_pairs(pairs, what)
        self.buffered += len(pairs)
        size = len(pairs) * _pair_size(pairs)
        self.bytes += size
        self.unchecked += size
        if self.by_partition:
            self.parts.scatter(pairs, self.lists)
        else:
            self.lists[0] += pairs

    def estimate(self) -> int:
        return self.bytes

    def drain(self) -> list[list[Any]]:
        lists, self.lists = self.lists, [[] for _ in self.lists]
        self.buffered = self.bytes = 0
        for pairs in lists:
            sort_pairs(pairs)
        if self.by_partition:
            return lists
        return self.parts.split_sorted(lists[0])


class _CombineOutput(_MapOutput):
    """With a combiner: values grouped per key as they come (in-mapper combining)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.counted: list[tuple[Any, Counter[Any]]] = []  # (the one value, key counts)
        # key -> values, for the other slices
        self.grouped: defaultdict[Any, list[Any]] = defaultdict(list)
        self.key_bytes = 64  # running estimate of one buffered key's footprint
        self.values_held = 0

    def add(self, pairs: list[tuple[Any, Any]], what: str = "mapper") -> None:
        n = len(pairs)
        first = pairs[0]
        if type(first) is not tuple or len(first) != 2:
            pairs = check_pairs(pairs, what)
            first = pairs[0]
        v0 = first[1]
        try:
            # The hot path (word count): every value is the very same object, so only keys
            # are counted. Checking the pairs' lengths is left out here (it would cost a
            # fifth of the loop): the first pair is checked above, a shorter item fails in
            # _value, so only a mapper that mixes 2-tuples with longer ones goes unnoticed.
            same = (
                pairs[-1][1] is v0 and countOf(map(is_, map(_value, pairs), repeat(v0)), True) == n
            )
        except (IndexError, TypeError, KeyError):
            pairs = check_pairs(pairs, what)  # raises
            same = False
        self.buffered += n
        size = _pair_size(pairs)
        self.unchecked += n * size
        self.key_bytes = (self.key_bytes * 7 + size) // 8
        try:
            if same:
                for value, keys in self.counted:
                    if value is v0:
                        _count_elements(keys, map(_key, pairs))
                        return
                if len(self.counted) < MAX_VALUE_COUNTERS:
                    keys = Counter()
                    _count_elements(keys, map(_key, pairs))
                    self.counted.append((v0, keys))
                    return
            else:
                pairs = check_pairs(pairs, what)
            # grouped[k].append(v) for every pair, at C speed (a defaultdict makes the lists)
            lists = map(self.grouped.__getitem__, map(_key, pairs))
            deque(map(list.append, lists, map(_value, pairs)), maxlen=0)
            self.values_held += n
        except TypeError as exc:
            if "unhashable" in str(exc):
                raise TaskError(
                    f"with a combiner, keys must be hashable ({' '.join(str(exc).split())})"
                ) from None
            raise

    def estimate(self) -> int:
        distinct = sum(len(keys) for _, keys in self.counted) + len(self.grouped)
        return distinct * (self.key_bytes + 100) + self.values_held * 60

    def _groups(self) -> Iterable[tuple[Any, Iterable[Any]]]:
        """(key, values) for every buffered key. Counted values stay lazy (repeat): they
        were never materialized, and estimate() does not count them."""
        counted, grouped = self.counted, self.grouped
        if not counted:
            return grouped.items()
        if len(counted) == 1 and not grouped:
            value, keys = counted[0]
            return zip(keys.keys(), map(repeat, repeat(value), keys.values()), strict=True)
        merged: dict[Any, list[Iterable[Any]]] = {}
        for value, keys in counted:
            for k, c in keys.items():
                its = merged.get(k)
                if its is None:
                    merged[k] = [repeat(value, c)]
                else:
                    its.append(repeat(value, c))
        for k, values in grouped.items():
            its = merged.get(k)
            if its is None:
                merged[k] = [values]
            else:
                its.append(values)
        return ((k, chain.from_iterable(its)) for k, its in merged.items())

    def drain(self) -> list[list[Any]]:
        assert self.job.combiner is not None
        self.counters.incr(C.COMBINE_INPUT_RECORDS, self.buffered)
        groups = self._groups()
        try:
            out = list(chain.from_iterable(starmap(self.job.combiner, groups)))
        except TypeError as exc:
            err = _not_iterable(exc, "combiner")
            if err is None:
                raise
            raise err from None
        self.counted, self.grouped = [], defaultdict(list)
        self.buffered = self.values_held = 0
        out = check_pairs(out, "combiner")
        self.counters.incr(C.COMBINE_OUTPUT_RECORDS, len(out))
        if self.parts.by_key_range:
            sort_pairs(out)
            return self.parts.split_sorted(out)
        parts: list[list[Any]] = [[] for _ in range(self.parts.n)]
        self.parts.scatter(out, parts)
        for p in parts:
            sort_pairs(p)
        return parts


def _pair_size(pairs: list[tuple[Any, Any]]) -> int:
    """Estimated bytes one buffered pair holds (shallow sizes of a sample + overheads)."""
    first, last = pairs[0], pairs[-1]
    size = (
        sys.getsizeof(first[0])
        + sys.getsizeof(first[1])
        + sys.getsizeof(last[0])
        + sys.getsizeof(last[1])
    )
    return size // 2 + 72  # tuple + list slot


def _key_values(group: tuple[Any, Iterator[tuple[Any, Any]]]) -> tuple[Any, Iterator[Any]]:
    return group[0], map(_value, group[1])


def key_groups(
    pairs: Iterable[tuple[Any, Any]], ticker: Iterator[int] | None = None
) -> Iterator[tuple[Any, Iterator[Any]]]:
    """(key, one-pass iterator of its values) for each run of equal keys. `ticker`, an
    itertools.count, is advanced once per group."""
    groups: Iterator[Any] = groupby(pairs, _key)
    if ticker is not None:
        # zip stops at the last group without drawing from the ticker: next(ticker) = groups
        groups = map(_key, zip(groups, ticker, strict=False))
    return map(_key_values, groups)


def combine_sorted(
    frames: Iterable[list[Any]], combiner: Callable[[Any, Any], Any], counters: Counters
) -> Iterator[list[Any]]:
    """Run the combiner over the groups of a sorted stream; yields sorted batches."""
    records = 0

    def counted() -> Iterator[list[Any]]:
        nonlocal records
        for frame in frames:
            records += len(frame)
            yield frame

    outputs = chain.from_iterable(starmap(combiner, key_groups(chain.from_iterable(counted()))))
    last: Any = None
    produced = 0
    try:
        while batch := list(islice(outputs, FRAME_PAIRS)):
            batch = check_pairs(batch, "combiner")
            sort_pairs(batch)
            with _ordering():
                out_of_order = last is not None and batch[0][0] < last[0]
            if out_of_order:
                raise TaskError(
                    "combiner changed a key out of order: a combiner must yield the key it "
                    f"was given (got {_short(batch[0][0], 40)} after {_short(last[0], 40)})"
                )
            last = batch[-1]
            produced += len(batch)
            yield batch
    except TypeError as exc:
        err = _not_iterable(exc, "combiner")
        if err is None:
            raise
        raise err from None
    counters.incr(C.COMBINE_INPUT_RECORDS, records)
    counters.incr(C.COMBINE_OUTPUT_RECORDS, produced)


def _as_batches(items: Iterable[Any]) -> Iterator[RecordBatch]:
    """RecordBatch items pass through; (key, value) records are batched."""
    it = iter(items)
    first = next(it, None)
    if first is None:
        return
    if isinstance(first, RecordBatch):
        yield first
        yield from it
        return
    pending = [first]
    while True:
        pending += islice(it, 4095)
        if not pending:
            return
        pairs = check_pairs(pending, "records")
        yield RecordBatch(list(map(_key, pairs)), list(map(_value, pairs)), 0.0)
        pending = []


def _batch_pairs(mapper_batch: Callable[[Any, list[Any]], Any], batch: RecordBatch) -> list[Any]:
    """The pairs mapper_batch(keys, values) returns for one batch, as a list."""
    result = mapper_batch(batch.keys, batch.values)
    if type(result) is list:
        return result
    try:
        it = iter(result)
    except TypeError:
        raise TaskError(
            "mapper_batch must return an iterable of (key, value) pairs, "
            f"not {type(result).__name__}"
        ) from None
    return list(it)


def run_map(
    job: JobDefinition,
    batches: Iterable[RecordBatch] | Iterable[tuple[Any, Any]],
    num_partitions: int,
    out_dir: str | os.PathLike[str],
    params: dict[str, str] | None,
    memory_budget_bytes: int,
    counters: Counters,
    progress: Callable[[float], None] | None = None,
) -> list[MapPartition]:
    """Run the mapper (or mapper_batch) over the records; leave out_dir/part-NNNNN, one per
    partition.

    `batches`: RecordBatch items (records.line_batches / file_batches) or plain
    (key, value) records. `progress(fraction)` is called after every input batch.
    User code exceptions propagate unchanged; framework problems raise TaskError.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = _Partitioning(job, num_partitions, params)
    kind = _CombineOutput if job.combiner is not None else _SortOutput
    buffer = kind(job, parts, out, memory_budget_bytes, counters)
    feed = _feed_records
    records = _as_batches(batches)
    if job.mapper_batch is not None:
        feed = _feed_batches
        records = _coalesced(records, min(BATCH_CHARS, max(1, memory_budget_bytes // 16)))
    with _task(job, params, counters):
        inputs = outputs = 0
        for batch in records:
            inputs += len(batch.values)
            outputs += feed(job, batch, buffer)
            if progress is not None:
                progress(batch.done)
        counters.incr(C.MAP_INPUT_RECORDS, inputs)
        counters.incr(C.MAP_OUTPUT_RECORDS, outputs)
        result = buffer.finish()
    if progress is not None:
        progress(1.0)
    return result


def _coalesced(batches: Iterable[RecordBatch], limit: int) -> Iterator[RecordBatch]:
    """Consecutive batches joined until they hold about `limit` characters of values, or
    1/PROGRESS_STEPS of the split and MIN_BATCH_CHARS: mapper_batch's output (one pair per
    distinct key of a batch, for a combining mapper) shrinks with bigger batches, and every
    pair costs a buffer insert; progress must still come often enough for speculation to
    judge a long task (a split under 8 × MIN_BATCH_CHARS takes a fraction of a second)."""
    min_chars = min(limit, MIN_BATCH_CHARS)
    pending: list[RecordBatch] = []
    size = 0
    reported = 0.0  # the progress at the end of the last joined batch
    for batch in batches:
        pending.append(batch)
        values = batch.values
        size += sum(map(len, values)) if values and type(values[0]) is str else limit
        if size >= limit or (batch.done - reported >= 1 / PROGRESS_STEPS and size >= min_chars):
            yield _joined(pending)
            pending, size, reported = [], 0, batch.done
    if pending:
        yield _joined(pending)


def _joined(batches: list[RecordBatch]) -> RecordBatch:
    if len(batches) == 1:
        return batches[0]
    keys = chain.from_iterable(b.keys for b in batches)
    values = list(chain.from_iterable(b.values for b in batches))
    return RecordBatch(keys, values, batches[-1].done)


def _feed_batches(job: JobDefinition, batch: RecordBatch, buffer: _MapOutput) -> int:
    """mapper_batch over a whole batch; returns the number of pairs buffered."""
    assert job.mapper_batch is not None
    pairs = _batch_pairs(job.mapper_batch, batch)
    if pairs:
        buffer.add(pairs, "mapper_batch")  # checks they are pairs
        buffer.maybe_spill()
    return len(pairs)


def _feed_records(job: JobDefinition, batch: RecordBatch, buffer: _MapOutput) -> int:
    """The mapper over each record of a batch, in slices sized so that one slice yields
    ~SLICE_PAIRS pairs (few buffer calls, bounded lists); returns the pairs buffered."""
    mapper = job.mapper
    keys, values = iter(batch.keys), batch.values
    total = len(values)
    step = buffer.slice_records
    outputs = i = 0
    while i < total:
        try:
            pairs = list(chain.from_iterable(map(mapper, islice(keys, step), values[i : i + step])))
        except TypeError as exc:
            err = _not_iterable(exc, "mapper")
            if err is None:
                raise
            raise err from None
        i += step
        if pairs:
            outputs += len(pairs)
            buffer.add(pairs)  # checks they are pairs
            step = max(8, min(4096, step * SLICE_PAIRS // len(pairs)))
            buffer.maybe_spill()
        else:
            step = min(4096, step * 2)
    buffer.slice_records = step
    return outputs


def counting_reader(read: ReadFn, counters: Counters) -> ReadFn:
    """A ReadFn that adds the bytes it delivers to gfs_bytes_read."""

    def counted(offset: int, length: int | None) -> Iterator[bytes]:
        for data in read(offset, length):
            counters.incr(C.GFS_BYTES_READ, len(data))
            yield data

    return counted


def map_split(
    job: JobDefinition,
    path: str,
    offset: int,
    length: int,
    file_size: int,
    read: ReadFn,
    num_partitions: int,
    out_dir: str | os.PathLike[str],
    params: dict[str, str] | None,
    memory_budget_bytes: int,
    counters: Counters,
    progress: Callable[[float], None] | None = None,
) -> list[MapPartition]:
    """run_map over one split: (path, offset, length) for "lines" (one chunk), the whole
    file for "files" (offset and length ignored). `read(offset, length)` reads the file."""
    reader = counting_reader(read, counters)
    if job.input_format == "files":
        batches: Iterator[RecordBatch] = file_batches(path, reader)
    else:
        batches = line_batches(path, offset, length, file_size, reader)
    return run_map(
        job, batches, num_partitions, out_dir, params, memory_budget_bytes, counters, progress
    )


# -- reduce ---------------------------------------------------------------------------------


def _format(batch: list[Any]) -> str:
    try:
        return "".join(map(_FORMAT.__mod__, batch))
    except TypeError:
        pass
    lines = []
    for item in batch:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise TaskError(f"reducer must yield (key, value) pairs, got {_short(item)}")
        lines.append(f"{item[0]!s}\t{item[1]!s}\n")
    return "".join(lines)


class _GroupCounter:
    """Passes frames of sorted pairs through unchanged, counting the distinct keys."""

    def __init__(self) -> None:
        self.groups = 0
        self._last: list[Any] = []  # the previous frame's last key, once there is one

    def frames(self, frames: Iterable[list[Any]]) -> Iterator[list[Any]]:
        for frame in frames:
            if not frame:
                continue
            keys = list(map(_key, frame))
            self.groups += countOf(map(eq, keys, islice(keys, 1, None)), False)
            if not self._last or self._last[0] != keys[0]:
                self.groups += 1
            self._last = keys[-1:]
            yield frame


def run_reduce(
    job: JobDefinition,
    run_files: Sequence[str | os.PathLike[str]],
    out: BinaryIO,
    params: dict[str, str] | None,
    counters: Counters,
    memory_budget_bytes: int = DEFAULT_REDUCE_BUDGET,
    tmp_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Merge the sorted runs (pass them in map task order: equal keys keep that order),
    group by key, call the reducer and write `str(key)\\tstr(value)\\n` lines (UTF-8;
    characters UTF-8 cannot encode, lone surrogates, are written backslash-escaped)."""
    total = sum(os.path.getsize(p) for p in run_files) or 1
    seen = 0

    def on_bytes(n: int) -> None:
        nonlocal seen
        seen += n

    max_open = max_open_runs(memory_budget_bytes)
    records = 0

    def counted(frames: Iterable[list[Any]]) -> Iterator[list[Any]]:
        nonlocal records
        for frame in frames:
            records += len(frame)
            yield frame
            if progress is not None:
                progress(min(1.0, seen / total))

    with _task(job, params, counters):
        frames = merge_run_files(run_files, tmp_dir, max_open, on_bytes)
        groups = count()
        identity = _GroupCounter() if job.reducer is identity_reducer else None
        if identity is not None:
            # Records pass through as merged: no groupby, no generator call per record.
            outputs: Iterator[Any] = chain.from_iterable(identity.frames(counted(frames)))
        else:
            grouped = key_groups(chain.from_iterable(counted(frames)), groups)
            outputs = chain.from_iterable(starmap(job.reducer, grouped))
        written = produced = 0
        text: list[str] = []
        size = 0
        while True:
            try:
                batch = list(islice(outputs, 4096))
            except TypeError as exc:
                err = _not_iterable(exc, "reducer")
                if err is None:
                    raise
                raise err from None
            if batch:
                produced += len(batch)
                chunk = _format(batch)
                text.append(chunk)
                size += len(chunk)
            if size >= OUTPUT_FLUSH_CHARS or (not batch and text):
                data = "".join(text).encode("utf-8", "backslashreplace")
                out.write(data)
                written += len(data)
                text, size = [], 0
            if not batch:
                break
        groups_seen = identity.groups if identity is not None else next(groups)
        counters.incr(C.REDUCE_INPUT_GROUPS, groups_seen)
        counters.incr(C.REDUCE_INPUT_RECORDS, records)
        counters.incr(C.REDUCE_OUTPUT_RECORDS, produced)
        counters.incr(C.GFS_BYTES_WRITTEN, written)
    if progress is not None:
        progress(1.0)


# -- total-order sampling -------------------------------------------------------------------

SAMPLE_POINTS = 100  # at most this many places in the input are sampled
SAMPLE_WINDOW = 4 << 10  # bytes of lines first read at a sample point (then doubling)


def sample_keys(
    job: JobDefinition,
    files: Sequence[tuple[str, int]],
    read_range: Callable[[str, int, int | None], Iterable[bytes]],
    count: int,
    params: dict[str, str] | None = None,
) -> list[Any]:
    """Map output keys of a deterministic sample of the input (for total-order boundaries).

    Depends on the files' contents, sizes and order only, so the local runner and the
    cluster (at submit, reading GFS) get the same sample. "lines": the input is seen as the
    concatenation of `files` (in the given order); at min(count, 100) evenly spaced byte
    offsets, the complete lines starting there are read (the first line start at or after
    the offset, as for a split) until count/points records; records already taken are not
    taken twice. "files": evenly spaced files, whole. The mapper runs on those records
    (after setup(params)); every key it yields is in the sample.
    """
    if count < 1 or not files:
        return []
    records: list[tuple[Any, Any]] = []
    if job.input_format == "files":
        points = min(count, len(files))
        for i in range(points):
            path, _ = files[(i * len(files)) // points]
            records.append((path, _whole_text(read_range, path)))
    else:
        sizes = [size for _, size in files]
        total = sum(sizes)
        if total == 0:
            return []
        points = min(count, SAMPLE_POINTS)
        per_point = -(-count // points)
        taken: set[tuple[str, int]] = set()
        starts, acc = [], 0
        for size in sizes:
            starts.append(acc)
            acc += size
        f = 0
        for i in range(points):
            at = (i * total) // points
            while starts[f] + sizes[f] <= at:
                f += 1
            path, size = files[f]
            records.extend(_lines_at(path, size, at - starts[f], per_point, read_range, taken))
    keys: list[Any] = []
    with _task(job, params, Counters()):
        # Always the per-record mapper: a combining mapper_batch would yield each key of
        # the sample once and hide how often it occurs, which the boundaries depend on.
        for key, value in records:
            for pair in job.mapper(key, value):
                keys.append(pair[0])
    return keys


def _whole_text(read_range: Callable[[str, int, int | None], Iterable[bytes]], path: str) -> str:
    return b"".join(read_range(path, 0, None)).decode("utf-8", "replace")


def _lines_at(
    path: str,
    size: int,
    offset: int,
    want: int,
    read_range: Callable[[str, int, int | None], Iterable[bytes]],
    taken: set[tuple[str, int]],
) -> list[tuple[Any, Any]]:
    """Up to `want` line records starting at the first line start at or after `offset`."""
    out: list[tuple[Any, Any]] = []

    def read(o: int, n: int | None) -> Iterable[bytes]:
        return read_range(path, o, n)

    window = SAMPLE_WINDOW
    while offset < size and len(out) < want:
        for batch in line_batches(path, offset, window, size, read):
            for key, value in zip(batch.keys, batch.values, strict=False):
                if len(out) >= want:
                    break
                if key not in taken:
                    taken.add(key)
                    out.append((key, value))
        offset += window
        window = min(window * 2, 4 << 20)
    return out


def compute_boundaries(job: JobDefinition, keys: list[Any], n: int) -> list[Any]:
    """n-1 (or fewer) ascending boundaries from sampled keys: job.boundaries(sorted keys, n)
    if defined, else the keys at evenly spaced ranks of the sorted sample."""
    if n <= 1:
        return []
    try:
        ordered = sorted(keys)
    except TypeError as exc:
        raise JobError(f"sampled {unorderable(exc)}") from None
    if job.boundaries is not None:
        bounds = list(job.boundaries(ordered, n))
        if len(bounds) > n - 1:
            raise JobError(f"boundaries() returned {len(bounds)} boundaries for {n} reducers")
        try:
            if any(b < a for a, b in zip(bounds, bounds[1:], strict=False)):
                raise JobError("boundaries() must return ascending keys")
        except TypeError as exc:
            raise JobError(f"boundaries: {unorderable(exc)}") from None
        return bounds
    m = len(ordered)
    if m == 0:
        return []
    return [ordered[(i * m) // n] for i in range(1, n)]


def prepare_params(
    job: JobDefinition,
    files: Sequence[tuple[str, int]],
    read_range: Callable[[str, int, int | None], Iterable[bytes]],
    reducers: int,
    params: dict[str, str] | None,
) -> dict[str, str]:
    """The params every task of the job gets: the user's -D pairs, plus, for a job with
    SAMPLE_KEYS, params[BOUNDARIES_PARAM] = encode_boundaries(...) computed from a sample.
    Call once per job (at submit / local run start) with the job's input files in order."""
    result = dict(params or {})
    for key in list(result):
        if key.startswith(RESERVED_PREFIX):
            raise JobError(f"-D {key}: parameter names starting with '__' are reserved")
    if job.sample_keys and reducers > 1:
        keys = sample_keys(job, files, read_range, job.sample_keys, result)
        result[BOUNDARIES_PARAM] = encode_boundaries(compute_boundaries(job, keys, reducers))
    return result
