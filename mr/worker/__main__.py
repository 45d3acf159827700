"""python -m mr.worker --cluster DIR --name worker-0 [--listen HOST:PORT] [--host LABEL]"""

from __future__ import annotations

import logging
import sys

from gfs import daemon, rpc, zk
from mr.proto import mr_pb2_grpc
from mr.worker.server import ShuffleService, WorkerDaemon, clear_dir

logger = logging.getLogger("mr.worker")


def main(argv: list[str] | None = None) -> int:
    return daemon.run("MapReduce worker", "worker-0", serve, argv)


def serve(args: daemon.DaemonArgs) -> int:
    stop = daemon.stop_event()
    root = (args.cluster.data / args.name).resolve()
    clear_dir(root)
    client = zk.connect(args.zk_hosts, args.secret, args.config.zookeeper.session_timeout)
    server = rpc.make_server(args.secret)
    mr_pb2_grpc.add_WorkerServicer_to_server(ShuffleService(root), server)
    port = rpc.bind(server, args.listen)
    address = args.advertise(port)
    server.start()
    worker = WorkerDaemon(
        name=args.name,
        host=args.host_label,
        address=address,
        cluster_dir=args.cluster.path.resolve(),
        config=args.config,
        secret=args.secret,
        zk_client=client,
        root=root,
    )
    worker.start()
    daemon.write_status(args, address)
    logger.info("serving map outputs at %s (host %s)", address, args.host_label)
    daemon.wait_for_stop(stop)
    logger.info("stopping")
    worker.stop()
    server.stop(grace=1).wait(3)
    zk.close(client)
    logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
