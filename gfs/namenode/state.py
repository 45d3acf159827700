"""The namenode's decisions (pure): namespace, replica locations, liveness, leases, fsck.

No sockets, threads, clocks or disks here: every method takes `now`, randomness comes from an
injected `random.Random`, and namespace mutations are queued as ops for the driver to make
durable (`take_ops()`) before it answers the caller.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from gfs import paths
from gfs.errors import GfsError, NoDatanodes, NotFound
from gfs.namenode.namespace import DirNode, FileNode, Namespace, Op
from gfs.namenode.placement import Candidate, choose_targets


@dataclass
class DatanodeRecord:
    name: str
    address: str
    host: str
    last_seen: float
    alive: bool = True
    used_bytes: int = 0
    free_bytes: int = 0
    reported_chunks: int = 0
    assigned: int = 0  # replicas placed on it (minus those trimmed) since its last report
    data_address: str = ""  # its data transfer port (chunk data), from its heartbeats


@dataclass(frozen=True)
class ReplicaView:
    datanode: str
    address: str
    host: str
    data_address: str = ""


@dataclass(frozen=True)
class ChunkView:
    handle: int
    size: int
    offset: int
    replicas: list[ReplicaView]
    corrupt: list[str]


@dataclass(frozen=True)
class Entry:
    path: str
    is_dir: bool
    size: int
    replication: int
    mtime: float
    chunk_count: int


@dataclass(frozen=True)
class FsckProblem:
    path: str
    handle: int
    kind: str  # "under_replicated" | "corrupt" | "missing"
    live: list[str]
    corrupt: list[str]


@dataclass
class FsckReport:
    files: int = 0
    chunks: int = 0
    under_replicated: int = 0
    corrupt: int = 0
    missing: int = 0
    problems: list[FsckProblem] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not (self.under_replicated or self.corrupt or self.missing)


@dataclass(frozen=True)
class DeleteReplicas:
    """Command for one datanode: drop these replicas."""

    handles: list[int]


@dataclass(frozen=True)
class ReplicateChunk:
    """Command for a datanode holding a good replica: copy it to `targets` (a pipeline)."""

    handle: int
    targets: list[ReplicaView]


Command = DeleteReplicas | ReplicateChunk


@dataclass
class Repair:
    """A re-replication in flight: `source` copies `handle` to `targets`."""

    handle: int
    source: str
    targets: list[str]
    started: float


class NamenodeState:
    def __init__(
        self,
        namespace: Namespace,
        *,
        replication: int,
        chunk_size: int,
        dead_after: float,
        lease_timeout: float,
        report_grace: float,
        rng: random.Random,
        now: float,
        repair_streams: int = 2,
        repair_timeout: float = 60.0,
    ) -> None:
        self.ns = namespace
        self.replication = replication
        self.chunk_size = chunk_size
        self.dead_after = dead_after
        self.lease_timeout = lease_timeout
        # A full report may have been taken just before a replica was written; don't let
        # it erase a location younger than this.
        self.report_grace = report_grace
        self.rng = rng
        self.datanodes: dict[str, DatanodeRecord] = {}
        self.locations: dict[int, set[str]] = defaultdict(set)
        self.held: dict[str, set[int]] = defaultdict(set)  # datanode -> handles
        self.location_since: dict[tuple[int, str], float] = {}
        self.corrupt: dict[int, set[str]] = defaultdict(set)
        self.pending_deletes: dict[str, set[int]] = defaultdict(set)
        self.leases: dict[str, float] = {path: now for path, _ in namespace.under_construction()}
        self._ops: list[tuple[int, Op]] = []
        # Re-replication: at most `repair_streams` copies leave one datanode at a time, so
        # repair does not starve clients; a copy not seen within `repair_timeout` is retried.
        self.repair_streams = repair_streams
        self.repair_timeout = repair_timeout
        self.repairs: dict[int, Repair] = {}
        # Locations come only from reports, so right after a (re)start every chunk looks
        # under-replicated. Copy nothing until every living datanode has had the time to
        # report (a datanode silent that long is dead anyway): HDFS's safe mode, simplified.
        self.reports_until = now + dead_after
        self.repairs_done = 0
        self.repairs_needed = 0
        self.outbox: dict[str, list[ReplicateChunk]] = defaultdict(list)

    # ---- durability hand-off ----
    def _apply(self, op: Op) -> object:
        result = self.ns.apply(op)
        self._ops.append((self.ns.seq, op))
        return result

    def take_ops(self) -> list[tuple[int, Op]]:
        """Ops applied since the last call, with their sequence numbers, to log before replying."""
        ops, self._ops = self._ops, []
        return ops

    # ---- namespace ----
    def mkdir(self, path: str, parents: bool, now: float) -> None:
        self._apply({"op": "mkdir", "path": path, "parents": parents, "mtime": now})

    def create(
        self, path: str, replication: int, client: str, overwrite: bool, now: float
    ) -> tuple[int, int]:
        replication = replication or self.replication
        existing = self.ns.lookup(path)
        old_handles = self._handles_of(existing) if overwrite and existing else []
        self._apply(
            {
                "op": "create",
                "path": path,
                "replication": replication,
                "client": client,
                "overwrite": overwrite,
                "mtime": now,
            }
        )
        self._forget_chunks(old_handles)
        self.leases[path] = now
        return self.chunk_size, replication

    def add_chunk(
        self,
        path: str,
        client: str,
        client_host: str,
        exclude: Iterable[str],
        abandon: int,
        now: float,
    ) -> tuple[int, list[ReplicaView]]:
        """A new chunk at the end of `path` and the pipeline to write it through."""
        node = self.ns.lookup(path)
        if not isinstance(node, FileNode):
            raise NotFound(f"{path}: not being written")
        live = [d for d in self.datanodes.values() if d.alive]
        targets = choose_targets(
            node.replication,
            [Candidate(d.name, d.host, d.reported_chunks + d.assigned) for d in live],
            self.rng,
            writer_host=client_host,
            exclude=exclude,
        )
        if not targets:
            raise NoDatanodes(
                f"no live datanode to write {path} to "
                f"({len(live)} live, {len(set(exclude))} excluded after failures)"
            )
        handle = self.ns.next_handle
        op: Op = {"op": "add_chunk", "path": path, "client": client, "handle": handle}
        if abandon:
            op["abandon"] = abandon
        self._apply(op)
        if abandon:
            self._forget_chunks([abandon])
        for target in targets:
            self.datanodes[target.name].assigned += 1
        self.leases[path] = now
        return handle, [self._replica_view(t.name) for t in targets]

    def commit_chunk(
        self, path: str, client: str, handle: int, size: int, stored_on: Iterable[str], now: float
    ) -> None:
        if size > self.chunk_size:
            raise GfsError(f"chunk of {size} bytes exceeds the chunk size {self.chunk_size}")
        self._apply(
            {"op": "commit_chunk", "path": path, "client": client, "handle": handle, "size": size}
        )
        for name in stored_on:
            if name in self.datanodes:
                self._add_location(handle, name, now)
        self.leases[path] = now

    def renew_lease(self, client: str, paths: Iterable[str], now: float) -> list[str]:
        """A live writer keeps its files; returns the paths whose lease it no longer holds."""
        lost = []
        for path in paths:
            node = self.ns.lookup(path)
            if (
                isinstance(node, FileNode)
                and not node.complete
                and node.lease_holder == client
                and path in self.leases
            ):
                self.leases[path] = now
            else:
                lost.append(path)
        return lost

    def complete(self, path: str, client: str, abort: bool, now: float) -> None:
        if abort:
            node = self.ns.lookup(path)
            handles = list(node.chunks) if isinstance(node, FileNode) else []
            self._apply({"op": "abort", "path": path, "client": client})
            self._forget_chunks(handles)
        else:
            self._apply({"op": "complete", "path": path, "client": client, "mtime": now})
        self.leases.pop(path, None)

    def delete(self, path: str, recursive: bool, now: float) -> None:
        node = self.ns.visible(path)
        handles = self._handles_of(node)
        self._apply({"op": "delete", "path": path, "recursive": recursive, "mtime": now})
        self._forget_chunks(handles)
        for lease_path in [p for p in self.leases if p == path or paths.is_ancestor(path, p)]:
            del self.leases[lease_path]

    def rename(self, src: str, dst: str, now: float) -> None:
        self._apply({"op": "rename", "src": src, "dst": dst, "mtime": now})
        # Files being written inside a moved directory keep their leases.
        for lease_path in [p for p in self.leases if paths.is_ancestor(src, p)]:
            self.leases[dst + lease_path[len(src) :]] = self.leases.pop(lease_path)

    def _handles_of(self, node: DirNode | FileNode | None) -> list[int]:
        if node is None:
            return []
        if isinstance(node, FileNode):
            return list(node.chunks)
        handles: list[int] = []
        for child in node.children.values():
            handles.extend(self._handles_of(child))
        return handles

    def _forget_chunks(self, handles: Iterable[int]) -> None:
        """The chunks left the namespace: their replicas become garbage on every holder."""
        for handle in handles:
            for name in self.locations.pop(handle, set()) | self.corrupt.pop(handle, set()):
                self.held[name].discard(handle)
                self.location_since.pop((handle, name), None)
                self.pending_deletes[name].add(handle)

    # ---- reads ----
    def list(self, path: str, recursive: bool) -> list[Entry]:
        node = self.ns.visible(path)
        if isinstance(node, FileNode):
            return [self._entry(path, node)]
        entries = []
        walk = self.ns.walk(path)
        next(walk)  # the directory itself
        for here, child in walk:
            if recursive or paths.parent(here) == path:
                entries.append(self._entry(here, child))
        return sorted(entries, key=lambda e: e.path)

    def _entry(self, path: str, node: DirNode | FileNode) -> Entry:
        if isinstance(node, DirNode):
            return Entry(path, True, 0, 0, node.mtime, 0)
        return Entry(
            path, False, self.ns.file_size(node), node.replication, node.mtime, len(node.chunks)
        )

    def stat(self, path: str, client_host: str) -> tuple[Entry, list[ChunkView]]:
        node = self.ns.visible(path)
        entry = self._entry(path, node)
        if isinstance(node, DirNode):
            return entry, []
        chunks = []
        offset = 0
        for handle in node.chunks:
            size = self.ns.chunks[handle].size
            chunks.append(
                ChunkView(
                    handle=handle,
                    size=size,
                    offset=offset,
                    replicas=self._readable(handle, client_host),
                    corrupt=sorted(self.corrupt.get(handle, ())),
                )
            )
            offset += size
        return entry, chunks

    def live_replicas(self, handle: int) -> list[str]:
        bad = self.corrupt.get(handle, set())
        return sorted(
            name
            for name in self.locations.get(handle, ())
            if name not in bad and self.datanodes[name].alive
        )

    def _readable(self, handle: int, client_host: str) -> list[ReplicaView]:
        names = self.live_replicas(handle)
        self.rng.shuffle(names)  # spread readers over replicas...
        names.sort(key=lambda n: self.datanodes[n].host != client_host)  # ...nearest first
        return [self._replica_view(n) for n in names]

    def _replica_view(self, name: str) -> ReplicaView:
        record = self.datanodes[name]
        return ReplicaView(name, record.address, record.host, record.data_address)

    # ---- datanodes ----
    def _add_location(self, handle: int, name: str, now: float) -> None:
        if name not in self.locations[handle]:
            self.locations[handle].add(name)
            self.held[name].add(handle)
            self.location_since[(handle, name)] = now

    def _remove_location(self, handle: int, name: str) -> None:
        self.locations[handle].discard(name)
        if not self.locations[handle]:
            del self.locations[handle]
        self.held[name].discard(handle)
        self.location_since.pop((handle, name), None)

    def mark_corrupt(self, handle: int, name: str) -> bool:
        """Record a bad replica; False when the chunk is unknown (nothing to do)."""
        if handle not in self.ns.chunks:
            return False
        if name in self.locations.get(handle, ()):
            self._remove_location(handle, name)
        self.corrupt[handle].add(name)
        return True

    def heartbeat(
        self,
        name: str,
        address: str,
        host: str,
        used_bytes: int,
        free_bytes: int,
        reported: dict[int, int],
        corrupt: Iterable[int],
        now: float,
        data_address: str = "",
    ) -> tuple[list[Command], list[str]]:
        """Take a datanode's full report; return its commands and events worth logging."""
        events: list[str] = []
        record = self.datanodes.get(name)
        if record is None:
            record = self.datanodes[name] = DatanodeRecord(name, address, host, now)
            events.append(f"{name} registered at {address} (host {host}, {len(reported)} chunks)")
        elif not record.alive:
            events.append(f"{name} is back at {address} ({len(reported)} chunks)")
        record.address, record.host, record.last_seen, record.alive = address, host, now, True
        record.data_address = data_address
        record.used_bytes, record.free_bytes = used_bytes, free_bytes
        record.reported_chunks, record.assigned = len(reported), 0

        garbage = self.pending_deletes.pop(name, set())
        for handle in corrupt:
            if handle in garbage:
                continue  # a corrupt copy being deleted by this very reply
            if not self.mark_corrupt(handle, name):
                garbage.add(handle)
        for handle, size in reported.items():
            meta = self.ns.chunks.get(handle)
            if meta is None:
                garbage.add(handle)
            elif handle in garbage:
                continue  # being deleted right now (excess or corrupt copy): not a location
            elif name in self.corrupt.get(handle, ()):
                continue
            elif meta.committed and size != meta.size:
                events.append(
                    f"{name} holds chunk {handle:016x} with {size} bytes, expected {meta.size}"
                )
                self.mark_corrupt(handle, name)
            else:
                self._add_location(handle, name, now)
        for handle in list(self.held.get(name, ())):
            if (
                handle not in reported
                and now - self.location_since[(handle, name)] > self.report_grace
            ):
                self._remove_location(handle, name)
        for handle in list(self.corrupt):
            if name in self.corrupt[handle] and handle not in reported and handle not in corrupt:
                self.corrupt[handle].discard(name)  # the bad copy is gone
                if not self.corrupt[handle]:
                    del self.corrupt[handle]
        for handle, repair in list(self.repairs.items()):
            # Done only once the copy counts as a good location (not garbage, right size).
            if name in repair.targets and name in self.locations.get(handle, ()):
                repair.targets.remove(name)
                self.repairs_done += 1
                events.append(f"chunk {handle:016x} re-replicated from {repair.source} to {name}")
                if not repair.targets:
                    del self.repairs[handle]
        commands: list[Command] = [DeleteReplicas(sorted(garbage))] if garbage else []
        commands.extend(self.outbox.pop(name, []))
        return commands, events

    def tick(self, now: float) -> list[str]:
        """Advance time: declare silent datanodes dead, expire abandoned writes."""
        events = []
        for record in self.datanodes.values():
            silent = now - record.last_seen
            if record.alive and silent > self.dead_after:
                record.alive = False
                events.append(f"{record.name} is dead (no heartbeat for {silent:.1f}s)")
        for path, renewed in list(self.leases.items()):
            if now - renewed > self.lease_timeout:
                del self.leases[path]
                node = self.ns.lookup(path)
                if isinstance(node, FileNode) and not node.complete:
                    handles = list(node.chunks)
                    self._apply({"op": "abort", "path": path})
                    self._forget_chunks(handles)
                    events.append(f"lease on {path} expired: unfinished file removed")
        if now >= self.reports_until:
            events.extend(self._plan_repairs(now))
        return events

    # ---- healing ----
    def _plan_repairs(self, now: float) -> list[str]:
        """Queue copies for under-replicated chunks (fewest live replicas first), drop the
        replicas of chunks that have too many, and delete corrupt copies once enough good ones
        exist."""
        events: list[str] = []
        for handle, repair in list(self.repairs.items()):
            stuck = now - repair.started > self.repair_timeout
            # A source that died or lost its good copy (found corrupt) cannot finish.
            lost = repair.source not in self.live_replicas(handle) or not all(
                map(self._alive, repair.targets)
            )
            if stuck or lost or handle not in self.ns.chunks:
                del self.repairs[handle]
                if handle in self.ns.chunks:
                    events.append(f"repair of chunk {handle:016x} abandoned; will retry")
        needy: list[tuple[int, int, int]] = []  # (live count, handle, replication)
        for _path, node in self.ns.all_files():
            for handle in node.chunks:
                if not self.ns.chunks[handle].committed:
                    continue
                live = self.live_replicas(handle)
                if len(live) < node.replication:
                    if live and handle not in self.repairs:
                        needy.append((len(live), handle, node.replication))
                elif handle not in self.repairs:
                    events.extend(self._trim(handle, live, node.replication))
        needy.sort()
        outgoing: dict[str, int] = defaultdict(int)
        for repair in self.repairs.values():
            outgoing[repair.source] += 1
        for live_count, handle, replication in needy:
            live = self.live_replicas(handle)
            sources = [n for n in live if outgoing[n] < self.repair_streams]
            if not sources:
                continue
            source = min(sources, key=lambda n: (outgoing[n], self.rng.random()))
            # Never a datanode that has a copy, good or corrupt, or is about to delete one:
            # its pending DELETE would remove the new copy.
            holders = self.locations.get(handle, set()) | self.corrupt.get(handle, set())
            holders |= {n for n, doomed in self.pending_deletes.items() if handle in doomed}
            targets = choose_targets(
                replication - live_count,
                [
                    Candidate(d.name, d.host, d.reported_chunks + d.assigned)
                    for d in self.datanodes.values()
                    if d.alive and d.name not in holders
                ],
                self.rng,
                avoid_hosts={self.datanodes[n].host for n in live},
            )
            if not targets:
                continue
            outgoing[source] += 1
            for target in targets:
                self.datanodes[target.name].assigned += 1
            self.repairs[handle] = Repair(handle, source, [t.name for t in targets], now)
            self.outbox[source].append(
                ReplicateChunk(
                    handle,
                    [self._replica_view(t.name) for t in targets],
                )
            )
            events.append(
                f"re-replicating chunk {handle:016x} ({live_count} live of {replication}) "
                f"from {source} to {','.join(t.name for t in targets)}"
            )
        # Those started just now are counted in self.repairs already.
        self.repairs_needed = sum(1 for _live, handle, _r in needy if handle not in self.repairs)
        return events

    @property
    def repairs_pending(self) -> int:
        """Copies under way plus chunks still waiting for one (as of the last tick)."""
        return len(self.repairs) + self.repairs_needed

    def _trim(self, handle: int, live: list[str], replication: int) -> list[str]:
        events = []
        for name in sorted(self.corrupt.get(handle, ())):
            # Enough good copies exist: the bad one can go.
            self.corrupt[handle].discard(name)
            self.pending_deletes[name].add(handle)
            events.append(f"deleting corrupt replica of chunk {handle:016x} on {name}")
        if handle in self.corrupt and not self.corrupt[handle]:
            del self.corrupt[handle]
        excess = len(live) - replication
        while excess > 0:
            hosts = [self.datanodes[n].host for n in live]
            # Drop a copy that shares its host with another first, then the busiest node's,
            # counting the copies already doomed this round (assigned goes down), so that
            # the excess of a returning datanode is taken evenly from everyone.
            victim = max(
                live,
                key=lambda n: (
                    hosts.count(self.datanodes[n].host),
                    self.datanodes[n].reported_chunks + self.datanodes[n].assigned,
                    n,
                ),
            )
            live.remove(victim)
            self._remove_location(handle, victim)
            self.pending_deletes[victim].add(handle)
            self.datanodes[victim].assigned -= 1
            events.append(f"chunk {handle:016x} has an excess replica: deleting it on {victim}")
            excess -= 1
        return events

    def _alive(self, name: str) -> bool:
        record = self.datanodes.get(name)
        return record is not None and record.alive

    # ---- health ----
    def fsck(self, path: str) -> FsckReport:
        report = FsckReport()
        for here, node in self.ns.files_under(path):
            report.files += 1
            for handle in node.chunks:
                report.chunks += 1
                live = self.live_replicas(handle)
                bad = sorted(self.corrupt.get(handle, ()))
                kinds = []
                if not live:
                    report.missing += 1
                    kinds.append("missing")
                elif len(live) < node.replication:
                    report.under_replicated += 1
                    kinds.append("under_replicated")
                if bad:
                    report.corrupt += 1
                    kinds.append("corrupt")
                for kind in kinds:
                    report.problems.append(FsckProblem(here, handle, kind, live, bad))
        return report
