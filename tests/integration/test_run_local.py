"""`mr run-local`: every example job against a plain sequential Python reference."""

from __future__ import annotations

import heapq
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from conftest import CLI_TIMEOUT as CHILD_TIMEOUT  # a child that hangs fails the test

from mr.job import load_job_file
from mr.local import main, run_local
from mr.runtime import prepare_params, sample_keys

ROOT = Path(__file__).resolve().parents[2]
JOBS = ROOT / "jobs"
SAMPLE = ROOT / "data" / "sample"
CHUNK = 4099  # tiny: lines cross split boundaries all the time


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few KiB of each sample text plus awkward files, in one directory."""
    root = tmp_path_factory.mktemp("corpus")
    for name in ["pg-grimm.txt", "pg-metamorphosis.txt", "pg-sherlock_holmes.txt"]:
        data = (SAMPLE / name).read_bytes()[:40_000]
        (root / name).write_bytes(data)
    (root / "unicode.txt").write_bytes(
        "naïve café – über\nÆsir ✓\n".encode() * 50 + b"\xff\xfe x\n"
    )
    (root / "no-newline.txt").write_bytes(b"last line without newline")
    (root / "empty.txt").write_bytes(b"")
    (root / "_ignored.txt").write_text("never read\n")
    (root / ".hidden").write_text("never read\n")
    return root


def input_files(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if not p.name.startswith(("_", ".")))


def lines_of(path: Path) -> list[tuple[int, str]]:
    """(byte offset, text) of every line, like the framework's line records."""
    data = path.read_bytes()
    out, start = [], 0
    while start < len(data):
        nl = data.find(b"\n", start)
        end = len(data) if nl < 0 else nl
        out.append((start, data[start:end].decode("utf-8", "replace")))
        start = end + 1
    return out


def read_output(out: Path, reducers: int) -> tuple[list[list[str]], dict[str, list[str]]]:
    """The parts' lines; checks _SUCCESS, ascending keys per part, each key in one part."""
    assert (out / "_SUCCESS").exists() and (out / "_SUCCESS").stat().st_size == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["_SUCCESS"] + [f"part-{r:05d}" for r in range(reducers)]
    parts, by_key, owner = [], defaultdict(list), {}
    for r in range(reducers):
        lines = (out / f"part-{r:05d}").read_text(encoding="utf-8").splitlines()
        keys = [line.split("\t", 1)[0] for line in lines]
        assert keys == sorted(keys), f"part {r} keys not ascending"
        for key, line in zip(keys, lines, strict=True):
            assert owner.setdefault(key, r) == r, f"key {key!r} in parts {owner[key]} and {r}"
            by_key[key].append(line)
        parts.append(lines)
    return parts, dict(by_key)


def expect(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for key, value in pairs:
        grouped[key].append(f"{key}\t{value}")
    return dict(grouped)


def ref_wordcount(root: Path) -> dict[str, list[str]]:
    counts: Counter[str] = Counter()
    for f in input_files(root):
        for _, line in lines_of(f):
            counts.update(line.split())
    return expect([(w, str(n)) for w, n in counts.items()])


def ref_grep(root: Path, pattern: str) -> dict[str, list[str]]:
    rx = re.compile(pattern)
    return expect(
        [
            (f"{f}:{off:012d}", line)
            for f in input_files(root)
            for off, line in lines_of(f)
            if rx.search(line)
        ]
    )


def ref_invertedindex(root: Path) -> dict[str, list[str]]:
    where: dict[str, set[str]] = defaultdict(set)
    for f in input_files(root):
        text = f.read_bytes().decode("utf-8", "replace")
        for w in re.findall(r"[A-Za-z]+", text):
            where[w.lower()].add(str(f))
    return expect([(w, f"{len(fs)}\t{','.join(sorted(fs))}") for w, fs in where.items()])


def ref_sort_lines(root: Path) -> list[str]:
    records = [line.partition("\t") for f in input_files(root) for _, line in lines_of(f)]
    return [f"{k}\t{v}" for k, _, v in sorted(records, key=lambda r: r[0])]


def run(job: str, root: Path | str, out: Path, reducers: int | None, **params: str) -> None:
    run_local(JOBS / job, str(root), out, reducers=reducers, params=params, chunk_size=CHUNK)


@pytest.mark.parametrize("reducers", [1, 3])
def test_wordcount_grep_invertedindex(corpus: Path, tmp_path: Path, reducers: int) -> None:
    run("wordcount.py", corpus, tmp_path / "wc", reducers)
    assert read_output(tmp_path / "wc", reducers)[1] == ref_wordcount(corpus)

    pattern = r"Holmes|Gregor|ü"
    run("grep.py", corpus, tmp_path / "grep", reducers, pattern=pattern)
    assert read_output(tmp_path / "grep", reducers)[1] == ref_grep(corpus, pattern)

    run("invertedindex.py", corpus, tmp_path / "ii", reducers)
    assert read_output(tmp_path / "ii", reducers)[1] == ref_invertedindex(corpus)


@pytest.mark.parametrize("reducers", [1, 4])
def test_sort_is_globally_ordered(corpus: Path, tmp_path: Path, reducers: int) -> None:
    # Records with tabs and duplicate keys: equal keys keep input order.
    records = tmp_path / "in"
    records.mkdir()
    lines = [f"{(i * 7919) % 503:05d}\tvalue {i}" for i in range(3000)]
    (records / "a.txt").write_text("\n".join(lines[:1700]) + "\n")
    (records / "b.txt").write_text("\n".join(lines[1700:]) + "\n")
    for name, root in [("tabs", records), ("text", corpus)]:
        out = tmp_path / name
        run("sort.py", root, out, reducers)
        parts, _ = read_output(out, reducers)
        assert [line for part in parts for line in part] == ref_sort_lines(root)
        if reducers > 1:
            assert sum(1 for part in parts if part) > 1, "sampling put everything in one part"


def test_topk_pipeline(corpus: Path, tmp_path: Path) -> None:
    run("wordcount.py", corpus, tmp_path / "wc", 3)
    run("topk.py", tmp_path / "wc", tmp_path / "top", None)
    parts, _ = read_output(tmp_path / "top", 1)
    counts = Counter()
    for line in ref_wordcount(corpus).values():
        word, n = line[0].split("\t")
        counts[word] = int(n)
    top = heapq.nsmallest(20, counts.items(), key=lambda wc: (-wc[1], wc[0]))
    assert parts[0] == [f"{i:02d}\t{w}\t{n}" for i, (w, n) in enumerate(top, 1)]


@pytest.mark.parametrize("reducers", [1, 2])
def test_join(tmp_path: Path, reducers: int) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    users = [(str(i), f"user{i}") for i in range(0, 60, 2)]
    orders = [(str(i % 70), f"item{i}") for i in range(200)]
    (shop / "users.csv").write_text("".join(f"{i},{n}\n" for i, n in users))
    (shop / "orders-1.csv").write_text("".join(f"{i},{n}\n" for i, n in orders[:120]))
    (shop / "orders-2.csv").write_text("".join(f"{i}, {n}\n" for i, n in orders[120:]) + "\nbad\n")
    (shop / "other.txt").write_text("1,ignored\n")
    run("join.py", shop, tmp_path / "j", reducers)
    names = dict(users)
    pairs = sorted((i, names[i], item) for i, item in orders if i in names)
    assert read_output(tmp_path / "j", reducers)[1] == expect(
        [(i, f"{n}\t{it}") for i, n, it in pairs]
    )


def test_crash_job_without_faults_equals_wordcount(corpus: Path, tmp_path: Path) -> None:
    run("wordcount.py", corpus, tmp_path / "wc", 2)
    run("crash.py", corpus, tmp_path / "crash", 2, crash_rate="0", sleep_rate="0")
    for r in range(2):
        name = f"part-{r:05d}"
        assert (tmp_path / "crash" / name).read_bytes() == (tmp_path / "wc" / name).read_bytes()


def test_output_does_not_depend_on_chunk_size(corpus: Path, tmp_path: Path) -> None:
    for job in ["wordcount.py", "sort.py"]:
        outs = []
        for chunk in (CHUNK, 1 << 26):
            out = tmp_path / f"{job}-{chunk}"
            run_local(JOBS / job, str(corpus), out, reducers=3, chunk_size=chunk)
            outs.append([(out / f"part-{r:05d}").read_bytes() for r in range(3)])
        assert outs[0] == outs[1]


def test_sampling_depends_on_contents_only(corpus: Path, tmp_path: Path) -> None:
    job = load_job_file(JOBS / "sort.py")
    files = [(str(p), p.stat().st_size) for p in input_files(corpus)]
    # The same bytes under other names (as GFS paths would be) read in small pieces.
    blobs = {f"/gfs/in/{Path(p).name}": Path(p).read_bytes() for p, _ in files}
    renamed = [(f"/gfs/in/{Path(p).name}", size) for p, size in files]

    def gfs_read(path: str, offset: int, length: int | None):  # type: ignore[no-untyped-def]
        data = blobs[path][offset : None if length is None else offset + length]
        return (data[i : i + 1000] for i in range(0, len(data), 1000))

    def local_read(path: str, offset: int, length: int | None):  # type: ignore[no-untyped-def]
        with open(path, "rb") as f:
            f.seek(offset)
            return iter([f.read(-1 if length is None else length)])

    keys = sample_keys(job, files, local_read, 1000)
    assert keys == sample_keys(job, renamed, gfs_read, 1000) and len(keys) >= 500
    assert prepare_params(job, files, local_read, 4, {"x": "y"}) == prepare_params(
        job, renamed, gfs_read, 4, {"x": "y"}
    )


# -- the command line -----------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mr.cli", "run-local", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONHASHSEED="7"),
        timeout=CHILD_TIMEOUT,
    )


def test_cli_success_and_refusals(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    result = cli(str(JOBS / "wordcount.py"), "--input", str(corpus), "--output", str(out), "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["state"] == "SUCCEEDED" and doc["counters"]["reduce_output_records"] > 0

    bad = tmp_path / "bad.py"
    bad.write_text("def reducer(k, v):\n    yield k, 1\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = cli(str(JOBS / "wordcount.py"), "--input", str(corpus), "--output", str(out))
    assert result.returncode == 1 and "already exists" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = cli(
        str(JOBS / "wordcount.py"),
        "--input",
        str(tmp_path / "nope"),
        "--output",
        str(tmp_path / "o2"),
    )
    assert result.returncode == 1 and "no such input" in result.stderr
    result = cli(str(bad), "--input", str(corpus), "--output", str(tmp_path / "o3"))
    assert result.returncode == 1 and "no mapper defined" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = cli(str(JOBS / "wordcount.py"), "--input", str(corpus))
    assert result.returncode == 2
    result = cli(
        str(JOBS / "wordcount.py"),
        "--input",
        str(corpus),
        "--output",
        str(tmp_path / "o4"),
        "-D",
        "novalue",
    )
    assert result.returncode == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written

    # In-process too (how mr/cli.py calls it).
    assert (
        main([str(JOBS / "grep.py"), "--input", str(corpus), "--output", str(tmp_path / "g")]) == 1
    )
    err = capsys.readouterr().err
    assert "task m-00000 failed: ValueError: grep needs -D pattern=REGEX (at " in err
    assert not (tmp_path / "g").exists()


def test_user_exception_reports_task_and_line(corpus: Path, tmp_path: Path) -> None:
    job = tmp_path / "boom.py"
    job.write_text(
        "def mapper(k, v):\n    for w in v.split():\n        yield w, 1\n\n"
        "def reducer(k, vs):\n    if k == 'Gregor':\n"
        "        raise ValueError('no ' + k)\n    yield k, 1\n"
    )
    result = cli(str(job), "--input", str(corpus), "--output", str(tmp_path / "o"))
    assert result.returncode == 1
    assert f"failed: ValueError: no Gregor (at {job}:7)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()
    result = cli(str(job), "--input", str(corpus), "--output", str(tmp_path / "o"), "--debug")
    assert "Traceback" in result.stderr


def test_global_options_before_run_local(capsys: pytest.CaptureFixture[str]) -> None:
    from mr import cli

    for globals_ in (["--cluster", "/nowhere"], ["--cluster=/nowhere", "--debug"], []):
        with pytest.raises(SystemExit) as stop:
            cli.main([*globals_, "run-local", "--help"])
        assert stop.value.code == 0
        assert capsys.readouterr().out.startswith("usage: mr run-local")
