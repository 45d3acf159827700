"""A local standalone ZooKeeper server for `mr cluster start` and the tests.

Where the server comes from, first match wins:
    MR_ZOOKEEPER_CLASSPATH  a Java classpath holding ZooKeeper and its dependencies
    MR_ZOOKEEPER_HOME       a ZooKeeper installation: every DIR/lib/*.jar and DIR/*.jar
    /usr/share/java         the jars of Debian's `zookeeper` package (`make zookeeper`)
Java is $JAVA_HOME/bin/java when JAVA_HOME is set, else `java` on PATH.
Instead of a local server a cluster can use an existing ensemble: `[zookeeper] hosts`.

    python -m mr.zookeeper check [--config cluster.toml]   # exit 0 when a server can run
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from gfs.errors import GfsError
from mr import proc

logger = logging.getLogger(__name__)

ENV_CLASSPATH = "MR_ZOOKEEPER_CLASSPATH"
ENV_HOME = "MR_ZOOKEEPER_HOME"
SYSTEM_JAR_DIR = Path("/usr/share/java")
MAIN_CLASS = "org.apache.zookeeper.server.ZooKeeperServerMain"
# Debian's jar names; a tuple lists alternatives (one slf4j binding is enough).
DEBIAN_JARS: tuple[str | tuple[str, ...], ...] = (
    "zookeeper",
    "zookeeper-jute",
    "slf4j-api",
    ("slf4j-simple", "slf4j-nop"),
    "netty-handler",
    "netty-common",
    "netty-buffer",
    "netty-transport",
    "netty-codec",
    "netty-resolver",
    "netty-transport-native-epoll",
    "netty-transport-native-unix-common",
)
TICK_MS = 500
HEAP = "-Xmx128m"
READY_TIMEOUT = 20.0

HOW_TO_FIX = (
    "install it with `make zookeeper` (Debian package `zookeeper`), or set "
    f"{ENV_HOME} to a ZooKeeper installation (a directory with lib/*.jar) or "
    f"{ENV_CLASSPATH} to its jars, or use a running ensemble by setting "
    '`[zookeeper] hosts = "host:port,..."` in cluster.toml'
)


class ZookeeperError(GfsError):
    """The local ZooKeeper server cannot be found or did not start."""


def find_classpath(env: Mapping[str, str] | None = None, jar_dir: Path = SYSTEM_JAR_DIR) -> str:
    """The classpath of a ZooKeeper server, or ZookeeperError saying what is missing."""
    env = os.environ if env is None else env
    explicit = env.get(ENV_CLASSPATH, "").strip()
    if explicit:
        entries = [entry for entry in explicit.split(os.pathsep) if entry]
        # Java expands a trailing "dir/*" itself; check that its directory exists.
        if not any(Path(entry.removesuffix("*")).exists() for entry in entries):
            raise ZookeeperError(f"{ENV_CLASSPATH}={explicit} names no existing jar or directory")
        return os.pathsep.join(entries)
    home = env.get(ENV_HOME, "").strip()
    if home:
        root = Path(home)
        jars = sorted((root / "lib").glob("*.jar")) + sorted(root.glob("*.jar"))
        if not any(jar.name.startswith("zookeeper") for jar in jars):
            raise ZookeeperError(
                f"no ZooKeeper jars in {ENV_HOME}={home} (expected lib/zookeeper-*.jar)"
            )
        return os.pathsep.join(str(jar) for jar in jars)
    found: list[str] = []
    missing: list[str] = []
    for wanted in DEBIAN_JARS:
        choices = (wanted,) if isinstance(wanted, str) else wanted
        paths = [jar_dir / f"{choice}.jar" for choice in choices]
        jar = next((path for path in paths if path.is_file()), None)
        if jar is None:
            missing.append(" or ".join(f"{c}.jar" for c in choices))
        else:
            found.append(str(jar))
    if missing:
        raise ZookeeperError(f"ZooKeeper is not installed: {jar_dir} lacks {', '.join(missing)}")
    return os.pathsep.join(found)


def find_java(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    java_home = env.get("JAVA_HOME", "").strip()
    if java_home:
        java = Path(java_home) / "bin" / "java"
        if os.access(java, os.X_OK):
            return str(java)
        raise ZookeeperError(f"JAVA_HOME={java_home} has no bin/java")
    java_path = shutil.which("java", path=env.get("PATH"))
    if java_path is None:
        raise ZookeeperError(
            "Java not found: ZooKeeper needs a Java runtime (e.g. apt-get install "
            "default-jre-headless, or set JAVA_HOME)"
        )
    return java_path


def render_config(data_dir: Path, host: str, port: int, session_timeout: float) -> str:
    """zoo.cfg for a standalone server (pure)."""
    max_session_ms = max(60_000, int(session_timeout * 2000))
    return "\n".join(
        [
            "# Written by mr cluster start; rewritten on every start.",
            f"tickTime={TICK_MS}",
            f"dataDir={data_dir}",
            f"clientPort={port}",
            f"clientPortAddress={host}",
            # Its admin HTTP server would otherwise take port 8080.
            "admin.enableServer=false",
            # kazoo's server_version() needs envi; the launcher's health check needs ruok.
            "4lw.commands.whitelist=ruok,srvr,stat,envi",
            f"minSessionTimeout={2 * TICK_MS}",
            f"maxSessionTimeout={max_session_ms}",
            # Many clients share 127.0.0.1 (every daemon of every test cluster).
            "maxClientCnxns=0",
            # Transaction log files are preallocated in KiB; 64 MiB each is too much here.
            "preAllocSize=1024",
            "autopurge.snapRetainCount=3",
            "autopurge.purgeInterval=1",
            "",
        ]
    )


def config_path(data_dir: Path) -> Path:
    return data_dir / "zoo.cfg"


def command(java: str, classpath: str, config_file: Path) -> list[str]:
    return [
        java,
        HEAP,
        "-XX:+UseSerialGC",
        "-Djava.awt.headless=true",
        "-cp",
        classpath,
        MAIN_CLASS,
        str(config_file),
    ]


def markers(data_dir: Path) -> list[str]:
    """Arguments that identify this server's process in /proc/PID/cmdline."""
    return [MAIN_CLASS, str(config_path(data_dir))]


def launch(
    data_dir: Path,
    log_file: Path,
    host: str,
    port: int,
    session_timeout: float = 6.0,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a detached server on host:port keeping its data in data_dir; do not wait."""
    java = find_java(env)
    classpath = find_classpath(env)
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    config_file = config_path(data_dir)
    config_file.write_text(render_config(data_dir, host, port, session_timeout))
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            command(java, classpath, config_file),
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env=dict(env) if env is not None else None,
        )


def ruok(host: str, port: int, timeout: float = 0.5) -> bool:
    """ZooKeeper's own liveness probe: `ruok` answered by `imok`."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"ruok")
            reply = b""
            while len(reply) < 4:
                data = sock.recv(4 - len(reply))
                if not data:
                    break
                reply += data
    except OSError:
        return False
    return reply == b"imok"


def wait_ready(
    process: subprocess.Popen[bytes],
    host: str,
    port: int,
    log_file: Path,
    timeout: float = READY_TIMEOUT,
) -> None:
    """Return once the server answers `ruok`; ZookeeperError naming the log otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        if ruok(host, port):
            return
        code = process.poll()
        if code is not None:
            raise ZookeeperError(_failure(f"exited with code {code}", log_file))
        if time.monotonic() >= deadline:
            raise ZookeeperError(_failure(f"not answering within {timeout:.0f} s", log_file))
        time.sleep(proc.POLL_SECONDS)


def _failure(why: str, log_file: Path) -> str:
    last = proc.last_log_line(log_file)
    return f"ZooKeeper did not start ({why}): see {log_file}" + (f": {last}" if last else "")


def check(config_file: str | None = None) -> str:
    """Say where a local server would come from; ZookeeperError with the fix otherwise."""
    if config_file:
        from gfs.config import load_config

        hosts = load_config(config_file).zookeeper.hosts
        if hosts:
            return f"ZooKeeper: {config_file} uses the ensemble at {hosts}"
    try:
        java = find_java()
        classpath = find_classpath()
    except ZookeeperError as exc:
        raise ZookeeperError(f"{exc}; {HOW_TO_FIX}") from None
    jars = classpath.split(os.pathsep)
    return f"ZooKeeper: {len(jars)} classpath entries, e.g. {jars[0]}; Java: {java}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mr.zookeeper", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    check_parser = sub.add_parser("check", help="exit 0 when a local server can be run")
    check_parser.add_argument("--config", help="a cluster.toml whose [zookeeper] hosts may be set")
    ns = parser.parse_args(argv)
    try:
        print(check(ns.config))
    except GfsError as exc:
        print(f"mr.zookeeper: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
