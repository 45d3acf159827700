"""Op log + checkpoint: recovery rebuilds the namespace exactly, torn tails are cut."""

from __future__ import annotations

from pathlib import Path

import pytest

from gfs.namenode.namespace import Namespace
from gfs.namenode.oplog import OpLog, OpLogCorrupt


def apply_and_log(ns: Namespace, log: OpLog, op: dict) -> None:
    ns.apply(op)
    log.append(op, ns.seq)


def some_ops(ns: Namespace, log: OpLog, prefix: str) -> None:
    apply_and_log(ns, log, {"op": "mkdir", "path": f"/{prefix}", "mtime": 1.0})
    apply_and_log(
        ns,
        log,
        {"op": "create", "path": f"/{prefix}/f", "replication": 3, "client": "c", "mtime": 1.0},
    )
    handle = ns.next_handle
    apply_and_log(
        ns, log, {"op": "add_chunk", "path": f"/{prefix}/f", "client": "c", "handle": handle}
    )
    apply_and_log(
        ns,
        log,
        {"op": "commit_chunk", "path": f"/{prefix}/f", "client": "c", "handle": handle, "size": 42},
    )
    apply_and_log(ns, log, {"op": "complete", "path": f"/{prefix}/f", "client": "c", "mtime": 2.0})


def test_replay_after_crash(tmp_path: Path) -> None:
    log = OpLog(tmp_path)
    ns = log.recover()
    some_ops(ns, log, "a")
    log.close()
    again = OpLog(tmp_path).recover()
    assert again.to_dict() == ns.to_dict()


def test_checkpoint_then_more_ops(tmp_path: Path) -> None:
    log = OpLog(tmp_path)
    ns = log.recover()
    some_ops(ns, log, "a")
    log.checkpoint(ns)
    assert (tmp_path / "oplog.jsonl").stat().st_size == 0
    some_ops(ns, log, "b")
    log.close()
    again = OpLog(tmp_path).recover()
    assert again.to_dict() == ns.to_dict()
    assert again.lookup("/a/f") is not None and again.lookup("/b/f") is not None


def test_crash_between_checkpoint_and_truncation(tmp_path: Path) -> None:
    log = OpLog(tmp_path)
    ns = log.recover()
    some_ops(ns, log, "a")
    saved_log = (tmp_path / "oplog.jsonl").read_bytes()
    log.checkpoint(ns)
    log.close()
    (tmp_path / "oplog.jsonl").write_bytes(saved_log)  # as if truncation never happened
    again = OpLog(tmp_path).recover()
    assert again.to_dict() == ns.to_dict()


def test_torn_last_entry_is_cut(tmp_path: Path) -> None:
    log = OpLog(tmp_path)
    ns = log.recover()
    some_ops(ns, log, "a")
    log.close()
    with open(tmp_path / "oplog.jsonl", "ab") as handle:
        handle.write(b'{"seq": 99, "op": "mkd')
    again = OpLog(tmp_path).recover()
    assert again.to_dict() == ns.to_dict()
    assert (tmp_path / "oplog.jsonl").read_bytes().endswith(b"\n")


def test_garbage_in_the_middle_is_an_error(tmp_path: Path) -> None:
    log = OpLog(tmp_path)
    ns = log.recover()
    some_ops(ns, log, "a")
    log.close()
    lines = (tmp_path / "oplog.jsonl").read_bytes().split(b"\n")
    lines[1] = b"not json"
    (tmp_path / "oplog.jsonl").write_bytes(b"\n".join(lines))
    with pytest.raises(OpLogCorrupt):
        OpLog(tmp_path).recover()
