"""Decision modules stay pure: no sockets, RPC, ZooKeeper, threads or clocks inside."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE_MODULES = [
    "gfs.namenode.namespace",
    "gfs.namenode.placement",
    "gfs.namenode.state",
    "gfs.paths",
]
FORBIDDEN = ["grpc", "kazoo", "socket", "threading", "time", "gfs.proto"]


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_no_io(module: str) -> None:
    code = (
        "import sys\n"
        f"before = set(sys.modules)\nimport {module}\n"
        f"loaded = set(sys.modules) - before\n"
        f"forbidden = {FORBIDDEN!r}\n"
        "bad = sorted(m for m in loaded if m.split('.')[0] in forbidden or m in forbidden)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} pulls in {out.stdout.strip()}"
