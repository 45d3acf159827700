"""cluster.toml: one typed, frozen config object, validated when loaded.

Keys named in CONTRACT.md are fixed; the rest are ours and documented in README.md.
Unknown sections or keys are errors (a typo should not silently fall back to a default).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from gfs.errors import ConfigError


@dataclass(frozen=True)
class ClusterSection:
    dir: str = ".cluster"
    host: str = "127.0.0.1"  # address daemons bind to and advertise when launched locally


@dataclass(frozen=True)
class ZookeeperSection:
    hosts: str = ""  # empty: `mr cluster start` runs a local ZooKeeper server
    session_timeout: float = 6.0  # seconds
    port: int = 0  # client port of the local server; 0 picks a free one
    chroot: str = "/minimr"  # every znode of this cluster lives under it


@dataclass(frozen=True)
class GfsSection:
    chunk_size: int = 64 * 1024 * 1024  # bytes
    replication: int = 3
    datanodes: int = 4
    dead_after: float = 10.0  # seconds without a heartbeat
    heartbeat_interval: float = 1.0  # seconds
    namenode_port: int = 0  # 0 picks a free port
    checkpoint_after_ops: int = 10000  # op-log records between checkpoints
    lease_timeout: float = 60.0  # seconds before an abandoned write is cleaned up
    scrub_interval: float = 3600.0  # seconds between full checksum scrubs of a datanode


@dataclass(frozen=True)
class MrSection:
    masters: int = 2
    workers: int = 3
    max_attempts: int = 4
    speculation: bool = True
    dead_after: float = 10.0  # seconds without a heartbeat
    slots: int = 2  # concurrent task attempts per worker
    # true: the attempts running at once on one machine (all its workers together) never
    # exceed its CPUs, as Spark's local[N] runs N tasks; false: only `slots` per worker
    cap_to_cpus: bool = False
    heartbeat_interval: float = 0.2  # seconds; a worker also beats at once when a task ends
    task_memory_bytes: int = 256 * 1024 * 1024  # a task's in-memory buffers before it spills
    task_timeout: float = 600.0  # seconds without progress before an attempt is killed


@dataclass(frozen=True)
class ClusterConfig:
    cluster: ClusterSection = field(default_factory=ClusterSection)
    zookeeper: ZookeeperSection = field(default_factory=ZookeeperSection)
    gfs: GfsSection = field(default_factory=GfsSection)
    mr: MrSection = field(default_factory=MrSection)

    def validate(self, source: str = "cluster.toml") -> ClusterConfig:
        checks: list[tuple[str, bool, str]] = [
            ("[zookeeper] session_timeout", self.zookeeper.session_timeout > 0, "must be > 0"),
            ("[zookeeper] port", 0 <= self.zookeeper.port < 65536, "must be 0..65535"),
            ("[zookeeper] chroot", self.zookeeper.chroot.startswith("/"), "must start with /"),
            ("[gfs] chunk_size", self.gfs.chunk_size > 0, "must be > 0"),
            ("[gfs] replication", self.gfs.replication >= 1, "must be >= 1"),
            ("[gfs] datanodes", self.gfs.datanodes >= 1, "must be >= 1"),
            (
                "[gfs] replication",
                self.gfs.replication <= self.gfs.datanodes,
                f"({self.gfs.replication}) must not exceed [gfs] datanodes ({self.gfs.datanodes})",
            ),
            ("[gfs] dead_after", self.gfs.dead_after > 0, "must be > 0"),
            ("[gfs] heartbeat_interval", self.gfs.heartbeat_interval > 0, "must be > 0"),
            (
                "[gfs] dead_after",
                self.gfs.dead_after > self.gfs.heartbeat_interval,
                "must be longer than [gfs] heartbeat_interval",
            ),
            ("[gfs] namenode_port", 0 <= self.gfs.namenode_port < 65536, "must be 0..65535"),
            ("[gfs] checkpoint_after_ops", self.gfs.checkpoint_after_ops >= 1, "must be >= 1"),
            ("[gfs] lease_timeout", self.gfs.lease_timeout > 0, "must be > 0"),
            ("[gfs] scrub_interval", self.gfs.scrub_interval > 0, "must be > 0"),
            ("[mr] masters", self.mr.masters >= 0, "must be >= 0"),
            ("[mr] workers", self.mr.workers >= 0, "must be >= 0"),
            ("[mr] max_attempts", self.mr.max_attempts >= 1, "must be >= 1"),
            ("[mr] dead_after", self.mr.dead_after > 0, "must be > 0"),
            ("[mr] slots", self.mr.slots >= 1, "must be >= 1"),
            ("[mr] heartbeat_interval", self.mr.heartbeat_interval > 0, "must be > 0"),
            (
                "[mr] dead_after",
                self.mr.dead_after > self.mr.heartbeat_interval,
                "must be longer than [mr] heartbeat_interval",
            ),
            ("[mr] task_memory_bytes", self.mr.task_memory_bytes >= 1 << 20, "must be >= 1 MiB"),
            ("[mr] task_timeout", self.mr.task_timeout > 0, "must be > 0"),
        ]
        for key, ok, why in checks:
            if not ok:
                raise ConfigError(f"{source}: {key} {why}")
        return self


def _coerce(source: str, section: str, key: str, value: Any, default: Any) -> Any:
    where = f"{source}: [{section}] {key}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, not {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, not {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, not {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, not {value!r}")
    return value


def from_dict(data: dict[str, Any], source: str = "cluster.toml") -> ClusterConfig:
    sections: dict[str, Any] = {}
    known = {f.name: f for f in fields(ClusterConfig)}
    for name, table in data.items():
        if name not in known:
            raise ConfigError(f"{source}: unknown section [{name}]")
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{name}] must be a table")
        section_default = known[name].default_factory()  # type: ignore[misc]
        defaults = dataclasses.asdict(section_default)
        values = {}
        for key, value in table.items():
            if key not in defaults:
                raise ConfigError(f"{source}: unknown key [{name}] {key}")
            values[key] = _coerce(source, name, key, value, defaults[key])
        sections[name] = dataclasses.replace(section_default, **values)
    return ClusterConfig(**sections).validate(source)


def load_config(path: str | Path | None) -> ClusterConfig:
    """Load and validate a cluster.toml; None gives the defaults."""
    if path is None:
        return ClusterConfig().validate()
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return from_dict(data, str(path))


def dump_toml(config: ClusterConfig) -> str:
    """Render a config as TOML (every key, so the file documents the effective values)."""
    lines: list[str] = []
    for section in fields(config):
        lines.append(f"[{section.name}]")
        for key, value in dataclasses.asdict(getattr(config, section.name)).items():
            if isinstance(value, bool):
                rendered = "true" if value else "false"
            elif isinstance(value, str):
                rendered = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            else:
                rendered = repr(value)
            lines.append(f"{key} = {rendered}")
        lines.append("")
    return "\n".join(lines)
