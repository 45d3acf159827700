"""Chunk handles are 64-bit integers on the wire, 16 hex digits for people and files."""

from __future__ import annotations


def format_handle(handle: int) -> str:
    return f"{handle:016x}"


def parse_handle(text: str) -> int:
    return int(text, 16)
