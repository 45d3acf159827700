"""python -m gfs.datanode --cluster DIR --name datanode-N --listen H:P [--advertise H] [--host L]"""

from __future__ import annotations

import logging
import sys

from gfs import daemon, errors
from gfs import zk as gfs_zk
from gfs.datanode.server import DatanodeServer
from gfs.datanode.store import ChunkStore, tune_malloc

logger = logging.getLogger("gfs.datanode")


def main(argv: list[str] | None = None) -> int:
    return daemon.run("GFS datanode", "datanode-0", serve, argv)


def serve(args: daemon.DaemonArgs) -> int:
    tune_malloc()
    stop = daemon.stop_event()
    zk_client = gfs_zk.connect(args.zk_hosts, args.secret, args.config.zookeeper.session_timeout)
    server: DatanodeServer | None = None
    try:
        store = ChunkStore(args.cluster.data / args.name)
        server = DatanodeServer(
            store,
            name=args.name,
            secret=args.secret,
            listen=args.listen,
            advertise_host=args.advertise_host,
            chunk_size=args.config.gfs.chunk_size,
        )
        server.start()
        daemon.write_status(args, server.address)
        server.start_background(config=args.config, zk_client=zk_client, host=args.host_label)
        logger.info(
            "datanode %s started on %s, data transfer port %s (host %s): %d replicas, "
            "%d corrupt, in %s",
            args.name,
            server.address,
            server.data_address,
            args.host_label,
            len(store.report()),
            len(store.corrupt_handles()),
            store.root,
        )
        daemon.wait_for_stop(stop)
        logger.info("datanode %s stopping", args.name)
    except (errors.GfsError, OSError) as exc:
        logger.error("datanode %s cannot run: %s", args.name, exc)
        return 1
    finally:
        if server is not None:
            server.stop(grace=2.0)
        gfs_zk.close(zk_client)
    return 0


if __name__ == "__main__":
    sys.exit(main())
