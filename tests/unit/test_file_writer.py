"""FileWriter's pipelined chunks (pure: no sockets). A scripted client stands in for the
datanodes and applies every add and commit to a real Namespace, so the writer is held to
the namenode's rules (at most two open chunks, commits in file order, abandon drops every
later chunk) while pipelines fail at chosen moments."""

from __future__ import annotations

import io
import random
import threading
from dataclasses import dataclass, field
from typing import IO

import pytest

from gfs.client import FileWriter, GfsClient, _ChunkData, _SentChunk
from gfs.errors import GfsError
from gfs.namenode.namespace import FileNode, Namespace

PATH = "/f"
CHUNK = 1000


class FakeStream:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


@dataclass
class ScriptedClient:
    """Fails the ack of the chunk at file index i on its n-th send (fail_ack[(i, n)]), or
    the send itself (fail_send); otherwise stores what was sent, keyed by handle."""

    fail_ack: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    fail_send: set[tuple[int, int]] = field(default_factory=set)
    ns: Namespace = field(default_factory=Namespace)
    stored: dict[int, bytes] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    sends: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_handle: int = 1
    streams: list[FakeStream] = field(default_factory=list)

    # The real retry loops over the two steps below.
    _write_chunk = GfsClient._write_chunk
    _start_chunk = GfsClient._start_chunk

    def __post_init__(self) -> None:
        self.ns.apply({"op": "create", "path": PATH, "replication": 3, "client": "c", "mtime": 0})
        self.second_added = threading.Event()

    def _send_chunk(
        self, writer: FileWriter, data: _ChunkData, abandon: int
    ) -> tuple[int, _SentChunk | None]:
        with self.lock:
            handle, self.next_handle = self.next_handle, self.next_handle + 1
            op = {"op": "add_chunk", "path": PATH, "client": "c", "handle": handle}
            if abandon:
                op["abandon"] = abandon
            self.ns.apply(op)  # raises when the writer breaks the namenode's rules
            self.log.append(f"add {data.index}" + (" abandoning" if abandon else ""))
            count = self.sends[data.index] = self.sends.get(data.index, 0) + 1
            if data.index == 1:
                self.second_added.set()
        data.source.seek(data.start)
        payload = data.source.read(data.limit)
        stream = FakeStream()
        self.streams.append(stream)
        if (data.index, count) in self.fail_send:
            writer.excluded.add("dn-head")
            return handle, None
        self.stored[handle] = payload
        return handle, _SentChunk(data, handle, ["dn-1", "dn-2", "dn-3"], stream, len(payload))

    def _finish_chunk(self, path: str, chunk: _SentChunk) -> list[str]:
        if chunk.data.index == 0 and self.sends[0] == 1:
            # The writer sends chunk 1 before it waits for chunk 0's commit.
            assert self.second_added.wait(10), "chunk 1 was not sent while chunk 0 committed"
        chunk.stream.close()  # as the real one: the ack ends the connection
        with self.lock:
            failed = self.fail_ack.get((chunk.data.index, self.sends[chunk.data.index]), [])
            if failed:
                self.log.append(f"ack failed {chunk.data.index}")
                return failed
            self.ns.apply(
                {
                    "op": "commit_chunk",
                    "path": path,
                    "client": "c",
                    "handle": chunk.handle,
                    "size": chunk.size,
                }
            )
            self.log.append(f"commit {chunk.data.index}")
            return []

    def _complete(self, path: str, abort: bool) -> None:
        with self.lock:
            op = "abort" if abort else "complete"
            self.ns.apply({"op": op, "path": path, "client": "c", "mtime": 0})
            self.log.append("abort" if abort else "complete")

    def content(self) -> bytes:
        node = self.ns.lookup(PATH)
        assert isinstance(node, FileNode) and node.complete
        return b"".join(self.stored[handle] for handle in node.chunks)


def write(client: ScriptedClient, data: bytes, seekable: bool) -> FileWriter:
    writer = FileWriter(client, PATH, chunk_size=CHUNK, replication=3)  # type: ignore[arg-type]
    with writer:
        if seekable:
            writer.copy_seekable(io.BytesIO(data))
        else:
            for start in range(0, len(data), 333):  # pieces that straddle chunk ends
                writer.write(data[start : start + 333])
    return writer


@pytest.mark.parametrize("seekable", [True, False])
def test_chunks_overlap_and_commit_in_order(seekable: bool) -> None:
    client = ScriptedClient()
    data = random.Random(1).randbytes(3 * CHUNK + 123)
    writer = write(client, data, seekable)
    assert client.content() == data
    assert (writer.size, writer.chunks) == (len(data), 4)
    assert client.log.index("add 1") < client.log.index("commit 0")  # the overlap
    assert client.log[-1] == "complete"
    assert not writer._spools and all(s.closed for s in client.streams)


@pytest.mark.parametrize("seekable", [True, False])
def test_a_failed_ack_resends_that_chunk_and_the_one_sent_behind_it(seekable: bool) -> None:
    """Chunk 1's pipeline fails after chunk 2 went out: abandoning 1 drops 2 as well, and
    both are written again, in order, without the failed datanode."""
    client = ScriptedClient(fail_ack={(1, 1): ["dn-3"]})
    data = random.Random(2).randbytes(4 * CHUNK)
    writer = write(client, data, seekable)
    assert client.content() == data
    assert writer.excluded == {"dn-3"} and (writer.size, writer.chunks) == (len(data), 4)
    # (chunk 2 may be added before or after chunk 1's ack fails: they run side by side)
    ones = [entry for entry in client.log if entry.endswith((" 1", " 1 abandoning"))]
    assert ones == ["add 1", "ack failed 1", "add 1 abandoning", "commit 1"]
    assert client.sends == {0: 1, 1: 2, 2: 2, 3: 1}


def test_the_last_chunks_failed_ack_is_resent_before_complete() -> None:
    client = ScriptedClient(fail_ack={(2, 1): ["dn-1"]}, fail_send={(2, 2)})
    data = random.Random(3).randbytes(2 * CHUNK + 10)
    writer = write(client, data, seekable=False)
    assert client.content() == data
    assert writer.excluded == {"dn-1", "dn-head"}
    assert client.log[-2:] == ["commit 2", "complete"]


def test_a_chunk_that_keeps_failing_aborts_the_file() -> None:
    client = ScriptedClient(fail_ack={(1, n): ["dn-2"] for n in range(1, 10)})
    writer = FileWriter(client, PATH, chunk_size=CHUNK, replication=3)  # type: ignore[arg-type]
    source: IO[bytes] = io.BytesIO(random.Random(4).randbytes(3 * CHUNK))
    with pytest.raises(GfsError, match="cannot write chunk 1 of /f: 5 pipelines failed"):
        with writer:
            writer.copy_seekable(source)
    assert client.log[-1] == "abort" and client.ns.lookup(PATH) is None
    assert all(s.closed for s in client.streams)


def test_a_chunk_resent_behind_a_failed_one_keeps_its_own_attempts() -> None:
    """Chunk 1 is dropped once because chunk 0 failed, then fails 4 times itself: its 5th
    own pipeline is allowed (PIPELINE_ATTEMPTS counts its own failures only)."""
    fail_ack = {(0, 1): ["dn-1"]} | {(1, n): ["dn-2"] for n in range(2, 6)}
    client = ScriptedClient(fail_ack=fail_ack)
    data = random.Random(5).randbytes(2 * CHUNK)
    write(client, data, seekable=True)
    assert client.content() == data and client.sends == {0: 2, 1: 6}


def test_a_failing_commit_aborts_the_file_and_closes_every_stream() -> None:
    """CommitChunk of chunk 0 raises (say, the lease was lost) while chunk 1 is sent: the
    error reaches the writer, both streams are closed and the file is aborted."""

    class RefusingClient(ScriptedClient):
        def _finish_chunk(self, path: str, chunk: _SentChunk) -> list[str]:
            if chunk.data.index == 0:
                assert self.second_added.wait(10)
                raise GfsError("/f: lease lost")
            return super()._finish_chunk(path, chunk)

    client = RefusingClient()
    with pytest.raises(GfsError, match="lease lost"):
        write(client, random.Random(6).randbytes(3 * CHUNK), seekable=False)
    assert client.log[-1] == "abort" and client.ns.lookup(PATH) is None
    assert len(client.streams) == 2 and all(s.closed for s in client.streams)
