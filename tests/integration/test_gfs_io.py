"""The bulk data paths against a real cluster: `get` writing through its own thread (with
O_DIRECT where possible), `cat` writing behind, remote reads over the datanodes' data
transfer ports, and what is left behind when any of that fails."""

from __future__ import annotations

import dataclasses
import io
import random
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import gfs.client as client_module
from gfs import errors

if TYPE_CHECKING:
    from conftest import RunningCluster

KiB = 1024
MiB = 1024 * KiB
PIECE = MiB  # what a datanode verifies and sends at once
CHUNK = 3 * PIECE  # several pieces per chunk, so a bad block can sit mid-chunk
SPAN = PIECE + 192 * KiB  # read ranges not aligned to blocks or pieces
SIZE = 2 * CHUNK + 600 * KiB + 123


@pytest.fixture
def cluster(cluster_factory: Any) -> RunningCluster:
    # replication == datanodes: every datanode holds every chunk.
    return cluster_factory(gfs={"datanodes": 3, "replication": 3, "chunk_size": CHUNK})


def ok(result: subprocess.CompletedProcess[Any]) -> subprocess.CompletedProcess[Any]:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr!r}"
    return result


def stored(cluster: RunningCluster, tmp_path: Path, path: str = "/f", seed: int = 1) -> bytes:
    data = random.Random(seed).randbytes(SIZE)
    local = tmp_path / f"src-{seed}"
    local.write_bytes(data)
    ok(cluster.gfs("put", str(local), path))
    return data


def corrupt(cluster: RunningCluster, datanode: str, handle: str, offset: int) -> None:
    chunk_file = cluster.chunk_dir(datanode) / f"{handle}.chunk"
    raw = bytearray(chunk_file.read_bytes())
    raw[offset] ^= 0xFF
    chunk_file.write_bytes(bytes(raw))


def test_get_cat_and_ranges_are_exact(cluster: RunningCluster, tmp_path: Path) -> None:
    data = stored(cluster, tmp_path)
    with cluster.client() as client:
        target, size = client.get("/f", tmp_path / "got")
        assert size == SIZE and target.read_bytes() == data
        assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~client_module._umask())
        with pytest.raises(errors.NotADirectory, match="no such local directory"):
            client.get("/f", f"{tmp_path}/missing/")  # not a file named "missing"
        assert not (tmp_path / "missing").exists()
        into_dir = tmp_path / "dir"
        into_dir.mkdir()
        assert client.get("/f", into_dir)[0] == into_dir / "f"
        assert (into_dir / "f").read_bytes() == data
        out = io.BytesIO()
        assert client.cat("/f", out) == SIZE and out.getvalue() == data
        rng = random.Random(2)
        for _ in range(12):
            offset = rng.randrange(SIZE)
            length = rng.randrange(3 * SPAN)
            got = b"".join(client.read_range("/f", offset, length))
            assert got == data[offset : offset + length], (offset, length)
            assert all(isinstance(piece, bytes) for piece in client.read_range("/f", offset, 9))
    # The command line.
    ok(cluster.gfs("get", "/f", str(tmp_path / "cli-got")))
    assert (tmp_path / "cli-got").read_bytes() == data
    cat = cluster.gfs("cat", "/f", text=False)
    assert cat.returncode == 0 and cat.stdout == data
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_remote_read_goes_on_from_another_replica_after_a_bad_block(
    cluster: RunningCluster, tmp_path: Path
) -> None:
    """The replica read first (over its data port) has a bad block in its third piece: the
    read goes on from another replica at the exact byte reached."""
    data = stored(cluster, tmp_path)
    with cluster.client() as client:
        warnings: list[str] = []
        client._on_warning = warnings.append
        _status, chunks = client.stat("/f")
        victim = chunks[1].replicas[0]
        corrupt(cluster, victim.datanode, chunks[1].hex, 2 * PIECE + 10)
        assert client._local_replica(victim, chunks[1].handle) is None  # no host: remote
        assert b"".join(client.read_range("/f", chunks=chunks)) == data
        # Found by the read (or first by the datanode's scan: DATA_LOSS all the same).
        assert warnings == [_warning(chunks[1].hex, victim.datanode)]
        cluster.wait_until(
            lambda: victim.datanode in client.stat("/f")[1][1].corrupt,
            what="the corrupt replica known to the namenode",
        )


def test_get_reads_around_a_corrupt_local_replica(cluster: RunningCluster, tmp_path: Path) -> None:
    """A reader on a datanode's host reads its file, finds a bad block mid-chunk and goes on
    from another replica at the byte reached; the output thread sees one seamless stream."""
    data = stored(cluster, tmp_path)
    with cluster.client() as client:
        _status, chunks = client.stat("/f")
        victim = chunks[1].replicas[0]
        client.client_host = f"host-{victim.datanode.rsplit('-', 1)[1]}"
        assert client._local_replica(victim, chunks[1].handle) is not None  # read from disk
        # Paused, the victim cannot find the bad block first (its check of changed chunk
        # files) and get it delisted before the get asks for locations; the client reads
        # its file without it.
        ok(cluster.kill(victim.datanode, "STOP"))
        try:
            corrupt(cluster, victim.datanode, chunks[1].hex, PIECE + 400 * KiB)
            warnings: list[str] = []
            client._on_warning = warnings.append
            target, size = client.get("/f", tmp_path / "got")
        finally:
            ok(cluster.kill(victim.datanode, "CONT"))
        assert size == SIZE and target.read_bytes() == data
        assert warnings == [_warning(chunks[1].hex, victim.datanode)]


def test_failed_get_leaves_nothing_behind(cluster: RunningCluster, tmp_path: Path) -> None:
    """Every replica of the last chunk is bad: two chunks were already written out when
    the get fails, and neither the target nor the temp file remains."""
    data = stored(cluster, tmp_path)
    with cluster.client() as client:
        _status, chunks = client.stat("/f")
        for replica in chunks[2].replicas:
            corrupt(cluster, replica.datanode, chunks[2].hex, 100)
        out = tmp_path / "out"
        out.mkdir()
        with pytest.raises(errors.DataUnavailable):
            client.get("/f", out / "f")
        assert list(out.iterdir()) == []
        sink = io.BytesIO()
        with pytest.raises(errors.DataUnavailable):
            client.cat("/f", sink)
        assert sink.getvalue() == data[: 2 * CHUNK]  # cat writes what it could read


def test_get_that_cannot_write_fails_cleanly(cluster: RunningCluster, tmp_path: Path) -> None:
    """A local write error (here: the file size limit, EFBIG, raised in the output thread)
    is one line, exit 1, and no partial or temp file is left."""
    stored(cluster, tmp_path)
    out = tmp_path / "out"
    out.mkdir()

    def limit_file_size() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (MiB, MiB))

    result = subprocess.run(
        [*cluster_cli(cluster), "get", "/f", str(out / "f")],
        capture_output=True,
        text=True,
        env=cluster.env,
        timeout=120,
        preexec_fn=limit_file_size,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gfs: cannot write {out / 'f'}"), lines
    assert list(out.iterdir()) == []


def test_cat_reports_a_failing_writer_and_the_client_stays_usable(
    cluster: RunningCluster, tmp_path: Path
) -> None:
    data = stored(cluster, tmp_path)

    class Full(io.RawIOBase):
        def __init__(self) -> None:
            self.taken = 0

        def write(self, b: Any) -> int:
            if self.taken >= CHUNK:
                raise OSError(28, "No space left on device")
            self.taken += len(b)
            return len(b)

    with cluster.client() as client:
        with pytest.raises(OSError, match="No space left"):
            client.cat("/f", Full())  # type: ignore[arg-type]
        assert client.read_bytes("/f") == data


def test_cat_reports_the_read_error_when_the_writer_also_failed(
    cluster: RunningCluster, tmp_path: Path
) -> None:
    """The last chunk is unreadable and the writer fails on the last piece before it: the
    read error is what `cat` raises, not the write error it would otherwise be masked by."""
    stored(cluster, tmp_path)

    class FailsOnLastGoodPiece(io.RawIOBase):
        def __init__(self) -> None:
            self.taken = 0

        def write(self, b: Any) -> int:
            self.taken += len(b)
            if self.taken >= 2 * CHUNK:
                raise OSError(28, "No space left on device")
            return len(b)

    with cluster.client() as client:
        _status, chunks = client.stat("/f")
        for replica in chunks[2].replicas:
            corrupt(cluster, replica.datanode, chunks[2].hex, 100)
        sink = FailsOnLastGoodPiece()
        with pytest.raises(errors.DataUnavailable):
            client.cat("/f", sink)  # type: ignore[arg-type]
        assert sink.taken == 2 * CHUNK


def test_cat_into_a_closed_pipe_stops_quietly(cluster: RunningCluster, tmp_path: Path) -> None:
    """`gfs cat big | head -c 10`: the writing thread hits EPIPE, the command stops."""
    data = stored(cluster, tmp_path)
    cat = subprocess.Popen(
        [*cluster_cli(cluster), "cat", "/f"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cluster.env,
    )
    assert cat.stdout is not None
    try:
        first = cat.stdout.read(10)
        cat.stdout.close()
        _out, err = cat.communicate(timeout=120)
    finally:
        if cat.poll() is None:
            cat.kill()
    assert first == data[:10]
    assert cat.returncode == 1 and err == b"", err


def test_read_ranges_in_any_replica_order(cluster: RunningCluster, tmp_path: Path) -> None:
    """Each replica alone serves every range correctly."""
    data = stored(cluster, tmp_path)
    with cluster.client() as client:
        _status, chunks = client.stat("/f")
        for first in range(3):
            ordered = [
                dataclasses.replace(c, replicas=c.replicas[first:] + c.replicas[:first])
                for c in chunks
            ]
            got = b"".join(client.read_range("/f", SPAN - 5, 2 * CHUNK, chunks=ordered))
            assert got == data[SPAN - 5 : SPAN - 5 + 2 * CHUNK]


def cluster_cli(cluster: RunningCluster) -> list[str]:
    import sys

    return [sys.executable, "-m", "gfs.cli", "--cluster", str(cluster.dir)]


def _warning(handle: str, datanode: str) -> str:
    return f"corrupt replica of chunk {handle} of /f on {datanode}; read another replica"
