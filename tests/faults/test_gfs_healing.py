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
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gfs.handles import format_handle

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
    cluster.kill(victim)
    wait_dead(cluster, victim)
    cluster.wait_until(
        lambda: fully_replicated(cluster, "/big"), timeout=HEAL_TIMEOUT, what="re-replication"
    )
    healed = time.monotonic() - started
    report = assert_healthy_everywhere(cluster, "/big", data, down={victim})
    assert report["repairs_done"] == len(held), report
    print(f"{len(held)} replicas re-created {healed:.1f}s after the kill")
