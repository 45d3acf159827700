"""Replica placement (pure): distinct datanodes, spread over hosts, writer's host first."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    name: str
    host: str
    load: int  # replicas held plus those assigned since its last report


def choose_targets(
    count: int,
    candidates: Sequence[Candidate],
    rng: random.Random,
    writer_host: str = "",
    exclude: Iterable[str] = (),
    avoid_hosts: Iterable[str] = (),
) -> list[Candidate]:
    """Pick up to `count` distinct datanodes.

    The writer's own host comes first (a local replica makes the first hop free and lets
    a map task read its split from disk); the rest go to the least-loaded datanodes on
    hosts not used yet (ties broken at random, so equal nodes share the load), and only
    when hosts run out to a second datanode on a host already used. `avoid_hosts` are
    hosts that already hold a replica (re-replication).
    """
    excluded = set(exclude)
    pool = sorted(
        (c for c in candidates if c.name not in excluded),
        key=lambda c: (c.load, rng.random()),
    )
    chosen: list[Candidate] = []
    used_hosts = set(avoid_hosts)
    if writer_host and writer_host not in used_hosts:
        local = [c for c in pool if c.host == writer_host]
        if local and count > 0:
            chosen.append(local[0])
            used_hosts.add(writer_host)
    for candidate in pool:
        if len(chosen) >= count:
            break
        if candidate.host not in used_hosts and candidate not in chosen:
            chosen.append(candidate)
            used_hosts.add(candidate.host)
    for candidate in pool:
        if len(chosen) >= count:
            break
        if candidate not in chosen:
            chosen.append(candidate)
    return chosen
