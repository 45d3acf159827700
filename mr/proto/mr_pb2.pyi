from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class JobSpec(_message.Message):
    __slots__ = ("job_id", "name", "inputs", "output", "reducers", "params", "input_format", "max_attempts", "speculation", "code_path", "submission_id")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    REDUCERS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    INPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    SPECULATION_FIELD_NUMBER: _ClassVar[int]
    CODE_PATH_FIELD_NUMBER: _ClassVar[int]
    SUBMISSION_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    name: str
    inputs: _containers.RepeatedScalarFieldContainer[str]
    output: str
    reducers: int
    params: _containers.ScalarMap[str, str]
    input_format: str
    max_attempts: int
    speculation: bool
    code_path: str
    submission_id: str
    def __init__(self, job_id: _Optional[str] = ..., name: _Optional[str] = ..., inputs: _Optional[_Iterable[str]] = ..., output: _Optional[str] = ..., reducers: _Optional[int] = ..., params: _Optional[_Mapping[str, str]] = ..., input_format: _Optional[str] = ..., max_attempts: _Optional[int] = ..., speculation: _Optional[bool] = ..., code_path: _Optional[str] = ..., submission_id: _Optional[str] = ...) -> None: ...

class SubmitRequest(_message.Message):
    __slots__ = ("spec", "code")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    spec: JobSpec
    code: bytes
    def __init__(self, spec: _Optional[_Union[JobSpec, _Mapping]] = ..., code: _Optional[bytes] = ...) -> None: ...

class SubmitReply(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class JobRequest(_message.Message):
    __slots__ = ("job_id", "wait_seconds")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    wait_seconds: float
    def __init__(self, job_id: _Optional[str] = ..., wait_seconds: _Optional[float] = ...) -> None: ...

class AttemptInfo(_message.Message):
    __slots__ = ("task", "attempt", "worker", "state", "speculative", "error", "traceback", "start", "end", "progress", "data_local")
    TASK_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SPECULATIVE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    DATA_LOCAL_FIELD_NUMBER: _ClassVar[int]
    task: str
    attempt: int
    worker: str
    state: str
    speculative: bool
    error: str
    traceback: str
    start: float
    end: float
    progress: float
    data_local: bool
    def __init__(self, task: _Optional[str] = ..., attempt: _Optional[int] = ..., worker: _Optional[str] = ..., state: _Optional[str] = ..., speculative: _Optional[bool] = ..., error: _Optional[str] = ..., traceback: _Optional[str] = ..., start: _Optional[float] = ..., end: _Optional[float] = ..., progress: _Optional[float] = ..., data_local: _Optional[bool] = ...) -> None: ...

class JobStatus(_message.Message):
    __slots__ = ("job_id", "name", "state", "map_progress", "reduce_progress", "counters", "error", "attempts", "maps_total", "maps_done", "reduces_total", "reduces_done", "submitted", "started", "finished", "output", "events", "traceback")
    class CountersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MAP_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    REDUCE_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    MAPS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    MAPS_DONE_FIELD_NUMBER: _ClassVar[int]
    REDUCES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    REDUCES_DONE_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    name: str
    state: str
    map_progress: float
    reduce_progress: float
    counters: _containers.ScalarMap[str, int]
    error: str
    attempts: _containers.RepeatedCompositeFieldContainer[AttemptInfo]
    maps_total: int
    maps_done: int
    reduces_total: int
    reduces_done: int
    submitted: float
    started: float
    finished: float
    output: str
    events: _containers.RepeatedScalarFieldContainer[str]
    traceback: str
    def __init__(self, job_id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[str] = ..., map_progress: _Optional[float] = ..., reduce_progress: _Optional[float] = ..., counters: _Optional[_Mapping[str, int]] = ..., error: _Optional[str] = ..., attempts: _Optional[_Iterable[_Union[AttemptInfo, _Mapping]]] = ..., maps_total: _Optional[int] = ..., maps_done: _Optional[int] = ..., reduces_total: _Optional[int] = ..., reduces_done: _Optional[int] = ..., submitted: _Optional[float] = ..., started: _Optional[float] = ..., finished: _Optional[float] = ..., output: _Optional[str] = ..., events: _Optional[_Iterable[str]] = ..., traceback: _Optional[str] = ...) -> None: ...

class JobsReply(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[JobStatus]
    def __init__(self, jobs: _Optional[_Iterable[_Union[JobStatus, _Mapping]]] = ...) -> None: ...

class RegisterRequest(_message.Message):
    __slots__ = ("worker", "address", "host", "slots", "python_version", "incarnation", "held", "machine", "cpus")
    WORKER_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    INCARNATION_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    MACHINE_FIELD_NUMBER: _ClassVar[int]
    CPUS_FIELD_NUMBER: _ClassVar[int]
    worker: str
    address: str
    host: str
    slots: int
    python_version: str
    incarnation: str
    held: _containers.RepeatedCompositeFieldContainer[AttemptRef]
    machine: str
    cpus: int
    def __init__(self, worker: _Optional[str] = ..., address: _Optional[str] = ..., host: _Optional[str] = ..., slots: _Optional[int] = ..., python_version: _Optional[str] = ..., incarnation: _Optional[str] = ..., held: _Optional[_Iterable[_Union[AttemptRef, _Mapping]]] = ..., machine: _Optional[str] = ..., cpus: _Optional[int] = ...) -> None: ...

class RegisterReply(_message.Message):
    __slots__ = ("epoch", "error")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    error: str
    def __init__(self, epoch: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class AttemptRef(_message.Message):
    __slots__ = ("job_id", "task", "attempt")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    task: str
    attempt: int
    def __init__(self, job_id: _Optional[str] = ..., task: _Optional[str] = ..., attempt: _Optional[int] = ...) -> None: ...

class RunningAttempt(_message.Message):
    __slots__ = ("ref", "progress", "map_generation")
    REF_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    MAP_GENERATION_FIELD_NUMBER: _ClassVar[int]
    ref: AttemptRef
    progress: float
    map_generation: int
    def __init__(self, ref: _Optional[_Union[AttemptRef, _Mapping]] = ..., progress: _Optional[float] = ..., map_generation: _Optional[int] = ...) -> None: ...

class AttemptResult(_message.Message):
    __slots__ = ("ref", "ok", "error", "traceback", "counters", "partition_bytes")
    class CountersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    REF_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    PARTITION_BYTES_FIELD_NUMBER: _ClassVar[int]
    ref: AttemptRef
    ok: bool
    error: str
    traceback: str
    counters: _containers.ScalarMap[str, int]
    partition_bytes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, ref: _Optional[_Union[AttemptRef, _Mapping]] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ..., traceback: _Optional[str] = ..., counters: _Optional[_Mapping[str, int]] = ..., partition_bytes: _Optional[_Iterable[int]] = ...) -> None: ...

class FetchFailure(_message.Message):
    __slots__ = ("reducer", "map", "error")
    REDUCER_FIELD_NUMBER: _ClassVar[int]
    MAP_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    reducer: AttemptRef
    map: AttemptRef
    error: str
    def __init__(self, reducer: _Optional[_Union[AttemptRef, _Mapping]] = ..., map: _Optional[_Union[AttemptRef, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class WorkerHeartbeat(_message.Message):
    __slots__ = ("worker", "incarnation", "epoch", "running", "finished", "fetch_failures")
    WORKER_FIELD_NUMBER: _ClassVar[int]
    INCARNATION_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    FETCH_FAILURES_FIELD_NUMBER: _ClassVar[int]
    worker: str
    incarnation: str
    epoch: int
    running: _containers.RepeatedCompositeFieldContainer[RunningAttempt]
    finished: _containers.RepeatedCompositeFieldContainer[AttemptResult]
    fetch_failures: _containers.RepeatedCompositeFieldContainer[FetchFailure]
    def __init__(self, worker: _Optional[str] = ..., incarnation: _Optional[str] = ..., epoch: _Optional[int] = ..., running: _Optional[_Iterable[_Union[RunningAttempt, _Mapping]]] = ..., finished: _Optional[_Iterable[_Union[AttemptResult, _Mapping]]] = ..., fetch_failures: _Optional[_Iterable[_Union[FetchFailure, _Mapping]]] = ...) -> None: ...

class MapOutput(_message.Message):
    __slots__ = ("task", "attempt", "worker", "address")
    TASK_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    WORKER_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    task: str
    attempt: int
    worker: str
    address: str
    def __init__(self, task: _Optional[str] = ..., attempt: _Optional[int] = ..., worker: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class Assignment(_message.Message):
    __slots__ = ("ref", "kind", "code_path", "params", "reducers", "input_format", "path", "offset", "length", "partition", "output_dir", "maps_total", "speculative")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REF_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CODE_PATH_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    REDUCERS_FIELD_NUMBER: _ClassVar[int]
    INPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    MAPS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SPECULATIVE_FIELD_NUMBER: _ClassVar[int]
    ref: AttemptRef
    kind: str
    code_path: str
    params: _containers.ScalarMap[str, str]
    reducers: int
    input_format: str
    path: str
    offset: int
    length: int
    partition: int
    output_dir: str
    maps_total: int
    speculative: bool
    def __init__(self, ref: _Optional[_Union[AttemptRef, _Mapping]] = ..., kind: _Optional[str] = ..., code_path: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., reducers: _Optional[int] = ..., input_format: _Optional[str] = ..., path: _Optional[str] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ..., partition: _Optional[int] = ..., output_dir: _Optional[str] = ..., maps_total: _Optional[int] = ..., speculative: _Optional[bool] = ...) -> None: ...

class MapLocations(_message.Message):
    __slots__ = ("reducer", "map_generation", "maps")
    REDUCER_FIELD_NUMBER: _ClassVar[int]
    MAP_GENERATION_FIELD_NUMBER: _ClassVar[int]
    MAPS_FIELD_NUMBER: _ClassVar[int]
    reducer: AttemptRef
    map_generation: int
    maps: _containers.RepeatedCompositeFieldContainer[MapOutput]
    def __init__(self, reducer: _Optional[_Union[AttemptRef, _Mapping]] = ..., map_generation: _Optional[int] = ..., maps: _Optional[_Iterable[_Union[MapOutput, _Mapping]]] = ...) -> None: ...

class HeartbeatReply(_message.Message):
    __slots__ = ("epoch", "assign", "kill", "maps", "reregister", "drop_jobs")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    ASSIGN_FIELD_NUMBER: _ClassVar[int]
    KILL_FIELD_NUMBER: _ClassVar[int]
    MAPS_FIELD_NUMBER: _ClassVar[int]
    REREGISTER_FIELD_NUMBER: _ClassVar[int]
    DROP_JOBS_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    assign: _containers.RepeatedCompositeFieldContainer[Assignment]
    kill: _containers.RepeatedCompositeFieldContainer[AttemptRef]
    maps: _containers.RepeatedCompositeFieldContainer[MapLocations]
    reregister: bool
    drop_jobs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, epoch: _Optional[int] = ..., assign: _Optional[_Iterable[_Union[Assignment, _Mapping]]] = ..., kill: _Optional[_Iterable[_Union[AttemptRef, _Mapping]]] = ..., maps: _Optional[_Iterable[_Union[MapLocations, _Mapping]]] = ..., reregister: _Optional[bool] = ..., drop_jobs: _Optional[_Iterable[str]] = ...) -> None: ...

class CommitRequest(_message.Message):
    __slots__ = ("ref", "epoch", "temp_path", "counters")
    class CountersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    REF_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    TEMP_PATH_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    ref: AttemptRef
    epoch: int
    temp_path: str
    counters: _containers.ScalarMap[str, int]
    def __init__(self, ref: _Optional[_Union[AttemptRef, _Mapping]] = ..., epoch: _Optional[int] = ..., temp_path: _Optional[str] = ..., counters: _Optional[_Mapping[str, int]] = ...) -> None: ...

class CommitReply(_message.Message):
    __slots__ = ("granted", "reason")
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    granted: bool
    reason: str
    def __init__(self, granted: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class WorkerInfo(_message.Message):
    __slots__ = ("name", "address", "host", "alive", "slots", "running")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    ALIVE_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    name: str
    address: str
    host: str
    alive: bool
    slots: int
    running: int
    def __init__(self, name: _Optional[str] = ..., address: _Optional[str] = ..., host: _Optional[str] = ..., alive: _Optional[bool] = ..., slots: _Optional[int] = ..., running: _Optional[int] = ...) -> None: ...

class WorkersReply(_message.Message):
    __slots__ = ("workers", "epoch", "master")
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    MASTER_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[WorkerInfo]
    epoch: int
    master: str
    def __init__(self, workers: _Optional[_Iterable[_Union[WorkerInfo, _Mapping]]] = ..., epoch: _Optional[int] = ..., master: _Optional[str] = ...) -> None: ...

class FetchRequest(_message.Message):
    __slots__ = ("job_id", "map_task", "attempt", "partition", "offset")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    MAP_TASK_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    map_task: str
    attempt: int
    partition: int
    offset: int
    def __init__(self, job_id: _Optional[str] = ..., map_task: _Optional[str] = ..., attempt: _Optional[int] = ..., partition: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...
