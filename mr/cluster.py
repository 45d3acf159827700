"""The local cluster launcher behind `mr cluster start|stop|status|kill|restart`.

Every process is a detached OS process (its own session, stdin closed, stdout and stderr
appended to DIR/logs/NAME.log) with a pid file DIR/run/NAME.pid. A Python daemon writes
DIR/run/NAME.json once it is bound (gfs.daemon.write_status); the launcher waits for that
file and records the address in DIR/cluster.json. Which processes a cluster has is decided
by `process_table(config)`, a pure function: later roles join there.

A process counts as alive only when its pid is alive *and* /proc/PID/cmdline still carries
the arguments we started it with, so a reused pid never passes for one of ours.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gfs import config as gfs_config
from gfs.clusterdir import ClusterDir, write_atomic
from gfs.config import ClusterConfig
from gfs.errors import GfsError
from mr import proc, zookeeper

logger = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # the contract: healthy, or exit 1 with the reason, within 60 s
STOP_TIMEOUT = 10.0  # per stage, before SIGKILL
RESTART_TIMEOUT = 30.0
LOCK_TIMEOUT = 90.0
RPC_TIMEOUT = 2.0

# Role -> (start stage, Python module). A stage starts in parallel once the previous stage
# is up; stop goes in reverse. "zookeeper" is the local Java server, not a Python module.
ROLES: dict[str, tuple[int, str | None]] = {
    "zookeeper": (0, None),
    "namenode": (1, "gfs.namenode"),
    "datanode": (2, "gfs.datanode"),
    "master": (3, "mr.master"),
    "worker": (4, "mr.worker"),
}
SINGLETONS = ("zookeeper", "namenode")  # the other roles are numbered: datanode-0, ...
SIGNALS = {
    "KILL": signal.SIGKILL,
    "TERM": signal.SIGTERM,
    "STOP": signal.SIGSTOP,
    "CONT": signal.SIGCONT,
}


class LaunchError(GfsError):
    """A cluster command could not do what was asked; the message says why."""


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    role: str
    module: str | None  # `python -m module`; None: the local ZooKeeper server
    stage: int


def spec_for(name: str) -> ProcessSpec | None:
    """The spec a process name implies (zookeeper, namenode, datanode-3, worker-0, ...)."""
    if name in SINGLETONS:
        role = name
    else:
        role, _, index = name.rpartition("-")
        if role not in ROLES or role in SINGLETONS or not index.isdigit():
            return None
    stage, module = ROLES[role]
    return ProcessSpec(name, role, module, stage)


def process_table(config: ClusterConfig) -> list[ProcessSpec]:
    """Every process a local cluster with this config runs, in start order (pure)."""
    names = [] if config.zookeeper.hosts else ["zookeeper"]
    names.append("namenode")
    names += [f"datanode-{i}" for i in range(config.gfs.datanodes)]
    names += [f"master-{i}" for i in range(config.mr.masters)]
    names += [f"worker-{i}" for i in range(config.mr.workers)]
    specs = [spec_for(name) for name in names]
    return [spec for spec in specs if spec is not None]


def stages(specs: list[ProcessSpec]) -> list[list[ProcessSpec]]:
    """Specs grouped by stage, in start order."""
    grouped: dict[int, list[ProcessSpec]] = {}
    for spec in specs:
        grouped.setdefault(spec.stage, []).append(spec)
    return [grouped[stage] for stage in sorted(grouped)]


def port_of(address: str | None) -> int:
    if not address or ":" not in address:
        return 0
    port = address.rsplit(":", 1)[1]
    return int(port) if port.isdigit() else 0


def listen_port(spec: ProcessSpec, config: ClusterConfig, recorded_address: str | None) -> int:
    """A configured port wins; else the port it had last time (so addresses stay); else 0."""
    if spec.role == "namenode" and config.gfs.namenode_port:
        return config.gfs.namenode_port
    if spec.role == "zookeeper" and config.zookeeper.port:
        return config.zookeeper.port
    return port_of(recorded_address)


def connect_host(config: ClusterConfig) -> str:
    host = config.cluster.host
    return "127.0.0.1" if host in ("0.0.0.0", "") else host


@dataclass(frozen=True)
class ProcessRow:
    name: str
    role: str
    pid: int | None
    address: str
    alive: bool
    state: str  # running, paused (SIGSTOP), or down
    host: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Cluster:
    """One cluster directory and the operations on it."""

    def __init__(self, path: Path | str) -> None:
        self.dir = ClusterDir(Path(path).absolute())

    # ---- reading state ----

    def info(self) -> dict[str, Any]:
        if not self.dir.cluster_json.exists():
            return {}
        return self.dir.read_info()

    def config(self) -> ClusterConfig:
        return self.dir.config()

    def specs(self) -> list[ProcessSpec]:
        """The config's processes, plus any recorded ones it no longer names (to stop them)."""
        specs = process_table(self.config())
        known = {spec.name for spec in specs}
        for name in self.info().get("processes", {}):
            spec = spec_for(name)
            if spec is not None and name not in known:
                specs.append(spec)
        return sorted(specs, key=lambda s: s.stage)

    def spec(self, name: str) -> ProcessSpec:
        if name == "master":
            if not any(s.role == "master" for s in self.specs()):
                raise LaunchError("no master in this cluster")
            active = active_master(self.dir, self.config())
            if active is None:
                raise LaunchError("no master is active right now (is the cluster running?)")
            name = active
        for spec in self.specs():
            if spec.name == name:
                return spec
        names = ", ".join(spec.name for spec in self.specs())
        raise LaunchError(f"unknown process {name!r} (this cluster has: {names})")

    def markers(self, spec: ProcessSpec) -> list[str]:
        if spec.module is None:
            return zookeeper.markers(self.zk_data_dir())
        return [spec.module, "--cluster", str(self.dir.path), "--name", spec.name]

    def pid(self, spec: ProcessSpec) -> int | None:
        return proc.read_pid(self.dir.pid_file(spec.name))

    def alive_pid(self, spec: ProcessSpec) -> int | None:
        pid = self.pid(spec)
        return pid if proc.matches(pid, self.markers(spec)) else None

    def zk_data_dir(self) -> Path:
        return self.dir.data / "zookeeper"

    def read_status_file(self, name: str) -> dict[str, Any] | None:
        try:
            value = json.loads(self.dir.status_file(name).read_text())
        except (OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def status(self) -> list[ProcessRow]:
        self.dir.require()
        recorded = self.info().get("processes", {})
        rows = []
        specs = self.specs()
        active = (
            active_master(self.dir, self.config())
            if any(spec.role == "master" and self.alive_pid(spec) for spec in specs)
            else None
        )
        for spec in specs:
            entry = recorded.get(spec.name, {})
            pid = self.pid(spec)
            alive = proc.matches(pid, self.markers(spec))
            state = ("paused" if proc.is_paused(pid) else "running") if alive else "down"
            role = spec.role
            if role == "master":
                role = "active" if alive and spec.name == active else "standby"
            rows.append(
                ProcessRow(
                    name=spec.name,
                    role=role,
                    pid=pid,
                    address=str(entry.get("address") or ""),
                    alive=alive,
                    state=state,
                    host=str(entry.get("host") or ""),
                )
            )
        return rows

    # ---- start ----

    def start(self, config_file: str | Path | None = None, timeout: float = START_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        if config_file is not None:
            gfs_config.load_config(config_file)  # bad input: refuse before creating anything
        self.dir.path.mkdir(parents=True, exist_ok=True)
        with self._lock():
            config = self._install_config(config_file)
            for sub in (self.dir.logs, self.dir.data, self.dir.run):
                sub.mkdir(parents=True, exist_ok=True)
            secret = self.dir.ensure_secret()
            specs = process_table(config)
            running = {spec.name for spec in specs if self.alive_pid(spec)}
            launched: list[ProcessSpec] = []
            try:
                zk_hosts = self._start_zookeeper(config, specs, running, launched, deadline)
                client = _zk_connect(config, secret, zk_hosts, deadline)
                try:
                    for stage in stages(specs)[0 if config.zookeeper.hosts else 1 :]:
                        todo = [spec for spec in stage if spec.name not in running]
                        self._launch_stage(config, todo, launched, deadline)
                    self._wait_healthy(config, secret, client, specs, deadline)
                finally:
                    _zk_close(client)
            except BaseException:
                self._terminate(list(reversed(launched)))
                raise
        if not launched:
            return f"cluster in {self.dir.path} is already running"
        if running:
            names = ", ".join(spec.name for spec in launched)
            return f"started {names} in {self.dir.path}; the rest was already running"
        return (
            f"cluster started in {self.dir.path}: "
            f"{len(process_table(config))} processes, ZooKeeper at {zk_hosts}"
        )

    def _install_config(self, config_file: str | Path | None) -> ClusterConfig:
        """Validate --config and copy it into DIR; else reuse DIR's; else the defaults."""
        target = self.dir.config_file
        if config_file is None:
            if target.exists():
                return gfs_config.load_config(target)
            config = ClusterConfig().validate()
            write_atomic(target, gfs_config.dump_toml(config))
            return config
        config = gfs_config.load_config(config_file)  # errors name the file and key
        text = Path(config_file).read_text()
        if target.exists() and target.read_text() != text:
            alive = [spec.name for spec in self.specs() if self.alive_pid(spec)]
            if alive:
                raise LaunchError(
                    f"the cluster in {self.dir.path} is running with another config "
                    f"({', '.join(alive)}); stop it first"
                )
        write_atomic(target, text)
        return config

    def _start_zookeeper(
        self,
        config: ClusterConfig,
        specs: list[ProcessSpec],
        running: set[str],
        launched: list[ProcessSpec],
        deadline: float,
    ) -> str:
        """Start the local server unless running or external; write cluster.json."""
        info = self.info()
        processes: dict[str, Any] = info.get("processes", {})
        if config.zookeeper.hosts:
            zk_hosts = config.zookeeper.hosts
            processes.pop("zookeeper", None)
        else:
            spec = next(spec for spec in specs if spec.name == "zookeeper")
            host = connect_host(config)
            status = self.read_status_file("zookeeper") or {}
            recorded = status.get("address") or processes.get("zookeeper", {}).get("address")
            if spec.name in running:
                port = port_of(recorded)
            else:
                port = self._pick_port(spec, config, recorded, host)
                launched.append(spec)
                self._launch_zookeeper(spec, config, host, port, deadline)
            zk_hosts = f"{host}:{port}"
            processes["zookeeper"] = self._record(spec, f"{host}:{port}", "")
        known = {spec.name for spec in specs}
        info = {
            "zookeeper": zk_hosts,
            "zk_root": config.zookeeper.chroot,
            "processes": {name: entry for name, entry in processes.items() if name in known},
        }
        self.dir.write_info(info)
        return zk_hosts

    def _pick_port(
        self, spec: ProcessSpec, config: ClusterConfig, recorded: str | None, host: str
    ) -> int:
        port = listen_port(spec, config, recorded)
        configured = spec.role == "zookeeper" and config.zookeeper.port
        if port and not proc.port_free(host, port):
            if configured:
                raise LaunchError(f"[zookeeper] port {port} is in use on {host}")
            port = 0  # the old port was taken meanwhile; clients find us anew anyway
        return port or proc.free_port(host)

    def _launch_zookeeper(
        self, spec: ProcessSpec, config: ClusterConfig, host: str, port: int, deadline: float
    ) -> None:
        self._clear(spec)
        log_file = self.dir.log_file(spec.name)
        try:
            popen = zookeeper.launch(
                self.zk_data_dir(), log_file, host, port, config.zookeeper.session_timeout
            )
        except zookeeper.ZookeeperError as exc:
            raise LaunchError(f"ZooKeeper did not start: {exc}; {zookeeper.HOW_TO_FIX}") from None
        self._write_pid(spec, popen.pid)
        zookeeper.wait_ready(
            popen, host, port, log_file, max(0.1, min(zookeeper.READY_TIMEOUT, _left(deadline)))
        )
        status = {"name": spec.name, "pid": popen.pid, "address": f"{host}:{port}", "host": ""}
        write_atomic(self.dir.status_file(spec.name), json.dumps(status) + "\n")

    def _launch_stage(
        self,
        config: ClusterConfig,
        todo: list[ProcessSpec],
        launched: list[ProcessSpec],
        deadline: float,
    ) -> None:
        """Launch every spec of one stage at once, then wait for all their status files."""
        recorded = self.info().get("processes", {})
        popens: dict[str, subprocess.Popen[bytes]] = {}
        for spec in todo:
            address = recorded.get(spec.name, {}).get("address")
            port = listen_port(spec, config, address)
            if port and not proc.port_free(config.cluster.host, port):
                if spec.role == "namenode" and config.gfs.namenode_port:
                    raise LaunchError(f"[gfs] namenode_port {port} is in use")
                port = 0
            popens[spec.name] = self._launch_daemon(spec, f"{config.cluster.host}:{port}")
            launched.append(spec)
        self._wait_status_files(todo, popens, deadline)

    def _launch_daemon(self, spec: ProcessSpec, listen: str) -> subprocess.Popen[bytes]:
        assert spec.module is not None
        self._clear(spec)
        env = dict(os.environ)
        # The daemon imports the same code as this launcher, installed or not.
        src_root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src_root, env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        args = [sys.executable, "-m", spec.module]
        args += ["--cluster", str(self.dir.path), "--name", spec.name, "--listen", listen]
        with open(self.dir.log_file(spec.name), "ab") as log:
            popen = subprocess.Popen(
                args,
                cwd=self.dir.path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._write_pid(spec, popen.pid)
        logger.info("launched %s (pid %d) listening on %s", spec.name, popen.pid, listen)
        return popen

    def _wait_status_files(
        self,
        specs: list[ProcessSpec],
        popens: dict[str, subprocess.Popen[bytes]],
        deadline: float,
    ) -> None:
        waiting = {spec.name: spec for spec in specs}
        while waiting:
            for name in list(waiting):
                status = self.read_status_file(name)
                popen = popens[name]
                if status and status.get("pid") == popen.pid and status.get("address"):
                    self._update_processes(
                        {name: self._record(waiting.pop(name), status["address"], status)}
                    )
                    continue
                code = popen.poll()
                if code is not None:
                    raise LaunchError(
                        self._failure(name, f"exited with code {code} before it was ready")
                    )
            if not waiting:
                return
            if time.monotonic() >= deadline:
                name = sorted(waiting)[0]
                raise LaunchError(self._failure(name, "not ready in time"))
            time.sleep(proc.POLL_SECONDS)

    def _wait_healthy(
        self,
        config: ClusterConfig,
        secret: str,
        client: Any,
        specs: list[ProcessSpec],
        deadline: float,
    ) -> None:
        """Namenode published in ZooKeeper and reporting every running datanode alive.

        Issue 4 adds: one active master, and every running worker registered with it.
        """
        reason = "namenode not published in ZooKeeper"
        checker = _HealthChecker(client, config, secret)
        try:
            while True:
                datanodes = [
                    spec.name
                    for spec in specs
                    if spec.role == "datanode" and self.alive_pid(spec) is not None
                ]
                namenode = next(spec for spec in specs if spec.role == "namenode")
                if self.alive_pid(namenode) is None:
                    raise LaunchError(self._failure("namenode", "exited"))
                ok, reason = checker.check(datanodes)
                if ok:
                    masters = [s.name for s in specs if s.role == "master"]
                    workers = [
                        s.name
                        for s in specs
                        if s.role == "worker" and self.alive_pid(s) is not None
                    ]
                    ok, reason = checker.check_mapreduce(masters, workers)
                if ok:
                    return
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.1)
        finally:
            checker.close()
        raise LaunchError(
            f"cluster not healthy within {START_TIMEOUT:.0f} s: {reason}; "
            f"see the logs in {self.dir.logs}"
        )

    # ---- stop, kill, restart ----

    def stop(self, timeout: float = STOP_TIMEOUT) -> str:
        self.dir.require()
        with self._lock():
            specs = self.specs()
            stopped = self._terminate(list(reversed(specs)), timeout)
            for spec in specs:
                self._clear(spec)
            processes = self.info().get("processes", {})
            for entry in processes.values():
                entry["pid"] = None
            self._update_processes(processes)
        if not stopped:
            return f"cluster in {self.dir.path} was not running"
        return f"stopped {len(stopped)} processes in {self.dir.path}"

    def kill(self, name: str, signame: str = "KILL") -> str:
        self.dir.require()
        signame = signame.upper().removeprefix("SIG")
        if signame not in SIGNALS:
            raise LaunchError(f"unknown signal {signame} (use one of {', '.join(SIGNALS)})")
        spec = self.spec(name)
        name = spec.name  # "master" names the active one
        pid = self.alive_pid(spec)
        if pid is None:
            raise LaunchError(f"{name} is not running")
        signum = SIGNALS[signame]
        proc.signal_pid(pid, signum)
        markers = self.markers(spec)
        if signame == "KILL":
            done = proc.wait_until(lambda: not proc.matches(pid, markers), 10.0)
        elif signame == "TERM":
            done = proc.wait_until(lambda: not proc.matches(pid, markers), STOP_TIMEOUT)
        elif signame == "STOP":
            done = proc.wait_until(lambda: proc.is_paused(pid), 5.0)
        else:
            done = proc.wait_until(lambda: not proc.is_paused(pid), 5.0)
        suffix = "" if done else " (it has not taken effect yet)"
        return f"sent SIG{signame} to {name} (pid {pid}){suffix}"

    def restart(self, name: str, timeout: float = RESTART_TIMEOUT) -> str:
        self.dir.require()
        deadline = time.monotonic() + timeout
        with self._lock():
            spec = self.spec(name)
            name = spec.name  # "master" names the active one
            config = self.config()
            self._terminate([spec])
            recorded = self.info().get("processes", {}).get(name, {}).get("address")
            if spec.module is None:
                host = connect_host(config)
                port = self._pick_port(spec, config, recorded, host)
                self._launch_zookeeper(spec, config, host, port, deadline)
                info = self.info()
                info["zookeeper"] = f"{host}:{port}"
                info.setdefault("processes", {})[name] = self._record(spec, f"{host}:{port}", "")
                self.dir.write_info(info)
                return f"restarted zookeeper at {host}:{port}"
            port = listen_port(spec, config, recorded)
            if port and not proc.port_free(config.cluster.host, port):
                port = 0
            popen = self._launch_daemon(spec, f"{config.cluster.host}:{port}")
            try:
                self._wait_status_files([spec], {name: popen}, deadline)
            except BaseException:
                self._terminate([spec])
                raise
            address = self.info()["processes"][name]["address"]
            return f"restarted {name} (pid {popen.pid}) at {address}"

    def _terminate(self, specs: list[ProcessSpec], timeout: float = STOP_TIMEOUT) -> list[str]:
        """SIGTERM each stage's live processes, wait, then SIGKILL; returns who was running."""
        stopped: list[str] = []
        ordered: list[list[ProcessSpec]] = []
        for spec in specs:  # keep the caller's order, grouping consecutive equal stages
            if ordered and ordered[-1][0].stage == spec.stage:
                ordered[-1].append(spec)
            else:
                ordered.append([spec])
        for group in ordered:
            targets = [(spec, pid) for spec in group if (pid := self.alive_pid(spec))]
            # A paused process must run to exit. Resume it before SIGTERM: a signal queued
            # while it is stopped may land on any thread, not the one waiting for it.
            paused = [pid for _spec, pid in targets if proc.is_paused(pid)]
            for pid in paused:
                proc.signal_pid(pid, signal.SIGCONT)
            proc.wait_until(lambda p=paused: not any(map(proc.is_paused, p)), 2.0, 0.01)
            for _spec, pid in targets:
                proc.signal_pid(pid, signal.SIGTERM)
            stopped += [spec.name for spec, _ in targets]

            def gone(targets: list[tuple[ProcessSpec, int]] = targets) -> bool:
                return not any(proc.matches(pid, self.markers(s)) for s, pid in targets)

            if not proc.wait_until(gone, timeout):
                for spec, pid in targets:
                    if proc.matches(pid, self.markers(spec)):
                        logger.warning("%s ignored SIGTERM; killing it", spec.name)
                        proc.signal_pid(pid, signal.SIGKILL)
                proc.wait_until(gone, 5.0)
        return stopped

    # ---- small helpers ----

    def _record(
        self, spec: ProcessSpec, address: str, status: dict[str, Any] | str
    ) -> dict[str, Any]:
        host = status.get("host", "") if isinstance(status, dict) else status
        return {"role": spec.role, "address": address, "host": host, "pid": self.pid(spec)}

    def _update_processes(self, entries: dict[str, dict[str, Any]]) -> None:
        info = self.info()
        info.setdefault("processes", {}).update(entries)
        self.dir.write_info(info)

    def _write_pid(self, spec: ProcessSpec, pid: int) -> None:
        write_atomic(self.dir.pid_file(spec.name), f"{pid}\n")

    def _clear(self, spec: ProcessSpec) -> None:
        for path in (self.dir.pid_file(spec.name), self.dir.status_file(spec.name)):
            path.unlink(missing_ok=True)

    def _failure(self, name: str, why: str) -> str:
        log_file = self.dir.log_file(name)
        last = proc.last_log_line(log_file)
        return f"{name} did not start ({why}): see {log_file}" + (f": {last}" if last else "")

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """One start/stop/restart at a time per cluster directory."""
        self.dir.path.mkdir(parents=True, exist_ok=True)
        with open(self.dir.path / ".lock", "w") as handle:
            acquired = proc.wait_until(lambda: _try_lock(handle.fileno()), LOCK_TIMEOUT, 0.1)
            if not acquired:
                raise LaunchError(f"another `mr cluster` command holds {self.dir.path}")
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class _HealthChecker:
    """Asks the namenode found in ZooKeeper which datanodes it sees alive."""

    def __init__(self, client: Any, config: ClusterConfig, secret: str) -> None:
        self.client = client
        self.config = config
        self.secret = secret
        # role ("namenode", "master") -> (address, channel), reused across polls; replaced
        # (and the old one closed) when the role's process moves
        self.channels: dict[str, tuple[str, Any]] = {}

    def _channel(self, role: str, address: str) -> Any:
        from gfs import rpc

        known = self.channels.get(role)
        if known is not None and known[0] == address:
            return known[1]
        if known is not None:
            known[1].close()
        channel = rpc.channel(address, self.secret)
        self.channels[role] = (address, channel)
        return channel

    def check(self, datanodes: list[str]) -> tuple[bool, str]:
        import grpc

        from gfs import rpc, zk
        from gfs.proto import gfs_pb2, gfs_pb2_grpc

        published = zk.read(self.client, zk.znode(self.config.zookeeper.chroot, zk.NAMENODE))
        if not published or not published.get("address"):
            return False, "namenode not published in ZooKeeper"
        address = str(published["address"])
        stub = gfs_pb2_grpc.NamenodeStub(self._channel("namenode", address))
        try:
            reply = stub.Cluster(gfs_pb2.Empty(), timeout=RPC_TIMEOUT)
        except grpc.RpcError as exc:
            return False, f"namenode at {address} not answering: {rpc.error_from_rpc(exc)}"
        live = {d.name for d in reply.datanodes if d.alive}
        need = max(self.config.gfs.replication, 0)
        missing = sorted(set(datanodes) - live)
        if len(live) < need:
            return False, f"{len(live)} of {need} needed datanodes alive at the namenode"
        if missing:
            return False, f"namenode has no heartbeat yet from {', '.join(missing)}"
        return True, "healthy"

    def check_mapreduce(self, masters: list[str], workers: list[str]) -> tuple[bool, str]:
        """One active master (when masters run), with every running worker registered."""
        if not masters:
            return True, "healthy"
        import grpc

        from gfs import rpc, zk
        from mr.proto import mr_pb2, mr_pb2_grpc

        active = zk.read(self.client, zk.znode(self.config.zookeeper.chroot, zk.MASTER))
        if not active or not active.get("address"):
            return False, "no active master in ZooKeeper"
        stub = mr_pb2_grpc.MasterStub(self._channel("master", str(active["address"])))
        try:
            reply = stub.Workers(mr_pb2.Empty(), timeout=RPC_TIMEOUT)
        except grpc.RpcError as exc:
            return False, f"active master not answering: {rpc.error_from_rpc(exc)}"
        registered = {w.name for w in reply.workers if w.alive}
        missing = sorted(set(workers) - registered)
        if missing:
            return False, f"workers not registered with the master: {', '.join(missing)}"
        return True, "healthy"

    def close(self) -> None:
        for _address, channel in self.channels.values():
            channel.close()
        self.channels.clear()


def active_master(cluster: ClusterDir, config: ClusterConfig) -> str | None:
    """Name of the active master according to ZooKeeper (None if none or unreachable)."""
    from gfs import zk

    path = zk.znode(config.zookeeper.chroot, zk.MASTER)
    try:
        published = zk.read_once(cluster.zk_hosts(), cluster.secret(), path, start_timeout=2.0)
    except GfsError:
        return None
    return str(published["name"]) if published and published.get("name") else None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _zk_connect(config: ClusterConfig, secret: str, hosts: str, deadline: float) -> Any:
    from gfs import zk

    try:
        return zk.connect(
            hosts,
            secret,
            timeout=config.zookeeper.session_timeout,
            # A reachable server answers in milliseconds; do not eat the whole start budget.
            start_timeout=max(
                0.5, min(max(5.0, config.zookeeper.session_timeout), _left(deadline))
            ),
        )
    except GfsError as exc:
        raise LaunchError(str(exc)) from None


def _zk_close(client: Any) -> None:
    from gfs import zk

    zk.close(client)


def _left(deadline: float) -> float:
    return deadline - time.monotonic()
