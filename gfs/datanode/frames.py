"""Data frames of the WriteChunk streaming RPC as raw protobuf bytes.

WriteFrames (gfs.proto) are handled serialized on both ends: a data-only frame is a tag, a
varint length and the payload, so a 1 MiB payload can be forwarded as received, written to
disk through a memoryview, and built with one copy instead of being parsed, copied and
re-serialized by protobuf at every hop. The wire format is unchanged: anything else is
still parsed with the generated classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from gfs.proto import gfs_pb2

SERVICE_NAME = "gfs.Datanode"
WRITE_METHOD = f"/{SERVICE_NAME}/WriteChunk"

_WRITE_DATA_TAG = 0x12  # WriteFrame.data: field 2, length-delimited
# The final frame of every chunk write (WriteFrame.last): what was sent before it is all.
END_FRAME = gfs_pb2.WriteFrame(last=True).SerializeToString()


def identity(raw: bytes) -> bytes:
    return raw


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_write_header(handle: int, downstream: Sequence[gfs_pb2.Replica]) -> bytes:
    """The serialized first WriteFrame of a chunk write: which chunk, and the rest of the
    pipeline it goes on to."""
    header = gfs_pb2.WriteHeader(handle=handle, downstream=downstream)
    return gfs_pb2.WriteFrame(header=header).SerializeToString()


def write_chunk_call(channel: grpc.Channel) -> grpc.StreamUnaryMultiCallable:
    """WriteChunk on `channel`, fed with serialized frames (encode_write_header, then
    encode_write_data, then END_FRAME)."""
    return channel.stream_unary(
        WRITE_METHOD,
        request_serializer=identity,
        response_deserializer=gfs_pb2.WriteAck.FromString,
    )


def encode_write_data(data: bytes | memoryview) -> bytes:
    """A serialized WriteFrame holding only `data` (one copy of the payload)."""
    return b"".join((bytes((_WRITE_DATA_TAG,)), varint(len(data)), data))


def write_data(raw: bytes) -> memoryview | None:
    """The payload of a serialized data-only WriteFrame (no copy), else None."""
    if not raw:
        return memoryview(raw)
    if raw[0] != _WRITE_DATA_TAG:
        return None
    length = 0
    shift = 0
    pos = 1
    while True:
        if pos >= len(raw) or pos > 10:
            return None
        byte = raw[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
    if pos + length != len(raw):
        return None
    return memoryview(raw)[pos:]
