"""The loopback gRPC streaming ceiling: two Python processes, nothing else.

    .venv/bin/python bench/grpc_ceiling.py [--mb 256] [--msg-kib 1024[,4096,...]] [--runs 3]
                                           [--direction down,up] [--json]

A server process (this file with --serve) and a client process (this one) stream --mb MiB
in messages of --msg-kib KiB over 127.0.0.1, with the channel options GFS uses (64 MiB
message limits, no retries) and raw bytes (no protobuf, no checksums, no disk):
  down  server -> client, a unary-stream call: what `gfs get` does at best
  up    client -> server, a stream-unary call: what one hop of `gfs put` does at best
Each (direction, size) is timed --runs times; the median is reported, in MB/s (10**6 B/s).
--per-call-mib N streams "down" as consecutive calls of N MiB each (as `gfs get` reads a
chunk in windows), to show what starting a stream costs.
The same 1 MiB bytes object is sent again and again, so no time goes into making data.
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent import futures

import grpc

SERVICE = "bench.Ceiling"
OPTIONS = [
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.enable_retries", 0),
]
_REQ = struct.Struct("<QQ")  # total bytes, message bytes


def _down(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    total, size = _REQ.unpack(request)
    block = b"\x5a" * size
    full, rest = divmod(total, size)
    for _ in range(full):
        yield block
    if rest:
        yield block[:rest]


def _up(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
    n = 0
    for message in requests:
        n += len(message)
    return struct.pack("<Q", n)


def serve() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=OPTIONS)
    handlers = {
        "Down": grpc.unary_stream_rpc_method_handler(_down),
        "Up": grpc.stream_unary_rpc_method_handler(_up),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()  # until the client closes our stdin
    server.stop(0)


def _time_down(ch: grpc.Channel, total: int, size: int, per_call: int = 0) -> float:
    """Stream `total` bytes down: one call, or calls of `per_call` bytes one after another."""
    call = ch.unary_stream(f"/{SERVICE}/Down")
    per_call = per_call or total
    start = time.perf_counter()
    got = 0
    while got < total:
        for message in call(_REQ.pack(min(per_call, total - got), size)):
            got += len(message)
    seconds = time.perf_counter() - start
    assert got == total, (got, total)
    return seconds


def _time_up(ch: grpc.Channel, total: int, size: int) -> float:
    call = ch.stream_unary(f"/{SERVICE}/Up")
    block = b"\xa5" * size
    full, rest = divmod(total, size)

    def messages() -> Iterator[bytes]:
        for _ in range(full):
            yield block
        if rest:
            yield block[:rest]

    start = time.perf_counter()
    reply = call(messages())
    seconds = time.perf_counter() - start
    assert struct.unpack("<Q", reply)[0] == total
    return seconds


def measure(
    mb: float, sizes_kib: list[int], directions: list[str], runs: int, per_call_mib: int = 0
) -> list[dict[str, float | int | str]]:
    """Median MB/s per (direction, message size), server in a child process."""
    total = int(mb * (1 << 20))
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    results: list[dict[str, float | int | str]] = []
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=OPTIONS) as ch:
            grpc.channel_ready_future(ch).result(timeout=10)
            _time_down(ch, 8 << 20, 1 << 20)  # warm up the connection
            for kib in sizes_kib:
                for direction in directions:
                    if direction == "down":
                        times = [
                            _time_down(ch, total, kib << 10, per_call_mib << 20)
                            for _ in range(runs)
                        ]
                    else:
                        times = [_time_up(ch, total, kib << 10) for _ in range(runs)]
                    seconds = statistics.median(times)
                    results.append(
                        {
                            "direction": direction,
                            "msg_kib": kib,
                            "bytes": total,
                            "seconds": seconds,
                            "MBps": total / seconds / 1e6,
                            "runs": runs,
                            "per_call_mib": per_call_mib if direction == "down" else 0,
                        }
                    )
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mb", type=float, default=256, help="MiB streamed per run (default 256)")
    ap.add_argument("--msg-kib", default="1024", help="message sizes in KiB (default 1024)")
    ap.add_argument("--direction", default="down,up", help="down, up or both (default)")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement; median (3)")
    ap.add_argument(
        "--per-call-mib",
        type=int,
        default=0,
        help="down: one call per this many MiB, one after another (default: one call)",
    )
    ap.add_argument("--json", action="store_true", help="print JSON")
    a = ap.parse_args()
    if a.serve:
        serve()
        return
    sizes = [int(x) for x in a.msg_kib.split(",") if x]
    directions = [d for d in a.direction.split(",") if d]
    for d in directions:
        if d not in ("down", "up"):
            ap.error(f"--direction: {d!r} is neither down nor up")
    results = measure(a.mb, sizes, directions, a.runs, a.per_call_mib)
    if a.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'direction':9s} {'msg KiB':>8s} {'median s':>9s} {'MB/s':>8s}")
    for r in results:
        print(f"{r['direction']:9s} {r['msg_kib']:8d} {r['seconds']:9.3f} {r['MBps']:8.0f}")


if __name__ == "__main__":
    main()
