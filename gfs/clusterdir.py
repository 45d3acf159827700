"""The run directory of a cluster: cluster.json, secret, logs/, data/, run/.

Commands resolve it from --cluster, else $MR_CLUSTER, else ./.cluster.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gfs.config import ClusterConfig, load_config
from gfs.errors import ConfigError

DEFAULT_DIR = ".cluster"


def resolve(flag: str | None) -> Path:
    return Path(flag or os.environ.get("MR_CLUSTER") or DEFAULT_DIR)


@dataclass(frozen=True)
class ClusterDir:
    path: Path

    @property
    def cluster_json(self) -> Path:
        return self.path / "cluster.json"

    @property
    def secret_file(self) -> Path:
        return self.path / "secret"

    @property
    def config_file(self) -> Path:
        return self.path / "cluster.toml"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def data(self) -> Path:
        return self.path / "data"

    @property
    def run(self) -> Path:
        return self.path / "run"

    def log_file(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def status_file(self, name: str) -> Path:
        return self.run / f"{name}.json"

    def pid_file(self, name: str) -> Path:
        return self.run / f"{name}.pid"

    def exists(self) -> bool:
        return self.cluster_json.is_file()

    def require(self) -> ClusterDir:
        if not self.exists():
            raise ConfigError(
                f"not a cluster directory: {self.path} (no cluster.json; "
                "start one with `mr cluster start` or pass --cluster DIR)"
            )
        return self

    def read_info(self) -> dict[str, Any]:
        self.require()
        try:
            return json.loads(self.cluster_json.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {self.cluster_json}: {exc}") from None

    def write_info(self, info: dict[str, Any]) -> None:
        write_atomic(self.cluster_json, json.dumps(info, indent=2, sort_keys=True) + "\n")

    def config(self) -> ClusterConfig:
        return load_config(self.config_file if self.config_file.exists() else None)

    def secret(self) -> str:
        try:
            return self.secret_file.read_text().strip()
        except FileNotFoundError:
            raise ConfigError(f"no secret in {self.path} (is it a cluster directory?)") from None
        except PermissionError:
            raise ConfigError(f"cannot read {self.secret_file}: permission denied") from None

    def ensure_secret(self) -> str:
        if not self.secret_file.exists():
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
        os.chmod(self.secret_file, 0o600)
        return self.secret()

    def zk_hosts(self) -> str:
        hosts = self.read_info().get("zookeeper", "")
        if not hosts:
            raise ConfigError(f"{self.cluster_json} names no ZooKeeper connect string")
        return str(hosts)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file, fsync and rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
