"""GFS under faults, as a user sees it through `gfs` and GfsClient: bounded memory, a datanode
killed mid-put, a corrupt replica, a namenode killed and restarted."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gfs.handles import format_handle

if TYPE_CHECKING:
    from conftest import RunningCluster

MiB = 1024 * 1024
# Runs a command and prints the peak RSS (KiB) of that child once it has exited.
PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def ok(result: subprocess.CompletedProcess[Any]) -> subprocess.CompletedProcess[Any]:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr!r}"
    return result


def gfs_command(cluster: RunningCluster, *args: str) -> list[str]:
    return [sys.executable, "-m", "gfs.cli", "--cluster", str(cluster.dir), *args]


def run_gfs(
    cluster: RunningCluster, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        gfs_command(cluster, *args),
        capture_output=True,
        env={**cluster.env, **(env or {})},
        timeout=timeout,
    )


def stat_json(cluster: RunningCluster, path: str) -> dict[str, Any]:
    return json.loads(ok(cluster.gfs("stat", path, "--json")).stdout)


def write_random(path: Path, size: int, seed: int) -> str:
    """A file of `size` random bytes, written 1 MiB at a time; returns its sha256."""
    rng = random.Random(seed)
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left:
            piece = rng.randbytes(min(MiB, left))
            digest.update(piece)
            out.write(piece)
            left -= len(piece)
    return digest.hexdigest()


def sha256_of(frames: Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(frame)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return sha256_of(iter(lambda: handle.read(MiB), b""))


def committed_handles(cluster: RunningCluster) -> set[str]:
    handles: set[str] = set()
    for name in cluster.datanodes():
        chunk_dir = cluster.chunk_dir(name)
        if chunk_dir.is_dir():
            handles.update(p.name.split(".")[0] for p in chunk_dir.iterdir())
    return handles


def writing_datanodes(cluster: RunningCluster) -> list[str]:
    """Datanodes with a chunk write in progress (a file in their tmp/)."""
    busy = []
    for name in cluster.datanodes():
        tmp = cluster.data_dir(name) / "tmp"
        if tmp.is_dir() and any(tmp.iterdir()):
            busy.append(name)
    return busy


def test_put_and_get_of_200_mib_use_bounded_memory(cluster_factory: Any, tmp_path: Path) -> None:
    cluster = cluster_factory(gfs={"chunk_size": 4 * MiB})
    size = 200 * MiB
    local = tmp_path / "big"
    digest = write_random(local, size, seed=1)

    def peak_kib(*args: str) -> int:
        result = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, *gfs_command(cluster, *args)],
            capture_output=True,
            text=True,
            env=cluster.env,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        return int(result.stdout.strip().splitlines()[-1])

    put_peak = peak_kib("put", str(local), "/big")
    assert put_peak < 100 * 1024, f"gfs put of 200 MiB peaked at {put_peak // 1024} MiB"
    doc = stat_json(cluster, "/big")
    assert doc["size"] == size and len(doc["chunks"]) == 50

    back = tmp_path / "big.back"
    get_peak = peak_kib("get", "/big", str(back))
    assert get_peak < 100 * 1024, f"gfs get of 200 MiB peaked at {get_peak // 1024} MiB"
    assert file_sha256(back) == digest


def test_datanode_killed_during_put_from_a_file(cluster_factory: Any, tmp_path: Path) -> None:
    # A long dead_after keeps the namenode offering the dead datanode, so pipelines must
    # really fail and be rebuilt by the client.
    cluster = cluster_factory(gfs={"chunk_size": MiB, "dead_after": 30.0})
    size = 48 * MiB + 4321
    local = tmp_path / "big"
    digest = write_random(local, size, seed=2)
    log = tmp_path / "put.log"
    with open(log, "wb") as stderr:
        put = subprocess.Popen(
            gfs_command(cluster, "--debug", "put", str(local), "/big"),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=cluster.env,
        )
        try:
            cluster.wait_until(
                lambda: len(committed_handles(cluster)) >= 3 or put.poll() is not None,
                timeout=60,
                what="the put to store a few chunks",
            )
            assert put.poll() is None, "the put finished before a datanode could be killed"
            # Freeze the writer so the kill lands mid-file, preferably mid-pipeline.
            put.send_signal(signal.SIGSTOP)
            busy = writing_datanodes(cluster)
            victim = busy[-1] if busy else "datanode-1"
            cluster.kill(victim)
            put.send_signal(signal.SIGCONT)
            assert put.wait(timeout=120) == 0, log.read_text(errors="replace")[-3000:]
        finally:
            if put.poll() is None:
                put.kill()
                put.wait(timeout=10)
    assert "new pipeline" in log.read_text(errors="replace"), "no pipeline was rebuilt"

    doc = stat_json(cluster, "/big")
    assert doc["size"] == size and len(doc["chunks"]) == 49
    for chunk in doc["chunks"]:
        assert len(set(chunk["replicas"])) == len(chunk["replicas"]) >= 2, chunk
    with cluster.client() as client:  # reads skip the dead replica
        assert sha256_of(client.read_file("/big")) == digest
    back = tmp_path / "back"
    ok(cluster.gfs("get", "/big", str(back)))
    assert file_sha256(back) == digest


def test_datanode_killed_during_put_from_stdin(cluster_factory: Any, tmp_path: Path) -> None:
    cluster = cluster_factory(gfs={"chunk_size": MiB, "dead_after": 30.0})
    rng = random.Random(3)
    first, second = rng.randbytes(10 * MiB + 10), rng.randbytes(12 * MiB + 77)
    put = subprocess.Popen(
        gfs_command(cluster, "--debug", "put", "-", "/piped"),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=cluster.env,
    )
    try:
        assert put.stdin is not None
        put.stdin.write(first)
        put.stdin.flush()
        cluster.wait_until(
            lambda: len(committed_handles(cluster)) >= 10, timeout=60, what="10 chunks stored"
        )
        cluster.kill("datanode-2")  # the next pipelines will very likely include it
        _out, err = put.communicate(second, timeout=120)
        assert put.returncode == 0, err.decode(errors="replace")
        # 12 more chunks over 4 datanodes (3 per pipeline): the dead one was picked
        assert "new pipeline" in err.decode(errors="replace")
    finally:
        if put.poll() is None:
            put.kill()
            put.wait(timeout=10)
    assert ok(cluster.gfs("cat", "/piped", text=False)).stdout == first + second


def test_corrupt_replica_is_read_around_reported_and_named(
    cluster_factory: Any, tmp_path: Path
) -> None:
    # replication == datanodes: nowhere to re-replicate, so the corruption stays visible.
    cluster = cluster_factory(gfs={"datanodes": 3, "replication": 3})
    data = random.Random(4).randbytes(3 * 64 * 1024 + 500)
    local = tmp_path / "f"
    local.write_bytes(data)
    ok(cluster.gfs("mkdir", "/data"))
    ok(cluster.gfs("put", str(local), "/data/x"))
    doc = stat_json(cluster, "/data/x")
    victim_chunk = doc["chunks"][1]
    handle = victim_chunk["handle"]
    victim = victim_chunk["replicas"][0]
    host = f"host-{victim.rsplit('-', 1)[1]}"

    with cluster.client() as client:
        client.client_host = host
        _status, stale = client.stat("/data/x")  # locations from before the corruption
        assert stale[1].replicas[0].datanode == victim

        chunk_file = cluster.chunk_dir(victim) / f"{handle}.chunk"
        raw = bytearray(chunk_file.read_bytes())
        assert raw == data[64 * 1024 : 2 * 64 * 1024]
        for i in (10, 5000, 40000):
            raw[i] ^= 0xFF
        chunk_file.write_bytes(bytes(raw))

        # The library reads around it from the exact byte reached, reports it and warns.
        warnings: list[str] = []
        client._on_warning = warnings.append
        assert b"".join(client.read_range("/data/x", chunks=stale)) == data
        assert warnings == [
            f"corrupt replica of chunk {handle} of /data/x on {victim}; read another replica"
        ]

    # `gfs cat`, nearest replica first being the corrupt one: exact data all the same.
    result = run_gfs(cluster, "cat", "/data/x", env={"MR_HOST": host})
    assert result.returncode == 0, result.stderr
    assert result.stdout == data
    assert b"Traceback" not in result.stderr
    after = stat_json(cluster, "/data/x")["chunks"][1]
    assert victim in after["corrupt"] and victim not in after["replicas"]

    # fsck names the corrupt replica; no data is missing, so it exits 0.
    fsck = ok(cluster.gfs("fsck"))
    assert f"/data/x chunk {handle}: corrupt replica on {victim} (2 live of 3)" in fsck.stdout
    assert fsck.stdout.strip().splitlines()[-1].endswith("UNHEALTHY")
    report = json.loads(ok(cluster.gfs("fsck", "/data", "--json")).stdout)
    assert report["corrupt"] == 1 and report["missing"] == 0 and report["healthy"] is False
    assert report["files"] == 1 and report["chunks"] == 4
    problems = [p for p in report["problems"] if p["kind"] == "corrupt"]
    assert problems == [
        {
            "path": "/data/x",
            "handle": handle,
            "kind": "corrupt",
            "live": sorted(r for r in victim_chunk["replicas"] if r != victim),
            "corrupt": [victim],
        }
    ]


def test_chunk_missing_everywhere_fails_clearly(cluster_factory: Any, tmp_path: Path) -> None:
    cluster = cluster_factory(gfs={"datanodes": 3, "replication": 3})
    data = random.Random(5).randbytes(2 * 64 * 1024)
    ok(cluster.gfs("put", "-", "/lost", input=data, text=False))
    handle = stat_json(cluster, "/lost")["chunks"][0]["handle"]
    for name in cluster.datanodes():
        path = cluster.chunk_dir(name) / f"{handle}.chunk"
        path.write_bytes(b"garbage" + path.read_bytes()[7:])

    result = run_gfs(cluster, "cat", "/lost")
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    assert lines[-1].startswith("gfs: cannot read chunk") and handle in lines[-1]
    assert "Traceback" not in result.stderr.decode()
    outdir = tmp_path / "out"
    outdir.mkdir()
    assert run_gfs(cluster, "get", "/lost", str(outdir / "lost")).returncode == 1
    assert os.listdir(outdir) == []  # no partial file, no temp file

    fsck = cluster.gfs("fsck", "--json")
    assert fsck.returncode == 1  # data is missing
    report = json.loads(fsck.stdout)
    assert report["missing"] == 1 and not report["healthy"]
    human = cluster.gfs("fsck")
    assert human.returncode == 1 and f"/lost chunk {handle}: MISSING" in human.stdout


def test_namenode_killed_and_restarted(cluster_factory: Any, tmp_path: Path) -> None:
    cluster = cluster_factory(gfs={"checkpoint_after_ops": 5})
    rng = random.Random(6)
    files = {f"/nn/f{i}": rng.randbytes(rng.randrange(1, 5 * 64 * 1024)) for i in range(6)}
    ok(cluster.gfs("mkdir", "-p", "/nn/sub"))
    for path, data in files.items():
        ok(cluster.gfs("put", "-", path, input=data, text=False))
    ok(cluster.gfs("mv", "/nn/f0", "/nn/sub/moved"))
    files["/nn/sub/moved"] = files.pop("/nn/f0")
    ok(cluster.gfs("rm", "/nn/f1"))
    del files["/nn/f1"]
    last = rng.randbytes(3 * 64 * 1024 + 1)
    ok(cluster.gfs("put", "-", "/nn/last", input=last, text=False))  # right before the kill
    files["/nn/last"] = last
    listing = ok(cluster.gfs("ls", "-R", "/")).stdout

    cluster.kill("namenode")
    # A command started while the namenode is down waits for it (bounded) instead of failing.
    waiting = subprocess.Popen(
        gfs_command(cluster, "cat", "/nn/last"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cluster.env,
    )
    try:
        cluster.restart("namenode")
        out, err = waiting.communicate(timeout=90)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait(timeout=10)
    assert waiting.returncode == 0, err.decode(errors="replace")
    assert out == last

    assert ok(cluster.gfs("ls", "-R", "/")).stdout == listing
    for path, data in files.items():
        assert ok(cluster.gfs("cat", path, text=False)).stdout == data, path
    with cluster.client() as client:
        for path in files:
            _status, chunks = client.stat(path)
            assert all(c.replicas for c in chunks), path
    # and the namespace still takes writes
    ok(cluster.gfs("put", "-", "/nn/after", input=b"after", text=False))
    assert ok(cluster.gfs("cat", "/nn/after")).stdout == "after"


def test_handles_in_stat_match_chunk_files(cluster_factory: Any) -> None:
    cluster = cluster_factory()
    ok(cluster.gfs("put", "-", "/h", input=b"z" * (2 * 64 * 1024 + 1), text=False))
    for chunk in stat_json(cluster, "/h")["chunks"]:
        assert chunk["handle"] == format_handle(int(chunk["handle"], 16))
        for name in chunk["replicas"]:
            assert (cluster.chunk_dir(name) / f"{chunk['handle']}.chunk").is_file()


def test_put_with_every_datanode_dead_fails_and_leaves_nothing(
    cluster_factory: Any, tmp_path: Path
) -> None:
    # The namenode still believes they are alive (long dead_after): every pipeline fails.
    cluster = cluster_factory(gfs={"datanodes": 3, "replication": 2, "dead_after": 30.0})
    ok(cluster.gfs("mkdir", "/in"))
    for name in cluster.datanodes():
        cluster.kill(name)
    local = tmp_path / "f"
    local.write_bytes(b"x" * (3 * 64 * 1024))
    result = cluster.gfs("put", str(local), "/in/f")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gfs: cannot write chunk 0 of /in/f: no datan")
    assert ok(cluster.gfs("ls", "-R", "/")).stdout.split()[-1] == "/in"  # no half file
    report = json.loads(ok(cluster.gfs("fsck", "--json")).stdout)
    assert report["files"] == 0 and report["chunks"] == 0
