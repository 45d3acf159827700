"""python -m gfs.namenode --cluster DIR [--listen HOST:PORT] [--advertise HOST]"""

from __future__ import annotations

import logging
import sys
import threading

from gfs import daemon, rpc, zk
from gfs.namenode.server import NamenodeCore, NamenodeService, Publisher
from gfs.proto import gfs_pb2_grpc

logger = logging.getLogger("gfs.namenode")


def main(argv: list[str] | None = None) -> int:
    return daemon.run("GFS namenode", "namenode", serve, argv)


def serve(args: daemon.DaemonArgs) -> int:
    stop = daemon.stop_event()
    core = NamenodeCore(args.config, args.cluster.data / args.name)
    server = rpc.make_server(args.secret)
    gfs_pb2_grpc.add_NamenodeServicer_to_server(NamenodeService(core, args.secret), server)
    port = rpc.bind(server, args.listen)
    address = args.advertise(port)
    server.start()
    client = zk.connect(args.zk_hosts, args.secret, args.config.zookeeper.session_timeout)
    publisher = Publisher(
        client,
        zk.znode(args.config.zookeeper.chroot, zk.NAMENODE),
        {"address": address, "host": args.host_label, "name": args.name},
        interval=1.0,
    )
    publisher.start()
    daemon.write_status(args, address)
    logger.info("serving at %s; published in ZooKeeper", address)

    tick_every = min(0.5, args.config.gfs.heartbeat_interval)

    def ticker() -> None:
        while not stop.wait(tick_every):
            try:
                core.tick()
            except Exception:
                logger.exception("tick failed")

    thread = threading.Thread(target=ticker, name="ticker", daemon=True)
    thread.start()
    daemon.wait_for_stop(stop)
    logger.info("stopping")
    publisher.stop()
    server.stop(grace=2).wait(5)
    thread.join(timeout=5)
    with core.lock:
        core.oplog.checkpoint(core.state.ns)
    core.close()
    zk.close(client)
    logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
