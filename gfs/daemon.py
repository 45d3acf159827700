"""What every daemon shares: its command line, its status file, and a clean stop.

A daemon is runnable alone so a cluster can span machines:
    python -m gfs.datanode --cluster DIR --name datanode-3 --listen 0.0.0.0:7003 \
        --advertise node3:7003 --host node3
`--config` defaults to DIR/cluster.toml and the ZooKeeper connect string to the one in
DIR/cluster.json; DIR/secret holds the cluster secret.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gfs import clusterdir, logs
from gfs.clusterdir import ClusterDir, write_atomic
from gfs.config import ClusterConfig, load_config
from gfs.errors import GfsError


@dataclass(frozen=True)
class DaemonArgs:
    config: ClusterConfig
    cluster: ClusterDir
    name: str
    listen: str
    advertise_host: str
    host_label: str
    secret: str
    zk_hosts: str

    def advertise(self, port: int) -> str:
        return f"{self.advertise_host}:{port}"


def parse_args(description: str, default_name: str, argv: list[str] | None = None) -> DaemonArgs:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--cluster", help="cluster run directory (default $MR_CLUSTER or .cluster)")
    parser.add_argument("--config", help="cluster.toml (default DIR/cluster.toml)")
    parser.add_argument("--name", default=default_name, help="process name")
    parser.add_argument("--listen", default="127.0.0.1:0", help="host:port to bind (0: free)")
    parser.add_argument("--advertise", default="", help="host[:port] others use to reach us")
    parser.add_argument("--host", default="", help="host label for locality (default: name's)")
    parser.add_argument("--zookeeper", default="", help="ZooKeeper connect string")
    ns = parser.parse_args(argv)
    cluster = ClusterDir(clusterdir.resolve(ns.cluster))
    config = load_config(
        ns.config or (cluster.config_file if cluster.config_file.exists() else None)
    )
    zk_hosts = ns.zookeeper or cluster.zk_hosts()
    advertise_host = ns.advertise.rsplit(":", 1)[0] if ns.advertise else ns.listen.rsplit(":", 1)[0]
    if advertise_host in ("0.0.0.0", "[::]", ""):
        advertise_host = config.cluster.host
    host_label = ns.host or default_host_label(ns.name)
    return DaemonArgs(
        config=config,
        cluster=cluster,
        name=ns.name,
        listen=ns.listen,
        advertise_host=advertise_host,
        host_label=host_label,
        secret=cluster.secret(),
        zk_hosts=zk_hosts,
    )


def default_host_label(name: str) -> str:
    """Locally, worker-i and datanode-i share "host-i" so data locality is real."""
    prefix, _, index = name.rpartition("-")
    return f"host-{index}" if prefix and index.isdigit() else name


def start_logging(args: DaemonArgs) -> None:
    logs.setup(args.name)


def write_status(args: DaemonArgs, address: str, **extra: Any) -> None:
    """Tell the launcher we are up and where (DIR/run/NAME.json)."""
    args.cluster.run.mkdir(parents=True, exist_ok=True)
    status = {"name": args.name, "pid": os.getpid(), "address": address, "host": args.host_label}
    status.update(extra)
    write_atomic(args.cluster.status_file(args.name), json.dumps(status) + "\n")


def stop_event() -> threading.Event:
    """An event set by SIGTERM or SIGINT, for the main thread to wait on."""
    event = threading.Event()

    def handler(_signum: int, _frame: Any) -> None:
        event.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return event


def wait_for_stop(event: threading.Event) -> None:
    """Block the main thread until stopped; waking up regularly lets the signal handler run
    even when the kernel delivered the signal to another thread."""
    while not event.wait(0.5):
        pass


def run(
    description: str,
    default_name: str,
    serve: Callable[[DaemonArgs], int],
    argv: list[str] | None = None,
) -> int:
    """A daemon's main(): parse the command line, set up logging, serve until stopped.
    A GfsError (bad config, ZooKeeper unreachable, port taken) is one log line and exit 1."""
    try:
        args = parse_args(description, default_name, argv)
    except GfsError as exc:
        print(f"{default_name.rsplit('-', 1)[0]}: {exc}", file=sys.stderr)
        return 1
    start_logging(args)
    try:
        return serve(args)
    except GfsError as exc:
        logging.getLogger(args.name).error("%s", exc)
        return 1
