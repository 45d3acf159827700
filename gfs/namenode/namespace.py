"""The namespace: directories, files and their chunk lists (pure, deterministic).

Every mutation is an *op*, a small JSON-able dict. `apply(op)` validates first and only then
mutates, so a refused op changes nothing; replaying the op log through `apply` rebuilds the
exact same namespace (the op carries every value that is not derivable, e.g. the handle and
mtime). Chunk *locations* are not here: datanodes report them (GFS).

Files are write-once (HDFS semantics): created under construction by one lease holder,
filled chunk by chunk, then completed; they are invisible to readers until complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gfs import paths
from gfs.errors import (
    AlreadyExists,
    DirectoryNotEmpty,
    GfsError,
    InvalidPath,
    IsADirectory,
    LeaseError,
    NotADirectory,
    NotFound,
)

Op = dict[str, Any]


@dataclass
class ChunkMeta:
    size: int = 0
    committed: bool = False


@dataclass
class FileNode:
    replication: int
    mtime: float
    chunks: list[int] = field(default_factory=list)
    complete: bool = False
    lease_holder: str = ""


@dataclass
class DirNode:
    mtime: float
    children: dict[str, DirNode | FileNode] = field(default_factory=dict)


Node = DirNode | FileNode


class Namespace:
    def __init__(self) -> None:
        self.root = DirNode(mtime=0.0)
        self.chunks: dict[int, ChunkMeta] = {}
        self.next_handle = 1
        self.seq = 0  # sequence number of the last applied op

    # ---- lookups ----
    def lookup(self, path: str) -> Node | None:
        node: Node = self.root
        for name in paths.split(path):
            if not isinstance(node, DirNode):
                return None
            child = node.children.get(name)
            if child is None:
                return None
            node = child
        return node

    def visible(self, path: str) -> Node:
        """The node at `path`, hiding files still being written."""
        node = self.lookup(path)
        if node is None or (isinstance(node, FileNode) and not node.complete):
            raise NotFound(f"{path}: no such file or directory")
        return node

    def file(self, path: str) -> FileNode:
        node = self.visible(path)
        if isinstance(node, DirNode):
            raise IsADirectory(f"{path}: is a directory")
        return node

    def file_size(self, node: FileNode) -> int:
        return sum(self.chunks[h].size for h in node.chunks)

    def walk(self, path: str) -> Iterator[tuple[str, Node]]:
        """(path, node) for `path` and, if it is a directory, everything visible below it."""
        top = self.visible(path)
        stack: list[tuple[str, Node]] = [(path, top)]
        while stack:
            here, node = stack.pop()
            yield here, node
            if isinstance(node, DirNode):
                for name in sorted(node.children, reverse=True):
                    child = node.children[name]
                    if isinstance(child, FileNode) and not child.complete:
                        continue
                    stack.append((paths.join(here, name), child))

    def files_under(self, path: str) -> Iterator[tuple[str, FileNode]]:
        for here, node in self.walk(path):
            if isinstance(node, FileNode):
                yield here, node

    def all_files(self) -> Iterator[tuple[str, FileNode]]:
        """Every file, finished or not."""
        stack: list[tuple[str, Node]] = [("/", self.root)]
        while stack:
            here, node = stack.pop()
            if isinstance(node, FileNode):
                yield here, node
                continue
            for name, child in node.children.items():
                stack.append((paths.join(here, name), child))

    def under_construction(self) -> Iterator[tuple[str, FileNode]]:
        return ((path, node) for path, node in self.all_files() if not node.complete)

    def _parent_dir(self, path: str) -> DirNode:
        parent_path = paths.parent(path)
        node = self.lookup(parent_path)
        if node is None:
            raise NotFound(f"{parent_path}: no such directory")
        if not isinstance(node, DirNode):
            raise NotADirectory(f"{parent_path}: not a directory")
        return node

    def _writing(self, path: str, client: str) -> FileNode:
        node = self.lookup(path)
        if not isinstance(node, FileNode) or node.complete:
            raise LeaseError(f"{path}: not being written (lease expired or file removed)")
        if node.lease_holder != client:
            raise LeaseError(f"{path}: being written by another client")
        return node

    # ---- mutations ----
    def apply(self, op: Op) -> Any:
        """Validate and apply one op; raise GfsError (changing nothing) if it is refused."""
        kind = op["op"]
        handler = getattr(self, f"_op_{kind}", None)
        if handler is None:
            raise GfsError(f"unknown namespace op {kind!r}")
        result = handler(op)
        self.seq += 1
        return result

    def _op_mkdir(self, op: Op) -> None:
        path, mtime = op["path"], op["mtime"]
        if path == "/":
            if op.get("parents"):
                return
            raise AlreadyExists("/: directory exists")
        existing = self.lookup(path)
        if existing is not None:
            if isinstance(existing, DirNode) and op.get("parents"):
                return
            raise AlreadyExists(f"{path}: file exists")
        if op.get("parents"):
            node = self.root
            walked = ""
            for name in paths.split(path):
                walked += "/" + name
                child = node.children.get(name)
                if child is None:
                    break
                if not isinstance(child, DirNode):
                    raise NotADirectory(f"{walked}: not a directory")
                node = child
            node = self.root
            for name in paths.split(path):
                child = node.children.get(name)
                if child is None:
                    child = DirNode(mtime=mtime)
                    node.children[name] = child
                    node.mtime = mtime
                assert isinstance(child, DirNode)
                node = child
            return
        parent = self._parent_dir(path)
        parent.children[paths.basename(path)] = DirNode(mtime=mtime)
        parent.mtime = mtime

    def _op_create(self, op: Op) -> None:
        path = op["path"]
        if path == "/":
            raise IsADirectory("/: is a directory")
        parent = self._parent_dir(path)
        name = paths.basename(path)
        existing = parent.children.get(name)
        if isinstance(existing, DirNode):
            raise IsADirectory(f"{path}: is a directory")
        if isinstance(existing, FileNode):
            if not existing.complete:
                raise AlreadyExists(f"{path}: is being written by another client")
            if not op.get("overwrite"):
                raise AlreadyExists(f"{path}: file exists")
            self._drop_file(existing)
        if op["replication"] < 1:
            raise GfsError(f"replication must be >= 1, not {op['replication']}")
        parent.children[name] = FileNode(
            replication=op["replication"], mtime=op["mtime"], lease_holder=op["client"]
        )

    def _op_add_chunk(self, op: Op) -> int:
        node = self._writing(op["path"], op["client"])
        abandon = op.get("abandon", 0)
        if abandon:
            if not node.chunks or node.chunks[-1] != abandon or self.chunks[abandon].committed:
                raise GfsError(f"chunk {abandon:016x} is not the open chunk of {op['path']}")
        elif node.chunks and not self.chunks[node.chunks[-1]].committed:
            raise GfsError(f"{op['path']}: the previous chunk is not committed yet")
        handle = op["handle"]
        if handle in self.chunks:
            raise GfsError(f"chunk handle {handle:016x} already in use")
        if abandon:
            node.chunks.pop()
            del self.chunks[abandon]
        node.chunks.append(handle)
        self.chunks[handle] = ChunkMeta()
        self.next_handle = max(self.next_handle, handle + 1)
        return handle

    def _op_commit_chunk(self, op: Op) -> None:
        node = self._writing(op["path"], op["client"])
        handle = op["handle"]
        if not node.chunks or node.chunks[-1] != handle:
            raise GfsError(f"chunk {handle:016x} is not the open chunk of {op['path']}")
        meta = self.chunks[handle]
        meta.size = op["size"]
        meta.committed = True

    def _op_complete(self, op: Op) -> None:
        node = self._writing(op["path"], op["client"])
        if node.chunks and not self.chunks[node.chunks[-1]].committed:
            raise GfsError(f"{op['path']}: the last chunk is not committed")
        node.complete = True
        node.lease_holder = ""
        node.mtime = op["mtime"]

    def _op_abort(self, op: Op) -> None:
        """Drop a file under construction (the writer gave up or its lease expired)."""
        path = op["path"]
        node = self.lookup(path)
        if not isinstance(node, FileNode) or node.complete:
            raise NotFound(f"{path}: not being written")
        if op.get("client") and node.lease_holder != op["client"]:
            raise LeaseError(f"{path}: being written by another client")
        self._drop_file(node)
        del self._parent_dir(path).children[paths.basename(path)]

    def _op_delete(self, op: Op) -> None:
        path = op["path"]
        if path == "/":
            raise InvalidPath("refusing to delete /")
        node = self.visible(path)
        if isinstance(node, DirNode):
            if node.children and not op.get("recursive"):
                raise DirectoryNotEmpty(f"{path}: directory not empty (use -r)")
            self._drop_tree(node)
        else:
            self._drop_file(node)
        parent = self._parent_dir(path)
        del parent.children[paths.basename(path)]
        parent.mtime = op["mtime"]

    def _op_rename(self, op: Op) -> None:
        src, dst = op["src"], op["dst"]
        if src == "/":
            raise InvalidPath("cannot move /")
        node = self.visible(src)
        if src == dst:
            raise AlreadyExists(f"{dst}: file exists")
        if isinstance(node, DirNode) and paths.is_ancestor(src, dst):
            raise InvalidPath(f"cannot move {src} into itself ({dst})")
        dst_parent = self._parent_dir(dst)
        if paths.basename(dst) in dst_parent.children:
            raise AlreadyExists(f"{dst}: file exists")
        src_parent = self._parent_dir(src)
        del src_parent.children[paths.basename(src)]
        dst_parent.children[paths.basename(dst)] = node
        src_parent.mtime = dst_parent.mtime = op["mtime"]

    def _drop_file(self, node: FileNode) -> None:
        for handle in node.chunks:
            self.chunks.pop(handle, None)

    def _drop_tree(self, node: DirNode) -> None:
        for child in node.children.values():
            if isinstance(child, DirNode):
                self._drop_tree(child)
            else:
                self._drop_file(child)

    # ---- checkpoints ----
    def to_dict(self) -> dict[str, Any]:
        def encode(node: Node) -> dict[str, Any]:
            if isinstance(node, DirNode):
                return {
                    "dir": True,
                    "mtime": node.mtime,
                    "children": {k: encode(v) for k, v in node.children.items()},
                }
            return {
                "replication": node.replication,
                "mtime": node.mtime,
                "complete": node.complete,
                "lease_holder": node.lease_holder,
                "chunks": [[h, self.chunks[h].size, self.chunks[h].committed] for h in node.chunks],
            }

        return {"seq": self.seq, "next_handle": self.next_handle, "root": encode(self.root)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Namespace:
        namespace = cls()

        def decode(raw: dict[str, Any]) -> Node:
            if raw.get("dir"):
                return DirNode(
                    mtime=raw["mtime"],
                    children={k: decode(v) for k, v in raw["children"].items()},
                )
            node = FileNode(
                replication=raw["replication"],
                mtime=raw["mtime"],
                complete=raw["complete"],
                lease_holder=raw["lease_holder"],
            )
            for handle, size, committed in raw["chunks"]:
                node.chunks.append(handle)
                namespace.chunks[handle] = ChunkMeta(size=size, committed=committed)
            return node

        root = decode(data["root"])
        assert isinstance(root, DirNode)
        namespace.root = root
        namespace.seq = data["seq"]
        namespace.next_handle = data["next_handle"]
        return namespace
