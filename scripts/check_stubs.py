"""Fail with one clear line when a generated protobuf stub is missing or does not import.

Run by `make install`; tests/unit/test_protos_current.py checks that they are current.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    protos = sorted((ROOT / "proto").rglob("*.proto"))
    modules: list[str] = []
    for proto in protos:
        rel = proto.relative_to(ROOT / "proto").with_suffix("")
        package = ".".join(rel.parent.parts)
        modules += [f"{package}.{rel.name}_pb2", f"{package}.{rel.name}_pb2_grpc"]
    sys.path.insert(0, str(ROOT))
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # any failure means the stubs are unusable
            print(
                f"check_stubs: cannot import {module} ({type(exc).__name__}: {exc}); "
                "regenerate with: .venv/bin/python proto/generate.py",
                file=sys.stderr,
            )
            return 1
    print(f"check_stubs: {len(modules)} generated modules import fine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
