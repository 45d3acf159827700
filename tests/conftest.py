"""Shared fixtures for tests that run real clusters.

- `zookeeper_server` (session): one local ZooKeeper server shared by every test cluster; each
  cluster lives under its own `[zookeeper] chroot`, so they never see each other's znodes.
- `cluster_factory`: `make_cluster(**sections) -> RunningCluster`, started with the real
  `mr cluster start` in a temp dir (tiny chunks, short timeouts), always torn down.

    def test_x(cluster_factory):
        cluster = cluster_factory(gfs={"datanodes": 3})
        out = cluster.gfs("ls", "/")            # CompletedProcess[str]
        cluster.kill("datanode-1")              # mr cluster kill (SIGKILL)

When a test fails, the tail of every log of its clusters is added to the report.
A test that runs longer than HANG_DUMP_SECONDS gets every thread's stack printed.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gfs.config import ClusterConfig, dump_toml, from_dict
from mr import proc, zookeeper
from mr.cluster import Cluster

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HANG_DUMP_SECONDS = 300.0
CLI_TIMEOUT = 120.0  # generous: `mr cluster start` itself gives up after 60 s
LOG_TAIL_LINES = 40

# Small and fast: chunks of 64 KiB, heartbeats every 0.3 s, a datanode dead after 3 s.
TEST_DEFAULTS: dict[str, dict[str, Any]] = {
    "gfs": {"chunk_size": 64 * 1024, "heartbeat_interval": 0.3, "dead_after": 3.0},
    "zookeeper": {"session_timeout": 4.0},
    # GFS tests need no MapReduce processes; MapReduce tests ask for them.
    "mr": {"masters": 0, "workers": 0, "heartbeat_interval": 0.1, "dead_after": 3.0},
}
PROGRAMS = {"gfs": "gfs.cli", "mr": "mr.cli"}

_clusters_key = pytest.StashKey[list["RunningCluster"]]()
_stderr_fd_key = pytest.StashKey[int]()


# ---- the shared ZooKeeper server ----


@dataclass(frozen=True)
class ZookeeperServer:
    hosts: str  # connect string, "127.0.0.1:PORT"
    pid: int
    log_file: Path


@pytest.fixture(scope="session")
def zookeeper_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZookeeperServer]:
    root = tmp_path_factory.mktemp("zookeeper")
    log_file = root / "zookeeper.log"
    popen: subprocess.Popen[bytes] | None = None
    error = ""
    for _attempt in range(3):  # a free port can be taken between picking and binding
        port = proc.free_port()
        try:
            popen = zookeeper.launch(root / "data", log_file, "127.0.0.1", port, 6.0)
            zookeeper.wait_ready(popen, "127.0.0.1", port, log_file)
            break
        except zookeeper.ZookeeperError as exc:
            error = str(exc)
            if popen is not None:
                _kill_popen(popen)
                popen = None
    if popen is None:
        pytest.fail(f"cannot run the test ZooKeeper server: {error}; {zookeeper.HOW_TO_FIX}")
    try:
        yield ZookeeperServer(hosts=f"127.0.0.1:{port}", pid=popen.pid, log_file=log_file)
    finally:
        _kill_popen(popen)


def _kill_popen(popen: subprocess.Popen[bytes]) -> None:
    popen.terminate()
    try:
        popen.wait(timeout=10)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(timeout=10)


# ---- clusters ----


@dataclass
class RunningCluster:
    """A cluster directory plus helpers that drive it through the real CLIs."""

    dir: Path
    config: ClusterConfig
    config_file: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def run(
        self,
        program: str,
        *args: str,
        timeout: float = CLI_TIMEOUT,
        input: str | bytes | None = None,
        text: bool = True,
        check: bool = False,
        cluster: bool = True,
    ) -> subprocess.CompletedProcess[Any]:
        """Run `gfs ARGS` or `mr ARGS` (program "gfs"/"mr") with --cluster DIR."""
        command = [PYTHON, "-m", PROGRAMS[program]]
        if cluster:
            command += ["--cluster", str(self.dir)]
        command += list(args)
        if isinstance(input, str) and not text:
            input = input.encode()
        result = subprocess.run(
            command,
            input=input,
            capture_output=True,
            text=text,
            timeout=timeout,
            env=self.env,
            cwd=self.dir.parent,
        )
        if check and result.returncode != 0:
            raise AssertionError(_describe(command, result))
        return result

    def gfs(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        return self.run("gfs", *args, **kwargs)

    def mr(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        return self.run("mr", *args, **kwargs)

    # `mr cluster ...`; each asserts success and returns the CompletedProcess.
    def start(self, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """The first start installs config_file; later ones reuse DIR/cluster.toml."""
        first = not (self.dir / "cluster.toml").exists()
        args = ["--config", str(self.config_file)] if first else []
        return self.mr("cluster", "start", *args, timeout=timeout, check=True)

    def stop(self) -> subprocess.CompletedProcess[str]:
        return self.mr("cluster", "stop", check=True)

    def kill(self, name: str, signal: str = "KILL") -> subprocess.CompletedProcess[str]:
        return self.mr("cluster", "kill", name, "--signal", signal, check=True)

    def restart(self, name: str) -> subprocess.CompletedProcess[str]:
        return self.mr("cluster", "restart", name, check=True)

    def status(self) -> dict[str, dict[str, Any]]:
        """`mr cluster status --json` as {name: row}."""
        out = self.mr("cluster", "status", "--json", check=True).stdout
        return {row["name"]: row for row in json.loads(out)}

    # ---- direct reads of the cluster directory ----

    @property
    def info(self) -> dict[str, Any]:
        return json.loads((self.dir / "cluster.json").read_text())

    @property
    def secret(self) -> str:
        return (self.dir / "secret").read_text().strip()

    @property
    def zk_hosts(self) -> str:
        return str(self.info["zookeeper"])

    def pid(self, name: str) -> int | None:
        return proc.read_pid(self.dir / "run" / f"{name}.pid")

    def address(self, name: str) -> str:
        return str(self.info["processes"][name]["address"])

    def alive(self, name: str) -> bool:
        """Same test as `mr cluster status`: pid alive and its cmdline is ours."""
        launcher = Cluster(self.dir)
        return launcher.alive_pid(launcher.spec(name)) is not None

    def datanodes(self) -> list[str]:
        return [f"datanode-{i}" for i in range(self.config.gfs.datanodes)]

    def data_dir(self, name: str) -> Path:
        return self.dir / "data" / name

    def chunk_dir(self, datanode: str) -> Path:
        return self.data_dir(datanode) / "chunks"

    def log(self, name: str) -> str:
        path = self.dir / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def wait_until(
        self, condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition"
    ) -> None:
        """Poll `condition` (every 50 ms) until true; AssertionError after `timeout`."""
        if not proc.wait_until(condition, timeout):
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")

    def client(self) -> Any:
        """A GfsClient for this cluster (close it, or use it in a `with`)."""
        from gfs.client import GfsClient

        return GfsClient(self.dir)

    def log_tails(self, lines: int = LOG_TAIL_LINES) -> list[tuple[str, str]]:
        logs = sorted((self.dir / "logs").glob("*.log"))
        return [
            (f"{self.dir.name}/logs/{log.name}", "\n".join(proc.log_tail(log, lines)))
            for log in logs
        ]

    def teardown(self) -> None:
        """`mr cluster stop`, then SIGKILL whatever of ours still runs."""
        if not (self.dir / "cluster.json").exists():
            return
        launcher = Cluster(self.dir)
        try:
            launched = [(spec, launcher.pid(spec)) for spec in launcher.specs()]
        except Exception:
            launched = []
        try:
            self.mr("cluster", "stop", timeout=60)
        except subprocess.TimeoutExpired:
            pass
        for spec, pid in launched:
            if pid and proc.matches(pid, launcher.markers(spec)):
                proc.signal_pid(pid, signal.SIGKILL)


def wordcount_reference(files: list[Path]) -> Counter[str]:
    """The counts jobs/wordcount.py must produce for these local files."""
    counts: Counter[str] = Counter()
    for path in files:
        for line in path.read_text(errors="replace").splitlines():
            counts.update(line.split())
    return counts


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> ClusterConfig:
    """Validate `sections` (as in cluster.toml) and write them to `path`."""
    config = from_dict(sections)
    path.write_text(dump_toml(config))
    return config


def merge_sections(*layers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for section, values in layer.items():
            merged.setdefault(section, {}).update(values)
    return merged


ClusterFactory = Callable[..., RunningCluster]


@pytest.fixture
def cluster_factory(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    zookeeper_server: ZookeeperServer,
) -> Iterator[ClusterFactory]:
    """make_cluster(*, start=True, own_zookeeper=False, name=None, **sections).

    `sections` override cluster.toml per section, e.g. gfs={"datanodes": 3}. By default the
    cluster uses the shared ZooKeeper under a chroot of its own; own_zookeeper=True makes
    `mr cluster start` launch a ZooKeeper server of its own. start=False only writes the
    config (start it with .start()).
    """
    clusters: list[RunningCluster] = []
    request.node.stash[_clusters_key] = clusters

    def make_cluster(
        *,
        start: bool = True,
        own_zookeeper: bool = False,
        name: str | None = None,
        **sections: dict[str, Any],
    ) -> RunningCluster:
        name = name or f"cluster{len(clusters)}"
        zk_section: dict[str, Any] = {}
        if not own_zookeeper:
            # Top-level chroots: each cluster's digest ACL guards its whole subtree.
            zk_section = {"hosts": zookeeper_server.hosts, "chroot": f"/t-{uuid.uuid4().hex}"}
        layers = merge_sections(TEST_DEFAULTS, {"zookeeper": zk_section}, sections)
        config_file = tmp_path / f"{name}.toml"
        config = write_config(config_file, layers)
        env = dict(os.environ)
        env.pop("MR_CLUSTER", None)
        cluster = RunningCluster(
            dir=tmp_path / name, config=config, config_file=config_file, env=env
        )
        clusters.append(cluster)
        if start:
            cluster.start()
        return cluster

    try:
        yield make_cluster
    finally:
        for cluster in reversed(clusters):
            cluster.teardown()


def _describe(command: list[str], result: subprocess.CompletedProcess[Any]) -> str:
    def show(data: Any) -> str:
        if isinstance(data, bytes):
            data = data.decode(errors="replace")
        return (data or "").strip()[-4000:]

    where = f"{' '.join(command)}\n" if command else ""
    return (
        f"{where}exit {result.returncode}\n"
        f"stdout: {show(result.stdout)}\nstderr: {show(result.stderr)}"
    )


# ---- reporting and hang guard ----


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for cluster in item.stash.get(_clusters_key, []):
            for title, tail in cluster.log_tails():
                report.sections.append((f"log {title} (last {LOG_TAIL_LINES} lines)", tail))
    return report


def pytest_configure(config: pytest.Config) -> None:
    # Output capture is suspended here, so fd 2 is the real stderr: a hung test's stacks
    # must reach the terminal, not a capture file nobody reads.
    config.stash[_stderr_fd_key] = os.dup(2)


def pytest_unconfigure(config: pytest.Config) -> None:
    fd = config.stash.get(_stderr_fd_key, None)
    if fd is not None:
        os.close(fd)


@pytest.fixture(autouse=True)
def _hang_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    fd = request.config.stash.get(_stderr_fd_key, 2)
    faulthandler.dump_traceback_later(HANG_DUMP_SECONDS, file=fd)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
