"""Generate the Python gRPC stubs from proto/**/*.proto into the package tree.

    python proto/generate.py            # write gfs/proto/*_pb2*.py, mr/proto/*_pb2*.py
    python proto/generate.py --out DIR  # write them under DIR instead (staleness check)

The .proto files sit at the same relative path as the generated modules
(proto/gfs/proto/x.proto -> gfs/proto/x_pb2.py) so the generated imports resolve.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
REPO_ROOT = PROTO_ROOT.parent


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def generate(out: Path) -> None:
    import grpc_tools

    include = Path(grpc_tools.__file__).parent / "_proto"
    for proto in proto_files():
        rel = proto.relative_to(PROTO_ROOT)
        (out / rel.parent).mkdir(parents=True, exist_ok=True)
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            str(rel),
        ]
        if protoc.main(args) != 0:
            sys.exit(f"protoc failed on {rel}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO_ROOT)
    generate(parser.parse_args().out)


if __name__ == "__main__":
    main()
