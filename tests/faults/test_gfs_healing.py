"""GFS heals itself (issue 3), with real processes: re-replication after a datanode dies,
last replicas first, excess trimming, corrupt-copy replacement, garbage collection of
deleted, abandoned and half-written chunks, restarts that keep data, truthful fsck."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gfs import rpc
from gfs.datanode.transfer import write_remote
from gfs.handles import format_handle
from gfs.proto import gfs_pb2, gfs_pb2_grpc

if TYPE_CHECKING:
    from conftest import RunningCluster

CHUNK = 64 * 1024
HEARTBEAT = 0.2
DEAD_AFTER = 2.5
# Every wait below is bounded by how long the cluster needs at most: noticing a dead
# datanode (DEAD_AFTER) plus repair rounds of a few heartbeats each, taken generously.
REPAIR_SECONDS = 40.0
HEAL_TIMEOUT = DEAD_AFTER + REPAIR_SECONDS
GFS = {"chunk_size": CHUNK, "heartbeat_interval": HEARTBEAT, "dead_after": DEAD_AFTER}
NO_MR = {"masters": 0, "workers": 0}  # GFS alone: fewer processes, less noise


def ok(result: subprocess.CompletedProcess[Any]) -> subprocess.CompletedProcess[Any]:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr!r}"
    return result


def stat_json(cluster: RunningCluster, path: str) -> dict[str, Any]:
    return json.loads(ok(cluster.gfs("stat", path, "--json")).stdout)


def fsck_json(cluster: RunningCluster, path: str = "/") -> dict[str, Any]:
    result = cluster.gfs("fsck", path, "--json")
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def chunk_files(cluster: RunningCluster, datanode: str) -> dict[str, Path]:
    """{handle: path} of the chunk files in a datanode's chunks/ folder."""
    folder = cluster.chunk_dir(datanode)
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.iterdir():
        if path.name.endswith(".chunk"):
            found[path.name[:16]] = path
    return found


def holders_on_disk(cluster: RunningCluster, names: list[str] | None = None) -> dict[str, set[str]]:
    """{handle: datanodes whose chunks/ folder holds a file of it}."""
    where: dict[str, set[str]] = {}
    for name in names if names is not None else cluster.datanodes():
        for handle in chunk_files(cluster, name):
            where.setdefault(handle, set()).add(name)
    return where


def put_random(cluster: RunningCluster, path: str, size: int, seed: int) -> bytes:
    data = random.Random(seed).randbytes(size)
    ok(cluster.gfs("put", "-", path, input=data, text=False))
    return data


def wait_dead(cluster: RunningCluster, *names: str) -> None:
    """Until the namenode counts every one of `names` as dead."""

    def dead() -> bool:
        with cluster.client() as client:
            alive = {d.name: d.alive for d in client.cluster().datanodes}
        return all(not alive.get(name, False) for name in names)

    cluster.wait_until(dead, timeout=DEAD_AFTER + 15, what=f"{', '.join(names)} declared dead")


def wait_alive(cluster: RunningCluster, *names: str) -> None:
    def alive() -> bool:
        with cluster.client() as client:
            states = {d.name: d.alive for d in client.cluster().datanodes}
        return all(states.get(name, False) for name in names)

    cluster.wait_until(alive, timeout=30, what=f"{', '.join(names)} registered")


def fully_replicated(cluster: RunningCluster, path: str, replication: int = 3) -> bool:
    with cluster.client() as client:
        report = client.fsck("/")
        _status, chunks = client.stat(path)
    return report.healthy and all(
        len({r.datanode for r in c.replicas}) == replication for c in chunks
    )


def assert_healthy_everywhere(
    cluster: RunningCluster, path: str, data: bytes, down: set[str]
) -> dict[str, Any]:
    """fsck --json healthy, every chunk on 3 distinct live datanodes, exact contents."""
    report = fsck_json(cluster)
    assert report["healthy"] and report["under_replicated"] == 0, report
    assert report["missing"] == 0 and report["corrupt"] == 0, report
    doc = stat_json(cluster, path)
    for chunk in doc["chunks"]:
        replicas = chunk["replicas"]
        assert len(replicas) == 3 and len(set(replicas)) == 3, chunk
        assert not set(replicas) & down, chunk
        for name in replicas:
            assert (cluster.chunk_dir(name) / f"{chunk['handle']}.chunk").is_file(), (chunk, name)
    assert ok(cluster.gfs("cat", path, text=False)).stdout == data
    return report


class Reader:
    """Reads a file over and over in a thread, checking every byte; any failure is kept."""

    def __init__(self, cluster: RunningCluster, path: str, data: bytes) -> None:
        self.cluster = cluster
        self.path = path
        self.data = data
        self.reads = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reader", daemon=True)

    def __enter__(self) -> Reader:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "the reader thread did not stop"

    def _run(self) -> None:
        with self.cluster.client() as client:
            while not self._stop.is_set():
                try:
                    got = client.read_bytes(self.path)
                except Exception as exc:  # recorded; the test fails on it
                    self.failures.append(f"read {self.reads + 1}: {exc}")
                    continue
                if got != self.data:
                    self.failures.append(f"read {self.reads + 1}: wrong bytes")
                self.reads += 1


REPAIR_LINE = re.compile(
    r"re-replicating chunk ([0-9a-f]{16}) \((\d+) live of (\d+)\) from (\S+) to (\S+)"
)


def repair_lines(log: str) -> list[tuple[str, int, str, str]]:
    """(handle, live, source, targets) of every re-replication the namenode started."""
    return [(m[1], int(m[2]), m[4], m[5]) for m in REPAIR_LINE.finditer(log)]


REPAIR_DONE = re.compile(r"chunk ([0-9a-f]{16}) re-replicated from (\S+) to (\S+)")
REPAIR_DROPPED = re.compile(r"repair of chunk ([0-9a-f]{16}) abandoned")


def most_copies_at_once(log: str) -> int:
    """Replays the namenode log: the most re-replications one datanode was sending at once."""
    running: dict[str, tuple[str, set[str]]] = {}  # handle -> (source, targets left)
    peak = 0
    for line in log.splitlines():
        if started := REPAIR_LINE.search(line):
            running[started[1]] = (started[4], set(started[5].split(",")))
        elif (done := REPAIR_DONE.search(line)) and done[1] in running:
            _source, left = running[done[1]]
            left.discard(done[3])
            if not left:
                del running[done[1]]
        elif dropped := REPAIR_DROPPED.search(line):
            running.pop(dropped[1], None)
        sources = [source for source, _left in running.values()]
        peak = max([peak, *(sources.count(s) for s in sources)])
    return peak


class FsckWatch:
    """Polls fsck in a thread and keeps every report: (under-replicated, pending, done)."""

    def __init__(self, cluster: RunningCluster) -> None:
        self.cluster = cluster
        self.reports: list[tuple[int, int, int, int]] = []  # + missing
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fsck-watch", daemon=True)

    def __enter__(self) -> FsckWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        with self.cluster.client() as client:
            while not self._stop.is_set():
                try:
                    r = client.fsck("/")
                except Exception as exc:  # recorded; the test fails on it
                    self.errors.append(str(exc))
                    continue
                self.reports.append(
                    (r.under_replicated, r.repairs_pending, r.repairs_done, r.missing)
                )


def file_identity(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, st.st_size


class DiskWatch:
    """Samples in a thread, as fast as it can: how many datanodes have a chunk file of each
    chunk on disk, and how many replicas stat returns. Keeps the lowest seen (and errors)."""

    def __init__(self, cluster: RunningCluster, path: str, handles: list[str]) -> None:
        self.cluster = cluster
        self.path = path
        self.handles = handles
        self.lowest_on_disk = dict.fromkeys(handles, 99)
        self.lowest_in_stat = dict.fromkeys(handles, 99)
        self.samples = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="disk-watch", daemon=True)

    def __enter__(self) -> DiskWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with self.cluster.client() as client:
            while not self._stop.is_set():
                where = holders_on_disk(self.cluster)
                try:
                    _status, chunks = client.stat(self.path)
                except Exception as exc:  # recorded; the test fails on it
                    self.errors.append(str(exc))
                    continue
                for handle in self.handles:
                    count = len(where.get(handle, ()))
                    self.lowest_on_disk[handle] = min(self.lowest_on_disk[handle], count)
                for chunk in chunks:
                    count = len({r.datanode for r in chunk.replicas})
                    self.lowest_in_stat[chunk.hex] = min(self.lowest_in_stat[chunk.hex], count)
                self.samples += 1


def flip_byte(path: Path, offset: int) -> None:
    """Corrupt one byte in place: same size, so only the checksums can tell."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


# ---------------------------------------------------------------------------------------


def test_dead_datanode_is_re_replicated(cluster_factory: Any) -> None:
    cluster = cluster_factory(gfs={**GFS, "datanodes": 4, "replication": 3}, mr=NO_MR)
    data = put_random(cluster, "/big", 40 * CHUNK - 99, seed=1)
    doc = stat_json(cluster, "/big")
    assert len(doc["chunks"]) == 40
    victim = "datanode-2"
    held = [c["handle"] for c in doc["chunks"] if victim in c["replicas"]]
    assert held, "the victim holds no replica"

    started = time.monotonic()
    with FsckWatch(cluster) as watch:
        cluster.kill(victim)
        wait_dead(cluster, victim)
        cluster.wait_until(
            lambda: fully_replicated(cluster, "/big"), timeout=HEAL_TIMEOUT, what="re-replication"
        )
        healed = time.monotonic() - started
    # fsck told the truth at every moment: until the namenode knew, nothing; from then on,
    # each chunk the victim held is either still under-replicated (and counted as a repair
    # pending) or repaired (and counted as done), never both, never neither.
    assert not watch.errors and len(watch.reports) > 5, watch.errors[:3]
    for under, pending, done, missing in watch.reports:
        assert missing == 0 and pending == under, watch.reports
        assert (under, done) == (0, 0) or under + done == len(held), watch.reports
    assert any(0 < under < len(held) for under, *_ in watch.reports), "no progress seen"
    report = assert_healthy_everywhere(cluster, "/big", data, down={victim})
    assert report["repairs_done"] == len(held), report
    human = ok(cluster.gfs("fsck")).stdout
    assert f"(0 repairs pending, {len(held)} done)" in human, human
    # Throttled: no datanode sends more than 2 copies at a time, so clients still get served.
    assert most_copies_at_once(cluster.log("namenode")) == 2
    print(f"{len(held)} replicas re-created {healed:.1f}s after the kill")


def test_last_replica_is_repaired_first_and_reads_go_on(cluster_factory: Any) -> None:
    cluster = cluster_factory(gfs={**GFS, "datanodes": 5, "replication": 3}, mr=NO_MR)
    data = put_random(cluster, "/big", 40 * CHUNK, seed=2)
    chunks = stat_json(cluster, "/big")["chunks"]
    replicas = {c["handle"]: set(c["replicas"]) for c in chunks}
    # The two datanodes that share the most chunks: those chunks keep a single replica.
    pairs = [(a, b) for a in cluster.datanodes() for b in cluster.datanodes() if a < b]
    a, b = max(pairs, key=lambda p: sum(set(p) <= r for r in replicas.values()))
    last_copy = {h: (r - {a, b}).pop() for h, r in replicas.items() if {a, b} <= r}
    assert last_copy, "no chunk is held by both victims"

    with Reader(cluster, "/big", data) as reader:
        pids = [cluster.pid(a), cluster.pid(b)]
        for pid in pids:  # at once: both die before the namenode notices either
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
        cluster.wait_until(
            lambda: not cluster.alive(a) and not cluster.alive(b), what="victims gone"
        )
        wait_dead(cluster, a, b)
        cluster.wait_until(
            lambda: fully_replicated(cluster, "/big"), timeout=HEAL_TIMEOUT, what="repairs"
        )
        reads_during_repair = reader.reads
        cluster.wait_until(lambda: reader.reads > reads_during_repair, what="one more read")
    assert not reader.failures, reader.failures[:5]
    assert_healthy_everywhere(cluster, "/big", data, down={a, b})

    # Order: from the moment both are known dead, a datanode holding the last copy of a
    # chunk copies every such chunk before it serves any chunk that still has two copies.
    log = cluster.log("namenode")
    both_dead = max(log.index(f"{a} is dead"), log.index(f"{b} is dead"))
    started = repair_lines(log[both_dead:])
    singles = [line for line in started if line[1] == 1]
    assert singles, f"no chunk was re-replicated from its last copy:\n{log[both_dead:]}"
    for handle, live, source, _targets in singles:
        assert last_copy.get(handle) == source, (handle, live, source)
    assert most_copies_at_once(log) <= 2
    for position, (_handle, live, source, _targets) in enumerate(started):
        if live == 2:
            later = [s for s in started[position:] if s[1] == 1 and s[2] == source]
            assert not later, f"{source} copied a chunk with 2 live before one with 1: {later}"
    print(
        f"{len(last_copy)} chunks down to one copy, {len(singles)} repaired from it first; "
        f"{reader.reads} reads during the repairs, none failed"
    )


def test_returning_datanode_keeps_its_files_and_excess_is_trimmed(
    cluster_factory: Any,
) -> None:
    cluster = cluster_factory(gfs={**GFS, "datanodes": 4, "replication": 3}, mr=NO_MR)
    data = put_random(cluster, "/big", 40 * CHUNK, seed=3)
    handles = [c["handle"] for c in stat_json(cluster, "/big")["chunks"]]
    victim = "datanode-1"
    before = {h: file_identity(p) for h, p in chunk_files(cluster, victim).items()}
    assert before

    cluster.kill(victim)
    wait_dead(cluster, victim)
    cluster.wait_until(
        lambda: fully_replicated(cluster, "/big"), timeout=HEAL_TIMEOUT, what="repairs"
    )
    repaired = fsck_json(cluster)["repairs_done"]
    assert repaired == len(before)
    # Now every chunk is on 3 live datanodes, and on 4 disks if the victim held it.
    assert all(len(n - {victim}) == 3 for n in holders_on_disk(cluster).values())

    cluster.restart(victim)
    with DiskWatch(cluster, "/big", handles) as watch:
        wait_alive(cluster, victim)

        def trimmed() -> bool:
            stat_json(cluster, "/big")  # the CLI's view too, while it happens
            where = holders_on_disk(cluster)
            return all(len(where.get(h, ())) == 3 for h in handles)

        cluster.wait_until(trimmed, timeout=HEAL_TIMEOUT, what="excess replicas trimmed")
    assert watch.samples > 10 and not watch.errors, watch.errors[:3]
    assert min(watch.lowest_on_disk.values()) >= 3, watch.lowest_on_disk
    assert min(watch.lowest_in_stat.values()) >= 3, watch.lowest_in_stat
    report = assert_healthy_everywhere(cluster, "/big", data, down=set())

    # The victim rejoined with its data: nothing was copied to it again, and every chunk
    # file it kept is the very file it had (same inode, same mtime).
    assert report["repairs_done"] == repaired, "copies were made after the restart"
    after = {h: file_identity(p) for h, p in chunk_files(cluster, victim).items()}
    assert set(after) <= set(before)
    assert all(after[h] == before[h] for h in after)
    log = cluster.log("namenode")
    assert not re.search(rf"re-replicated from \S+ to {victim}", log)
    assert "replaced existing replica" not in cluster.log(victim)
    print(
        f"{victim} came back with {len(before)} chunks and kept {len(after)}; "
        f"{watch.samples} samples during trimming, never below 3"
    )


def test_repair_target_that_stops_answering_does_not_hold_up_healing(
    cluster_factory: Any,
) -> None:
    """A datanode paused (SIGSTOP: a long GC pause, a partition) while copies are being
    made to it: once it counts as dead, those copies are made elsewhere at once, not after
    the stuck transfers time out."""
    cluster = cluster_factory(gfs={**GFS, "datanodes": 5, "replication": 3}, mr=NO_MR)
    data = put_random(cluster, "/big", 60 * CHUNK, seed=13)
    cluster.kill("datanode-2")
    wait_dead(cluster, "datanode-2")
    cluster.kill("datanode-1", signal="STOP")  # while the first repairs go to it
    paused = time.monotonic()
    try:
        cluster.wait_until(
            lambda: fully_replicated(cluster, "/big"),
            timeout=DEAD_AFTER + 20,  # stuck copies used to hold it up for a minute
            what="re-replication around the paused datanode",
        )
        healed = time.monotonic() - paused
        assert_healthy_everywhere(cluster, "/big", data, down={"datanode-1", "datanode-2"})
        # The fault path itself: copies planned onto the paused datanode were given up.
        log = cluster.log("namenode")
        to_paused = {h for h, _, _, targets in repair_lines(log) if "datanode-1" in targets}
        assert to_paused & set(REPAIR_DROPPED.findall(log)), "no copy to datanode-1 given up"
    finally:
        cluster.kill("datanode-1", signal="CONT")
    # Back from its pause, its copies are surplus: trimmed to exactly 3 of each chunk.
    up = ["datanode-0", "datanode-1", "datanode-3", "datanode-4"]
    cluster.wait_until(
        lambda: all(len(n) == 3 for n in holders_on_disk(cluster, up).values()),
        timeout=HEAL_TIMEOUT,
        what="surplus copies trimmed",
    )
    assert ok(cluster.gfs("cat", "/big", text=False)).stdout == data
    print(f"healed {healed:.1f}s after the pause")


def test_corrupt_replica_is_replaced_and_its_file_removed(cluster_factory: Any) -> None:
    cluster = cluster_factory(gfs={**GFS, "datanodes": 4, "replication": 3}, mr=NO_MR)
    data = put_random(cluster, "/f", 4 * CHUNK + 10, seed=4)
    chunk = stat_json(cluster, "/f")["chunks"][1]
    handle, victim = chunk["handle"], sorted(chunk["replicas"])[0]
    bad_file = cluster.chunk_dir(victim) / f"{handle}.chunk"
    flip_byte(bad_file, 1000)

    def replaced() -> bool:
        with cluster.client() as client:
            _status, chunks = client.stat("/f")
            report = client.fsck("/")
        live = {r.datanode for r in chunks[1].replicas}
        return report.healthy and len(live) == 3 and victim not in live

    cluster.wait_until(replaced, timeout=HEAL_TIMEOUT, what="the corrupt replica replaced")
    # ...and the corrupt file itself is deleted from the victim's chunks/ (and its checksums).
    cluster.wait_until(
        lambda: (
            not bad_file.exists()
            and not (cluster.data_dir(victim) / "meta" / f"{handle}.crc").exists()
        ),
        timeout=HEAL_TIMEOUT,
        what="the corrupt chunk file removed",
    )
    assert f"corrupt replica of chunk {handle}" in cluster.log(victim)
    assert f"deleting corrupt replica of chunk {handle} on {victim}" in cluster.log("namenode")
    assert_healthy_everywhere(cluster, "/f", data, down=set())
    for name in stat_json(cluster, "/f")["chunks"][1]["replicas"]:
        copy = (cluster.chunk_dir(name) / f"{handle}.chunk").read_bytes()
        assert copy == data[CHUNK : 2 * CHUNK], name


def test_deleted_file_chunks_leave_every_datanode(cluster_factory: Any) -> None:
    cluster = cluster_factory(gfs={**GFS, "datanodes": 4, "replication": 3}, mr=NO_MR)
    put_random(cluster, "/big", 96 * CHUNK + 5, seed=5)
    keep = put_random(cluster, "/keep", 3 * CHUNK, seed=6)
    handles = {c["handle"] for c in stat_json(cluster, "/big")["chunks"]}
    kept = {c["handle"] for c in stat_json(cluster, "/keep")["chunks"]}
    assert len(handles) == 97 and len(holders_on_disk(cluster)) == 100
    # One datanode is down while the file is deleted: it learns of it when it is back.
    cluster.kill("datanode-3")
    missed = set(chunk_files(cluster, "datanode-3")) & handles
    assert missed

    ok(cluster.gfs("rm", "/big"))
    up = ["datanode-0", "datanode-1", "datanode-2"]

    def gone(names: list[str]) -> bool:
        return not set(holders_on_disk(cluster, names)) & handles

    cluster.wait_until(lambda: gone(up), timeout=REPAIR_SECONDS, what="chunk files deleted")
    assert set(chunk_files(cluster, "datanode-3")) & handles == missed  # untouched while down
    cluster.restart("datanode-3")
    cluster.wait_until(
        lambda: gone(cluster.datanodes()), timeout=REPAIR_SECONDS, what="the late deletes"
    )
    for name in cluster.datanodes():
        assert not {p.name[:16] for p in (cluster.data_dir(name) / "meta").iterdir()} & handles
    # Nothing else was touched.
    assert set(holders_on_disk(cluster)) == kept
    assert ok(cluster.gfs("cat", "/keep", text=False)).stdout == keep


def test_crashed_put_leaves_no_file_and_no_chunks(cluster_factory: Any) -> None:
    lease = 3.0
    cluster = cluster_factory(
        gfs={**GFS, "datanodes": 4, "replication": 3, "lease_timeout": lease}, mr=NO_MR
    )
    ok(cluster.gfs("mkdir", "/in"))
    put = subprocess.Popen(
        [sys.executable, "-m", "gfs.cli", "--cluster", str(cluster.dir), "put", "-", "/in/f"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=cluster.env,
    )
    try:
        assert put.stdin is not None
        # gfs put reads its input 1 MiB at a time: 16 chunks, then it waits for more
        # (no EOF), mid-file.
        put.stdin.write(random.Random(7).randbytes(1024 * 1024 + 100))
        put.stdin.flush()
        cluster.wait_until(lambda: len(holders_on_disk(cluster)) >= 16, what="16 chunks stored")
        written = set(holders_on_disk(cluster))
        put.kill()
        put.wait(timeout=10)
    finally:
        if put.poll() is None:
            put.kill()
            put.wait(timeout=10)
    # Never visible: not listed, not stat-able, not counted.
    assert ok(cluster.gfs("ls", "/in")).stdout.strip() == ""
    assert cluster.gfs("stat", "/in/f").returncode == 1
    assert fsck_json(cluster)["files"] == 0
    # After the lease runs out the namenode drops the file, and its chunks are collected.
    cluster.wait_until(
        lambda: not set(holders_on_disk(cluster)) & written,
        timeout=lease + REPAIR_SECONDS,
        what="the crashed write's chunk files deleted",
    )
    assert "lease on /in/f expired: unfinished file removed" in cluster.log("namenode")
    # The name is free again.
    ok(cluster.gfs("put", "-", "/in/f", input=b"second try", text=False))
    assert ok(cluster.gfs("cat", "/in/f")).stdout == "second try"


def test_datanode_restarted_before_it_counts_as_dead_keeps_everything(
    cluster_factory: Any,
) -> None:
    dead_after = 8.0  # the restart must beat it comfortably
    cluster = cluster_factory(
        gfs={**GFS, "datanodes": 4, "replication": 3, "dead_after": dead_after}, mr=NO_MR
    )
    data = put_random(cluster, "/f", 20 * CHUNK, seed=8)
    placement = {c["handle"]: sorted(c["replicas"]) for c in stat_json(cluster, "/f")["chunks"]}
    victim = "datanode-1"
    before = {h: file_identity(p) for h, p in chunk_files(cluster, victim).items()}
    assert before
    killed = time.monotonic()
    cluster.kill(victim)
    cluster.restart(victim)

    def heard_from_again() -> bool:
        with cluster.client() as client:
            (row,) = [d for d in client.cluster().datanodes if d.name == victim]
        return row.alive and row.seconds_since_heartbeat < time.monotonic() - killed

    cluster.wait_until(heard_from_again, timeout=dead_after, what=f"{victim} heartbeats")
    assert time.monotonic() - killed < dead_after
    report = assert_healthy_everywhere(cluster, "/f", data, down=set())
    assert report["repairs_done"] == 0 and report["repairs_pending"] == 0
    after = {c["handle"]: sorted(c["replicas"]) for c in stat_json(cluster, "/f")["chunks"]}
    assert after == placement
    assert {h: file_identity(p) for h, p in chunk_files(cluster, victim).items()} == before
    log = cluster.log("namenode")
    assert f"{victim} is dead" not in log and "re-replicating" not in log


def test_replica_that_missed_a_rewrite_is_never_served(cluster_factory: Any) -> None:
    """A handle per pipeline attempt acts as the generation stamp: the copy a datanode kept
    from an abandoned attempt has a handle no file refers to any more."""
    cluster = cluster_factory(gfs={**GFS, "datanodes": 4, "replication": 3}, mr=NO_MR)
    namenode = gfs_pb2_grpc.NamenodeStub(rpc.channel(cluster.address("namenode"), cluster.secret))
    old, new = random.Random(9).randbytes(CHUNK), random.Random(10).randbytes(CHUNK)

    def write(handle: int, pipeline: list[Any], data: bytes) -> gfs_pb2.WriteAck:
        head = pipeline[0].data_address
        return write_remote(head, cluster.secret, handle, pipeline[1:], [data], timeout=30)

    client_id = "stale-test"
    namenode.Create(gfs_pb2.CreateRequest(path="/f", client_id=client_id), timeout=10)
    first = namenode.AddChunk(
        gfs_pb2.AddChunkRequest(path="/f", client_id=client_id, client_host="host-0"), timeout=10
    )
    stale_handle = format_handle(first.handle)
    holder = first.pipeline[0].datanode
    # The first attempt reaches only the head (as if the next hop failed) ...
    ack = write(first.handle, [first.pipeline[0]], old)
    assert list(ack.stored_on) == [holder]
    stale_file = cluster.chunk_dir(holder) / f"{stale_handle}.chunk"
    assert stale_file.read_bytes() == old
    # ... which goes down; the chunk is written again, through a new pipeline.
    cluster.kill(holder)
    second = namenode.AddChunk(
        gfs_pb2.AddChunkRequest(
            path="/f",
            client_id=client_id,
            client_host="host-0",
            exclude=[holder],
            abandon_handle=first.handle,
        ),
        timeout=10,
    )
    assert second.handle != first.handle
    pipeline = list(second.pipeline)
    assert holder not in [r.datanode for r in pipeline]
    ack = write(second.handle, pipeline, new)
    assert sorted(ack.stored_on) == sorted(r.datanode for r in pipeline)
    namenode.CommitChunk(
        gfs_pb2.CommitChunkRequest(
            path="/f",
            client_id=client_id,
            handle=second.handle,
            size=len(new),
            stored_on=ack.stored_on,
        ),
        timeout=10,
    )
    namenode.Complete(gfs_pb2.CompleteRequest(path="/f", client_id=client_id), timeout=10)

    # The holder of the stale copy comes back: its copy is never listed or read, and it is
    # deleted as garbage.
    cluster.restart(holder)
    with cluster.client() as client:

        def stale_gone() -> bool:
            _status, chunks = client.stat("/f")
            assert [c.hex for c in chunks] == [format_handle(second.handle)]
            assert holder not in {r.datanode for r in chunks[0].replicas}
            assert client.read_bytes("/f") == new
            return not stale_file.exists()

        cluster.wait_until(stale_gone, timeout=REPAIR_SECONDS, what="the stale copy deleted")
    assert re.search(rf"{holder}: delete 1 replica\(s\): {stale_handle}", cluster.log("namenode"))
    assert ok(cluster.gfs("cat", "/f", text=False)).stdout == new
    assert fsck_json(cluster)["healthy"]


def test_fsck_and_stat_tell_the_truth(cluster_factory: Any) -> None:
    # As many datanodes as replicas: nothing can be re-replicated, so every state holds
    # still long enough to be checked exactly.
    cluster = cluster_factory(gfs={**GFS, "datanodes": 3, "replication": 3}, mr=NO_MR)
    data = put_random(cluster, "/f", 4 * CHUNK, seed=11)
    single = random.Random(12).randbytes(2 * CHUNK)
    ok(cluster.gfs("put", "--replication", "1", "-", "/one", input=single, text=False))
    human = ok(cluster.gfs("fsck")).stdout
    assert "2 files, 6 chunks: 0 under-replicated, 0 corrupt, 0 missing" in human
    assert "(0 repairs pending, 0 done)" in human and human.rstrip().endswith("HEALTHY")

    one = stat_json(cluster, "/one")["chunks"]
    victim = one[0]["replicas"][0]
    lost = {c["handle"] for c in one if victim in c["replicas"]}
    cluster.kill(victim)
    wait_dead(cluster, victim)

    result = cluster.gfs("fsck", "--json")
    assert result.returncode == 1  # data is missing
    report = json.loads(result.stdout)
    assert report["files"] == 2 and report["chunks"] == 6
    assert report["missing"] == len(lost) and report["under_replicated"] == 4
    assert report["corrupt"] == 0 and not report["healthy"]
    assert report["repairs_pending"] == 4 and report["repairs_done"] == 0
    kinds = {(p["handle"], p["kind"]) for p in report["problems"]}
    f_chunks = stat_json(cluster, "/f")["chunks"]
    assert kinds == {(h, "missing") for h in lost} | {
        (c["handle"], "under_replicated") for c in f_chunks
    }
    for chunk in f_chunks:
        assert len(chunk["replicas"]) == 2 and victim not in chunk["replicas"]
    for chunk in stat_json(cluster, "/one")["chunks"]:  # replication 1
        if chunk["handle"] in lost:
            assert chunk["replicas"] == []
        else:
            assert len(chunk["replicas"]) == 1 and victim not in chunk["replicas"]
    human_result = cluster.gfs("fsck")
    assert human_result.returncode == 1
    human = human_result.stdout
    for handle in lost:
        assert f"/one chunk {handle}: MISSING, no live replica" in human
    assert f"/f chunk {f_chunks[0]['handle']}: under-replicated (2 live of 3" in human
    assert "(4 repairs pending, 0 done)" in human and human.rstrip().endswith("UNHEALTHY")

    # A replica goes bad on a live datanode: fsck has every datanode re-check changed files.
    handle = f_chunks[0]["handle"]
    bad = sorted(f_chunks[0]["replicas"])[0]
    flip_byte(cluster.chunk_dir(bad) / f"{handle}.chunk", 10)
    report = fsck_json(cluster)
    assert report["corrupt"] == 1 and report["under_replicated"] == 4, report
    assert {"path": "/f", "handle": handle, "kind": "corrupt"}.items() <= next(
        p for p in report["problems"] if p["kind"] == "corrupt"
    ).items()
    human = cluster.gfs("fsck").stdout
    assert f"/f chunk {handle}: corrupt replica on {bad} (1 live of 3)" in human
    (chunk,) = [c for c in stat_json(cluster, "/f")["chunks"] if c["handle"] == handle]
    assert chunk["corrupt"] == [bad] and len(chunk["replicas"]) == 1
    assert bad not in chunk["replicas"]

    # The victim comes back: what it holds is found again; only the corrupt chunk still
    # lacks a third good copy (the one datanode left for it holds the corrupt one).
    cluster.restart(victim)
    wait_alive(cluster, victim)

    def settled() -> bool:
        report = fsck_json(cluster)
        return (
            report["missing"] == 0
            and report["under_replicated"] == 1
            and (
                report["repairs_pending"] == 1  # counted at the namenode's next tick
            )
        )

    cluster.wait_until(settled, timeout=REPAIR_SECONDS, what="the victim's chunks found again")
    result = cluster.gfs("fsck", "--json")
    assert result.returncode == 0  # nothing missing
    report = json.loads(result.stdout)
    assert report["corrupt"] == 1 and report["repairs_pending"] == 1 and not report["healthy"]
    assert ok(cluster.gfs("cat", "/one", text=False)).stdout == single
    assert ok(cluster.gfs("cat", "/f", text=False)).stdout == data
