"""cluster.toml loading: defaults, contract keys, clear errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gfs.config import ClusterConfig, dump_toml, load_config
from gfs.errors import ConfigError

CONTRACT_EXAMPLE = """
[cluster]
dir = ".cluster"
[zookeeper]
hosts = ""
session_timeout = 6.0
[gfs]
chunk_size = 67108864
replication = 3
datanodes = 4
dead_after = 10.0
[mr]
masters = 2
workers = 3
max_attempts = 4
speculation = true
dead_after = 10.0
"""


def load_text(tmp_path: Path, text: str) -> ClusterConfig:
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    return load_config(path)


def test_contract_example_loads(tmp_path: Path) -> None:
    config = load_text(tmp_path, CONTRACT_EXAMPLE)
    assert config.gfs.chunk_size == 64 * 2**20 and config.mr.speculation is True
    assert config == ClusterConfig()


def test_defaults_without_file() -> None:
    assert load_config(None).gfs.replication == 3


def test_int_accepted_for_float(tmp_path: Path) -> None:
    assert load_text(tmp_path, "[gfs]\ndead_after = 5\n").gfs.dead_after == 5.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[gfs]\nchunksize = 1\n", r"unknown key \[gfs\] chunksize"),
        ("[nope]\n", r"unknown section \[nope\]"),
        ("[gfs]\nreplication = 0\n", r"\[gfs\] replication must be >= 1"),
        ("[gfs]\nreplication = 5\n", r"\[gfs\] replication \(5\) must not exceed"),
        ('[gfs]\nchunk_size = "big"\n', r"\[gfs\] chunk_size must be an integer"),
        ("[mr]\nspeculation = 1\n", r"\[mr\] speculation must be true or false"),
        ("[zookeeper]\nsession_timeout = -1\n", r"\[zookeeper\] session_timeout must be > 0"),
        ("[gfs\n", r"not valid TOML"),
    ],
)
def test_bad_configs_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_text(tmp_path, text)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.toml")


def test_dump_round_trips(tmp_path: Path) -> None:
    config = load_text(tmp_path, '[gfs]\nchunk_size = 1024\n[zookeeper]\nchroot = "/x\\"y"\n')
    assert load_text(tmp_path, dump_toml(config)) == config
