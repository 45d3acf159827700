from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Replica(_message.Message):
    __slots__ = ("datanode", "address", "host", "data_address")
    DATANODE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    DATA_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    datanode: str
    address: str
    host: str
    data_address: str
    def __init__(self, datanode: _Optional[str] = ..., address: _Optional[str] = ..., host: _Optional[str] = ..., data_address: _Optional[str] = ...) -> None: ...

class Chunk(_message.Message):
    __slots__ = ("handle", "size", "offset", "replicas", "corrupt")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    CORRUPT_FIELD_NUMBER: _ClassVar[int]
    handle: int
    size: int
    offset: int
    replicas: _containers.RepeatedCompositeFieldContainer[Replica]
    corrupt: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, handle: _Optional[int] = ..., size: _Optional[int] = ..., offset: _Optional[int] = ..., replicas: _Optional[_Iterable[_Union[Replica, _Mapping]]] = ..., corrupt: _Optional[_Iterable[str]] = ...) -> None: ...

class FileStatus(_message.Message):
    __slots__ = ("path", "is_dir", "size", "replication", "mtime", "chunk_count")
    PATH_FIELD_NUMBER: _ClassVar[int]
    IS_DIR_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FIELD_NUMBER: _ClassVar[int]
    MTIME_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    path: str
    is_dir: bool
    size: int
    replication: int
    mtime: float
    chunk_count: int
    def __init__(self, path: _Optional[str] = ..., is_dir: _Optional[bool] = ..., size: _Optional[int] = ..., replication: _Optional[int] = ..., mtime: _Optional[float] = ..., chunk_count: _Optional[int] = ...) -> None: ...

class PathRequest(_message.Message):
    __slots__ = ("path", "client_host")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CLIENT_HOST_FIELD_NUMBER: _ClassVar[int]
    path: str
    client_host: str
    def __init__(self, path: _Optional[str] = ..., client_host: _Optional[str] = ...) -> None: ...

class MkdirRequest(_message.Message):
    __slots__ = ("path", "parents")
    PATH_FIELD_NUMBER: _ClassVar[int]
    PARENTS_FIELD_NUMBER: _ClassVar[int]
    path: str
    parents: bool
    def __init__(self, path: _Optional[str] = ..., parents: _Optional[bool] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("path", "recursive")
    PATH_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    path: str
    recursive: bool
    def __init__(self, path: _Optional[str] = ..., recursive: _Optional[bool] = ...) -> None: ...

class ListReply(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[FileStatus]
    def __init__(self, entries: _Optional[_Iterable[_Union[FileStatus, _Mapping]]] = ...) -> None: ...

class StatReply(_message.Message):
    __slots__ = ("status", "chunks")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    status: FileStatus
    chunks: _containers.RepeatedCompositeFieldContainer[Chunk]
    def __init__(self, status: _Optional[_Union[FileStatus, _Mapping]] = ..., chunks: _Optional[_Iterable[_Union[Chunk, _Mapping]]] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("path", "recursive")
    PATH_FIELD_NUMBER: _ClassVar[int]
    RECURSIVE_FIELD_NUMBER: _ClassVar[int]
    path: str
    recursive: bool
    def __init__(self, path: _Optional[str] = ..., recursive: _Optional[bool] = ...) -> None: ...

class RenameRequest(_message.Message):
    __slots__ = ("src", "dst")
    SRC_FIELD_NUMBER: _ClassVar[int]
    DST_FIELD_NUMBER: _ClassVar[int]
    src: str
    dst: str
    def __init__(self, src: _Optional[str] = ..., dst: _Optional[str] = ...) -> None: ...

class CreateRequest(_message.Message):
    __slots__ = ("path", "replication", "client_id", "overwrite")
    PATH_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    path: str
    replication: int
    client_id: str
    overwrite: bool
    def __init__(self, path: _Optional[str] = ..., replication: _Optional[int] = ..., client_id: _Optional[str] = ..., overwrite: _Optional[bool] = ...) -> None: ...

class CreateReply(_message.Message):
    __slots__ = ("chunk_size", "replication", "lease_timeout")
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FIELD_NUMBER: _ClassVar[int]
    LEASE_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    chunk_size: int
    replication: int
    lease_timeout: float
    def __init__(self, chunk_size: _Optional[int] = ..., replication: _Optional[int] = ..., lease_timeout: _Optional[float] = ...) -> None: ...

class RenewLeaseRequest(_message.Message):
    __slots__ = ("client_id", "paths")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    paths: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, client_id: _Optional[str] = ..., paths: _Optional[_Iterable[str]] = ...) -> None: ...

class AddChunkRequest(_message.Message):
    __slots__ = ("path", "client_id", "client_host", "exclude", "abandon_handle")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_HOST_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    ABANDON_HANDLE_FIELD_NUMBER: _ClassVar[int]
    path: str
    client_id: str
    client_host: str
    exclude: _containers.RepeatedScalarFieldContainer[str]
    abandon_handle: int
    def __init__(self, path: _Optional[str] = ..., client_id: _Optional[str] = ..., client_host: _Optional[str] = ..., exclude: _Optional[_Iterable[str]] = ..., abandon_handle: _Optional[int] = ...) -> None: ...

class AddChunkReply(_message.Message):
    __slots__ = ("handle", "pipeline")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    handle: int
    pipeline: _containers.RepeatedCompositeFieldContainer[Replica]
    def __init__(self, handle: _Optional[int] = ..., pipeline: _Optional[_Iterable[_Union[Replica, _Mapping]]] = ...) -> None: ...

class CommitChunkRequest(_message.Message):
    __slots__ = ("path", "client_id", "handle", "size", "stored_on")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    STORED_ON_FIELD_NUMBER: _ClassVar[int]
    path: str
    client_id: str
    handle: int
    size: int
    stored_on: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, path: _Optional[str] = ..., client_id: _Optional[str] = ..., handle: _Optional[int] = ..., size: _Optional[int] = ..., stored_on: _Optional[_Iterable[str]] = ...) -> None: ...

class CompleteRequest(_message.Message):
    __slots__ = ("path", "client_id", "abort")
    PATH_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    ABORT_FIELD_NUMBER: _ClassVar[int]
    path: str
    client_id: str
    abort: bool
    def __init__(self, path: _Optional[str] = ..., client_id: _Optional[str] = ..., abort: _Optional[bool] = ...) -> None: ...

class BadReplicaReport(_message.Message):
    __slots__ = ("handle", "datanode", "reason")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    DATANODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    handle: int
    datanode: str
    reason: str
    def __init__(self, handle: _Optional[int] = ..., datanode: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class FsckRequest(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class FsckProblem(_message.Message):
    __slots__ = ("path", "handle", "kind", "live", "corrupt")
    PATH_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    CORRUPT_FIELD_NUMBER: _ClassVar[int]
    path: str
    handle: int
    kind: str
    live: _containers.RepeatedScalarFieldContainer[str]
    corrupt: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, path: _Optional[str] = ..., handle: _Optional[int] = ..., kind: _Optional[str] = ..., live: _Optional[_Iterable[str]] = ..., corrupt: _Optional[_Iterable[str]] = ...) -> None: ...

class FsckReply(_message.Message):
    __slots__ = ("files", "chunks", "under_replicated", "corrupt", "missing", "healthy", "problems", "repairs_pending", "repairs_done")
    FILES_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    UNDER_REPLICATED_FIELD_NUMBER: _ClassVar[int]
    CORRUPT_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    REPAIRS_PENDING_FIELD_NUMBER: _ClassVar[int]
    REPAIRS_DONE_FIELD_NUMBER: _ClassVar[int]
    files: int
    chunks: int
    under_replicated: int
    corrupt: int
    missing: int
    healthy: bool
    problems: _containers.RepeatedCompositeFieldContainer[FsckProblem]
    repairs_pending: int
    repairs_done: int
    def __init__(self, files: _Optional[int] = ..., chunks: _Optional[int] = ..., under_replicated: _Optional[int] = ..., corrupt: _Optional[int] = ..., missing: _Optional[int] = ..., healthy: _Optional[bool] = ..., problems: _Optional[_Iterable[_Union[FsckProblem, _Mapping]]] = ..., repairs_pending: _Optional[int] = ..., repairs_done: _Optional[int] = ...) -> None: ...

class DatanodeInfo(_message.Message):
    __slots__ = ("name", "address", "host", "alive", "seconds_since_heartbeat", "chunks", "used_bytes", "data_address")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    ALIVE_FIELD_NUMBER: _ClassVar[int]
    SECONDS_SINCE_HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    host: str
    alive: bool
    seconds_since_heartbeat: float
    chunks: int
    used_bytes: int
    data_address: str
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ..., host: _Optional[str] = ..., alive: _Optional[bool] = ..., seconds_since_heartbeat: _Optional[float] = ..., chunks: _Optional[int] = ..., used_bytes: _Optional[int] = ..., data_address: _Optional[str] = ...) -> None: ...

class ClusterReply(_message.Message):
    __slots__ = ("datanodes", "chunk_size", "replication")
    DATANODES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_SIZE_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_FIELD_NUMBER: _ClassVar[int]
    datanodes: _containers.RepeatedCompositeFieldContainer[DatanodeInfo]
    chunk_size: int
    replication: int
    def __init__(self, datanodes: _Optional[_Iterable[_Union[DatanodeInfo, _Mapping]]] = ..., chunk_size: _Optional[int] = ..., replication: _Optional[int] = ...) -> None: ...

class ChunkReport(_message.Message):
    __slots__ = ("handle", "size")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    handle: int
    size: int
    def __init__(self, handle: _Optional[int] = ..., size: _Optional[int] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("datanode", "address", "host", "used_bytes", "free_bytes", "chunks", "corrupt", "active_transfers", "data_address")
    DATANODE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    CORRUPT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_TRANSFERS_FIELD_NUMBER: _ClassVar[int]
    DATA_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    datanode: str
    address: str
    host: str
    used_bytes: int
    free_bytes: int
    chunks: _containers.RepeatedCompositeFieldContainer[ChunkReport]
    corrupt: _containers.RepeatedScalarFieldContainer[int]
    active_transfers: int
    data_address: str
    def __init__(self, datanode: _Optional[str] = ..., address: _Optional[str] = ..., host: _Optional[str] = ..., used_bytes: _Optional[int] = ..., free_bytes: _Optional[int] = ..., chunks: _Optional[_Iterable[_Union[ChunkReport, _Mapping]]] = ..., corrupt: _Optional[_Iterable[int]] = ..., active_transfers: _Optional[int] = ..., data_address: _Optional[str] = ...) -> None: ...

class DatanodeCommand(_message.Message):
    __slots__ = ("kind", "handles", "targets")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        DELETE: _ClassVar[DatanodeCommand.Kind]
        REPLICATE: _ClassVar[DatanodeCommand.Kind]
    DELETE: DatanodeCommand.Kind
    REPLICATE: DatanodeCommand.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    HANDLES_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    kind: DatanodeCommand.Kind
    handles: _containers.RepeatedScalarFieldContainer[int]
    targets: _containers.RepeatedCompositeFieldContainer[Replica]
    def __init__(self, kind: _Optional[_Union[DatanodeCommand.Kind, str]] = ..., handles: _Optional[_Iterable[int]] = ..., targets: _Optional[_Iterable[_Union[Replica, _Mapping]]] = ...) -> None: ...

class HeartbeatReply(_message.Message):
    __slots__ = ("commands",)
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    commands: _containers.RepeatedCompositeFieldContainer[DatanodeCommand]
    def __init__(self, commands: _Optional[_Iterable[_Union[DatanodeCommand, _Mapping]]] = ...) -> None: ...

class WriteHeader(_message.Message):
    __slots__ = ("handle", "downstream")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    DOWNSTREAM_FIELD_NUMBER: _ClassVar[int]
    handle: int
    downstream: _containers.RepeatedCompositeFieldContainer[Replica]
    def __init__(self, handle: _Optional[int] = ..., downstream: _Optional[_Iterable[_Union[Replica, _Mapping]]] = ...) -> None: ...

class WriteAck(_message.Message):
    __slots__ = ("stored_on", "size", "failed_datanode", "error")
    STORED_ON_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    FAILED_DATANODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    stored_on: _containers.RepeatedScalarFieldContainer[str]
    size: int
    failed_datanode: str
    error: str
    def __init__(self, stored_on: _Optional[_Iterable[str]] = ..., size: _Optional[int] = ..., failed_datanode: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class ScanRequest(_message.Message):
    __slots__ = ("changed_only",)
    CHANGED_ONLY_FIELD_NUMBER: _ClassVar[int]
    changed_only: bool
    def __init__(self, changed_only: _Optional[bool] = ...) -> None: ...

class ScanReply(_message.Message):
    __slots__ = ("corrupt",)
    CORRUPT_FIELD_NUMBER: _ClassVar[int]
    corrupt: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, corrupt: _Optional[_Iterable[int]] = ...) -> None: ...

class ReplicateRequest(_message.Message):
    __slots__ = ("handle", "targets")
    HANDLE_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    handle: int
    targets: _containers.RepeatedCompositeFieldContainer[Replica]
    def __init__(self, handle: _Optional[int] = ..., targets: _Optional[_Iterable[_Union[Replica, _Mapping]]] = ...) -> None: ...
