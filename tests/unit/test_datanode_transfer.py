"""The data transfer port's wire format (gfs.datanode.transfer), without sockets."""

from __future__ import annotations

import pytest

from gfs.datanode import transfer
from gfs.datanode.transfer import Code, ReadRequest, TransferError


def test_request_round_trip() -> None:
    raw = transfer.encode_request(ReadRequest(0xABC, 5, 70_000, b"s3cret"))
    head, secret = raw[:31], raw[31:]
    assert transfer.decode_request_head(head) == (6, 0xABC, 5, 70_000)
    assert secret == b"s3cret"


@pytest.mark.parametrize(
    "head, why",
    [
        (b"HTTP" + bytes(27), "not a GFS data transfer request"),
        (b"GFSR\x02" + bytes(26), "unsupported protocol version 2"),
        (b"GFSR\x01\xff\xff" + bytes(24), "secret too long"),
    ],
)
def test_foreign_requests_are_bad_requests(head: bytes, why: str) -> None:
    with pytest.raises(TransferError) as info:
        transfer.decode_request_head(head)
    assert info.value.code == Code.BAD_REQUEST and str(info.value) == why


def test_a_secret_too_long_is_not_sent() -> None:
    with pytest.raises(ValueError):
        transfer.encode_request(ReadRequest(1, 0, 0, b"x" * 2000))


def test_error_records_round_trip_and_unknown_codes_are_internal() -> None:
    record = transfer.encode_error(Code.DATA_LOSS, "corrupt replica of chunk 01 on dn-1")
    kind, size = record[0], int.from_bytes(record[1:5], "little")
    assert kind == 2 and size == len(record) - 5
    error = transfer.decode_error(record[5:])
    assert error.code == Code.DATA_LOSS and str(error) == "corrupt replica of chunk 01 on dn-1"
    assert transfer.decode_error(bytes((200,)) + b"?").code == Code.INTERNAL
    assert transfer.decode_error(b"").code == Code.BAD_REQUEST


@pytest.mark.parametrize(
    "address, parts",
    [("127.0.0.1:80", ("127.0.0.1", 80)), ("[::1]:9000", ("::1", 9000)), ("h:1", ("h", 1))],
)
def test_split_address(address: str, parts: tuple[str, int]) -> None:
    assert transfer.split_address(address) == parts


@pytest.mark.parametrize("address", ["nohost", "h:", "h:port"])
def test_split_address_refuses_junk(address: str) -> None:
    with pytest.raises(ValueError):
        transfer.split_address(address)


def test_write_request_round_trip() -> None:
    raw = transfer.encode_write_request(b"s3cret", 12.5, b"header")
    head, rest = raw[:15], raw[15:]
    assert transfer.decode_write_request_head(head) == (6, 12.5, 6)
    assert rest == b"s3cret" + b"header"


@pytest.mark.parametrize(
    "head, why",
    [
        (b"GFSW\x02" + bytes(10), "unsupported protocol version 2"),
        (b"GFSW\x01\xff\xff" + bytes(8), "secret too long"),
        (b"GFSW\x01\x00\x00" + bytes(4) + b"\xff\xff\xff\x00", "write header too long"),
    ],
)
def test_bad_write_requests(head: bytes, why: str) -> None:
    with pytest.raises(TransferError) as info:
        transfer.decode_write_request_head(head)
    assert info.value.code == Code.BAD_REQUEST and str(info.value) == why


def test_each_hop_waits_less_than_the_one_before() -> None:
    """The hop nearest a stuck datanode gives up first, so the ack blames the right one."""
    waits = [20.0]
    for _ in range(3):
        waits.append(transfer.next_hop_wait(waits[-1]))
    assert waits == [20.0, 18.0, 16.0, 14.0]
    assert transfer.next_hop_wait(2.0) == 1.5  # short waits keep a quarter


def test_a_replica_without_a_data_port_is_unavailable() -> None:
    from gfs.proto import gfs_pb2

    replica = gfs_pb2.Replica(datanode="dn-1", data_address="127.0.0.1:9")
    assert transfer.data_address_of(replica) == "127.0.0.1:9"
    with pytest.raises(TransferError) as info:
        transfer.data_address_of(gfs_pb2.Replica(datanode="dn-2"))
    assert info.value.code == Code.UNAVAILABLE
    assert str(info.value) == "dn-2 has not published its data port"
