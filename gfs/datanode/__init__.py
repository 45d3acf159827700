"""The GFS datanode: chunk replicas with per-block CRCs, pipelined writes, verified reads.

`gfs.datanode.store` has no gRPC dependency; `gfs.datanode.transfer` moves chunk data
(reads, pipelined writes) over the data transfer port; `gfs.datanode.server` holds the
gRPC service (control), heartbeats and scrubber; `python -m gfs.datanode` runs one.
"""

from __future__ import annotations

from gfs.datanode.store import (
    ChunkNotFound,
    ChunkStore,
    ChunkWriter,
    CorruptChunk,
    read_replica_file,
    replica_paths,
)

__all__ = [
    "ChunkNotFound",
    "ChunkStore",
    "ChunkWriter",
    "CorruptChunk",
    "read_replica_file",
    "replica_paths",
]
