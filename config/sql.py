"""Helpers for set-based statements that every app shares."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

# A list of ids in one IN clause stays under every backend's parameter limit.
ID_CHUNK = 2000


def chunked(items: Sequence[T], size: int = ID_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
