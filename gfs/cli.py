"""`gfs`: the file-system command line (put, get, cat, ls, mkdir, mv, rm, stat, fsck).

Errors are one line on stderr ("gfs: ...") and exit status 1; usage errors exit 2.
grpc and kazoo are imported only by commands that talk to the cluster, so `gfs -h` and
usage errors stay fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from gfs import errors, paths

if TYPE_CHECKING:
    from gfs.client import ChunkInfo, FileStatus, FsckProblem, FsckReport, GfsClient

logger = logging.getLogger(__name__)

PROG = "gfs"


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a usage error, exit 2, otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


class UsageError(Exception):
    """Bad command line detected after parsing (exit 2, like argparse)."""


# ---------------------------------------------------------------------------------------
# Pure pieces (unit-tested without a cluster).


@dataclass(frozen=True)
class PutPlan:
    local: str  # a local path, or "-" for stdin
    remote: str  # normalized GFS path of the new file


def plan_put(locals_: Sequence[str], remote: str, remote_is_dir: bool) -> list[PutPlan]:
    """Where each LOCAL goes, as `cp` decides: into REMOTE when it is (or names) a directory.

    `remote_is_dir` says whether REMOTE exists as a directory in GFS.
    """
    if not locals_:
        raise UsageError("put needs at least one LOCAL file and a REMOTE path")
    into_dir = remote_is_dir or remote.endswith("/") or len(locals_) > 1
    target = paths.normalize(remote)
    if len(locals_) > 1 and not remote_is_dir:
        raise errors.NotADirectory(f"target {target} is not a directory (several files given)")
    if locals_.count("-") > 1:
        raise UsageError("stdin ('-') can be given only once")
    if not into_dir:
        return [PutPlan(locals_[0], target)]
    plans: list[PutPlan] = []
    seen: dict[str, str] = {}
    for local in locals_:
        if local == "-":
            raise errors.InvalidPath(
                f"cannot name stdin inside directory {target}: give a file path as REMOTE"
            )
        name = os.path.basename(os.path.normpath(local))
        if name in ("", ".", "..", "/"):
            raise errors.InvalidPath(f"{local}: cannot tell the file's name")
        remote_path = paths.normalize(paths.join(target, name))
        if name in seen:
            raise errors.InvalidPath(f"{seen[name]} and {local} would both become {remote_path}")
        seen[name] = local
        plans.append(PutPlan(local, remote_path))
    return plans


def check_local_sources(locals_: Sequence[str]) -> None:
    """Every LOCAL must be a readable regular file (or "-"), before anything is written."""
    for local in locals_:
        if local == "-":
            continue
        if not os.path.exists(local):
            raise errors.NotFound(f"{local}: no such local file")
        if os.path.isdir(local):
            raise errors.IsADirectory(f"{local}: is a directory (put copies files only)")
        if not os.access(local, os.R_OK):
            raise errors.GfsError(f"{local}: permission denied")


def mv_target(src: str, dst: str, dst_is_dir: bool) -> str:
    """POSIX mv: into DST when it is an existing directory, else DST itself."""
    src, dst = paths.normalize(src), paths.normalize(dst)
    if dst_is_dir:
        return paths.join(dst, paths.basename(src))
    return dst


def format_mtime(mtime: float) -> str:
    if mtime <= 0:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(mtime))


def format_ls(entries: Sequence[FileStatus]) -> list[str]:
    """hdfs dfs -ls style: type, replication, size, mtime, path."""
    lines: list[str] = []
    width = max((len(str(e.size)) for e in entries), default=1)
    for entry in entries:
        kind = "d" if entry.is_dir else "-"
        repl = "-" if entry.is_dir else str(entry.replication)
        lines.append(
            f"{kind} {repl:>3} {entry.size:>{width}} {format_mtime(entry.mtime)} {entry.path}"
        )
    return lines


def status_json(status: FileStatus, chunks: Sequence[ChunkInfo]) -> dict[str, Any]:
    from gfs.handles import format_handle

    return {
        "path": status.path,
        "is_dir": status.is_dir,
        "size": status.size,
        "replication": status.replication,
        "mtime": status.mtime,
        "chunks": [
            {
                "handle": format_handle(c.handle),
                "size": c.size,
                "offset": c.offset,
                "replicas": [r.datanode for r in c.replicas],
                "corrupt": list(c.corrupt),
            }
            for c in chunks
        ],
    }


def format_stat(status: FileStatus, chunks: Sequence[ChunkInfo]) -> list[str]:
    from gfs.handles import format_handle

    lines = [
        f"path:        {status.path}",
        f"type:        {'directory' if status.is_dir else 'file'}",
    ]
    if not status.is_dir:
        lines += [
            f"size:        {status.size}",
            f"replication: {status.replication}",
        ]
    lines.append(f"modified:    {format_mtime(status.mtime)}")
    if not status.is_dir:
        lines.append(f"chunks:      {len(chunks)}")
        for c in chunks:
            replicas = ", ".join(r.datanode for r in c.replicas) or "NONE"
            line = f"  {format_handle(c.handle)}  offset {c.offset}  size {c.size}  on {replicas}"
            if c.corrupt:
                line += f"  (corrupt on {', '.join(c.corrupt)})"
            lines.append(line)
    return lines


def fsck_json(report: FsckReport) -> dict[str, Any]:
    from gfs.handles import format_handle

    return {
        "path": report.path,
        "files": report.files,
        "chunks": report.chunks,
        "under_replicated": report.under_replicated,
        "corrupt": report.corrupt,
        "missing": report.missing,
        "healthy": report.healthy,
        "repairs_pending": report.repairs_pending,
        "repairs_done": report.repairs_done,
        "problems": [
            {
                "path": p.path,
                "handle": format_handle(p.handle),
                "kind": p.kind,
                "live": list(p.live),
                "corrupt": list(p.corrupt),
            }
            for p in report.problems
        ],
    }


def format_problem(problem: FsckProblem, replication: int | None) -> str:
    from gfs.handles import format_handle

    live = len(problem.live)
    of = f"{live} live of {replication}" if replication else f"{live} live"
    where = f"{problem.path} chunk {format_handle(problem.handle)}"
    if problem.kind == "corrupt":
        nodes = ", ".join(problem.corrupt) or "?"
        noun = "replica" if len(problem.corrupt) <= 1 else "replicas"
        return f"{where}: corrupt {noun} on {nodes} ({of})"
    if problem.kind == "missing":
        extra = f"; corrupt on {', '.join(problem.corrupt)}" if problem.corrupt else ""
        return f"{where}: MISSING, no live replica{extra}"
    if problem.kind == "under_replicated":
        nodes = ", ".join(problem.live) or "none"
        return f"{where}: under-replicated ({of}: {nodes})"
    return f"{where}: {problem.kind} (live: {', '.join(problem.live) or 'none'})"


def format_fsck(
    report: FsckReport, replication_of: Callable[[str], int | None] | None = None
) -> list[str]:
    lines = [
        format_problem(p, replication_of(p.path) if replication_of else None)
        for p in report.problems
    ]
    lines.append(
        f"{report.files} files, {report.chunks} chunks: {report.under_replicated} "
        f"under-replicated, {report.corrupt} corrupt, {report.missing} missing"
        f" ({report.repairs_pending} repairs pending, {report.repairs_done} done)"
    )
    verdict = "HEALTHY" if report.healthy else "UNHEALTHY"
    lines.append(f"The filesystem under '{report.path}' is {verdict}")
    return lines


# ---------------------------------------------------------------------------------------
# Argument parsing.


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS keeps a value given before the command from being reset by the subparser.
    common.add_argument(
        "--cluster",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="cluster run directory (default: $MR_CLUSTER, else ./.cluster)",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks and debug logs",
    )

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Use the GFS-like file system of a cluster.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[common])

    p = add("put", "copy local files into GFS (LOCAL '-' reads stdin)")
    p.add_argument("paths", nargs="+", metavar="LOCAL... REMOTE")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing files")
    p.add_argument(
        "--replication",
        type=positive_int,
        default=0,
        help="replicas per chunk (default: the cluster's)",
    )

    p = add("get", "copy a GFS file to the local disk (LOCAL '-' is stdout)")
    p.add_argument("remote", metavar="REMOTE")
    p.add_argument("local", metavar="LOCAL")

    p = add("cat", "write GFS files to stdout")
    p.add_argument("remotes", nargs="+", metavar="REMOTE")

    p = add("ls", "list a directory (or a file)")
    p.add_argument("path", nargs="?", default="/", metavar="PATH")
    p.add_argument("-R", "--recursive", action="store_true", help="list subdirectories too")
    p.add_argument("--json", action="store_true", help="print one JSON document")

    p = add("mkdir", "create directories")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument(
        "-p", "--parents", action="store_true", help="create parents; no error if exists"
    )

    p = add("mv", "move or rename a file or directory (atomic)")
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="DST")

    p = add("rm", "remove files (and directories with -r)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("-r", "-R", "--recursive", action="store_true", help="remove directories")

    p = add("stat", "show a file's size, replication and chunks")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--json", action="store_true", help="print one JSON document")

    p = add("fsck", "check the health of the files under PATH")
    p.add_argument("path", nargs="?", default="/", metavar="PATH")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


# ---------------------------------------------------------------------------------------
# Commands.


def _stderr(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def _open_client(args: argparse.Namespace) -> GfsClient:
    from gfs.client import GfsClient
    from gfs.clusterdir import resolve
    from gfs.datanode.store import tune_malloc

    tune_malloc()  # put/get/cat stream 1 MiB frames: keep their buffers in the process
    return GfsClient(
        resolve(getattr(args, "cluster", None)),
        on_warning=lambda message: _stderr(f"warning: {message}"),
    )


def _stdout() -> BinaryIO:
    return sys.stdout.buffer


def cmd_put(client: GfsClient, args: argparse.Namespace) -> int:
    *locals_, remote = args.paths
    paths.normalize(remote)  # a bad REMOTE is reported before anything else
    check_local_sources(locals_)
    remote_is_dir = client.is_dir(remote)
    if remote.endswith("/") and not remote_is_dir:
        raise errors.NotADirectory(f"{paths.normalize(remote)}: no such directory")
    plans = plan_put(locals_, remote, remote_is_dir)
    if not args.force:
        for plan in plans:
            if client.exists(plan.remote):
                raise errors.AlreadyExists(f"{plan.remote}: already exists (use -f to overwrite)")
    for plan in plans:
        if plan.local == "-":
            client.write_file(plan.remote, sys.stdin.buffer, args.replication, args.force)
        else:
            with open(plan.local, "rb") as source:
                client.write_file(plan.remote, source, args.replication, args.force)
    return 0


def cmd_get(client: GfsClient, args: argparse.Namespace) -> int:
    remote = paths.normalize(args.remote)
    if args.local == "-":
        client.cat(remote, _stdout())
        return 0
    from gfs.client import local_get_target

    target = local_get_target(remote, args.local)  # named in a write error below
    try:
        client.get(remote, target)
    except OSError as exc:
        raise errors.GfsError(f"cannot write {target}: {exc.strerror or exc}") from None
    return 0


def cmd_cat(client: GfsClient, args: argparse.Namespace) -> int:
    out = _stdout()
    status = 0
    for remote in args.remotes:
        try:
            client.cat(remote, out)
        except errors.GfsError as exc:
            out.flush()
            _stderr(str(exc))
            status = 1
    out.flush()
    return status


def cmd_ls(client: GfsClient, args: argparse.Namespace) -> int:
    entries = client.ls(args.path, recursive=args.recursive)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "path": e.path,
                        "is_dir": e.is_dir,
                        "size": e.size,
                        "replication": e.replication,
                        "mtime": e.mtime,
                        "chunks": e.chunk_count,
                    }
                    for e in entries
                ],
                indent=2,
            )
        )
    else:
        for line in format_ls(entries):
            print(line)
    return 0


def cmd_mkdir(client: GfsClient, args: argparse.Namespace) -> int:
    normalized = [paths.normalize(p) for p in args.paths]
    for path in normalized:
        client.mkdir(path, parents=args.parents)
    return 0


def cmd_mv(client: GfsClient, args: argparse.Namespace) -> int:
    src = paths.normalize(args.src)
    dst = paths.normalize(args.dst)
    dst_is_dir = client.is_dir(dst)
    if args.dst.endswith("/") and not dst_is_dir:
        raise errors.NotADirectory(f"{dst}: no such directory")
    target = mv_target(src, dst, dst_is_dir)
    if target == src:
        raise errors.InvalidPath(f"{src} and {target} are the same path")
    client.rename(src, target)
    return 0


def cmd_rm(client: GfsClient, args: argparse.Namespace) -> int:
    normalized = [paths.normalize(p) for p in args.paths]
    if "/" in normalized:
        raise errors.InvalidPath("refusing to remove /")
    for path in normalized:
        if not args.recursive and client.is_dir(path):
            raise errors.IsADirectory(f"{path}: is a directory (use rm -r)")
        client.delete(path, recursive=args.recursive)
    return 0


def cmd_stat(client: GfsClient, args: argparse.Namespace) -> int:
    status, chunks = client.stat(args.path)
    if args.json:
        print(json.dumps(status_json(status, chunks), indent=2))
    else:
        for line in format_stat(status, chunks):
            print(line)
    return 0


def cmd_fsck(client: GfsClient, args: argparse.Namespace) -> int:
    report = client.fsck(args.path)
    if args.json:
        print(json.dumps(fsck_json(report), indent=2))
    else:
        cache: dict[str, int | None] = {}

        def replication_of(path: str) -> int | None:
            if path not in cache:
                try:
                    cache[path] = client.status(path).replication if len(cache) < 200 else None
                except errors.GfsError:
                    cache[path] = None
            return cache[path]

        for line in format_fsck(report, replication_of):
            print(line)
    return 1 if report.missing else 0


COMMANDS: dict[str, Callable[[GfsClient, argparse.Namespace], int]] = {
    "put": cmd_put,
    "get": cmd_get,
    "cat": cmd_cat,
    "ls": cmd_ls,
    "mkdir": cmd_mkdir,
    "mv": cmd_mv,
    "rm": cmd_rm,
    "stat": cmd_stat,
    "fsck": cmd_fsck,
}


def _setup_logging(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    if not debug:
        # kazoo reports connection trouble itself; our one error line says it better.
        logging.getLogger("kazoo").setLevel(logging.CRITICAL + 1)
        # grpc logs a traceback when a request stream fails; the error line says enough.
        logging.getLogger("grpc").setLevel(logging.CRITICAL + 1)
        logging.getLogger("gfs.client").setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "put" and len(args.paths) < 2:
        parser.error("put needs LOCAL... REMOTE (at least two arguments)")
    debug = bool(getattr(args, "debug", False))
    if not debug:
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    _setup_logging(debug)
    try:
        with _open_client(args) as client:
            return COMMANDS[args.command](client, args)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        _stderr(f"error: {exc}")
        return 2
    except errors.GfsError as exc:
        if debug:
            logger.exception("failed")
        _stderr(str(exc))
        return 1
    except BrokenPipeError:
        # The reader went away (gfs cat | head); stop quietly like cat does, and keep
        # Python's final flush of stdout from complaining.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        if debug:
            logger.exception("failed")
        where = f"{exc.filename}: " if exc.filename else ""
        _stderr(f"{where}{exc.strerror or exc}")
        return 1
    except KeyboardInterrupt:
        _stderr("interrupted")
        return 130
    except Exception as exc:
        import grpc

        if isinstance(exc, grpc.RpcError):
            from gfs.rpc import error_from_rpc

            if debug:
                logger.exception("failed")
            _stderr(str(error_from_rpc(exc)))
            return 1
        if debug:
            raise
        _stderr(f"internal error: {exc!r} (run with --debug for the traceback)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
