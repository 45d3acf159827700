"""The `gfs` command line and GfsClient against a real cluster (tiny chunks, real processes)."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from gfs import errors, rpc
from gfs.datanode.transfer import Code, TransferError, read_remote
from gfs.proto import gfs_pb2, gfs_pb2_grpc

if TYPE_CHECKING:
    from conftest import RunningCluster

CHUNK = 64 * 1024  # the test clusters' chunk size (conftest TEST_DEFAULTS)


def ok(result: subprocess.CompletedProcess[Any]) -> subprocess.CompletedProcess[Any]:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr!r}"
    return result


def one_line_error(result: subprocess.CompletedProcess[Any], code: int = 1) -> str:
    stderr = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
    assert result.returncode == code, f"exit {result.returncode}: {stderr!r}"
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("gfs: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def tree(cluster: RunningCluster) -> list[str]:
    """Every path with its type and size: a fingerprint of the namespace."""
    entries = json.loads(ok(cluster.gfs("ls", "-R", "/", "--json")).stdout)
    return sorted(f"{e['path']} {'d' if e['is_dir'] else e['size']}" for e in entries)


def stat_json(cluster: RunningCluster, path: str) -> dict[str, Any]:
    return json.loads(ok(cluster.gfs("stat", path, "--json")).stdout)


def assert_replicated(cluster: RunningCluster, path: str, size: int, replication: int) -> None:
    doc = stat_json(cluster, path)
    assert doc["path"] == path and doc["size"] == size and doc["replication"] == replication
    assert len(doc["chunks"]) == -(-size // CHUNK)
    assert sum(c["size"] for c in doc["chunks"]) == size
    hosts = {f"datanode-{i}": f"host-{i}" for i in range(cluster.config.gfs.datanodes)}
    for chunk in doc["chunks"]:
        assert len(chunk["handle"]) == 16 and int(chunk["handle"], 16) > 0
        replicas = chunk["replicas"]
        assert len(replicas) == replication, chunk
        assert len(set(replicas)) == replication, chunk  # distinct datanodes...
        assert len({hosts[r] for r in replicas}) == replication, chunk  # ...and hosts


@pytest.fixture
def cluster(cluster_factory: Any) -> RunningCluster:
    return cluster_factory()


def test_round_trips_are_byte_exact(cluster: RunningCluster, tmp_path: Path) -> None:
    rng = random.Random(20240601)
    sizes = {
        "empty": 0,
        "one-byte": 1,
        "one-chunk": CHUNK,
        "chunk-plus-one": CHUNK + 1,
        "many-chunks": 9 * CHUNK + 12345,
    }
    replication = cluster.config.gfs.replication
    ok(cluster.gfs("mkdir", "/rt"))
    for name, size in sizes.items():
        data = rng.randbytes(size)
        local = tmp_path / name
        local.write_bytes(data)
        ok(cluster.gfs("put", str(local), f"/rt/{name}"))
        back = tmp_path / f"{name}.back"
        ok(cluster.gfs("get", f"/rt/{name}", str(back)))
        assert back.read_bytes() == data, name
        assert ok(cluster.gfs("cat", f"/rt/{name}", text=False)).stdout == data, name
        assert_replicated(cluster, f"/rt/{name}", size, replication)

    # stdin, spooled chunk by chunk, and a non-default replication
    data = rng.randbytes(3 * CHUNK + 7)
    ok(cluster.gfs("put", "--replication", "2", "-", "/rt/stdin", input=data, text=False))
    assert ok(cluster.gfs("cat", "/rt/stdin", text=False)).stdout == data
    assert_replicated(cluster, "/rt/stdin", len(data), 2)

    # cat of several files concatenates them
    both = ok(cluster.gfs("cat", "/rt/one-byte", "/rt/stdin", text=False)).stdout
    assert both == (tmp_path / "one-byte").read_bytes() + data

    # get into a local directory uses the file's name; `get -` writes stdout
    outdir = tmp_path / "out"
    outdir.mkdir()
    ok(cluster.gfs("get", "/rt/many-chunks", str(outdir)))
    assert (outdir / "many-chunks").read_bytes() == (tmp_path / "many-chunks").read_bytes()
    assert sorted(os.listdir(outdir)) == ["many-chunks"]  # no temp file left behind
    got = ok(cluster.gfs("get", "/rt/chunk-plus-one", "-", text=False)).stdout
    assert got == (tmp_path / "chunk-plus-one").read_bytes()


def test_library_reads_writes_and_ranges(cluster: RunningCluster) -> None:
    rng = random.Random(7)
    data = rng.randbytes(5 * CHUNK + 999)
    with cluster.client() as client:
        client.mkdir("/lib/a/b", parents=True)
        assert client.is_dir("/lib/a") and not client.exists("/lib/file")
        with client.create("/lib/file") as writer:
            for start in range(0, len(data), 10_000):  # many small writes
                writer.write(data[start : start + 10_000])
        assert writer.size == len(data) and writer.chunks == 6
        assert client.read_bytes("/lib/file") == data
        for offset, length in [
            (0, 1),
            (CHUNK - 1, 2),
            (CHUNK, CHUNK),
            (3, 4 * CHUNK),
            (len(data) - 5, 100),
            (len(data), 10),
            (2 * CHUNK + 17, None),
        ]:
            expected = data[offset:] if length is None else data[offset : offset + length]
            got = b"".join(client.read_range("/lib/file", offset, length))
            assert got == expected, (offset, length)

        status, chunks = client.stat("/lib/file")
        assert status.size == len(data) and not status.is_dir
        assert [c.offset for c in chunks] == [i * CHUNK for i in range(6)]
        assert sorted(e.path for e in client.ls("/lib")) == ["/lib/a", "/lib/file"]

        # A writer that fails or is aborted leaves no file behind.
        with pytest.raises(RuntimeError), client.create("/lib/failed") as writer:
            writer.write(rng.randbytes(2 * CHUNK + 3))
            raise RuntimeError("the producer broke")
        assert not client.exists("/lib/failed")
        writer = client.create("/lib/aborted")
        writer.write(b"x" * 100)
        writer.abort()
        assert not client.exists("/lib/aborted")
        with pytest.raises(ValueError):
            writer.write(b"more")

        # The file appears only when complete.
        writer = client.create("/lib/pending")
        writer.write(b"abc")
        assert not client.exists("/lib/pending")
        writer.close()
        assert client.read_bytes("/lib/pending") == b"abc"

        # overwrite=True replaces a file atomically; without it, an existing file is an error.
        with pytest.raises(errors.AlreadyExists):
            client.create("/lib/pending")
        from io import BytesIO

        assert client.write_file("/lib/pending", BytesIO(b"new"), overwrite=True) == 3
        assert client.read_bytes("/lib/pending") == b"new"

        info = client.cluster()
        assert info.replication == cluster.config.gfs.replication
        assert info.chunk_size == CHUNK
        assert sorted(d.name for d in info.datanodes if d.alive) == cluster.datanodes()
        report = client.fsck("/")
        assert report.healthy and report.files == 2 and report.missing == 0


def test_put_targets_like_cp(cluster: RunningCluster, tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.bin"
    a.write_bytes(b"alpha\n")
    b.write_bytes(bytes(range(256)) * 300)
    ok(cluster.gfs("mkdir", "/d"))
    ok(cluster.gfs("put", str(a), str(b), "/d"))  # several files: into the directory
    ok(cluster.gfs("mkdir", "/d/sub"))
    ok(cluster.gfs("put", str(a), "/d/sub/"))  # trailing slash: into the directory
    ok(cluster.gfs("put", str(b), "/d/sub"))  # an existing directory: into it
    ok(cluster.gfs("put", str(a), "/renamed"))  # a new path: that name
    assert tree(cluster) == sorted(
        [
            "/d d",
            "/d/a.txt 6",
            f"/d/b.bin {256 * 300}",
            "/d/sub d",
            "/d/sub/a.txt 6",
            f"/d/sub/b.bin {256 * 300}",
            "/renamed 6",
        ]
    )
    before = tree(cluster)

    # An existing file is not replaced without -f, and nothing else is written either.
    c = tmp_path / "c.txt"
    c.write_bytes(b"gamma\n")
    line = one_line_error(cluster.gfs("put", str(c), str(a), "/d"))
    assert "/d/a.txt" in line and "exists" in line
    assert tree(cluster) == before
    # A missing local file among good ones: clear error, nothing written.
    line = one_line_error(cluster.gfs("put", str(c), str(tmp_path / "missing"), "/d"))
    assert "missing" in line
    # A local directory is refused.
    line = one_line_error(cluster.gfs("put", str(tmp_path), "/d/x"))
    assert "directory" in line
    # Several files need a directory as the target.
    one_line_error(cluster.gfs("put", str(a), str(c), "/nodir"))
    one_line_error(cluster.gfs("put", str(c), "/nodir/"))
    assert tree(cluster) == before

    # -f overwrites.
    ok(cluster.gfs("put", "-f", str(c), "/d/a.txt"))
    assert ok(cluster.gfs("cat", "/d/a.txt")).stdout == "gamma\n"


def test_namespace_commands_behave_like_posix(cluster: RunningCluster, tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"0123456789")

    # mkdir -p makes parents and accepts an existing directory; plain mkdir does neither.
    ok(cluster.gfs("mkdir", "-p", "/a/b/c"))
    ok(cluster.gfs("mkdir", "-p", "/a/b/c"))
    assert "exists" in one_line_error(cluster.gfs("mkdir", "/a/b"))
    one_line_error(cluster.gfs("mkdir", "/x/y"))
    ok(cluster.gfs("put", str(f), "/a/b/f"))
    ok(cluster.gfs("put", str(f), "/a/top"))

    # ls lists one level; ls -R everything below, with full paths; ls of a file lists it.
    listing = ok(cluster.gfs("ls", "/a")).stdout.splitlines()
    assert [line.split()[-1] for line in listing] == ["/a/b", "/a/top"]
    assert listing[0].startswith("d") and listing[1].startswith("-")
    assert listing[1].split()[1:3] == [str(cluster.config.gfs.replication), "10"]
    recursive = ok(cluster.gfs("ls", "-R", "/a")).stdout.splitlines()
    assert sorted(line.split()[-1] for line in recursive) == [
        "/a/b",
        "/a/b/c",
        "/a/b/f",
        "/a/top",
    ]
    assert ok(cluster.gfs("ls", "/a/top")).stdout.split()[-1] == "/a/top"
    one_line_error(cluster.gfs("ls", "/nope"))

    # mv of a directory moves its whole subtree; into an existing directory it keeps its name.
    ok(cluster.gfs("mv", "/a/b", "/moved"))
    ok(cluster.gfs("mkdir", "/dest"))
    ok(cluster.gfs("mv", "/moved", "/dest"))
    ok(cluster.gfs("mv", "/a/top", "/dest/"))
    assert tree(cluster) == ["/a d", "/dest d", "/dest/moved d", "/dest/moved/c d"] + [
        "/dest/moved/f 10",
        "/dest/top 10",
    ]
    before = tree(cluster)
    # mv onto an existing file, of a directory into itself, or of a missing path: refused.
    ok(cluster.gfs("put", str(f), "/other"))
    before = tree(cluster)
    assert "exists" in one_line_error(cluster.gfs("mv", "/dest/top", "/other"))
    one_line_error(cluster.gfs("mv", "/dest", "/dest/moved"))
    one_line_error(cluster.gfs("mv", "/missing", "/elsewhere"))
    one_line_error(cluster.gfs("mv", "/other", "/no/such/dir/x"))
    assert tree(cluster) == before
    assert ok(cluster.gfs("cat", "/dest/moved/f")).stdout == "0123456789"

    # rm: files; directories only with -r (recursively); missing paths are errors.
    assert "directory" in one_line_error(cluster.gfs("rm", "/dest"))
    assert tree(cluster) == before
    ok(cluster.gfs("rm", "/other"))
    ok(cluster.gfs("rm", "-r", "/dest"))
    one_line_error(cluster.gfs("rm", "/dest"))
    assert tree(cluster) == ["/a d"]
    one_line_error(cluster.gfs("rm", "-r", "/"))
    assert tree(cluster) == ["/a d"]


def test_bad_input_is_one_line_and_changes_nothing(cluster: RunningCluster, tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"data")
    ok(cluster.gfs("mkdir", "/keep"))
    ok(cluster.gfs("put", str(f), "/keep/f"))
    before = tree(cluster)

    for args in (
        ["ls", "/keep/../etc"],
        ["mkdir", "-p", "/a/./b"],
        ["put", str(f), "/keep/../f"],
        ["put", str(f), "relative/path"],
        ["cat", "/a//b"],
        ["mv", "/keep/f", "/keep/.."],
        ["rm", "-r", "/keep/.."],
        ["stat", ""],
    ):
        line = one_line_error(cluster.gfs(*args))
        assert "path" in line or "empty" in line, (args, line)
    assert "'..'" in one_line_error(cluster.gfs("ls", "/keep/../etc"))

    # missing files, local and remote
    assert "no such" in one_line_error(cluster.gfs("put", str(tmp_path / "nope"), "/x")).lower()
    one_line_error(cluster.gfs("cat", "/keep/missing"))
    one_line_error(cluster.gfs("stat", "/keep/missing"))
    target = tmp_path / "never"
    one_line_error(cluster.gfs("get", "/keep/missing", str(target)))
    assert not target.exists()

    # get to an unwritable local path: one line, nothing left behind
    line = one_line_error(cluster.gfs("get", "/keep/f", str(tmp_path / "no" / "such" / "dir")))
    assert "cannot write" in line
    line = one_line_error(cluster.gfs("get", "/keep/f", str(f / "under-a-file")))
    assert "cannot write" in line
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    try:
        if os.geteuid() != 0:  # root writes anyway
            one_line_error(cluster.gfs("get", "/keep/f", str(readonly / "x")))
            assert os.listdir(readonly) == []
    finally:
        readonly.chmod(0o700)
    assert f.read_bytes() == b"data"

    # usage errors exit 2
    assert cluster.gfs("put", "/only-one").returncode == 2
    assert cluster.gfs("mv", "/one").returncode == 2
    assert cluster.gfs("frobnicate").returncode == 2
    for bad in ("0", "-1", "x"):
        usage = cluster.gfs("put", "--replication", bad, str(f), "/r")
        assert usage.returncode == 2 and "positive integer" in usage.stderr, usage.stderr

    # a wrong --cluster directory
    line = one_line_error(cluster.run("gfs", "--cluster", str(tmp_path / "nope"), "ls", "/"))
    assert "not a cluster directory" in line
    line = one_line_error(cluster.run("gfs", "ls", "/", cluster=False))  # no ./.cluster there
    assert "not a cluster directory" in line

    assert tree(cluster) == before


def test_calls_without_the_secret_are_refused(cluster: RunningCluster, tmp_path: Path) -> None:
    ok(cluster.gfs("put", "-", "/file", input="secret data"))
    before = tree(cluster)

    # Raw gRPC without the secret: UNAUTHENTICATED from the namenode and the datanodes.
    namenode = grpc.insecure_channel(cluster.address("namenode"))
    with namenode:
        with pytest.raises(grpc.RpcError) as info:
            gfs_pb2_grpc.NamenodeStub(namenode).Stat(gfs_pb2.PathRequest(path="/file"), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as info:
            gfs_pb2_grpc.NamenodeStub(namenode).Delete(
                gfs_pb2.DeleteRequest(path="/file"), timeout=10
            )
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    wrong = rpc.channel(cluster.address("datanode-0"), "not-the-secret")
    with wrong:
        with pytest.raises(grpc.RpcError) as info:
            gfs_pb2_grpc.DatanodeStub(wrong).Scan(gfs_pb2.ScanRequest(), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # ... and from the data transfer ports that serve the reads.
    with cluster.client() as client:
        _status, chunks = client.stat("/file")
    for replica in chunks[0].replicas:
        with pytest.raises(TransferError) as refused:
            list(read_remote(replica.data_address, "not-the-secret", chunks[0].handle, 0, 0, 10))
        assert refused.value.code == Code.UNAUTHENTICATED

    # The CLI with a wrong secret: one line, exit 1 (ZooKeeper already refuses it).
    fake = tmp_path / "fake-cluster"
    fake.mkdir()
    shutil.copy(cluster.dir / "cluster.json", fake / "cluster.json")
    (fake / "secret").write_text("not-the-secret\n")
    line = one_line_error(cluster.run("gfs", "--cluster", str(fake), "rm", "/file"))
    assert "secret" in line
    # ... and a missing secret file
    (fake / "secret").unlink()
    assert "secret" in one_line_error(cluster.run("gfs", "--cluster", str(fake), "ls", "/"))
    assert tree(cluster) == before


def test_slow_writer_keeps_its_lease(cluster_factory) -> None:
    """A writer that takes longer than the lease timeout to fill a chunk keeps its file:
    the client renews the lease while the file is open."""
    cluster = cluster_factory(gfs={"lease_timeout": 1.5})
    channel = rpc.channel(cluster.address("namenode"), cluster.secret)
    namenode = gfs_pb2_grpc.NamenodeStub(channel)
    with channel, cluster.client() as client:
        writer = client.create("/slow")
        writer.write(b"first half, ")
        # A file created at the same time by a writer that never renews: once the namenode
        # has expired it, /slow has been open for longer than the lease timeout too.
        namenode.Create(gfs_pb2.CreateRequest(path="/control", client_id="silent"), timeout=10)
        cluster.wait_until(
            lambda: "lease on /control expired" in cluster.log("namenode"),
            timeout=30,
            what="the namenode to expire the silent writer's lease",
        )
        writer.write(b"second half\n")
        writer.close()
        assert client.read_bytes("/slow") == b"first half, second half\n"
        assert not client.exists("/control")


def test_local_replica_is_read_straight_from_disk(cluster_factory, tmp_path) -> None:
    """A reader on a datanode's host reads that datanode's replicas from their files (CRCs
    verified): it works even while every datanode process is paused; a corrupt local copy
    is reported and the read goes on from another replica."""
    import os

    from gfs.client import GfsClient

    cluster = cluster_factory(gfs={"datanodes": 3})  # every datanode holds every chunk
    data = os.urandom(300 * 1024)
    source = tmp_path / "blob"
    source.write_bytes(data)
    cluster.gfs("put", str(source), "/blob", check=True)
    names = ["datanode-0", "datanode-1", "datanode-2"]
    with GfsClient(cluster.dir, client_host="host-0", timeout=3) as local_reader:
        _status, chunks = local_reader.stat("/blob")
        for name in names:  # no datanode answers: only a read from disk can succeed
            cluster.kill(name, signal="STOP")
        try:
            assert b"".join(local_reader.read_range("/blob", chunks=chunks)) == data
        finally:
            for name in names:
                cluster.kill(name, signal="CONT")
        victim = cluster.chunk_dir("datanode-0") / f"{chunks[0].hex}.chunk"
        raw = bytearray(victim.read_bytes())
        raw[100] ^= 0xFF
        victim.write_bytes(bytes(raw))
        assert local_reader.read_bytes("/blob") == data  # from another replica
        assert "datanode-0" in local_reader.stat("/blob")[1][0].corrupt
