"""Raw data frames (gfs.datanode.frames) against the protobuf classes of gfs.proto."""

from __future__ import annotations

import pytest

from gfs.datanode import frames
from gfs.proto import gfs_pb2


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16_383, 16_384, 1024 * 1024 + 3])
def test_raw_frames_are_the_protobuf_encoding(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    write = frames.encode_write_data(data)
    read = frames.encode_read_frame(data)
    assert gfs_pb2.WriteFrame.FromString(write) == gfs_pb2.WriteFrame(data=data)
    assert gfs_pb2.ReadFrame.FromString(read) == gfs_pb2.ReadFrame(data=data)
    if data:  # protobuf leaves an empty field out; both forms mean the same
        assert write == gfs_pb2.WriteFrame(data=data).SerializeToString()
        assert read == gfs_pb2.ReadFrame(data=data).SerializeToString()
    assert frames.write_data(write) == data
    assert frames.read_data(read) == data
    assert frames.read_data(gfs_pb2.ReadFrame(data=data).SerializeToString()) == data


def test_other_frames_are_parsed_by_protobuf() -> None:
    header = gfs_pb2.WriteFrame(header=gfs_pb2.WriteHeader(handle=5), data=b"x")
    assert frames.write_data(header.SerializeToString()) is None  # not data-only
    truncated = frames.encode_write_data(b"abcdef")[:-1]
    assert frames.write_data(truncated) is None
    # A data field that occurs twice: protobuf keeps the last one.
    twice = frames.encode_read_frame(b"old") + frames.encode_read_frame(b"new")
    assert frames.read_data(twice) == b"new"
