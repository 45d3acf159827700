from __future__ import annotations

import pytest

from gfs import paths
from gfs.errors import InvalidPath


@pytest.mark.parametrize(
    ("raw", "norm"), [("/", "/"), ("/a", "/a"), ("/a/b/", "/a/b"), ("/a b/c", "/a b/c")]
)
def test_normalize(raw: str, norm: str) -> None:
    assert paths.normalize(raw) == norm


@pytest.mark.parametrize("raw", ["", "a/b", "/a/../b", "/a/./b", "/..", "/a//b", "/a\0b", "//"])
def test_rejected(raw: str) -> None:
    with pytest.raises(InvalidPath):
        paths.normalize(raw)


def test_helpers() -> None:
    assert paths.parent("/a/b") == "/a" and paths.parent("/a") == "/"
    assert paths.basename("/a/b") == "b" and paths.join("/", "x") == "/x"
    assert paths.is_ancestor("/a", "/a/b") and not paths.is_ancestor("/a", "/ab")
    assert paths.is_ancestor("/", "/a") and not paths.is_ancestor("/a", "/a")
