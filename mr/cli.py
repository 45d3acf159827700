"""The `mr` command: `mr cluster ...` for the local cluster; `submit`, `jobs`, `status`,
`kill` for jobs; `run-local` to debug a job in one process.

Errors are one line on stderr (`mr: ...`) and exit 1; usage errors exit 2; `--debug` shows
the traceback. Every command that prints a table takes `--json`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gfs import clusterdir
from gfs.config import load_config
from gfs.errors import GfsError
from mr.errors import MrError, UsageError, one_line

logger = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """--cluster and --debug, accepted before or after the subcommand."""
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--cluster",
        metavar="DIR",
        default=default,
        help="cluster run directory (default: $MR_CLUSTER, else [cluster] dir of --config, "
        "else ./.cluster)",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="show tracebacks and debug logs",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mr", description="MapReduce on a GFS-like store")
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    cluster = commands.add_parser("cluster", help="run a local cluster")
    _global_options(cluster, suppress=True)
    actions = cluster.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        _global_options(sub, suppress=True)
        sub.set_defaults(handler=handler)
        return sub

    start = action(
        "start", cmd_start, "start every process, detached; return when the cluster is healthy"
    )
    start.add_argument("--config", metavar="FILE", help="cluster.toml (default: DIR's own)")
    action("stop", cmd_stop, "stop every process; all data stays")
    status = action("status", cmd_status, "one row per process")
    status.add_argument("--json", action="store_true", help="print one JSON document")
    kill = action("kill", cmd_kill, "send one process a signal")
    kill.add_argument("name", metavar="NAME", help="process name, e.g. datanode-1")
    kill.add_argument(
        "-s",
        "--signal",
        default="KILL",
        type=str.upper,
        choices=["KILL", "TERM", "STOP", "CONT"],
        help="signal to send (default KILL)",
    )
    restart = action("restart", cmd_restart, "start one process again with its own data")
    restart.add_argument("name", metavar="NAME", help="process name, e.g. namenode")
    from mr import jobcli

    jobcli.add_commands(commands, lambda sub: _global_options(sub, suppress=True))
    run_local = commands.add_parser(
        "run-local",
        help="run a job in this one process on local files (for debugging)",
        add_help=False,
    )
    run_local.add_argument("args", nargs=argparse.REMAINDER)
    run_local.set_defaults(handler=cmd_run_local, debug=False)
    return parser


def cmd_run_local(ns: argparse.Namespace) -> int:
    from mr.local import main as run_local_main

    return int(run_local_main(ns.args))


def cluster_path(ns: argparse.Namespace) -> Path:
    """--cluster, else $MR_CLUSTER, else the [cluster] dir of --config, else ./.cluster."""
    if getattr(ns, "cluster", None):
        return Path(ns.cluster)
    if os.environ.get("MR_CLUSTER"):
        return Path(os.environ["MR_CLUSTER"])
    config_file = getattr(ns, "config", None)
    if config_file:
        return Path(load_config(config_file).cluster.dir)
    return clusterdir.resolve(None)


def _cluster(ns: argparse.Namespace) -> Any:
    from mr.cluster import Cluster

    return Cluster(cluster_path(ns))


def cmd_start(ns: argparse.Namespace) -> int:
    print(_cluster(ns).start(ns.config))
    return 0


def cmd_stop(ns: argparse.Namespace) -> int:
    print(_cluster(ns).stop())
    return 0


def cmd_status(ns: argparse.Namespace) -> int:
    rows = _cluster(ns).status()
    if ns.json:
        print(json.dumps([row.to_json() for row in rows], indent=2))
        return 0
    table = [
        {
            "NAME": row.name,
            "ROLE": row.role,
            "PID": "-" if row.pid is None else str(row.pid),
            "ADDRESS": row.address or "-",
            "ALIVE": ("yes (paused)" if row.state == "paused" else "yes") if row.alive else "no",
        }
        for row in rows
    ]
    print_table(table, ["NAME", "ROLE", "PID", "ADDRESS", "ALIVE"])
    return 0


def cmd_kill(ns: argparse.Namespace) -> int:
    print(_cluster(ns).kill(ns.name, ns.signal))
    return 0


def cmd_restart(ns: argparse.Namespace) -> int:
    print(_cluster(ns).restart(ns.name))
    return 0


def print_table(rows: Sequence[dict[str, str]], columns: Sequence[str]) -> None:
    """Aligned columns; the last one is not padded."""
    widths = {c: max([len(c)] + [len(row.get(c, "")) for row in rows]) for c in columns}
    for values in [{c: c for c in columns}, *rows]:
        cells = [values.get(c, "").ljust(widths[c]) for c in columns]
        print("  ".join(cells).rstrip())


def _command_index(args: list[str]) -> int | None:
    """Where the command is in `args`, past the global options (--cluster DIR, --debug)."""
    i = 0
    while i < len(args):
        if args[i] == "--cluster":
            i += 2
        elif args[i].startswith("--cluster=") or args[i] == "--debug":
            i += 1
        elif args[i].startswith("-"):
            return None  # not ours: argparse explains
        else:
            return i
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    command = _command_index(args)
    if command is not None and args[command] == "run-local":
        # run-local has its own parser (its options, --help included, are all its own);
        # it needs no cluster, so global options before it are ignored.
        return cmd_run_local(argparse.Namespace(args=args[command + 1 :]))
    parser = build_parser()
    ns = parser.parse_args(args)
    logging.basicConfig(
        level=logging.DEBUG if ns.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not ns.debug:  # kazoo reports routine disconnects as warnings
        logging.getLogger("kazoo").setLevel(logging.ERROR)
    try:
        return int(ns.handler(ns))
    except KeyboardInterrupt:
        print("mr: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`mr status ... | head`): stop quietly, as cat does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except UsageError as exc:
        print(f"mr: {one_line(exc)}", file=sys.stderr)
        return 2
    except (GfsError, MrError, OSError) as exc:
        if ns.debug:
            traceback.print_exc()
        print(f"mr: {one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line unless --debug
        if ns.debug:
            traceback.print_exc()
        print(f"mr: internal error: {type(exc).__name__}: {one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
