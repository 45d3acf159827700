"""Replica placement: distinct datanodes, distinct hosts first, writer-local first, balanced."""

from __future__ import annotations

import random
from collections import Counter

from gfs.namenode.placement import Candidate, choose_targets


def nodes(n: int, hosts: int | None = None) -> list[Candidate]:
    return [Candidate(f"datanode-{i}", f"host-{i % (hosts or n)}", 0) for i in range(n)]


def test_distinct_datanodes_and_hosts() -> None:
    rng = random.Random(1)
    for _ in range(100):
        chosen = choose_targets(3, nodes(5), rng)
        assert len({c.name for c in chosen}) == 3
        assert len({c.host for c in chosen}) == 3


def test_writer_host_first() -> None:
    rng = random.Random(2)
    for _ in range(20):
        chosen = choose_targets(3, nodes(4), rng, writer_host="host-2")
        assert chosen[0].name == "datanode-2"


def test_falls_back_to_shared_hosts_when_hosts_run_out() -> None:
    chosen = choose_targets(3, nodes(4, hosts=2), random.Random(3))
    assert len({c.name for c in chosen}) == 3
    assert len({c.host for c in chosen}) == 2


def test_exclude_and_shortage() -> None:
    chosen = choose_targets(3, nodes(3), random.Random(4), exclude=["datanode-1"])
    assert [c.name for c in chosen if c.name == "datanode-1"] == []
    assert len(chosen) == 2


def test_least_loaded_preferred_and_ties_spread() -> None:
    cands = [Candidate("a", "h1", 10), Candidate("b", "h2", 0), Candidate("c", "h3", 0)]
    assert {c.name for c in choose_targets(2, cands, random.Random(5))} == {"b", "c"}
    rng = random.Random(6)
    firsts = Counter(choose_targets(1, nodes(4), rng)[0].name for _ in range(400))
    assert len(firsts) == 4 and min(firsts.values()) > 50


def test_avoid_hosts_for_re_replication() -> None:
    chosen = choose_targets(1, nodes(4), random.Random(7), avoid_hosts=["host-0", "host-1"])
    assert chosen[0].host in {"host-2", "host-3"}
