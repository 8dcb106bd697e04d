"""Rows kept as columns: the parts of a report, read in several batches, joined."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["Part", "join_columns"]

Part = tuple[
    dict[str, list[Any]],
    int,
    list[tuple[type, str, str]],
    list[str],
    list[bool],
    list[tuple[str, ...]],
]
"""Rows read by a report: columns, count, errors, each row's folder, whether it may be
cached, and its names in order."""


def join_columns(
    parts: Iterable[tuple[dict[str, list[Any]], int]],
) -> tuple[dict[str, list[Any]], int]:
    """``(columns, rows)`` parts as one set of columns and the number of rows.

    A column missing from a part is ``None`` in its rows, so every column ends as long
    as the whole: parts read in parallel (or from the index) need not share columns.
    """
    columns: dict[str, list[Any]] = {}
    total = 0
    for part, n in parts:
        for name, values in part.items():
            column = columns.get(name)
            if column is None:
                column = columns[name] = [None] * total
            column.extend(values)
        total += n
        for column in columns.values():
            if len(column) < total:
                column.extend([None] * (total - len(column)))
    return columns, total
