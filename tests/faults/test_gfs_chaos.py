"""Chaos: a writer and a reader keep going while datanodes (at most replication-1 at a time)
and the namenode are killed with SIGKILL and restarted. Nothing acknowledged may be lost or
read back wrong, and afterwards the cluster returns to full health by itself: fsck healthy,
exactly `replication` copies of every chunk, and no chunk file that no file refers to."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from gfs import errors

if TYPE_CHECKING:
    from conftest import RunningCluster

CHUNK = 64 * 1024
HEARTBEAT = 0.2
DEAD_AFTER = 2.5
LEASE = 6.0
REPLICATION = 3
DATANODES = 5
# 40 s: about 20 faults (one every 2 s), one of them a namenode restart.
CHAOS_SECONDS = float(os.environ.get("GFS_CHAOS_SECONDS", "40"))
# Bounds for the cluster to settle once the faults stop: noticing deaths, repairing,
# trimming, and (for writes cut off by a fault) the lease timeout and garbage collection.
SETTLE_SECONDS = DEAD_AFTER + LEASE + 60.0
THREAD_JOIN_SECONDS = 120.0  # a write caught by the namenode restart retries for up to 30 s


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Workload:
    """The writer and the reader threads, and what they saw."""

    def __init__(self, cluster: RunningCluster, seed: int) -> None:
        self.cluster = cluster
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.acked: dict[str, str] = {}  # path -> sha256 of what was acknowledged
        self.maybe_deleted: set[str] = set()  # a delete that failed may have happened
        self.deleted = 0
        self.write_failures: Counter[str] = Counter()
        self.reads = 0
        self.read_failures: Counter[str] = Counter()
        self.wrong: list[str] = []  # fatal: bytes that differ from what was acknowledged
        self.lost: list[str] = []  # fatal: an acknowledged file is gone
        self.crashed: list[str] = []  # fatal: a thread died of an error that is no GfsError
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(
                target=self._guard, args=(self._write_loop,), name="chaos-writer", daemon=True
            ),
            threading.Thread(
                target=self._guard, args=(self._read_loop,), name="chaos-reader", daemon=True
            ),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def _guard(self, loop: Any) -> None:
        try:
            loop()
        except BaseException as exc:  # reported by finish()
            self.crashed.append(f"{loop.__name__}: {type(exc).__name__}: {exc}")

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(THREAD_JOIN_SECONDS)
            assert not thread.is_alive(), f"{thread.name} did not stop"
        assert not self.crashed, self.crashed

    def _write_loop(self) -> None:
        rng = random.Random(self.rng.random())
        with self.cluster.client() as client:
            n = 0
            while not self.stop.is_set():
                n += 1
                if n % 6 == 0 and self._delete_one(client, rng):
                    continue
                path = f"/chaos/f{n:05d}"
                size = rng.choice([0, 1, CHUNK, CHUNK + 1, rng.randrange(4 * CHUNK)])
                data = rng.randbytes(size)
                try:
                    client.write_file(path, io.BytesIO(data))
                except errors.GfsError as exc:  # not acknowledged: allowed, counted
                    self.write_failures[type(exc).__name__] += 1
                    continue
                with self.lock:
                    self.acked[path] = digest(data)

    def _delete_one(self, client: Any, rng: random.Random) -> bool:
        with self.lock:
            if len(self.acked) < 10:
                return False
            path = rng.choice(sorted(self.acked))
            del self.acked[path]
        try:
            client.delete(path)
        except errors.GfsError:
            self.maybe_deleted.add(path)
        else:
            self.deleted += 1
        return True

    def _read_loop(self) -> None:
        rng = random.Random(self.rng.random())
        with self.cluster.client() as client:
            while not self.stop.is_set():
                with self.lock:
                    if not self.acked:
                        path = ""
                    else:
                        path = rng.choice(sorted(self.acked))
                        expected = self.acked[path]
                if not path:
                    self.stop.wait(0.05)
                    continue
                try:
                    got = client.read_bytes(path)
                except errors.NotFound:
                    with self.lock:
                        if path in self.acked:  # not deleted by the writer meanwhile
                            self.lost.append(path)
                    continue
                except errors.GfsError as exc:  # e.g. every replica's datanode down now
                    self.read_failures[type(exc).__name__] += 1
                    continue
                self.reads += 1
                if digest(got) != expected:
                    self.wrong.append(path)


def live_handles(cluster: RunningCluster) -> dict[str, int]:
    """{handle: replication} of every chunk of every file in the namespace."""
    handles: dict[str, int] = {}
    with cluster.client() as client:
        for entry in client.ls("/", recursive=True):
            if entry.is_dir:
                continue
            status, chunks = client.stat(entry.path)
            for chunk in chunks:
                handles[chunk.hex] = status.replication
    return handles


def disk_copies(cluster: RunningCluster) -> dict[str, int]:
    copies: Counter[str] = Counter()
    for name in cluster.datanodes():
        folder = cluster.chunk_dir(name)
        if folder.is_dir():
            copies.update(p.name[:16] for p in folder.iterdir() if p.name.endswith(".chunk"))
    return dict(copies)


def test_chaos_nothing_acknowledged_is_lost(cluster_factory: Any) -> None:
    cluster = cluster_factory(
        gfs={
            "chunk_size": CHUNK,
            "heartbeat_interval": HEARTBEAT,
            "dead_after": DEAD_AFTER,
            "lease_timeout": LEASE,
            "datanodes": DATANODES,
            "replication": REPLICATION,
        },
        mr={"masters": 0, "workers": 0},
    )
    seed = int(os.environ.get("GFS_CHAOS_SEED", str(time.time_ns() % 1_000_000)))
    print(f"chaos seed {seed} (GFS_CHAOS_SEED reproduces the fault schedule)")
    rng = random.Random(seed)
    with cluster.client() as client:
        client.mkdir("/chaos")
    work = Workload(cluster, seed)
    down: list[str] = []
    faults: Counter[str] = Counter()
    started = time.monotonic()
    namenode_at = started + CHAOS_SECONDS * rng.uniform(0.3, 0.6)
    namenode_done = False
    work.start()
    try:
        while time.monotonic() - started < CHAOS_SECONDS:
            # The pace of the faults, not a wait for a condition.
            work.stop.wait(rng.uniform(0.5, 3.5))
            if not namenode_done and time.monotonic() >= namenode_at:
                cluster.kill("namenode")
                work.stop.wait(rng.uniform(0.2, 2.0))
                cluster.restart("namenode")
                namenode_done = True
                faults["namenode killed"] += 1
            elif len(down) < REPLICATION - 1 and (not down or rng.random() < 0.6):
                victim = rng.choice(sorted(set(cluster.datanodes()) - set(down)))
                cluster.kill(victim)
                down.append(victim)
                faults["datanode killed"] += 1
            else:
                back = down.pop(rng.randrange(len(down)))
                cluster.restart(back)
                faults["datanode restarted"] += 1
            assert not work.wrong and not work.lost, (work.wrong, work.lost)
    finally:
        work.finish()
    chaos_seconds = time.monotonic() - started
    for name in down:
        cluster.restart(name)
    assert not work.wrong, f"acknowledged files read back wrong: {work.wrong}"
    assert not work.lost, f"acknowledged files vanished: {work.lost}"
    assert namenode_done and faults["datanode killed"] >= 3, faults
    assert len(work.acked) >= 20, f"too few writes got through: {work.write_failures}"
    assert work.reads >= 20, f"too few reads got through: {work.read_failures}"

    # Back to full health by itself.
    settle_started = time.monotonic()

    def healthy() -> bool:
        with cluster.client() as client:
            alive = [d.name for d in client.cluster().datanodes if d.alive]
            report = client.fsck("/")
        return len(alive) == DATANODES and report.healthy and report.repairs_pending == 0

    cluster.wait_until(healthy, timeout=SETTLE_SECONDS, what="fsck healthy")
    with cluster.client() as client:
        for path, expected in sorted(work.acked.items()):
            assert digest(client.read_bytes(path)) == expected, path
        present = {e.path for e in client.ls("/chaos")}
    assert set(work.acked) <= present

    def clean() -> bool:
        wanted = live_handles(cluster)
        copies = disk_copies(cluster)
        orphans = set(copies) - set(wanted)
        off = {h: copies.get(h, 0) for h, r in wanted.items() if copies.get(h, 0) != r}
        return not orphans and not off

    cluster.wait_until(
        clean, timeout=SETTLE_SECONDS, what="no orphan chunk files, exactly 3 copies each"
    )
    settled = time.monotonic() - settle_started
    result = cluster.gfs("fsck", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["healthy"] and report["missing"] == 0, report
    print(
        f"chaos {chaos_seconds:.0f}s, settled in {settled:.0f}s: "
        f"{len(work.acked) + work.deleted + len(work.maybe_deleted)} files written "
        f"({len(work.acked)} kept, {work.deleted} deleted), "
        f"{sum(work.write_failures.values())} writes refused {dict(work.write_failures)}; "
        f"{work.reads} reads ok, {sum(work.read_failures.values())} failed "
        f"{dict(work.read_failures)}; faults injected: {sum(faults.values())} {dict(faults)}; "
        f"repairs done: {report['repairs_done']}"
    )
