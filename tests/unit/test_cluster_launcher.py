"""The launcher's pure parts: process table, ports, zoo.cfg, classpath discovery, the CLI."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gfs.config import ClusterConfig, load_config
from mr import cli, proc, zookeeper
from mr.cluster import ProcessSpec, listen_port, port_of, process_table, spec_for, stages

REPO = Path(__file__).resolve().parents[2]


def config_with(**sections: dict[str, object]) -> ClusterConfig:
    config = ClusterConfig()
    for name, values in sections.items():
        config = dataclasses.replace(
            config, **{name: dataclasses.replace(getattr(config, name), **values)}
        )
    return config.validate()


def test_table_has_every_process_in_start_order() -> None:
    table = process_table(
        config_with(gfs={"datanodes": 3, "replication": 2}, mr={"masters": 2, "workers": 2})
    )
    assert [(s.name, s.role) for s in table] == [
        ("zookeeper", "zookeeper"),
        ("namenode", "namenode"),
        ("datanode-0", "datanode"),
        ("datanode-1", "datanode"),
        ("datanode-2", "datanode"),
        ("master-0", "master"),
        ("master-1", "master"),
        ("worker-0", "worker"),
        ("worker-1", "worker"),
    ]
    assert table[0].module is None
    assert {s.module for s in table[1:]} == {
        "gfs.namenode",
        "gfs.datanode",
        "mr.master",
        "mr.worker",
    }
    assert [[s.name for s in stage] for stage in stages(table)] == [
        ["zookeeper"],
        ["namenode"],
        ["datanode-0", "datanode-1", "datanode-2"],
        ["master-0", "master-1"],
        ["worker-0", "worker-1"],
    ]


def test_table_without_mapreduce() -> None:
    table = process_table(config_with(mr={"masters": 0, "workers": 0}))
    assert [s.role for s in table] == ["zookeeper", "namenode"] + ["datanode"] * 4


def test_external_ensemble_means_no_local_zookeeper() -> None:
    table = process_table(config_with(zookeeper={"hosts": "zk1:2181,zk2:2181"}))
    assert "zookeeper" not in [s.name for s in table]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("zookeeper", ("zookeeper", None, 0)),
        ("namenode", ("namenode", "gfs.namenode", 1)),
        ("datanode-12", ("datanode", "gfs.datanode", 2)),
        ("master-1", ("master", "mr.master", 3)),
        ("worker-0", ("worker", "mr.worker", 4)),
    ],
)
def test_spec_for_known_names(name: str, expected: tuple[str, str | None, int]) -> None:
    spec = spec_for(name)
    assert spec is not None
    assert (spec.role, spec.module, spec.stage) == expected


@pytest.mark.parametrize("name", ["datanode", "datanode-x", "namenode-1", "nope", "", "-1"])
def test_spec_for_unknown_names(name: str) -> None:
    assert spec_for(name) is None


def test_listen_port_prefers_config_then_recorded_then_free() -> None:
    namenode = ProcessSpec("namenode", "namenode", "gfs.namenode", 1)
    datanode = ProcessSpec("datanode-0", "datanode", "gfs.datanode", 2)
    fixed = config_with(gfs={"namenode_port": 9000})
    default = ClusterConfig()
    assert listen_port(namenode, fixed, "127.0.0.1:4000") == 9000
    assert listen_port(namenode, default, "127.0.0.1:4000") == 4000
    assert listen_port(namenode, default, None) == 0
    assert listen_port(datanode, fixed, "127.0.0.1:4001") == 4001
    zk = ProcessSpec("zookeeper", "zookeeper", None, 0)
    assert listen_port(zk, config_with(zookeeper={"port": 2181}), "127.0.0.1:5") == 2181


@pytest.mark.parametrize(
    ("address", "port"), [("127.0.0.1:80", 80), ("", 0), (None, 0), ("host", 0), ("h:x", 0)]
)
def test_port_of(address: str | None, port: int) -> None:
    assert port_of(address) == port


def test_zoo_cfg_has_what_the_cluster_needs(tmp_path: Path) -> None:
    text = zookeeper.render_config(tmp_path, "127.0.0.1", 2999, session_timeout=40.0)
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert values["dataDir"] == str(tmp_path)
    assert values["clientPort"] == "2999"
    assert values["admin.enableServer"] == "false"
    assert {"ruok", "envi"} <= set(values["4lw.commands.whitelist"].split(","))
    assert int(values["minSessionTimeout"]) <= 1000
    assert int(values["maxSessionTimeout"]) >= 80_000


def test_classpath_from_debian_jars(tmp_path: Path) -> None:
    for wanted in zookeeper.DEBIAN_JARS:
        name = wanted if isinstance(wanted, str) else wanted[-1]
        (tmp_path / f"{name}.jar").write_bytes(b"")
    classpath = zookeeper.find_classpath({}, jar_dir=tmp_path).split(os.pathsep)
    assert len(classpath) == len(zookeeper.DEBIAN_JARS)
    assert str(tmp_path / "slf4j-nop.jar") in classpath


def test_classpath_names_missing_debian_jars(tmp_path: Path) -> None:
    (tmp_path / "zookeeper.jar").write_bytes(b"")
    with pytest.raises(zookeeper.ZookeeperError, match="zookeeper-jute.jar"):
        zookeeper.find_classpath({}, jar_dir=tmp_path)


def test_classpath_from_home_and_env_wins(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    for jar in ("zookeeper-3.9.2.jar", "zookeeper-jute-3.9.2.jar", "netty-handler.jar"):
        (tmp_path / "lib" / jar).write_bytes(b"")
    env = {zookeeper.ENV_HOME: str(tmp_path)}
    classpath = zookeeper.find_classpath(env, jar_dir=tmp_path / "nowhere").split(os.pathsep)
    assert len(classpath) == 3
    explicit = {zookeeper.ENV_CLASSPATH: f"{tmp_path}/lib/*", **env}
    assert zookeeper.find_classpath(explicit) == f"{tmp_path}/lib/*"


def test_env_pointing_at_nothing_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    with pytest.raises(zookeeper.ZookeeperError, match=zookeeper.ENV_HOME):
        zookeeper.find_classpath({zookeeper.ENV_HOME: str(tmp_path)})
    with pytest.raises(zookeeper.ZookeeperError, match=zookeeper.ENV_CLASSPATH):
        zookeeper.find_classpath({zookeeper.ENV_CLASSPATH: str(tmp_path / "none.jar")})


def test_missing_java_is_named(tmp_path: Path) -> None:
    with pytest.raises(zookeeper.ZookeeperError, match="Java not found"):
        zookeeper.find_java({"PATH": str(tmp_path)})
    with pytest.raises(zookeeper.ZookeeperError, match="JAVA_HOME"):
        zookeeper.find_java({"JAVA_HOME": str(tmp_path)})


def test_ruok_on_a_closed_port_is_false() -> None:
    assert zookeeper.ruok("127.0.0.1", proc.free_port(), timeout=0.2) is False


def test_process_matching_uses_the_command_line() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "marker-x"])
    try:
        # Until the child has exec'd, its cmdline is still ours (fork copies it).
        assert proc.wait_until(lambda: proc.matches(child.pid, ["marker-x"]), 10.0)
        assert not proc.matches(child.pid, ["marker-y"])  # a reused pid is not ours
        assert not proc.matches(None, [])
        child.kill()
        child.wait(timeout=10)
        assert not proc.matches(child.pid, ["marker-x"])
    finally:
        child.kill()
        child.wait(timeout=10)


def test_wait_until_is_bounded() -> None:
    started = time.monotonic()
    assert proc.wait_until(lambda: False, 0.2, poll=0.01) is False
    assert time.monotonic() - started < 2
    assert proc.wait_until(lambda: True, 0.0) is True


def test_last_log_line_skips_stack_frames(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("start\nERROR bind failed: address in use\n\tat a.b.C(C.java:1)\n\n")
    assert proc.last_log_line(log) == "ERROR bind failed: address in use"
    assert proc.last_log_line(tmp_path / "missing.log") == ""


def test_print_table_aligns_columns(capsys: pytest.CaptureFixture[str]) -> None:
    cli.print_table(
        [{"NAME": "namenode", "PID": "12"}, {"NAME": "datanode-10", "PID": "3"}], ["NAME", "PID"]
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["NAME         PID", "namenode     12", "datanode-10  3"]


def test_global_options_work_before_and_after_the_command() -> None:
    parser = cli.build_parser()
    before = parser.parse_args(["--cluster", "A", "cluster", "status"])
    after = parser.parse_args(["cluster", "status", "--cluster", "B", "--json"])
    assert (before.cluster, after.cluster, after.json) == ("A", "B", True)
    kill = parser.parse_args(["cluster", "kill", "datanode-1", "-s", "stop"])
    assert (kill.name, kill.signal) == ("datanode-1", "STOP")


def test_usage_errors_exit_2() -> None:
    for argv in (["cluster"], ["cluster", "kill"], ["cluster", "kill", "x", "-s", "HUP"]):
        with pytest.raises(SystemExit) as exc:
            cli.build_parser().parse_args(argv)
        assert exc.value.code == 2


def test_cluster_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[cluster]\ndir = "from-config"\n')
    parser = cli.build_parser()
    monkeypatch.delenv("MR_CLUSTER", raising=False)
    ns = parser.parse_args(["cluster", "start", "--config", str(config)])
    assert cli.cluster_path(ns) == Path("from-config")
    assert cli.cluster_path(parser.parse_args(["cluster", "stop"])) == Path(".cluster")
    monkeypatch.setenv("MR_CLUSTER", str(tmp_path / "env"))
    assert cli.cluster_path(ns) == tmp_path / "env"
    ns = parser.parse_args(["--cluster", "flag", "cluster", "start", "--config", str(config)])
    assert cli.cluster_path(ns) == Path("flag")


def test_example_cluster_toml_is_valid_and_names_every_key() -> None:
    """The repo's cluster.toml documents every key there is (it is the reference example)."""
    load_config(REPO / "cluster.toml")
    text = (REPO / "cluster.toml").read_text()
    for section in dataclasses.fields(ClusterConfig):
        assert f"[{section.name}]" in text
        for key in dataclasses.fields(getattr(ClusterConfig(), section.name)):
            assert f"\n{key.name} = " in text, f"cluster.toml lacks [{section.name}] {key.name}"
