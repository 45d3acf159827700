"""Pure pieces of the gfs client and CLI: argument handling, targets, ranges, formatting."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from gfs import cli, errors
from gfs.client import (
    ChunkInfo,
    FileStatus,
    FsckProblem,
    FsckReport,
    GfsClient,
    ReplicaInfo,
    _chunk_pieces,
    chunk_ranges,
    order_replicas,
)

# ---- put: where each local file goes ----------------------------------------------------


def test_put_single_file_to_new_path() -> None:
    assert cli.plan_put(["a.txt"], "/data/x", remote_is_dir=False) == [
        cli.PutPlan("a.txt", "/data/x")
    ]


def test_put_into_existing_directory_uses_basename() -> None:
    assert cli.plan_put(["/tmp/dir/a.txt"], "/data", remote_is_dir=True) == [
        cli.PutPlan("/tmp/dir/a.txt", "/data/a.txt")
    ]


def test_put_trailing_slash_means_directory() -> None:
    assert cli.plan_put(["a.txt"], "/data/", remote_is_dir=True) == [
        cli.PutPlan("a.txt", "/data/a.txt")
    ]


def test_put_into_root() -> None:
    assert cli.plan_put(["x/a.txt"], "/", remote_is_dir=True) == [cli.PutPlan("x/a.txt", "/a.txt")]


def test_put_several_files_into_directory() -> None:
    plans = cli.plan_put(["a", "sub/b", "/abs/c"], "/d", remote_is_dir=True)
    assert [p.remote for p in plans] == ["/d/a", "/d/b", "/d/c"]


def test_put_several_files_need_a_directory() -> None:
    with pytest.raises(errors.NotADirectory):
        cli.plan_put(["a", "b"], "/file", remote_is_dir=False)


def test_put_duplicate_names_rejected() -> None:
    with pytest.raises(errors.InvalidPath, match="both become /d/a"):
        cli.plan_put(["x/a", "y/a"], "/d", remote_is_dir=True)


def test_put_stdin_needs_a_file_name() -> None:
    assert cli.plan_put(["-"], "/d/f", remote_is_dir=False) == [cli.PutPlan("-", "/d/f")]
    with pytest.raises(errors.InvalidPath, match="stdin"):
        cli.plan_put(["-"], "/d", remote_is_dir=True)
    with pytest.raises(cli.UsageError):
        cli.plan_put(["-", "-"], "/d", remote_is_dir=True)


@pytest.mark.parametrize("bad", ["relative", "/a/../b", "/a/./b", "/a//b", "/a\0b", ""])
def test_put_bad_remote_rejected(bad: str) -> None:
    with pytest.raises(errors.InvalidPath):
        cli.plan_put(["a"], bad, remote_is_dir=False)


def test_check_local_sources(tmp_path: Path) -> None:
    good = tmp_path / "good"
    good.write_bytes(b"x")
    cli.check_local_sources([str(good), "-"])
    with pytest.raises(errors.NotFound, match="no such local file"):
        cli.check_local_sources([str(good), str(tmp_path / "missing")])
    with pytest.raises(errors.IsADirectory):
        cli.check_local_sources([str(tmp_path)])


# ---- mv and get targets ----------------------------------------------------------------


def test_mv_into_directory() -> None:
    assert cli.mv_target("/a/f", "/b", dst_is_dir=True) == "/b/f"
    assert cli.mv_target("/a/f", "/b/g", dst_is_dir=False) == "/b/g"
    assert cli.mv_target("/a/dir/", "/b/", dst_is_dir=True) == "/b/dir"


def test_get_into_local_directory(tmp_path: Path) -> None:
    from gfs.client import local_get_target

    assert local_get_target("/x/file", str(tmp_path)) == os.path.join(tmp_path, "file")
    assert local_get_target("/x/file", tmp_path / "new") == str(tmp_path / "new")
    with pytest.raises(errors.NotADirectory, match="no such local directory"):
        local_get_target("/x/file", f"{tmp_path}/missing/")


# ---- replicas and ranges ---------------------------------------------------------------


def _replica(name: str, host: str) -> ReplicaInfo:
    return ReplicaInfo(datanode=name, address=f"127.0.0.1:{len(name)}", host=host)


def test_order_replicas_local_host_first_stable() -> None:
    replicas = [_replica("dn-0", "h0"), _replica("dn-1", "h1"), _replica("dn-2", "h2")]
    assert [r.datanode for r in order_replicas(replicas, "h1")] == ["dn-1", "dn-0", "dn-2"]
    assert order_replicas(replicas, "") == replicas
    assert order_replicas(replicas, "elsewhere") == replicas


def _chunks(*sizes: int) -> list[ChunkInfo]:
    out, offset = [], 0
    for i, size in enumerate(sizes):
        out.append(ChunkInfo(handle=i + 1, size=size, offset=offset, replicas=()))
        offset += size
    return out


def _ranges(chunks: list[ChunkInfo], offset: int, end: int) -> list[tuple[int, int, int]]:
    return [(c.handle, lo, hi) for c, lo, hi in chunk_ranges(chunks, offset, end)]


def test_chunk_ranges_whole_file() -> None:
    assert _ranges(_chunks(10, 10, 5), 0, 25) == [(1, 0, 10), (2, 0, 10), (3, 0, 5)]


def test_chunk_ranges_inside_and_across_chunks() -> None:
    chunks = _chunks(10, 10, 5)
    assert _ranges(chunks, 3, 7) == [(1, 3, 7)]
    assert _ranges(chunks, 8, 22) == [(1, 8, 10), (2, 0, 10), (3, 0, 2)]
    assert _ranges(chunks, 10, 20) == [(2, 0, 10)]
    assert _ranges(chunks, 25, 25) == []
    assert _ranges(_chunks(), 0, 0) == []


# ---- a chunk's pieces ----------------------------------------------------------------------


def test_chunk_pieces_stop_at_the_limit() -> None:
    source = io.BytesIO(b"a" * (3 * 1024 * 1024 + 7))
    sent = [0]
    pieces = list(_chunk_pieces(source, 2 * 1024 * 1024 + 5, sent))
    assert sum(len(p) for p in pieces) == 2 * 1024 * 1024 + 5 == sent[0]
    assert max(len(p) for p in pieces) <= 1024 * 1024
    assert source.tell() == sent[0]  # the rest is left for the next chunk


def test_chunk_pieces_of_a_short_or_empty_source() -> None:
    sent = [0]
    assert list(_chunk_pieces(io.BytesIO(b"xyz"), 100, sent)) == [b"xyz"] and sent[0] == 3
    sent = [0]
    assert list(_chunk_pieces(io.BytesIO(b""), 100, sent)) == [] and sent[0] == 0


def test_chunk_pieces_pass_a_read_error_on() -> None:
    """The writer sees the local error itself (and sends no END: nothing is stored)."""

    class Failing(io.BytesIO):
        def read(self, size: int = -1) -> bytes:
            if self.tell() >= 4:
                raise OSError(5, "Input/output error")
            return super().read(min(size, 4))

    sent = [0]
    it = _chunk_pieces(Failing(b"abcdefgh"), 100, sent)
    assert next(it) == b"abcd"
    with pytest.raises(OSError, match="Input/output error"):
        next(it)
    assert sent[0] == 4


def test_pipeline_failures() -> None:
    from gfs.proto import gfs_pb2

    names = ["dn-1", "dn-2", "dn-3"]
    ok = gfs_pb2.WriteAck(stored_on=names, size=10)
    assert GfsClient._pipeline_failures(ok, names, 10) == []
    down = gfs_pb2.WriteAck(stored_on=["dn-1"], size=10, failed_datanode="dn-2")
    assert GfsClient._pipeline_failures(down, names, 10) == ["dn-2"]
    partial = gfs_pb2.WriteAck(stored_on=["dn-1", "dn-2"], size=10)
    assert GfsClient._pipeline_failures(partial, names, 10) == ["dn-3"]
    short = gfs_pb2.WriteAck(stored_on=names, size=9)
    assert GfsClient._pipeline_failures(short, names, 10) == ["dn-1"]


# ---- formatting ------------------------------------------------------------------------


def test_format_ls() -> None:
    entries = [
        FileStatus("/d", True, 0, 0, 0.0, 0),
        FileStatus("/d/f", False, 12345, 3, 1_700_000_000.0, 1),
    ]
    lines = cli.format_ls(entries)
    assert lines[0].startswith("d   -") and lines[0].endswith(" /d")
    assert lines[1].startswith("-   3 12345 ") and lines[1].endswith(" /d/f")


def test_status_json_shape() -> None:
    chunk = ChunkInfo(42, 10, 0, (_replica("datanode-1", "host-1"),), ("datanode-2",))
    doc = cli.status_json(FileStatus("/f", False, 10, 3, 1.0, 1), [chunk])
    assert doc["path"] == "/f" and doc["size"] == 10 and doc["replication"] == 3
    assert doc["chunks"] == [
        {
            "handle": "000000000000002a",
            "size": 10,
            "offset": 0,
            "replicas": ["datanode-1"],
            "corrupt": ["datanode-2"],
        }
    ]


def test_fsck_report_lines_and_json() -> None:
    problems = (
        FsckProblem("/data/x", 42, "corrupt", ("datanode-1", "datanode-3"), ("datanode-2",)),
        FsckProblem("/data/y", 43, "missing", (), ()),
        FsckProblem("/data/z", 44, "under_replicated", ("datanode-1",), ()),
    )
    report = FsckReport("/", 3, 3, 1, 1, 1, False, problems, 2, 0)
    lines = cli.format_fsck(report, lambda path: 3)
    assert lines[0] == "/data/x chunk 000000000000002a: corrupt replica on datanode-2 (2 live of 3)"
    assert lines[1].startswith("/data/y chunk 000000000000002b: MISSING")
    assert lines[2] == (
        "/data/z chunk 000000000000002c: under-replicated (1 live of 3: datanode-1)"
    )
    assert lines[-1].endswith("is UNHEALTHY")
    doc = cli.fsck_json(report)
    assert {"files", "chunks", "under_replicated", "corrupt", "missing", "healthy"} <= set(doc)
    assert doc["problems"][0]["handle"] == "000000000000002a"
    healthy = FsckReport("/", 1, 1, 0, 0, 0, True)
    assert cli.format_fsck(healthy)[-1].endswith("is HEALTHY")


# ---- the command line itself (no cluster needed) ---------------------------------------


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["put", "only-one"], capsys)[0] == 2
    assert _run(["frobnicate"], capsys)[0] == 2
    assert _run([], capsys)[0] == 2
    assert _run(["mv", "/a"], capsys)[0] == 2


def test_wrong_cluster_dir_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _run(["--cluster", str(tmp_path / "nope"), "ls", "/"], capsys)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("gfs: not a cluster directory")
    # the option is accepted after the command too
    code, err = _run(["ls", "/", "--cluster", str(tmp_path / "nope")], capsys)
    assert code == 1 and "not a cluster directory" in err


def test_parser_accepts_options() -> None:
    parser = cli.build_parser()
    ns = parser.parse_args(["--cluster", "D", "ls", "-R", "/x", "--json"])
    assert (ns.cluster, ns.recursive, ns.path, ns.json) == ("D", True, "/x", True)
    ns = parser.parse_args(["put", "-f", "a", "b", "/c"])
    assert ns.paths == ["a", "b", "/c"] and ns.force
    ns = parser.parse_args(["fsck"])
    assert ns.path == "/" and not ns.json
