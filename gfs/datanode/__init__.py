"""The GFS datanode: chunk replicas with per-block CRCs, pipelined writes, verified reads.

`gfs.datanode.store` has no gRPC dependency; `gfs.datanode.server` holds the service,
heartbeats and scrubber; `python -m gfs.datanode` runs one.
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
