"""python -m mr.master --cluster DIR --name master-0 [--listen HOST:PORT]

Masters contend in a ZooKeeper election; the winner takes a new epoch, publishes its
address, and schedules. A master that loses its ZooKeeper session stops serving at once
(fencing: workers also refuse any command carrying an older epoch) and exits.
"""

from __future__ import annotations

import logging
import sys
import threading

from kazoo.client import KazooState

from gfs import daemon, rpc, zk
from gfs.client import GfsClient
from mr.master.server import MasterCore, MasterService
from mr.master.store import JobStore
from mr.proto import mr_pb2_grpc

logger = logging.getLogger("mr.master")
TICK_SECONDS = 0.1


def main(argv: list[str] | None = None) -> int:
    return daemon.run("MapReduce master", "master-0", serve, argv)


def serve(args: daemon.DaemonArgs) -> int:
    stop = daemon.stop_event()
    root = args.config.zookeeper.chroot
    client = zk.connect(args.zk_hosts, args.secret, args.config.zookeeper.session_timeout)
    gfs = GfsClient(args.cluster.path, client_host=args.host_label)
    core = MasterCore(args.config, gfs, epoch=0, name=args.name, store=JobStore(client, root))
    server = rpc.make_server(args.secret)
    mr_pb2_grpc.add_MasterServicer_to_server(MasterService(core), server)
    port = rpc.bind(server, args.listen)
    address = args.advertise(port)
    server.start()
    daemon.write_status(args, address, role="standby")
    session_lost = threading.Event()

    def on_state(state: str) -> None:  # kazoo listeners must not block
        if state == KazooState.LOST or (state == KazooState.SUSPENDED and core.active.is_set()):
            # Suspended: we cannot know whether we still lead; stop scheduling now.
            core.active.clear()
        if state == KazooState.LOST:
            session_lost.set()
            stop.set()
        core.wake.set()  # the scheduling loop re-checks at once

    client.add_listener(on_state)

    def lead() -> None:
        counter = client.Counter(zk.znode(root, zk.EPOCH))
        counter += 1
        core.epoch = int(counter.value)
        core.recover()
        zk.publish(
            client,
            zk.znode(root, zk.MASTER),
            {"address": address, "epoch": core.epoch, "name": args.name},
        )
        core.active.set()
        daemon.write_status(args, address, role="active", epoch=core.epoch)
        logger.info("elected active master with epoch %d at %s", core.epoch, address)
        while not stop.is_set() and core.active.is_set():
            try:
                core.tick()
            except Exception:
                logger.exception("tick failed")
            core.wake.wait(TICK_SECONDS)
            core.wake.clear()
        core.active.clear()

    election = client.Election(zk.znode(root, zk.ELECTION), args.name)
    contender = threading.Thread(target=election.run, args=(lead,), name="election", daemon=True)
    contender.start()
    logger.info("standing for election at %s", address)
    daemon.wait_for_stop(stop)
    core.active.clear()
    if session_lost.is_set():
        logger.warning("lost the ZooKeeper session: stepping down")
    logger.info("stopping")
    election.cancel()
    server.stop(grace=1).wait(3)
    gfs.close()
    zk.close(client)
    logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
