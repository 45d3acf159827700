"""mr.runtime: run files, merging, run_map (spills, combiner, partitions), run_reduce."""

from __future__ import annotations

import io
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mr import counters as C
from mr.api import increment_counter
from mr.counters import Counters
from mr.errors import TaskError
from mr.job import job_from_functions
from mr.partition import partition
from mr.runtime import (
    BOUNDARIES_PARAM,
    FRAME_PAIRS,
    encode_boundaries,
    iter_run,
    iter_run_frames,
    merge_frames,
    merge_run_files,
    run_map,
    run_reduce,
    write_run,
)


def wc_mapper(key: Any, line: str) -> Any:
    for word in line.split():
        yield word, 1


def sum_reducer(key: Any, values: Any) -> Any:
    yield key, sum(values)


def collect_reducer(key: Any, values: Any) -> Any:
    yield key, list(values)


def text_records(n_lines: int = 3000, seed: int = 1) -> list[tuple[tuple[str, int], str]]:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(300)] + ["the"] * 50
    return [(("f", i), " ".join(rng.choices(words, k=rng.randint(0, 12)))) for i in range(n_lines)]


def map_and_read(job: Any, records: Any, n: int, out: Path, budget: int, params=None) -> tuple:
    counters = Counters()
    parts = run_map(job, records, n, out, params or {}, budget, counters)
    assert [p.index for p in parts] == list(range(n))
    contents = [list(iter_run(p.path)) for p in parts]
    for p, content in zip(parts, contents, strict=True):
        assert p.path == out / f"part-{p.index:05d}"
        assert p.records == len(content)
        assert p.bytes == p.path.stat().st_size
    assert sorted(x.name for x in out.iterdir()) == [f"part-{r:05d}" for r in range(n)]
    return contents, counters


# -- run files and merging -----------------------------------------------------------------


def test_run_file_round_trip(tmp_path: Path) -> None:
    pairs = [(f"k{i:06d}", {"v": i, "blob": "x" * (i % 50)}) for i in range(20_000)]
    path = tmp_path / "run"
    assert write_run(path, iter(pairs)) == len(pairs)
    assert list(iter_run(path)) == pairs
    assert len(list(iter_run_frames(path))) > 1  # several frames
    empty = tmp_path / "empty"
    assert write_run(empty, []) == 0
    assert empty.stat().st_size == 0 and list(iter_run(empty)) == []


def test_truncated_run_file_is_a_task_error(tmp_path: Path) -> None:
    path = tmp_path / "run"
    write_run(path, [("a", 1), ("b", 2)])
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(TaskError, match="truncated run file"):
        list(iter_run(path))


def test_merge_is_sorted_and_stable() -> None:
    rng = random.Random(3)
    for _ in range(200):
        runs = []
        for s in range(rng.randint(0, 6)):
            keys = sorted(rng.choices(range(20), k=rng.randint(0, 40)))
            pairs = [(k, (s, i)) for i, k in enumerate(keys)]
            size = rng.randint(1, 7)
            runs.append([pairs[i : i + size] for i in range(0, len(pairs), size)])
        merged = [p for batch in merge_frames([iter(r) for r in runs]) for p in batch]
        everything = [p for run in runs for frame in run for p in frame]
        assert merged == sorted(everything, key=lambda p: p[0])  # sorted() is stable too


def test_merge_in_passes_matches_one_pass(tmp_path: Path) -> None:
    rng = random.Random(5)
    paths = []
    for s in range(23):
        keys = sorted(rng.choices(range(100), k=rng.randint(0, 60)))
        path = tmp_path / f"run{s}"
        write_run(path, [(k, (s, i)) for i, k in enumerate(keys)])
        paths.append(path)
    one = [p for b in merge_run_files(paths) for p in b]
    passes = [p for b in merge_run_files(paths, tmp_path, max_open=3) for p in b]
    assert passes == one
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted(p.name for p in paths)


def test_merge_never_compares_values() -> None:
    class NoCompare:
        def __lt__(self, other: object) -> bool:
            raise AssertionError("values compared")

    runs = [[[("a", NoCompare()), ("b", NoCompare())]], [[("a", NoCompare())]]]
    merged = [p for b in merge_frames([iter(r) for r in runs]) for p in b]
    assert [k for k, _ in merged] == ["a", "a", "b"]


# -- map ------------------------------------------------------------------------------------


@pytest.mark.parametrize("combine", [False, True])
@pytest.mark.parametrize("n", [1, 3])
def test_tiny_budget_spills_and_gives_identical_output(
    tmp_path: Path, combine: bool, n: int
) -> None:
    job = job_from_functions(wc_mapper, sum_reducer, combiner=sum_reducer if combine else None)
    records = text_records()
    big, big_counters = map_and_read(job, records, n, tmp_path / "big", 1 << 30)
    small, small_counters = map_and_read(job, records, n, tmp_path / "small", 2_000)
    assert big_counters[C.SPILLED_RECORDS] == 0
    assert small_counters[C.SPILLED_RECORDS] > 0

    # Same output after reducing (combined counts may be split differently).
    def reduced(contents: list) -> dict:
        totals: Counter = Counter()
        for content in contents:
            for k, v in content:
                totals[k] += v
        return dict(totals)

    expected = Counter(w for _, line in records for w in line.split())
    assert reduced(big) == reduced(small) == dict(expected)
    if not combine:
        assert big == small  # no combiner: byte-for-byte the same records, same order
    for r, content in enumerate(big + small):
        keys = [k for k, _ in content]
        assert keys == sorted(keys)
        assert all(partition(k, n) == r % n for k in keys)
    assert big_counters[C.MAP_INPUT_RECORDS] == len(records)
    assert big_counters[C.MAP_OUTPUT_RECORDS] == sum(expected.values())
    if combine:
        assert big_counters[C.COMBINE_INPUT_RECORDS] == sum(expected.values())
        assert big_counters[C.COMBINE_OUTPUT_RECORDS] == len(expected)


def test_values_keep_emission_order_without_combiner(tmp_path: Path) -> None:
    def mapper(key: Any, value: Any) -> Any:
        yield value % 3, value

    job = job_from_functions(mapper, collect_reducer)
    records = [(i, i) for i in range(5000)]
    [content], _ = map_and_read(job, records, 1, tmp_path, 3000)
    assert [v for k, v in content if k == 1] == list(range(1, 5000, 3))


def test_combiner_sees_exact_values(tmp_path: Path) -> None:
    # 1, True and 1.0 are equal but must not be confused with one another.
    def mapper(key: Any, value: Any) -> Any:
        yield "k", value

    def combiner(key: Any, values: Any) -> Any:
        yield key, tuple(sorted(map(repr, values)))

    job = job_from_functions(mapper, collect_reducer, combiner=combiner)
    records = [(i, v) for i, v in enumerate([1] * 1000 + [True] * 3 + [1.0] * 2)]
    [content], _ = map_and_read(job, records, 1, tmp_path, 1 << 30)
    [(key, reprs)] = content
    assert Counter(reprs) == {"1": 1000, "True": 3, "1.0": 2}


def test_unorderable_keys_message(tmp_path: Path) -> None:
    def mapper(key: Any, value: Any) -> Any:
        yield ("s" if value % 2 else 1), value

    for combiner in (None, sum_reducer):
        job = job_from_functions(mapper, sum_reducer, combiner=combiner)
        with pytest.raises(TaskError) as info:
            run_map(
                job,
                [(i, i) for i in range(10)],
                1,
                tmp_path / str(combiner),
                {},
                1 << 30,
                Counters(),
            )
        assert str(info.value) in (
            "keys are not mutually orderable: 'str' and 'int'",
            "keys are not mutually orderable: 'int' and 'str'",
        )


def test_mapper_mistakes_are_clear(tmp_path: Path) -> None:
    def no_yield(key: Any, value: Any) -> None:
        return None

    def bare(key: Any, value: Any) -> Any:
        yield value

    def raising(key: Any, value: Any) -> Any:
        raise TypeError("my own bug")
        yield  # pragma: no cover

    cases = [
        (no_yield, TaskError, "mapper must be a generator"),
        (bare, TaskError, r"mapper must yield \(key, value\) pairs, got 'hello'"),
        (raising, TypeError, "my own bug"),
    ]
    for mapper, exc, message in cases:
        job = job_from_functions(mapper, sum_reducer)
        with pytest.raises(exc, match=message):
            run_map(job, [(1, "hello")], 1, tmp_path, {}, 1 << 30, Counters())


def test_bad_partitioner_result(tmp_path: Path) -> None:
    job = job_from_functions(wc_mapper, sum_reducer, partitioner=lambda key, n: n)
    with pytest.raises(
        TaskError, match=r"partitioner returned 2 for key 'a' \(must be an int in \[0, 2\)\)"
    ):
        run_map(job, [(1, "a")], 2, tmp_path, {}, 1 << 30, Counters())


def test_unhashable_keys_with_combiner(tmp_path: Path) -> None:
    def mapper(key: Any, value: Any) -> Any:
        yield [value], value

    job = job_from_functions(mapper, sum_reducer, combiner=sum_reducer)
    with pytest.raises(TaskError, match="with a combiner, keys must be hashable"):
        run_map(job, [(1, 1), (2, 2)], 1, tmp_path, {}, 1 << 30, Counters())
    # Without a combiner, orderable unhashable keys are fine.
    job = job_from_functions(mapper, sum_reducer)
    run_map(job, [(1, 1), (2, 2)], 2, tmp_path / "ok", {}, 1 << 30, Counters())


def test_setup_params_user_counters_and_progress(tmp_path: Path) -> None:
    seen: dict = {}

    def setup(params: dict) -> None:
        seen.update(params)

    def mapper(key: Any, value: Any) -> Any:
        increment_counter("lines")
        increment_counter("chars", len(value))
        yield value, 1

    job = job_from_functions(mapper, sum_reducer, setup=setup)
    progress: list[float] = []
    counters = Counters()
    params = {"x": "1", BOUNDARIES_PARAM: encode_boundaries([])}
    run_map(job, [(1, "ab"), (2, "c")], 2, tmp_path, params, 1 << 30, counters, progress.append)
    assert seen == {"x": "1"}  # framework entries are not passed to setup
    assert counters["user.lines"] == 2 and counters["user.chars"] == 3
    assert progress[-1] == 1.0 and progress == sorted(progress)
    increment_counter("outside")  # no task running: harmless
    assert "user.outside" not in counters


def test_range_partitioning_from_boundaries(tmp_path: Path) -> None:
    def mapper(key: Any, value: Any) -> Any:
        yield value, key

    for combiner in (None, sum_reducer):
        job = job_from_functions(mapper, sum_reducer, combiner=combiner, sample_keys=10)
        params = {BOUNDARIES_PARAM: encode_boundaries(["g", "p"])}
        records = [(i, c) for i, c in enumerate("zyxwvutsrqponmlkjihgfedcba" * 3)]
        contents, _ = map_and_read(job, records, 3, tmp_path / str(combiner), 200, params)
        keys = [[k for k, _ in c] for c in contents]
        assert keys[0] and max(keys[0]) < "g" <= min(keys[1]) and max(keys[1]) < "p" <= min(keys[2])
        assert all(k == sorted(k) for k in keys)


# -- reduce ---------------------------------------------------------------------------------


def test_run_reduce_merges_groups_and_formats(tmp_path: Path) -> None:
    runs = [
        [("a", 1), ("b", 2), ("d", 4)],
        [("a", 10), ("c", 3)],
        [],
        [("b", 20), ("d", 40), ("é", 5)],
    ]
    paths = []
    for i, run in enumerate(runs):
        paths.append(tmp_path / f"r{i}")
        write_run(paths[-1], run)
    out = io.BytesIO()
    counters = Counters()
    job = job_from_functions(wc_mapper, collect_reducer)
    run_reduce(job, paths, out, {}, counters, tmp_dir=tmp_path)
    assert out.getvalue().decode() == "a\t[1, 10]\nb\t[2, 20]\nc\t[3]\nd\t[4, 40]\né\t[5]\n"
    assert counters[C.REDUCE_INPUT_GROUPS] == 5
    assert counters[C.REDUCE_INPUT_RECORDS] == 8
    assert counters[C.REDUCE_OUTPUT_RECORDS] == 5
    assert counters[C.GFS_BYTES_WRITTEN] == len(out.getvalue())


def test_run_reduce_with_many_runs_merges_in_passes(tmp_path: Path) -> None:
    paths = []
    for i in range(30):
        paths.append(tmp_path / f"r{i}")
        write_run(paths[-1], [(k, i) for k in range(i % 5, 50, 5)])
    job = job_from_functions(wc_mapper, collect_reducer)
    small, big = io.BytesIO(), io.BytesIO()
    run_reduce(job, paths, small, {}, Counters(), memory_budget_bytes=1, tmp_dir=tmp_path)
    run_reduce(job, paths, big, {}, Counters())
    assert small.getvalue() == big.getvalue()
    assert small.getvalue().startswith(b"0\t[0, 5, 10, 15, 20, 25]\n")


def test_reducer_mistakes(tmp_path: Path) -> None:
    path = tmp_path / "r"
    write_run(path, [("a", 1)])

    def bare(key: Any, values: Any) -> Any:
        yield key

    def as_list(key: Any, values: Any) -> Any:
        yield [key, sum(values)]

    with pytest.raises(TaskError, match=r"reducer must yield \(key, value\) pairs, got 'a'"):
        run_reduce(job_from_functions(wc_mapper, bare), [path], io.BytesIO(), {}, Counters())
    out = io.BytesIO()
    run_reduce(job_from_functions(wc_mapper, as_list), [path], out, {}, Counters())
    assert out.getvalue() == b"a\t1\n"
    with pytest.raises(TaskError, match="reducer must be a generator"):
        run_reduce(
            job_from_functions(wc_mapper, lambda k, v: None), [path], io.BytesIO(), {}, Counters()
        )


# -- total-order sampling -------------------------------------------------------------------


def test_compute_boundaries_default_custom_and_bad() -> None:
    from mr.errors import JobError
    from mr.runtime import compute_boundaries

    job = job_from_functions(wc_mapper, sum_reducer, sample_keys=10)
    keys = list("jihgfedcba")
    assert compute_boundaries(job, keys, 1) == []
    assert compute_boundaries(job, keys, 2) == ["f"]
    assert compute_boundaries(job, keys, 4) == ["c", "f", "h"]
    assert compute_boundaries(job, [], 3) == []
    custom = job_from_functions(
        wc_mapper, sum_reducer, sample_keys=10, boundaries=lambda ks, n: ["m"] * (n - 1)
    )
    assert compute_boundaries(custom, keys, 3) == ["m", "m"]
    bad = job_from_functions(wc_mapper, sum_reducer, sample_keys=10, boundaries=lambda ks, n: ks)
    with pytest.raises(JobError, match="returned 10 boundaries for 3 reducers"):
        compute_boundaries(bad, keys, 3)
    with pytest.raises(JobError, match="not mutually orderable"):
        compute_boundaries(job, ["a", 1], 2)
    descending = job_from_functions(
        wc_mapper, sum_reducer, sample_keys=10, boundaries=lambda ks, n: ["z", "a"]
    )
    with pytest.raises(JobError, match="boundaries\\(\\) must return ascending keys"):
        compute_boundaries(descending, keys, 3)


def test_map_task_framework_errors(tmp_path: Path) -> None:
    import threading

    def unpicklable(key: Any, line: str) -> Any:
        yield line, threading.Lock()

    job = job_from_functions(unpicklable, collect_reducer)
    with pytest.raises(TaskError, match="map output must be picklable"):
        run_map(job, text_records(5), 1, tmp_path / "a", {}, 1 << 30, Counters())
    wc = job_from_functions(wc_mapper, sum_reducer)
    for params, message in [
        ({BOUNDARIES_PARAM: "not base64!"}, "bad __boundaries__ parameter"),
        ({BOUNDARIES_PARAM: encode_boundaries(["a", "b", "c"])}, "3 partition boundaries for 2"),
    ]:
        with pytest.raises(TaskError, match=message):
            run_map(wc, text_records(5), 2, tmp_path / "b", params, 1 << 30, Counters())


def test_combiner_that_changes_keys_is_caught_when_spills_merge(tmp_path: Path) -> None:
    def inverting(key: Any, values: Any) -> Any:  # reverses the key order
        yield "".join(chr(0x10000 - ord(c)) for c in key), sum(values)

    job = job_from_functions(wc_mapper, sum_reducer, combiner=inverting)
    records = [(("f", i), f"k{i:05d}") for i in range(3 * FRAME_PAIRS)]
    with pytest.raises(TaskError, match="combiner changed a key out of order"):
        run_map(job, records, 1, tmp_path / "o", {}, 20_000, Counters())


def test_prepare_params_and_files_sampling(tmp_path: Path) -> None:
    from mr.errors import JobError
    from mr.runtime import decode_boundaries, prepare_params, sample_keys

    blobs = {f"/f{i}": f"word{i} other{i}\n".encode() * 3 for i in range(10)}

    def read(path: str, offset: int, length: int | None) -> Any:
        data = blobs[path][offset:]
        return [data if length is None else data[:length]]

    files = [(p, len(b)) for p, b in blobs.items()]

    def split_words(key: Any, text: str) -> Any:
        for w in text.split():
            yield w, 1

    whole = job_from_functions(split_words, sum_reducer, input_format="files", sample_keys=4)
    assert sorted(set(sample_keys(whole, files, read, 4))) == sorted(
        {"word0", "other0", "word2", "other2", "word5", "other5", "word7", "other7"}
    )
    lines = job_from_functions(split_words, sum_reducer, sample_keys=50)
    params = prepare_params(lines, files, read, 3, {"a": "b"})
    assert params["a"] == "b" and len(decode_boundaries(params[BOUNDARIES_PARAM])) == 2
    assert BOUNDARIES_PARAM not in prepare_params(lines, files, read, 1, {})
    plain = job_from_functions(split_words, sum_reducer)
    assert prepare_params(plain, files, read, 3, {"a": "b"}) == {"a": "b"}
    with pytest.raises(JobError, match="reserved"):
        prepare_params(plain, files, read, 3, {"__x": "1"})


# -- mapper_batch and identity_reducer -------------------------------------------------------


def wc_batch(keys: Any, lines: list[str]) -> Any:
    return Counter(w for line in lines for w in line.split()).items()


def lines_file(tmp_path: Path, records: list[tuple[Any, str]]) -> tuple[str, int]:
    path = tmp_path / "input.txt"
    path.write_text("".join(line + "\n" for _, line in records))
    return str(path), path.stat().st_size


@pytest.mark.parametrize("budget", [1 << 30, 3_000])
@pytest.mark.parametrize("n", [1, 3])
def test_mapper_batch_gives_the_mappers_output(tmp_path: Path, budget: int, n: int) -> None:
    from mr.records import line_batches, local_reader

    records = text_records()
    path, size = lines_file(tmp_path, records)
    per_record = job_from_functions(wc_mapper, sum_reducer, combiner=sum_reducer)
    batched = job_from_functions(
        wc_mapper, sum_reducer, combiner=sum_reducer, mapper_batch=wc_batch
    )

    def run(job: Any, out: Path) -> tuple:
        # 1 KiB reads: many small batches, which run_map joins for mapper_batch
        read = local_reader(path, frame_bytes=1024)
        return map_and_read(job, line_batches(path, 0, size, size, read), n, out, budget)

    expected, expected_counters = run(per_record, tmp_path / "records")
    got, counters = run(batched, tmp_path / "batches")
    assert got == expected  # combined the same: identical partitions
    assert counters[C.MAP_INPUT_RECORDS] == expected_counters[C.MAP_INPUT_RECORDS] == len(records)
    # in-mapper combining: fewer pairs leave the mapper, the same records leave the combiner
    assert counters[C.MAP_OUTPUT_RECORDS] < expected_counters[C.MAP_OUTPUT_RECORDS]
    assert counters[C.COMBINE_OUTPUT_RECORDS] <= expected_counters[C.COMBINE_OUTPUT_RECORDS]
    if budget < 1 << 20:
        assert counters[C.SPILLED_RECORDS] > 0


def test_mapper_batch_sees_joined_batches_with_their_keys(tmp_path: Path) -> None:
    from mr.records import line_batches, local_reader

    records = text_records(500)
    path, size = lines_file(tmp_path, records)
    calls: list[list[tuple[Any, str]]] = []

    def echo(keys: Any, lines: list[str]) -> Any:
        calls.append(list(zip(keys, lines, strict=True)))
        return [(key[1], line) for key, line in calls[-1]]

    job = job_from_functions(wc_mapper, collect_reducer, mapper_batch=echo)
    read = local_reader(path, frame_bytes=256)
    contents, _ = map_and_read(
        job, line_batches(path, 0, size, size, read), 1, tmp_path / "o", 1 << 30
    )
    # every record once, with its own key (path, byte offset), in order
    seen = [pair for call in calls for pair in call]
    offsets = [0]
    for _, line in records[:-1]:
        offsets.append(offsets[-1] + len(line) + 1)
    assert seen == [((path, o), line) for o, (_, line) in zip(offsets, records, strict=True)]
    assert len(calls) == 1  # 55 small reads joined (the whole split is under 256 KiB)
    assert contents[0] == sorted((o, line) for o, (_, line) in zip(offsets, records, strict=True))


def test_mapper_batch_mistakes(tmp_path: Path) -> None:
    from mr.errors import JobError

    records = text_records(50)
    for result, message in [
        (None, "mapper_batch must return an iterable of \\(key, value\\) pairs, not NoneType"),
        (["word"], "mapper_batch must yield \\(key, value\\) pairs, got 'word'"),
    ]:
        job = job_from_functions(
            wc_mapper, sum_reducer, mapper_batch=lambda keys, lines, r=result: r
        )
        with pytest.raises(TaskError, match=message):
            run_map(job, records, 1, tmp_path / "o", {}, 1 << 30, Counters())

    def raising(keys: Any, lines: list[str]) -> Any:
        raise KeyError("from the user")

    job = job_from_functions(wc_mapper, sum_reducer, mapper_batch=raising)
    with pytest.raises(KeyError, match="from the user"):  # user errors pass unchanged
        run_map(job, records, 1, tmp_path / "o", {}, 1 << 30, Counters())
    with pytest.raises(JobError, match="mapper_batch is not callable"):
        job_from_functions(wc_mapper, sum_reducer, mapper_batch="nope")  # type: ignore[arg-type]


def test_sampling_uses_the_per_record_mapper() -> None:
    # A combining mapper_batch yields each key of a batch once: sampling through it would
    # hide how often keys occur, and the boundaries depend on that.
    from mr.runtime import sample_keys

    data = b"".join(b"a a a a\n" if i % 10 else f"w{i}\n".encode() for i in range(2000))

    def read(path: str, offset: int, length: int | None) -> Any:
        return [data[offset:] if length is None else data[offset : offset + length]]

    job = job_from_functions(wc_mapper, sum_reducer, sample_keys=400, mapper_batch=wc_batch)
    keys = sample_keys(job, [("/f", len(data))], read, 400)
    assert Counter(keys)["a"] > len(keys) // 2


def test_identity_reducer_passes_records_through(tmp_path: Path) -> None:
    from mr.api import identity_reducer

    def generic_identity(key: Any, values: Any) -> Any:
        for v in values:
            yield key, v

    rng = random.Random(3)
    paths = []
    for i in range(4):  # runs with many equal keys, also across frame boundaries
        run = sorted(
            ((rng.randrange(300), i * 100_000 + j) for j in range(9000)), key=lambda p: p[0]
        )
        paths.append(tmp_path / f"r{i}")
        write_run(paths[-1], run)
    results = []
    for reducer in (identity_reducer, generic_identity):
        out, counters = io.BytesIO(), Counters()
        job = job_from_functions(wc_mapper, reducer)
        run_reduce(job, paths, out, {}, counters, tmp_dir=tmp_path)
        results.append((out.getvalue(), dict(counters.values)))
    assert results[0] == results[1]
    assert results[0][1][C.REDUCE_INPUT_GROUPS] == 300
    assert results[0][1][C.REDUCE_OUTPUT_RECORDS] == 36_000


@pytest.mark.parametrize(
    ("budget", "calls"),
    [
        (1 << 30, 8),  # 8 progress steps of 8 × 64 KiB
        (1 << 20, 64),  # a batch at most budget / 16 = 64 KiB
    ],
)
def test_mapper_batch_joins_batches_for_size_and_progress(
    tmp_path: Path, budget: int, calls: int
) -> None:
    from mr.records import RecordBatch

    sizes: list[int] = []

    def count(keys: Any, lines: list[str]) -> Any:
        sizes.append(sum(map(len, lines)))
        return [("lines", len(lines))]

    line = "x" * 1024
    batches = [RecordBatch([("f", i)] * 64, [line] * 64, (i + 1) / 64) for i in range(64)]
    job = job_from_functions(wc_mapper, sum_reducer, mapper_batch=count)
    progress: list[float] = []
    run_map(job, batches, 1, tmp_path / "o", {}, budget, Counters(), progress.append)
    assert len(sizes) == calls and sum(sizes) == 64 * 64 * 1024
    assert progress[-2:] == [1.0, 1.0] and progress == sorted(progress)
