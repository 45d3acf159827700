"""Races between re-replication, trimming and deletion in NamenodeState (pure, driven by `now`)."""

from __future__ import annotations

import random

from gfs.namenode.namespace import Namespace
from gfs.namenode.server import repair_timeout
from gfs.namenode.state import DeleteReplicas, NamenodeState, ReplicateChunk

DEAD_AFTER = 5.0


def make_state(datanodes: int) -> NamenodeState:
    state = NamenodeState(
        Namespace(),
        replication=3,
        chunk_size=100,
        dead_after=DEAD_AFTER,
        lease_timeout=600.0,
        report_grace=1.0,
        rng=random.Random(3),
        now=-2 * DEAD_AFTER,  # up long enough to have heard from every datanode
        repair_timeout=30.0,
    )
    for i in range(datanodes):
        beat(state, i, {}, 0.0)
    return state


def name(i: int) -> str:
    return f"datanode-{i}"


def beat(state: NamenodeState, i: int, chunks: dict[int, int], now: float, corrupt=()):
    commands, _events = state.heartbeat(
        name(i), f"addr-{i}", f"host-{i}", 0, 0, chunks, list(corrupt), now
    )
    return commands


def write_one(state: NamenodeState, holders: list[int], now: float = 0.0) -> int:
    """A one-chunk file /f of 10 bytes stored on exactly `holders`."""
    state.create("/f", 0, "c", False, now)
    handle, _targets = state.add_chunk("/f", "c", "", [], 0, now)
    state.commit_chunk("/f", "c", handle, 10, [name(i) for i in holders], now)
    state.complete("/f", "c", False, now)
    return handle


def deletes(commands) -> set[int]:
    return {h for c in commands if isinstance(c, DeleteReplicas) for h in c.handles}


def replications(commands) -> list[ReplicateChunk]:
    return [c for c in commands if isinstance(c, ReplicateChunk)]


def test_no_copy_to_a_datanode_about_to_delete_its_replica() -> None:
    # A fourth copy turns up (a datanode back with old data) and one copy is trimmed. Before
    # the trimmed datanode hears of it, another holder is declared dead: the trimmed datanode
    # must not become the repair target, or its pending DELETE would remove the new copy.
    state = make_state(4)
    handle = write_one(state, [0, 1, 2])
    beat(state, 0, {}, 0.0)  # datanode-0's last heartbeat (it holds the chunk)
    now = 0.0
    while now < DEAD_AFTER - 0.5:
        now += 0.5
        for i in (1, 2):
            beat(state, i, {handle: 10}, now)
        beat(state, 3, {}, now)
        state.tick(now)
    beat(state, 3, {handle: 10}, now)  # the fourth copy
    state.tick(now)
    assert handle in state.pending_deletes[name(3)], "expected datanode-3's copy trimmed"
    now += 0.6  # datanode-0 is now silent for longer than DEAD_AFTER
    state.tick(now)
    assert not state.datanodes[name(0)].alive
    assert state.live_replicas(handle) == [name(1), name(2)]
    assert handle not in state.repairs, "repair planned onto a datanode about to delete it"
    # Once datanode-3 got its DELETE, it is a fine target.
    assert handle in deletes(beat(state, 3, {handle: 10}, now))
    state.tick(now + 0.1)
    assert state.repairs[handle].targets == [name(3)]


def test_repair_whose_source_turns_out_corrupt_is_retried_at_once() -> None:
    state = make_state(4)
    handle = write_one(state, [0, 1, 2])
    now = 0.0
    while state.datanodes[name(0)].alive:
        assert now < 10 * DEAD_AFTER, "datanode-0 never declared dead"
        now += 0.5
        for i in (1, 2, 3):
            beat(state, i, {handle: 10} if i < 3 else {}, now)
        state.tick(now)
    source = state.repairs[handle].source
    first_targets = state.repairs[handle].targets
    # The source finds its copy corrupt while copying and reports it.
    now += 0.2
    beat(state, int(source.split("-")[1]), {}, now, corrupt=[handle])
    state.tick(now)  # long before repair_timeout
    repair = state.repairs[handle]
    assert repair.source != source and repair.source in state.live_replicas(handle)
    assert repair.targets == first_targets and repair.started == now


def test_corrupt_copy_is_not_marked_again_while_its_delete_goes_out() -> None:
    state = make_state(4)
    handle = write_one(state, [0, 1, 2])
    beat(state, 0, {}, 0.2, corrupt=[handle])
    state.tick(0.3)
    (repair,) = state.repairs.values()
    target = int(repair.targets[0].split("-")[1])
    beat(state, target, {handle: 10}, 0.4)  # the copy landed
    assert state.repairs_done == 1 and not state.repairs
    state.tick(0.5)  # three good copies: the corrupt one can go
    assert handle in state.pending_deletes[name(0)]
    # The reply that carries the DELETE answers a report still listing the corrupt copy.
    assert handle in deletes(beat(state, 0, {}, 0.6, corrupt=[handle]))
    report = state.fsck("/")
    assert report.healthy and report.corrupt == 0, report
    beat(state, 0, {}, 0.7)
    assert state.fsck("/").healthy


def test_repair_counts_only_a_copy_accepted_as_a_location() -> None:
    # A target that reports the chunk with the wrong size did not get a good copy.
    state = make_state(4)
    handle = write_one(state, [0, 1, 2])
    beat(state, 0, {}, 0.2, corrupt=[handle])
    state.tick(0.3)
    (repair,) = state.repairs.values()
    target = int(repair.targets[0].split("-")[1])
    beat(state, target, {handle: 7}, 0.4)
    assert state.repairs_done == 0 and name(target) not in state.live_replicas(handle)


def test_repair_timeout_grows_with_heartbeat_and_chunk_size() -> None:
    assert 5.0 < repair_timeout(0.2, 64 * 1024) < 10.0  # test clusters: retried quickly
    assert repair_timeout(1.0, 64 * 1024 * 1024) > 20.0  # 64 MiB at 4 MiB/s is 16 s


def test_excess_of_a_returning_datanode_is_trimmed_evenly() -> None:
    # 12 chunks on datanodes 0-2 (12 each) plus old copies of all of them on datanode-3:
    # 12 copies must go, and the busiest datanodes lose them, spread out.
    state = make_state(4)
    handles = []
    for k in range(12):
        path = f"/f{k}"
        state.create(path, 0, "c", False, 0.0)
        handle, _targets = state.add_chunk(path, "c", "", [], 0, 0.0)
        state.commit_chunk(path, "c", handle, 10, [name(0), name(1), name(2)], 0.0)
        state.complete(path, "c", False, 0.0)
        handles.append(handle)
    everything = dict.fromkeys(handles, 10)
    for i in range(4):
        beat(state, i, everything, 0.1)
    state.tick(0.2)
    doomed = {n: len(state.pending_deletes.get(n, ())) for n in map(name, range(4))}
    assert sum(doomed.values()) == 12
    assert max(doomed.values()) - min(doomed.values()) <= 1, doomed
    assert all(len(state.live_replicas(h)) == 3 for h in handles)


def test_a_restarted_namenode_copies_nothing_before_datanodes_could_report() -> None:
    state = make_state(5)
    whole = write_one(state, [0, 1, 2])
    state.create("/g", 0, "c", False, 0.0)
    short, _targets = state.add_chunk("/g", "c", "", [], 0, 0.0)
    state.commit_chunk("/g", "c", short, 10, [name(0), name(1), name(4)], 0.0)
    state.complete("/g", "c", False, 0.0)
    # The namenode restarts: it knows the chunks, not where they are. Datanode-4 never
    # comes back; the others report one by one.
    restarted = NamenodeState(
        state.ns,
        replication=3,
        chunk_size=100,
        dead_after=DEAD_AFTER,
        lease_timeout=600.0,
        report_grace=1.0,
        rng=random.Random(4),
        now=100.0,
    )
    disks = {0: {whole: 10, short: 10}, 1: {whole: 10, short: 10}, 2: {whole: 10}, 3: {}}
    beat(restarted, 0, disks[0], 100.1)
    beat(restarted, 3, disks[3], 100.1)
    now = 100.1
    while now < 100.0 + DEAD_AFTER + 1.0:
        restarted.tick(now)
        if now < 100.0 + DEAD_AFTER:
            assert not restarted.repairs, f"copying at {now - 100:.1f}s after the restart"
        now += 0.5
        for i, disk in disks.items():
            beat(restarted, i, disk, now)
    assert list(restarted.repairs) == [short]  # only the chunk that really lacks a copy
    assert len(restarted.live_replicas(whole)) == 3


def test_repairs_pending_counts_every_chunk_once() -> None:
    # Datanode-0 holds 6 chunks and dies; 2 copies per source can start at once.
    state = make_state(4)
    handles = []
    for k in range(6):
        state.create(f"/f{k}", 0, "c", False, 0.0)
        handle, _targets = state.add_chunk(f"/f{k}", "c", "", [], 0, 0.0)
        state.commit_chunk(f"/f{k}", "c", handle, 10, [name(0), name(1), name(2)], 0.0)
        state.complete(f"/f{k}", "c", False, 0.0)
        handles.append(handle)
    now = 0.0
    while state.datanodes[name(0)].alive:
        assert now < 10 * DEAD_AFTER, "datanode-0 never declared dead"
        now += 0.5
        for i in (1, 2, 3):
            beat(state, i, dict.fromkeys(handles, 10) if i < 3 else {}, now)
        state.tick(now)
    assert 0 < len(state.repairs) < 6
    assert state.repairs_pending == 6 == state.fsck("/").under_replicated
