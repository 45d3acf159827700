"""Real datanode servers in this process on 127.0.0.1:0 (gRPC for control, the data transfer
port for chunk data): pipelines, reads, failures."""

from __future__ import annotations

import logging
import random
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from gfs import rpc
from gfs.clusterdir import ClusterDir
from gfs.datanode.server import DatanodeServer
from gfs.datanode.store import ChunkStore, replica_paths
from gfs.datanode.transfer import ChunkStream, Code, TransferError, read_remote
from gfs.proto import gfs_pb2, gfs_pb2_grpc

MIB = 1024 * 1024
TIMEOUT = 30.0


class Cluster:
    def __init__(self, root: Path, count: int, chunk_size: int = 64 * MIB) -> None:
        self.dir = ClusterDir(root)
        self.secret = self.dir.ensure_secret()
        self.servers: list[DatanodeServer] = []
        self.channels: list[grpc.Channel] = []
        for i in range(count):
            store = ChunkStore(self.dir.data / f"datanode-{i}")
            server = DatanodeServer(
                store, name=f"datanode-{i}", secret=self.secret, chunk_size=chunk_size
            )
            server.start()
            self.servers.append(server)

    def replica(self, i: int) -> gfs_pb2.Replica:
        server = self.servers[i]
        return gfs_pb2.Replica(
            datanode=server.name,
            address=server.address,
            host=f"host-{i}",
            data_address=server.data_address,
        )

    def stub(self, i: int, secret: str | None = None) -> gfs_pb2_grpc.DatanodeStub:
        address = self.servers[i].address
        if secret is None:
            chan = rpc.channel(address, self.secret)
        else:
            chan = grpc.insecure_channel(address)
        self.channels.append(chan)
        return gfs_pb2_grpc.DatanodeStub(chan)

    def close(self) -> None:
        for chan in self.channels:
            chan.close()
        for server in self.servers:
            server.stop(grace=0)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "cluster", 3)
    try:
        yield c
    finally:
        c.close()


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def write(
    cluster: Cluster,
    handle: int,
    data: bytes,
    chain: list[int],
    frame: int = MIB,
    after_frame: Callable[[int], None] | None = None,
    end: bool = True,
    timeout: float = TIMEOUT,
    downstream: list[gfs_pb2.Replica] | None = None,
) -> gfs_pb2.WriteAck | None:
    """Write through the pipeline `chain` (then `downstream`); without `end` the connection
    is dropped after the data instead (None)."""
    rest = [cluster.replica(i) for i in chain[1:]] + (downstream or [])
    head = cluster.servers[chain[0]].data_address
    stream = ChunkStream(head, cluster.secret, handle, rest, timeout)
    try:
        stream.start()
        for n, start in enumerate(range(0, len(data), frame)):
            stream.send(data[start : start + frame])
            if after_frame is not None:
                after_frame(n)
        return stream.finish() if end else None
    finally:
        stream.close()


def pieces(
    cluster: Cluster, i: int, handle: int, offset: int = 0, length: int = 0, secret: str = ""
) -> Iterator[memoryview]:
    address = cluster.servers[i].data_address
    return read_remote(address, secret or cluster.secret, handle, offset, length, TIMEOUT)


def read(cluster: Cluster, i: int, handle: int, offset: int = 0, length: int = 0) -> bytes:
    return b"".join(pieces(cluster, i, handle, offset, length))


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def wait_until_quiet(count: Callable[[], int], quiet: float = 0.5) -> None:
    """Wait until count() has not changed for `quiet` seconds (at most TIMEOUT in all)."""
    deadline = time.monotonic() + TIMEOUT
    last, since = count(), time.monotonic()
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError("still changing after the timeout")
        time.sleep(0.02)
        if count() != last:
            last, since = count(), time.monotonic()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_three_hop_pipeline_then_reads_from_each(cluster: Cluster) -> None:
    data = payload(5 * MIB + 12345, seed=1)
    ack = write(cluster, 0x1234, data, [0, 1, 2])
    assert list(ack.stored_on) == ["datanode-0", "datanode-1", "datanode-2"]
    assert ack.size == len(data) and not ack.failed_datanode and not ack.error
    for i in range(3):
        assert read(cluster, i, 0x1234) == data
        assert cluster.servers[i].store.report() == [(0x1234, len(data))]
        path = cluster.dir.data / f"datanode-{i}" / "chunks" / "0000000000001234.chunk"
        assert path.read_bytes() == data
    # Ranged reads, pieces of at most 1 MiB.
    assert read(cluster, 2, 0x1234, MIB - 3, 70_000) == data[MIB - 3 : MIB - 3 + 70_000]
    sizes = [len(piece) for piece in pieces(cluster, 1, 0x1234)]
    assert max(sizes) <= MIB and sum(sizes) == len(data)


@pytest.mark.parametrize("size", [0, 1, 65536, 65537])
def test_small_chunks_and_odd_frames(cluster: Cluster, size: int) -> None:
    data = payload(size, seed=size)
    ack = write(cluster, 77, data, [2, 0], frame=1000)
    assert list(ack.stored_on) == ["datanode-2", "datanode-0"] and ack.size == size
    assert read(cluster, 0, 77) == data
    assert read(cluster, 2, 77) == data


def _write_request(cluster: Cluster, handle: int, header: bytes | None = None) -> bytes:
    from gfs.datanode.transfer import encode_write_request

    if header is None:
        header = gfs_pb2.WriteHeader(handle=handle).SerializeToString()
    return encode_write_request(cluster.secret.encode(), TIMEOUT, header)


def test_missing_and_bad_requests(cluster: Cluster) -> None:
    with pytest.raises(TransferError) as missing:
        read(cluster, 0, 999)
    assert missing.value.code == Code.NOT_FOUND
    write(cluster, 3, b"abc", [0])
    with pytest.raises(TransferError) as past_end:
        read(cluster, 0, 3, offset=10)
    assert past_end.value.code == Code.OUT_OF_RANGE
    host, port = cluster.servers[0].data_address.rsplit(":", 1)
    # A write header that is not a WriteHeader.
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.sendall(_write_request(cluster, 4, header=b"\xff\xff\xff"))
        reply = _records(sock)
    assert reply[0] == 2 and reply[5] == Code.BAD_REQUEST and b"malformed write header" in reply
    # A record that is neither DATA nor END, empty DATA, DATA beyond 1 MiB: nothing is kept.
    for bad in (bytes((7, 0, 0, 0, 0)), bytes(5), bytes((0,)) + (MIB + 1).to_bytes(4, "little")):
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
            sock.sendall(_write_request(cluster, 5, None) + bytes((0, 2, 0, 0, 0)) + b"ok" + bad)
            reply = _records(sock)
        assert reply[:5] == bytes((3, 0, 0, 0, 0))  # READY, then an ERROR, no ACK
        assert reply[5] == 2 and reply[10] == Code.BAD_REQUEST, reply
    for server in cluster.servers:
        wait_until(lambda s=server: s.service.active_transfers == 0)
    assert cluster.servers[0].store.report() == [(3, 3)]
    assert list(cluster.servers[0].store.tmp_dir.iterdir()) == []


def test_corrupt_replica_is_refused_and_found_by_scan(cluster: Cluster) -> None:
    data = payload(300_000, seed=3)
    write(cluster, 0xABC, data, [0, 1])
    path = replica_paths(cluster.servers[1].store.root, 0xABC).chunk
    raw = bytearray(path.read_bytes())
    raw[200_000] ^= 0x01
    path.write_bytes(bytes(raw))
    reply = cluster.stub(1).Scan(gfs_pb2.ScanRequest(changed_only=True), timeout=TIMEOUT)
    assert list(reply.corrupt) == [0xABC]
    with pytest.raises(TransferError) as info:
        read(cluster, 1, 0xABC)
    assert info.value.code == Code.DATA_LOSS
    assert str(info.value) == "corrupt replica of chunk 0000000000000abc on datanode-1"
    assert read(cluster, 0, 0xABC) == data  # the other replica is fine
    # A re-replication target may receive a chunk it holds a corrupt copy of.
    ack = cluster.stub(0).Replicate(
        gfs_pb2.ReplicateRequest(handle=0xABC, targets=[cluster.replica(1)]), timeout=TIMEOUT
    )
    assert list(ack.stored_on) == ["datanode-1"] and not ack.failed_datanode
    assert read(cluster, 1, 0xABC) == data
    assert cluster.servers[1].store.corrupt_handles() == []


def test_corruption_found_mid_read_stops_the_stream(cluster: Cluster) -> None:
    data = payload(3 * MIB, seed=4)
    write(cluster, 8, data, [0])
    path = cluster.servers[0].store.chunk_path(8)
    raw = bytearray(path.read_bytes())
    raw[2 * MIB + 5] ^= 0xFF
    path.write_bytes(bytes(raw))
    received = b""
    with pytest.raises(TransferError) as info:
        for piece in pieces(cluster, 0, 8):
            received += piece
    assert info.value.code == Code.DATA_LOSS
    assert received == data[: 2 * MIB]  # the two good pieces came first
    assert cluster.servers[0].store.corrupt_handles() == [8]


def test_replicate_pushes_through_a_pipeline(cluster: Cluster) -> None:
    data = payload(2 * MIB + 1, seed=5)
    write(cluster, 21, data, [0])
    request = gfs_pb2.ReplicateRequest(handle=21, targets=[cluster.replica(2), cluster.replica(1)])
    ack = cluster.stub(0).Replicate(request, timeout=TIMEOUT)
    assert list(ack.stored_on) == ["datanode-2", "datanode-1"] and ack.size == len(data)
    assert read(cluster, 1, 21) == data and read(cluster, 2, 21) == data
    with pytest.raises(grpc.RpcError) as info:
        cluster.stub(0).Replicate(
            gfs_pb2.ReplicateRequest(handle=22, targets=[cluster.replica(1)]), timeout=TIMEOUT
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    dead = dead_replica()
    ack = cluster.stub(0).Replicate(
        gfs_pb2.ReplicateRequest(handle=21, targets=[dead]), timeout=TIMEOUT
    )
    assert ack.failed_datanode == "datanode-9" and list(ack.stored_on) == []


def dead_replica() -> gfs_pb2.Replica:
    address = f"127.0.0.1:{free_port()}"
    return gfs_pb2.Replica(datanode="datanode-9", address=address, data_address=address)


def test_unreachable_downstream_still_stores_upstream_copies(cluster: Cluster) -> None:
    data = payload(2 * MIB, seed=6)
    ack = write(cluster, 31, data, [0, 1], downstream=[dead_replica()])
    assert ack is not None
    assert list(ack.stored_on) == ["datanode-0", "datanode-1"]
    assert ack.failed_datanode == "datanode-9" and ack.error
    assert read(cluster, 0, 31) == data and read(cluster, 1, 31) == data


def test_downstream_stopped_mid_write(cluster: Cluster) -> None:
    data = payload(6 * MIB, seed=7)
    tail = cluster.servers[2]

    def stop_tail(n: int) -> None:
        if n == 2:
            tail.stop(grace=0)

    ack = write(cluster, 41, data, [0, 1, 2], after_frame=stop_tail)
    assert list(ack.stored_on) == ["datanode-0", "datanode-1"]
    assert ack.failed_datanode == "datanode-2"
    assert "stalled" not in ack.error  # the stopped datanode reset its connections
    assert read(cluster, 0, 41) == data and read(cluster, 1, 41) == data
    assert tail.store.report() == []
    wait_until(lambda: list(tail.store.tmp_dir.iterdir()) == [])


def test_middle_hop_stopped_mid_write(cluster: Cluster) -> None:
    data = payload(6 * MIB, seed=8)
    middle = cluster.servers[1]

    def stop_middle(n: int) -> None:
        if n == 2:
            middle.stop(grace=0)

    ack = write(cluster, 42, data, [0, 1, 2], after_frame=stop_middle)
    assert list(ack.stored_on) == ["datanode-0"]
    assert ack.failed_datanode == "datanode-1" and "stalled" not in ack.error
    assert read(cluster, 0, 42) == data
    # Nobody downstream of the head kept a partial copy.
    for server in cluster.servers[1:]:
        wait_until(lambda s=server: list(s.store.tmp_dir.iterdir()) == [])
        assert server.store.report() == []


@pytest.mark.parametrize("after", ["1 piece", "all the data"])
def test_a_write_dropped_before_its_end_stores_nothing(
    cluster: Cluster, after: str, caplog: pytest.LogCaptureFixture
) -> None:
    """What a client that died or gave up looks like to a datanode: the connection ends
    before END. Only END commits a chunk, on every hop, so no truncated replica is kept."""
    caplog.set_level(logging.INFO, logger="gfs.datanode.transfer")
    data = payload(3 * MIB, seed=11)

    def drop_after_the_first(n: int) -> None:
        if n == 0:
            raise ConnectionAbortedError("the writer gives up")

    if after == "1 piece":
        with pytest.raises(ConnectionAbortedError):
            write(cluster, 53, data, [0, 1, 2], after_frame=drop_after_the_first)
    else:
        assert write(cluster, 53, data, [0, 1, 2], end=False) is None
    for server in cluster.servers:
        wait_until(lambda s=server: s.service.active_transfers == 0)
        assert list(server.store.tmp_dir.iterdir()) == []
        assert server.store.report() == []
    assert caplog.text.count("abandoned by the upstream") == 3  # every hop said so
    ack = write(cluster, 54, data, [0, 1, 2])  # the same, ended: stored on all three
    assert ack is not None
    assert list(ack.stored_on) == ["datanode-0", "datanode-1", "datanode-2"]


def test_calls_without_the_secret_are_refused(cluster: Cluster) -> None:
    write(cluster, 61, b"secret data", [0])
    for wrong in ("", "not-the-secret"):
        stub = cluster.stub(0, secret=wrong)
        if wrong:
            chan = rpc.channel(cluster.servers[0].address, wrong)
            cluster.channels.append(chan)
            stub = gfs_pb2_grpc.DatanodeStub(chan)
        with pytest.raises(TransferError) as refused:
            read_remote(cluster.servers[0].data_address, wrong, 61, 0, 0, TIMEOUT).__next__()
        assert refused.value.code == Code.UNAUTHENTICATED
        with pytest.raises(TransferError) as refused:
            ChunkStream(cluster.servers[0].data_address, wrong, 62, [], TIMEOUT).start()
        assert refused.value.code == Code.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as info:
            stub.Scan(gfs_pb2.ScanRequest(), timeout=TIMEOUT)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert cluster.servers[0].store.report() == [(61, 11)]


class _StuckHop:
    """A fake next hop: it reads a write's request, then (with `ready`) answers READY, and
    after that never reads or answers again, like a paused datanode."""

    def __init__(self, ready: bool) -> None:
        import threading

        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self.replica = gfs_pb2.Replica(datanode="stuck", data_address=self.address)
        self._ready = ready
        self.connected = threading.Event()
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from gfs.datanode.transfer import decode_write_request_head

        self._listener.settimeout(TIMEOUT)
        conn, _ = self._listener.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            head = conn.recv(15, socket.MSG_WAITALL)
            secret_len, _wait, header_len = decode_write_request_head(head)
            rest = secret_len + header_len
            if len(conn.recv(rest, socket.MSG_WAITALL)) != rest:
                raise ConnectionError("the request ended early")
            if self._ready:
                conn.sendall(bytes((3, 0, 0, 0, 0)))
            self.connected.set()
            self._release.wait(TIMEOUT)

    def close(self) -> None:
        self._release.set()
        self._thread.join(TIMEOUT)
        self._listener.close()


@pytest.mark.parametrize("ready", [False, True], ids=["silent", "stops-reading"])
def test_a_stuck_next_hop_is_blamed_and_the_chunk_kept_upstream(
    cluster: Cluster, ready: bool
) -> None:
    """The head waits on its next hop less than the client waits on the head, so the head
    gives up first: the client gets an ack naming the stuck hop, not a timeout on the head."""
    stuck = _StuckHop(ready)
    try:
        data = payload(24 * MIB, seed=12)  # more than the socket buffers hold
        ack = write(cluster, 55, data, [0, 1], downstream=[stuck.replica], timeout=8.0)
    finally:
        stuck.close()
    assert ack is not None
    assert list(ack.stored_on) == ["datanode-0", "datanode-1"]
    assert ack.failed_datanode == "stuck" and "stalled" in ack.error, ack.error
    assert read(cluster, 0, 55) == data and read(cluster, 1, 55) == data


def test_more_than_a_chunk_is_refused_and_kept_nowhere(tmp_path: Path) -> None:
    """Datanodes of 8 MiB chunks: a writer that sends more is cut off."""
    small = Cluster(tmp_path / "small", 2, chunk_size=8 * MIB)
    try:
        with pytest.raises(TransferError):
            write(small, 56, payload(9 * MIB, seed=13), [0, 1])
        for server in small.servers:
            wait_until(lambda s=server: s.service.active_transfers == 0)
            assert server.store.report() == []
            assert list(server.store.tmp_dir.iterdir()) == []
        assert write(small, 56, payload(8 * MIB, seed=13), [0, 1]) is not None  # a full one
    finally:
        small.close()


def test_a_hop_stopped_under_a_blocked_sender_resets_it(cluster: Cluster) -> None:
    """The middle hop stops while the head is blocked sending to it (its window full: the
    middle is itself blocked on a next hop that stopped reading). The head must hear a
    reset at once, not sit on a zero window until its wait runs out ("stalled")."""
    import threading

    stuck = _StuckHop(ready=True)
    acks: list[gfs_pb2.WriteAck | None] = []
    pieces_sent = [0]

    def count(n: int) -> None:
        pieces_sent[0] = n + 1

    data = payload(48 * MIB, seed=14)
    writer = threading.Thread(
        target=lambda: acks.append(
            write(cluster, 57, data, [0, 1], downstream=[stuck.replica], after_frame=count)
        )
    )
    try:
        writer.start()
        assert stuck.connected.wait(TIMEOUT)
        # The client stops getting pieces out once every buffer down to the stuck hop is
        # full. Stopping sooner must give the same answer; this makes it the hard case.
        wait_until_quiet(lambda: pieces_sent[0])
        cluster.servers[1].stop(grace=0)
        writer.join(TIMEOUT)
    finally:
        stuck.close()
    assert not writer.is_alive()
    [ack] = acks
    assert ack is not None and list(ack.stored_on) == ["datanode-0"]
    assert ack.failed_datanode == "datanode-1" and "stalled" not in ack.error, ack.error
    assert read(cluster, 0, 57) == data


def test_a_hop_that_cannot_store_is_blamed_with_its_reason(cluster: Cluster) -> None:
    """A real file-system error at a hop (its tmp/ is a file, so nothing can be created
    there): as the middle hop, the ack names it and why, and the head keeps its copy; as
    the head, the writer hears INTERNAL with the reason, and nothing is stored anywhere."""
    broken = cluster.servers[1].store.tmp_dir
    shutil.rmtree(broken)
    broken.write_bytes(b"")
    data = payload(2 * MIB, seed=16)
    ack = write(cluster, 59, data, [0, 1, 2])
    assert ack is not None and list(ack.stored_on) == ["datanode-0"]
    assert ack.failed_datanode == "datanode-1"
    assert "datanode-1 cannot store chunk 000000000000003b" in ack.error, ack.error
    assert read(cluster, 0, 59) == data
    with pytest.raises(TransferError) as info:
        write(cluster, 60, data, [1, 2])
    assert info.value.code == Code.INTERNAL and "cannot store chunk" in str(info.value)
    for server in cluster.servers[1:]:
        wait_until(lambda s=server: s.service.active_transfers == 0)
        assert server.store.report() == []
    broken.unlink()
    broken.mkdir()


def test_close_interrupts_a_copy_to_a_silent_target(cluster: Cluster) -> None:
    """A stopping datanode drops its outgoing copies at once, even one still waiting for
    its target's READY (the copy would otherwise hold the stop for its whole timeout,
    26 s with these chunks)."""
    import threading

    write(cluster, 58, payload(MIB, seed=15), [0])
    stuck = _StuckHop(ready=False)
    acks: list[gfs_pb2.WriteAck] = []
    service = cluster.servers[0].service
    copier = threading.Thread(target=lambda: acks.append(service.replicate(58, [stuck.replica])))
    try:
        copier.start()
        assert stuck.connected.wait(TIMEOUT)
        service.close()
        copier.join(5.0)
        assert not copier.is_alive(), "close() did not interrupt the copy"
    finally:
        stuck.close()
        copier.join(TIMEOUT)
    [ack] = acks
    assert ack.failed_datanode == "stuck" and not ack.stored_on, ack


def test_busy_writes_are_refused_before_any_data(tmp_path: Path) -> None:
    """Beyond max_writes, a write is answered BUSY at once: the client picks a new
    pipeline instead of streaming a chunk that would be dropped."""
    import threading

    dn = Cluster(tmp_path / "c", 1)
    entered, release, held = _held_slot()
    server = _transfer_server(dn, held, max_writes=1)
    try:
        acks: list[gfs_pb2.WriteAck] = []

        def first_write() -> None:
            stream = ChunkStream(server.address, dn.secret, 91, [], TIMEOUT)
            stream.start()
            stream.send(b"first")
            acks.append(stream.finish())
            stream.close()

        first = threading.Thread(target=first_write)
        first.start()
        assert entered.wait(TIMEOUT)  # the first write holds the only slot
        with pytest.raises(TransferError) as busy:
            ChunkStream(server.address, dn.secret, 92, [], TIMEOUT).start()
        assert busy.value.code == Code.BUSY
        release.set()
        first.join(TIMEOUT)
        assert [list(a.stored_on) for a in acks] == [["datanode-0"]]
    finally:
        release.set()
        server.stop()
        dn.close()


# ---- the data transfer port ----


def _records(sock: socket.socket) -> bytes:
    """Everything the datanode sends until it closes the connection."""
    sock.settimeout(TIMEOUT)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_transfer_port_refuses_other_protocols_and_keeps_serving(cluster: Cluster) -> None:
    write(cluster, 71, b"still here", [0])
    host, port = cluster.servers[0].data_address.rsplit(":", 1)
    # Exactly a request's length: more unread bytes would make the close a reset.
    for junk in (b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"[:31], b"GFSR\x09" + bytes(26)):
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
            sock.sendall(junk)
            reply = _records(sock)
        assert reply[0] == 2 and reply[5] == Code.BAD_REQUEST, reply  # one ERROR record
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.sendall(b"GFSR")  # then silence: the datanode is not stuck on it
        assert read(cluster, 0, 71) == b"still here"


def _held_slot() -> tuple[Any, Any, Callable[[], Any]]:
    """(entered, release, hook): a `transfers` hook that holds every transfer in its slot
    until `release` is set, and sets `entered` when one gets there."""
    import contextlib
    import threading

    entered, release = threading.Event(), threading.Event()

    @contextlib.contextmanager
    def held() -> Iterator[None]:
        entered.set()
        release.wait(TIMEOUT)
        yield

    return entered, release, held


def _transfer_server(dn: Cluster, transfers: Any, **kw: Any) -> Any:
    from gfs.datanode.transfer import TransferServer

    server = TransferServer(
        dn.servers[0].store,
        name="datanode-0",
        secret=dn.secret,
        listen_host="127.0.0.1",
        advertise_host="127.0.0.1",
        transfers=transfers,
        **kw,
    )
    server.start()
    return server


def test_transfer_port_answers_busy_beyond_its_limit(tmp_path: Path) -> None:
    """One read at a time here: a second is answered BUSY (after its request was read, so
    the answer arrives); a connection that never sends a request holds no slot and is
    closed after the request timeout."""
    import threading

    dn = Cluster(tmp_path / "c", 1)
    entered, release, held = _held_slot()
    server = _transfer_server(dn, held, max_connections=1, request_timeout=0.5)
    try:
        data = payload(3 * MIB, seed=8)
        write(dn, 81, data, [0])
        silent = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        got: list[bytes] = []
        first = threading.Thread(
            target=lambda: got.append(
                b"".join(read_remote(server.address, dn.secret, 81, 0, 0, TIMEOUT))
            )
        )
        first.start()
        assert entered.wait(TIMEOUT)  # the first read holds the only slot
        with pytest.raises(TransferError) as busy:
            b"".join(read_remote(server.address, dn.secret, 81, 0, 0, TIMEOUT))
        assert busy.value.code == Code.BUSY
        release.set()
        first.join(TIMEOUT)
        assert got == [data]
        assert b"".join(read_remote(server.address, dn.secret, 81, 5, 10, TIMEOUT)) == data[5:15]
        assert silent.recv(1) == b""  # closed by the datanode, with nothing said
        silent.close()
    finally:
        release.set()
        server.stop()
        dn.close()


def test_transfer_port_stop_closes_a_stalled_reader(tmp_path: Path) -> None:
    import threading

    from gfs.datanode.transfer import ReadRequest, encode_request

    dn = Cluster(tmp_path / "c", 1)
    try:
        write(dn, 82, payload(8 * MIB, seed=9), [0])
        server = _transfer_server(dn, dn.servers[0].service.transfer)
        stalled = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        stalled.sendall(encode_request(ReadRequest(82, 0, 0, dn.secret.encode())))
        # stop() does not wait for the send to a reader that never reads to time out.
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        stopper.join(TIMEOUT)
        assert not stopper.is_alive()
        stalled.close()
        with pytest.raises(TransferError) as gone:
            b"".join(read_remote(server.address, dn.secret, 82, 0, 0, TIMEOUT))
        assert gone.value.code == Code.UNAVAILABLE
    finally:
        dn.close()


def test_reader_gives_up_on_a_silent_datanode() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(TransferError) as info:
            b"".join(read_remote(address, "s", 1, 0, 0, timeout=0.5))
        assert info.value.code == Code.UNAVAILABLE and "timed out" in str(info.value)
