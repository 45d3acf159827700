"""Raw data frames (gfs.datanode.frames) against the protobuf classes of gfs.proto."""

from __future__ import annotations

import pytest

from gfs.datanode import frames
from gfs.proto import gfs_pb2


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16_383, 16_384, 1024 * 1024 + 3])
def test_raw_frames_are_the_protobuf_encoding(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    write = frames.encode_write_data(data)
    assert gfs_pb2.WriteFrame.FromString(write) == gfs_pb2.WriteFrame(data=data)
    if data:  # protobuf leaves an empty field out; both forms mean the same
        assert write == gfs_pb2.WriteFrame(data=data).SerializeToString()
    assert frames.write_data(write) == data


def test_other_frames_are_parsed_by_protobuf() -> None:
    header = gfs_pb2.WriteFrame(header=gfs_pb2.WriteHeader(handle=5), data=b"x")
    assert frames.write_data(header.SerializeToString()) is None  # not data-only
    truncated = frames.encode_write_data(b"abcdef")[:-1]
    assert frames.write_data(truncated) is None
    too_long = frames.encode_write_data(b"abcdef") + b"!"
    assert frames.write_data(too_long) is None
