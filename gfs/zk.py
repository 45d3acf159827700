"""ZooKeeper access shared by daemons and clients: one connect(), digest ACL from the secret.

Layout under the cluster's root (the `[zookeeper] chroot` key, default /minimr):
    gfs/namenode     ephemeral JSON {"address", "host", "name"}: where the namenode is now
    mr/master        ephemeral JSON {"address", "epoch", "name"}: the active master
    mr/election      kazoo election among masters
    mr/epoch         counter: every newly active master takes the next epoch
"""

from __future__ import annotations

import json
import logging
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoAuthError, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.security import make_digest_acl

from gfs.errors import GfsError, Unavailable

logger = logging.getLogger(__name__)

ZK_USER = "minimr"
NAMENODE = "gfs/namenode"
MASTER = "mr/master"  # ephemeral JSON {"address", "epoch", "name"} of the active master
ELECTION = "mr/election"
EPOCH = "mr/epoch"


def connect(
    hosts: str, secret: str, timeout: float = 6.0, start_timeout: float = 10.0
) -> KazooClient:
    """A started client whose znodes are readable and writable only with the secret."""
    client = KazooClient(
        hosts=hosts,
        timeout=timeout,
        auth_data=[("digest", f"{ZK_USER}:{secret}")],
        default_acl=[make_digest_acl(ZK_USER, secret, all=True)],
        connection_retry={"max_tries": -1, "delay": 0.2, "max_delay": 1.0},
    )
    try:
        client.start(timeout=start_timeout)
    except (KazooTimeoutError, KazooException) as exc:
        client.close()
        raise Unavailable(f"cannot reach ZooKeeper at {hosts}: {exc or 'timed out'}") from None
    return client


def znode(root: str, name: str) -> str:
    return root.rstrip("/") + "/" + name


def publish(client: KazooClient, path: str, value: dict[str, Any]) -> None:
    """(Re)create an ephemeral znode holding `value` as JSON."""
    data = json.dumps(value).encode()
    client.ensure_path(path.rsplit("/", 1)[0])
    try:
        client.delete(path)
    except NoNodeError:
        pass
    client.create(path, data, ephemeral=True)


def read(client: KazooClient, path: str) -> dict[str, Any] | None:
    try:
        data, _stat = client.get(path)
    except NoNodeError:
        return None
    except NoAuthError:
        raise GfsError(f"ZooKeeper refused access to {path}: wrong cluster secret") from None
    try:
        value = json.loads(data.decode())
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def read_once(
    hosts: str, secret: str, path: str, timeout: float = 6.0, start_timeout: float = 10.0
) -> dict[str, Any] | None:
    """read() through a session of its own, for a one-off lookup."""
    client = connect(hosts, secret, timeout=timeout, start_timeout=start_timeout)
    try:
        return read(client, path)
    finally:
        close(client)


def close(client: KazooClient) -> None:
    try:
        client.stop()
        client.close()
    except Exception:  # closing must never mask the real outcome
        logger.debug("error closing ZooKeeper client", exc_info=True)
