"""Validation and manipulation of absolute GFS paths (pure)."""

from __future__ import annotations

from gfs.errors import InvalidPath


def normalize(path: str) -> str:
    """Return the canonical form of an absolute path; raise InvalidPath otherwise.

    A trailing "/" is allowed; ".", "..", empty inner components and NUL are not.
    """
    if not isinstance(path, str) or not path:
        raise InvalidPath("path is empty")
    if "\0" in path:
        raise InvalidPath(f"path contains NUL: {path!r}")
    if not path.startswith("/"):
        raise InvalidPath(f"path must be absolute (start with /): {path}")
    if path == "/":
        return "/"
    body = path[1:-1] if path.endswith("/") else path[1:]
    parts = body.split("/")
    for part in parts:
        if part == "":
            raise InvalidPath(f"path has an empty component: {path}")
        if part in (".", ".."):
            raise InvalidPath(f"path may not contain '{part}': {path}")
    return "/" + "/".join(parts)


def split(path: str) -> list[str]:
    """Components of a normalized path; [] for the root."""
    return [] if path == "/" else path[1:].split("/")


def parent(path: str) -> str:
    if path == "/":
        return "/"
    head = path.rsplit("/", 1)[0]
    return head or "/"


def basename(path: str) -> str:
    return path.rsplit("/", 1)[1] if path != "/" else ""


def join(directory: str, name: str) -> str:
    return directory.rstrip("/") + "/" + name


def is_ancestor(ancestor: str, path: str) -> bool:
    """True when `path` lies strictly inside `ancestor`."""
    if ancestor == "/":
        return path != "/"
    return path.startswith(ancestor + "/")
