"""`mr cluster start|stop|status|kill|restart` against real processes and a real ZooKeeper."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mr import proc

if TYPE_CHECKING:
    from conftest import RunningCluster

NAMES = ["zookeeper", "namenode", "datanode-0", "datanode-1", "datanode-2", "datanode-3"]


def mr(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mr.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mr: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def live_pids(cluster: RunningCluster) -> list[int]:
    return [row["pid"] for row in cluster.status().values() if row["alive"]]


def test_own_zookeeper_start_status_stop_start(cluster_factory) -> None:
    cluster = cluster_factory(own_zookeeper=True)
    rows = cluster.status()
    assert list(rows) == NAMES
    assert [rows[n]["role"] for n in NAMES] == ["zookeeper", "namenode"] + ["datanode"] * 4
    for name, row in rows.items():
        assert row["alive"] is True, row
        assert row["pid"] == cluster.pid(name)
        assert row["address"].startswith("127.0.0.1:")
    addresses = [row["address"] for row in rows.values()]
    assert len(set(addresses)) == len(addresses)
    info = cluster.info
    assert info["zookeeper"] == rows["zookeeper"]["address"]
    assert info["zk_root"] == cluster.config.zookeeper.chroot
    assert info["processes"]["datanode-2"]["host"] == "host-2"
    assert stat.S_IMODE((cluster.dir / "secret").stat().st_mode) == 0o600
    assert (cluster.dir / "cluster.toml").read_text() == cluster.config_file.read_text()
    # The table (no --json) lists every process in aligned columns.
    table = cluster.mr("cluster", "status", check=True).stdout.splitlines()
    assert table[0].split() == ["NAME", "ROLE", "PID", "ADDRESS", "ALIVE"]
    assert [line.split()[0] for line in table[1:]] == NAMES

    # A second start finds it running and changes nothing.
    again = cluster.mr("cluster", "start", check=True)
    assert "already running" in again.stdout
    assert cluster.status() == rows

    cluster.gfs("mkdir", "-p", "/keep", check=True)
    cluster.gfs("put", "-", "/keep/file", input="kept across stop/start\n", check=True)
    secret = cluster.secret
    pids = live_pids(cluster)
    cluster.stop()
    stopped = cluster.status()
    assert all(row["alive"] is False for row in stopped.values())
    assert not any(proc.matches(pid, []) for pid in pids)
    assert (cluster.dir / "data" / "namenode").is_dir()

    # `start` without --config brings the same cluster back: same secret, ZooKeeper port, data.
    cluster.start()
    back = cluster.status()
    assert all(row["alive"] for row in back.values())
    assert cluster.secret == secret
    assert back["zookeeper"]["address"] == rows["zookeeper"]["address"]
    assert back["namenode"]["address"] == rows["namenode"]["address"]
    assert cluster.gfs("cat", "/keep/file", check=True).stdout == "kept across stop/start\n"

    # The launcher's own ZooKeeper can be killed and restarted on its port.
    cluster.kill("zookeeper")
    assert cluster.status()["zookeeper"]["alive"] is False
    cluster.restart("zookeeper")
    assert cluster.status()["zookeeper"]["address"] == rows["zookeeper"]["address"]
    assert cluster.alive("zookeeper")


def test_kill_and_restart_a_datanode(cluster_factory) -> None:
    cluster = cluster_factory()
    before = cluster.status()
    cluster.kill("datanode-1")
    rows = cluster.status()
    assert rows["datanode-1"]["alive"] is False
    assert all(rows[n]["alive"] for n in rows if n != "datanode-1")
    assert cluster.alive("datanode-1") is False

    out = cluster.restart("datanode-1").stdout
    assert "restarted datanode-1" in out
    rows = cluster.status()
    assert rows["datanode-1"]["alive"] is True
    assert rows["datanode-1"]["pid"] != before["datanode-1"]["pid"]
    assert rows["datanode-1"]["address"] == before["datanode-1"]["address"]

    # restart of a running process replaces it; so does restart of the namenode.
    cluster.restart("namenode")
    rows = cluster.status()
    assert rows["namenode"]["alive"] and rows["namenode"]["pid"] != before["namenode"]["pid"]
    assert rows["namenode"]["address"] == before["namenode"]["address"]
    cluster.gfs("mkdir", "/after-restart", check=True)

    # `start` on a partly running cluster starts just what is missing.
    cluster.kill("namenode")
    cluster.kill("datanode-3")
    out = cluster.start().stdout
    assert "started namenode, datanode-3" in out
    assert all(row["alive"] for row in cluster.status().values())
    assert "/after-restart" in cluster.gfs("ls", "/", check=True).stdout

    # A running cluster does not silently switch to another config.
    other = cluster.config_file.with_name("other.toml")
    other.write_text(cluster.config_file.read_text().replace("datanodes = 4", "datanodes = 5"))
    error = one_line_error(cluster.mr("cluster", "start", "--config", str(other)))
    assert "running with another config" in error
    assert list(cluster.status()) == list(before)


def test_stop_cont_and_term_signals(cluster_factory) -> None:
    cluster = cluster_factory(gfs={"datanodes": 3})
    pid = cluster.pid("datanode-2")
    assert pid is not None
    cluster.kill("datanode-2", "STOP")
    row = cluster.status()["datanode-2"]
    assert (row["alive"], row["state"]) == (True, "paused")
    assert proc.state(pid) in ("T", "t")
    table = cluster.mr("cluster", "status", check=True).stdout
    assert "yes (paused)" in table

    cluster.kill("datanode-2", "CONT")
    row = cluster.status()["datanode-2"]
    assert (row["alive"], row["state"]) == (True, "running")

    cluster.kill("datanode-2", "TERM")
    assert cluster.status()["datanode-2"]["alive"] is False
    # Signalling a process that is not running is an error.
    error = one_line_error(cluster.mr("cluster", "kill", "datanode-2"))
    assert "not running" in error


def test_stop_handles_a_paused_process(cluster_factory) -> None:
    cluster = cluster_factory(gfs={"datanodes": 3})
    cluster.kill("datanode-0", "STOP")
    pids = live_pids(cluster)
    cluster.stop()
    assert not any(proc.matches(pid, []) for pid in pids)


def test_two_clusters_side_by_side(cluster_factory) -> None:
    one = cluster_factory(own_zookeeper=True, gfs={"datanodes": 3})
    two = cluster_factory(own_zookeeper=True, gfs={"datanodes": 3})
    rows_one, rows_two = one.status(), two.status()
    addresses = [r["address"] for r in rows_one.values()] + [
        r["address"] for r in rows_two.values()
    ]
    assert len(set(addresses)) == len(addresses)
    assert one.secret != two.secret
    one.gfs("mkdir", "/only-in-one", check=True)
    assert "/only-in-one" not in two.gfs("ls", "/", check=True).stdout
    one.stop()
    assert all(row["alive"] for row in two.status().values())
    two.gfs("mkdir", "/still-up", check=True)


def test_unknown_cluster_dir_is_one_line_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    for args in (
        ["cluster", "status"],
        ["cluster", "stop"],
        ["cluster", "kill", "namenode"],
        ["cluster", "restart", "namenode"],
    ):
        error = one_line_error(mr("--cluster", missing, *args))
        assert "not a cluster directory" in error
    env = dict(os.environ, MR_CLUSTER=missing)
    assert missing in one_line_error(mr("cluster", "status", "--json", env=env))
    assert not Path(missing).exists()


def test_unknown_process_name_and_master_alias(cluster_factory) -> None:
    cluster = cluster_factory(start=False)
    cluster.dir.mkdir()
    (cluster.dir / "cluster.json").write_text(json.dumps({"zookeeper": "", "processes": {}}))
    error = one_line_error(cluster.mr("cluster", "kill", "datanode-9"))
    assert "unknown process 'datanode-9'" in error and "datanode-3" in error
    assert "no master" in one_line_error(cluster.mr("cluster", "kill", "master"))
    assert "unknown process" in one_line_error(cluster.mr("cluster", "restart", "bogus"))
    usage = cluster.mr("cluster", "kill", "namenode", "--signal", "HUP")
    assert usage.returncode == 2


def test_broken_config_is_refused_naming_the_key(cluster_factory, tmp_path: Path) -> None:
    cluster = cluster_factory(start=False)
    for text, key in (
        ("[gfs]\nchunk_sise = 4096\n", "[gfs] chunk_sise"),
        ('[gfs]\nreplication = "three"\n', "[gfs] replication"),
        ("[gfs]\nreplication = 5\ndatanodes = 2\n", "[gfs] replication"),
        ("[nonsense]\n", "[nonsense]"),
        ("[gfs\n", "TOML"),
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        error = one_line_error(cluster.mr("cluster", "start", "--config", str(bad)))
        assert key in error, (text, error)
        assert not cluster.dir.exists(), "a refused start must leave nothing behind"


def test_zookeeper_classpath_missing(cluster_factory, tmp_path: Path) -> None:
    cluster = cluster_factory(own_zookeeper=True, start=False)
    empty = tmp_path / "empty-zookeeper"
    empty.mkdir()
    cluster.env["MR_ZOOKEEPER_HOME"] = str(empty)
    error = one_line_error(cluster.mr("cluster", "start", "--config", str(cluster.config_file)))
    assert "ZooKeeper did not start" in error and "MR_ZOOKEEPER_HOME" in error
    assert not (cluster.dir / "run" / "zookeeper.pid").exists()


def test_unreachable_external_zookeeper(cluster_factory) -> None:
    cluster = cluster_factory(start=False, zookeeper={"hosts": f"127.0.0.1:{proc.free_port()}"})
    error = one_line_error(cluster.mr("cluster", "start", "--config", str(cluster.config_file)))
    assert "cannot reach ZooKeeper" in error
    assert not list((cluster.dir / "run").glob("*.pid"))


def test_daemon_that_fails_is_named_with_its_log_and_nothing_is_left(cluster_factory) -> None:
    cluster = cluster_factory(start=False)
    # A file where the namenode's data directory should be makes it fail at start-up.
    (cluster.dir / "data").mkdir(parents=True)
    (cluster.dir / "data" / "namenode").write_text("not a directory")
    error = one_line_error(cluster.mr("cluster", "start", "--config", str(cluster.config_file)))
    assert "namenode did not start" in error
    assert str(cluster.dir / "logs" / "namenode.log") in error
    assert not any(row["alive"] for row in cluster.status().values())
