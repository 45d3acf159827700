"""Small OS-process helpers for the launcher: is a pid still *our* process, ports, log tails.

A pid file alone cannot prove a process is ours: pids are reused. So a process counts as
alive only when /proc/PID/cmdline still carries the arguments we launched it with.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

POLL_SECONDS = 0.05


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def cmdline(pid: int) -> list[str] | None:
    """The argv of a live process, or None (gone, a zombie, or not ours to read)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    if not raw:  # zombies and kernel threads have an empty cmdline
        return None
    return raw.rstrip(b"\0").decode(errors="replace").split("\0")


def state(pid: int) -> str | None:
    """The one-letter kernel state (R, S, D, T, Z, ...) or None when the pid is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[0] if fields else None


def matches(pid: int | None, markers: Sequence[str]) -> bool:
    """True when pid is a live (non-zombie) process whose argv contains every marker."""
    if pid is None or pid <= 0:
        return False
    args = cmdline(pid)
    if args is None or state(pid) in (None, "Z", "X"):
        return False
    return all(marker in args for marker in markers)


def is_paused(pid: int | None) -> bool:
    return pid is not None and state(pid) in ("T", "t")


def signal_pid(pid: int, signum: int) -> bool:
    """Send a signal; False when the process is already gone."""
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return False
    except PermissionError as exc:
        raise OSError(errno.EPERM, f"not allowed to signal pid {pid}") from exc
    return True


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = POLL_SECONDS) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_free(host: str, port: int) -> bool:
    """True when host:port can be bound now (a listener, even with SO_REUSEPORT, blocks it)."""
    if port <= 0:
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR mirrors what servers set, so a TIME_WAIT leftover does not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def log_tail(path: Path, lines: int = 20, max_bytes: int = 64 * 1024) -> list[str]:
    """The last `lines` lines of a log file (empty when it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except OSError:
        return []
    text = data.decode(errors="replace").splitlines()
    return text[-lines:]


def last_log_line(path: Path) -> str:
    """The most telling last line of a log: the last one that is not a stack frame."""
    for line in reversed(log_tail(path, lines=200)):
        stripped = line.strip()
        if stripped and not stripped.startswith(("at ", "...", "File ", "^")):
            return stripped
    return ""
