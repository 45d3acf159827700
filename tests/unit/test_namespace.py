"""Namespace ops: POSIX-like semantics, refusal changes nothing, checkpoints round-trip."""

from __future__ import annotations

import copy

import pytest

from gfs.errors import (
    AlreadyExists,
    DirectoryNotEmpty,
    InvalidPath,
    IsADirectory,
    LeaseError,
    NotADirectory,
    NotFound,
)
from gfs.namenode.namespace import DirNode, FileNode, Namespace


def write_file(ns: Namespace, path: str, sizes: list[int], client: str = "c1") -> None:
    ns.apply({"op": "create", "path": path, "replication": 3, "client": client, "mtime": 1.0})
    for size in sizes:
        handle = ns.next_handle
        ns.apply({"op": "add_chunk", "path": path, "client": client, "handle": handle})
        ns.apply(
            {"op": "commit_chunk", "path": path, "client": client, "handle": handle, "size": size}
        )
    ns.apply({"op": "complete", "path": path, "client": client, "mtime": 2.0})


def test_mkdir_requires_parent_unless_parents() -> None:
    ns = Namespace()
    with pytest.raises(NotFound):
        ns.apply({"op": "mkdir", "path": "/a/b", "mtime": 0})
    ns.apply({"op": "mkdir", "path": "/a/b", "parents": True, "mtime": 0})
    assert isinstance(ns.lookup("/a/b"), DirNode)
    ns.apply({"op": "mkdir", "path": "/a/b", "parents": True, "mtime": 0})  # like mkdir -p
    with pytest.raises(AlreadyExists):
        ns.apply({"op": "mkdir", "path": "/a/b", "mtime": 0})


def test_mkdir_parents_through_a_file_is_refused_without_change() -> None:
    ns = Namespace()
    write_file(ns, "/f", [1])
    before = ns.to_dict()
    with pytest.raises(NotADirectory):
        ns.apply({"op": "mkdir", "path": "/f/x/y", "parents": True, "mtime": 0})
    assert ns.to_dict() == before


def test_file_is_invisible_until_complete() -> None:
    ns = Namespace()
    ns.apply({"op": "create", "path": "/f", "replication": 3, "client": "c1", "mtime": 0})
    with pytest.raises(NotFound):
        ns.visible("/f")
    with pytest.raises(AlreadyExists):
        ns.apply({"op": "create", "path": "/f", "replication": 3, "client": "c2", "mtime": 0})
    ns.apply({"op": "complete", "path": "/f", "client": "c1", "mtime": 1})
    assert ns.file_size(ns.file("/f")) == 0


def test_lease_holder_only() -> None:
    ns = Namespace()
    ns.apply({"op": "create", "path": "/f", "replication": 3, "client": "c1", "mtime": 0})
    with pytest.raises(LeaseError):
        ns.apply({"op": "add_chunk", "path": "/f", "client": "c2", "handle": 1})
    with pytest.raises(LeaseError):
        ns.apply({"op": "complete", "path": "/f", "client": "c2", "mtime": 0})


def test_chunks_and_abandon() -> None:
    ns = Namespace()
    ns.apply({"op": "create", "path": "/f", "replication": 3, "client": "c", "mtime": 0})
    ns.apply({"op": "add_chunk", "path": "/f", "client": "c", "handle": 1})
    with pytest.raises(Exception, match="not committed"):
        ns.apply({"op": "add_chunk", "path": "/f", "client": "c", "handle": 2})
    ns.apply({"op": "add_chunk", "path": "/f", "client": "c", "handle": 2, "abandon": 1})
    assert 1 not in ns.chunks
    ns.apply({"op": "commit_chunk", "path": "/f", "client": "c", "handle": 2, "size": 10})
    ns.apply({"op": "complete", "path": "/f", "client": "c", "mtime": 0})
    node = ns.file("/f")
    assert node.chunks == [2] and ns.file_size(node) == 10


def test_delete_semantics() -> None:
    ns = Namespace()
    ns.apply({"op": "mkdir", "path": "/d/e", "parents": True, "mtime": 0})
    write_file(ns, "/d/e/f", [5, 5])
    with pytest.raises(DirectoryNotEmpty):
        ns.apply({"op": "delete", "path": "/d", "mtime": 0})
    with pytest.raises(InvalidPath):
        ns.apply({"op": "delete", "path": "/", "recursive": True, "mtime": 0})
    ns.apply({"op": "delete", "path": "/d", "recursive": True, "mtime": 0})
    assert ns.lookup("/d") is None and ns.chunks == {}


def test_rename_is_strict() -> None:
    ns = Namespace()
    ns.apply({"op": "mkdir", "path": "/d", "mtime": 0})
    write_file(ns, "/a", [1])
    write_file(ns, "/b", [1])
    before = copy.deepcopy(ns.to_dict())
    with pytest.raises(AlreadyExists):
        ns.apply({"op": "rename", "src": "/a", "dst": "/b", "mtime": 0})
    with pytest.raises(AlreadyExists):
        ns.apply({"op": "rename", "src": "/a", "dst": "/d", "mtime": 0})
    with pytest.raises(InvalidPath):
        ns.apply({"op": "rename", "src": "/d", "dst": "/d/x", "mtime": 0})
    with pytest.raises(NotFound):
        ns.apply({"op": "rename", "src": "/a", "dst": "/nope/x", "mtime": 0})
    assert ns.to_dict() == before
    ns.apply({"op": "rename", "src": "/a", "dst": "/d/a", "mtime": 0})
    assert isinstance(ns.lookup("/d/a"), FileNode) and ns.lookup("/a") is None


def test_create_under_a_file_or_onto_a_dir() -> None:
    ns = Namespace()
    write_file(ns, "/f", [1])
    ns.apply({"op": "mkdir", "path": "/d", "mtime": 0})
    with pytest.raises(NotADirectory):
        ns.apply({"op": "create", "path": "/f/x", "replication": 1, "client": "c", "mtime": 0})
    with pytest.raises(IsADirectory):
        ns.apply({"op": "create", "path": "/d", "replication": 1, "client": "c", "mtime": 0})


def test_overwrite_drops_old_chunks() -> None:
    ns = Namespace()
    write_file(ns, "/f", [1, 2])
    old = list(ns.file("/f").chunks)
    ns.apply(
        {
            "op": "create",
            "path": "/f",
            "replication": 3,
            "client": "c",
            "overwrite": True,
            "mtime": 0,
        }
    )
    assert not any(h in ns.chunks for h in old)


def test_checkpoint_round_trip() -> None:
    ns = Namespace()
    ns.apply({"op": "mkdir", "path": "/x/y", "parents": True, "mtime": 3})
    write_file(ns, "/x/y/f", [7, 9])
    ns.apply({"op": "create", "path": "/x/open", "replication": 2, "client": "w", "mtime": 4})
    again = Namespace.from_dict(ns.to_dict())
    assert again.to_dict() == ns.to_dict()
    assert again.next_handle == ns.next_handle and again.seq == ns.seq
