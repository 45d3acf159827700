"""Durability of the namespace: an fsynced operation log plus periodic checkpoints.

    DIR/data/namenode/checkpoint.json   the namespace as of op number `seq` (temp+fsync+rename)
    DIR/data/namenode/oplog.jsonl       one JSON op per line, each with its `seq`

An op is appended and fsynced before the namenode acknowledges it. Recovery loads the
checkpoint and replays the log entries after its `seq`; a torn last line (a crash in the
middle of an append, never acknowledged) is cut off. A checkpoint is written first and the
log truncated after, so a crash between the two only leaves entries that replay skips.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from gfs.errors import GfsError
from gfs.namenode.namespace import Namespace, Op

logger = logging.getLogger(__name__)


class OpLogCorrupt(GfsError):
    pass


class OpLog:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.checkpoint_path = directory / "checkpoint.json"
        self.log_path = directory / "oplog.jsonl"
        self.ops_since_checkpoint = 0
        self._log: int | None = None  # fd of the open log

    def recover(self) -> Namespace:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.checkpoint_path.exists():
            namespace = Namespace.from_dict(json.loads(self.checkpoint_path.read_text()))
        else:
            namespace = Namespace()
        checkpoint_seq = namespace.seq
        replayed = 0
        data = self.log_path.read_bytes() if self.log_path.exists() else b""
        pos = 0
        while pos < len(data):
            end = data.find(b"\n", pos)
            if end == -1:  # appends end in a newline: this one was torn, never acknowledged
                logger.warning("op log: cutting a torn last entry (%d bytes)", len(data) - pos)
                with open(self.log_path, "r+b") as handle:
                    handle.truncate(pos)
                break
            try:
                entry = json.loads(data[pos:end])
            except ValueError:
                raise OpLogCorrupt(f"{self.log_path}: unreadable entry at byte {pos}") from None
            pos = end + 1
            seq = entry.pop("seq")
            if seq <= checkpoint_seq:
                continue
            if seq != namespace.seq + 1:
                raise OpLogCorrupt(f"{self.log_path}: expected op {namespace.seq + 1}, got {seq}")
            namespace.apply(entry)
            replayed += 1
        self.ops_since_checkpoint = replayed
        logger.info(
            "recovered namespace: checkpoint at op %d, %d ops replayed, %d chunks",
            checkpoint_seq,
            replayed,
            len(namespace.chunks),
        )
        self._open()
        return namespace

    def _open(self) -> None:
        self._log = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, op: Op, seq: int) -> None:
        """Persist one applied op; returns only once it is on disk."""
        assert self._log is not None, "recover() first"
        line = json.dumps({"seq": seq, **op}, separators=(",", ":")).encode() + b"\n"
        os.write(self._log, line)
        os.fdatasync(self._log)
        self.ops_since_checkpoint += 1

    def checkpoint(self, namespace: Namespace) -> None:
        tmp = self.checkpoint_path.with_suffix(".tmp")
        with open(tmp, "w") as handle:
            json.dump(namespace.to_dict(), handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.checkpoint_path)
        _fsync_dir(self.directory)
        # Only now is the log redundant.
        if self._log is not None:
            os.close(self._log)
        with open(self.log_path, "wb") as handle:
            os.fsync(handle.fileno())
        self._open()
        logger.info(
            "checkpoint at op %d (%d chunks); op log truncated",
            namespace.seq,
            len(namespace.chunks),
        )
        self.ops_since_checkpoint = 0

    def close(self) -> None:
        if self._log is not None:
            os.close(self._log)
            self._log = None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
