"""NamenodeState: replica bookkeeping, liveness, leases, garbage and fsck, driven by `now`."""

from __future__ import annotations

import random

import pytest

from gfs.errors import NoDatanodes, NotFound
from gfs.namenode.namespace import Namespace
from gfs.namenode.state import DeleteReplicas, NamenodeState

DEAD_AFTER = 10.0
GRACE = 2.0


def make_state(datanodes: int = 4, now: float = 0.0) -> NamenodeState:
    state = NamenodeState(
        Namespace(),
        replication=3,
        chunk_size=100,
        dead_after=DEAD_AFTER,
        lease_timeout=60.0,
        report_grace=GRACE,
        rng=random.Random(7),
        now=now,
    )
    for i in range(datanodes):
        beat(state, i, {}, now)
    return state


def beat(state: NamenodeState, i: int, chunks: dict[int, int], now: float, corrupt=()):
    name = f"datanode-{i}"
    return state.heartbeat(name, f"127.0.0.1:{7000 + i}", f"host-{i}", 0, 0, chunks, corrupt, now)


def write(state: NamenodeState, path: str, sizes: list[int], now: float = 1.0, host: str = ""):
    state.create(path, 0, "c", False, now)
    handles = []
    for size in sizes:
        handle, targets = state.add_chunk(path, "c", host, [], 0, now)
        state.commit_chunk(path, "c", handle, size, [t.datanode for t in targets], now)
        handles.append((handle, [t.datanode for t in targets]))
    state.complete(path, "c", False, now)
    return handles


def test_a_pipeline_carries_every_address_a_writer_needs() -> None:
    """The pipeline of a new chunk names each datanode's gRPC and data transfer addresses
    (writes go to the data port; AddChunk once handed out none)."""
    state = make_state(datanodes=0)
    for i in range(3):
        state.heartbeat(
            f"datanode-{i}",
            f"127.0.0.1:{7000 + i}",
            f"host-{i}",
            0,
            0,
            {},
            (),
            0.0,
            data_address=f"127.0.0.1:{8000 + i}",
        )
    state.create("/f", 0, "c", False, 1.0)
    _handle, pipeline = state.add_chunk("/f", "c", "host-1", [], 0, 1.0)
    assert [(r.datanode, r.address, r.host, r.data_address) for r in pipeline][0] == (
        "datanode-1",
        "127.0.0.1:7001",
        "host-1",
        "127.0.0.1:8001",
    )
    assert all(r.data_address == f"127.0.0.1:{8000 + int(r.datanode[-1])}" for r in pipeline)


def test_write_places_three_distinct_replicas_writer_first() -> None:
    state = make_state()
    ((handle, names),) = write(state, "/f", [50], host="host-2")
    assert names[0] == "datanode-2" and len(set(names)) == 3
    entry, chunks = state.stat("/f", "host-2")
    assert entry.size == 50 and chunks[0].replicas[0].datanode == "datanode-2"
    assert {r.datanode for r in chunks[0].replicas} == set(names)
    ops = state.take_ops()
    assert [op["op"] for _, op in ops] == ["create", "add_chunk", "commit_chunk", "complete"]
    assert [seq for seq, _ in ops] == [1, 2, 3, 4]


def test_no_live_datanodes() -> None:
    state = make_state(datanodes=0)
    state.create("/f", 0, "c", False, 0)
    with pytest.raises(NoDatanodes):
        state.add_chunk("/f", "c", "", [], 0, 0)


def test_dead_datanode_replicas_are_not_served_and_fsck_counts_them() -> None:
    state = make_state()
    ((handle, names),) = write(state, "/f", [10])
    victim = int(names[0].split("-")[1])
    for i in range(4):
        if i != victim:
            beat(state, i, {handle: 10} if f"datanode-{i}" in names else {}, 5.0)
    # the victim's last heartbeat was its registration at t=0
    assert state.tick(DEAD_AFTER - 1) == []
    events = state.tick(DEAD_AFTER + 0.5)
    assert events[0] == f"{names[0]} is dead (no heartbeat for {DEAD_AFTER + 0.5:.1f}s)"
    assert events[1].startswith(f"re-replicating chunk {handle:016x} (2 live of 3)")
    _, chunks = state.stat("/f", "")
    assert names[0] not in {r.datanode for r in chunks[0].replicas}
    report = state.fsck("/")
    assert (report.files, report.chunks, report.under_replicated, report.missing) == (1, 1, 1, 0)
    assert not report.healthy
    assert report.problems[0].kind == "under_replicated"


def test_report_grace_keeps_fresh_locations_and_drops_stale_ones() -> None:
    state = make_state()
    ((handle, names),) = write(state, "/f", [10], now=1.0)
    holder = int(names[0].split("-")[1])
    beat(state, holder, {}, 1.0 + GRACE / 2)  # report taken before the write landed
    assert names[0] in state.live_replicas(handle)
    beat(state, holder, {}, 1.0 + GRACE * 2)  # it really does not have it
    assert names[0] not in state.live_replicas(handle)


def test_unknown_and_deleted_chunks_become_garbage() -> None:
    state = make_state()
    ((handle, names),) = write(state, "/f", [10])
    commands, _ = beat(state, 3, {999: 5}, 2.0)
    assert commands == [DeleteReplicas([999])]
    state.delete("/f", False, 3.0)
    for name in names:
        i = int(name.split("-")[1])
        commands, _ = beat(state, i, {handle: 10}, 4.0)
        assert commands == [DeleteReplicas([handle])]
    assert state.fsck("/").chunks == 0


def test_wrong_size_replica_is_corrupt_not_served() -> None:
    state = make_state()
    ((handle, names),) = write(state, "/f", [10])
    i = int(names[1].split("-")[1])
    _, events = beat(state, i, {handle: 7}, 2.0)
    assert "expected 10" in events[0]
    assert names[1] not in state.live_replicas(handle)
    report = state.fsck("/")
    assert report.corrupt == 1 and report.problems[-1].corrupt == [names[1]]


def test_reported_corruption_and_its_cleanup() -> None:
    state = make_state()
    ((handle, names),) = write(state, "/f", [10])
    assert state.mark_corrupt(handle, names[0])
    assert not state.mark_corrupt(12345, names[0])
    _, chunks = state.stat("/f", "")
    assert chunks[0].corrupt == [names[0]]
    assert names[0] not in {r.datanode for r in chunks[0].replicas}
    # the datanode later drops its bad copy: the corruption record goes with it
    beat(state, int(names[0].split("-")[1]), {}, 2.0)
    assert state.stat("/f", "")[1][0].corrupt == []


def test_abandoned_chunk_replicas_are_garbage() -> None:
    state = make_state()
    state.create("/f", 0, "c", False, 0)
    first, targets = state.add_chunk("/f", "c", "", [], 0, 0)
    holder = int(targets[0].datanode.split("-")[1])
    beat(state, holder, {first: 10}, 0.5)
    second, _ = state.add_chunk("/f", "c", "", [targets[1].datanode], first, 1.0)
    assert second != first
    commands, _ = beat(state, holder, {first: 10}, 1.5)
    assert commands == [DeleteReplicas([first])]


def test_lease_expiry_removes_unfinished_file() -> None:
    state = make_state()
    state.create("/f", 0, "c", False, 0)
    state.add_chunk("/f", "c", "", [], 0, 10.0)
    assert not [e for e in state.tick(69.0) if "lease" in e]
    events = state.tick(71.0)
    assert "lease on /f expired: unfinished file removed" in events
    assert state.ns.lookup("/f") is None
    assert state.take_ops()[-1][1] == {"op": "abort", "path": "/f"}


def test_lease_follows_a_renamed_directory() -> None:
    state = make_state()
    state.mkdir("/d", False, 0)
    state.create("/d/f", 0, "c", False, 0)
    state.rename("/d", "/e", 1)
    assert "/e/f" in state.leases and "/d/f" not in state.leases


def test_list_and_hidden_files() -> None:
    state = make_state()
    state.mkdir("/d/e", True, 0)
    write(state, "/d/a", [1])
    write(state, "/d/e/b", [2, 3])
    state.create("/d/open", 0, "c", False, 0)
    assert [e.path for e in state.list("/d", False)] == ["/d/a", "/d/e"]
    assert [e.path for e in state.list("/d", True)] == ["/d/a", "/d/e", "/d/e/b"]
    assert state.list("/d/e/b", False)[0].size == 5
    with pytest.raises(NotFound):
        state.stat("/d/open", "")


def test_renewed_lease_outlives_the_timeout() -> None:
    state = make_state()
    state.create("/f", 0, "c", False, 0)
    for t in (50.0, 100.0, 150.0):  # renewed every 50 s: never expires
        assert state.renew_lease("c", ["/f"], t) == []
        state.tick(t)
    assert state.ns.lookup("/f") is not None
    assert state.renew_lease("other", ["/f"], 151.0) == ["/f"]
    assert not [e for e in state.tick(209.9) if "lease" in e]  # renewed at 150 by "c"
    assert [e for e in state.tick(210.1) if "lease" in e] == [
        "lease on /f expired: unfinished file removed"
    ]
