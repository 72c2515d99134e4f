"""Helpers for set-based statements that every app shares."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

T = TypeVar("T")

# A list of ids in one IN clause stays under every backend's parameter limit.
ID_CHUNK = 2000


def chunked(items: Sequence[T], size: int = ID_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Statements over a scratch table ------------------------------------------------------------
#
# Set-based work that several modules share (the backorder fill, the ETA walk) computes its
# rows once into a temporary table of the connection, which each owner's statement then reads.
# The SQL here and in those statements is the common subset of PostgreSQL and SQLite, so
# `make run`'s SQLite runs the same code as production.


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def table(model: type[Model]) -> str:
    """The quoted table name of `model`."""
    return quote(model._meta.db_table)


def execute(sql: str, params: Sequence[Any] = ()) -> int:
    """Run one statement; return the rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def fetch(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


@contextmanager
def scratch_table(name: str, select: str, params: Sequence[object] = ()) -> Iterator[str]:
    """A temporary table of this connection holding the rows of `select`, dropped on exit.

    Must be used inside a transaction: a rollback takes the table with it (DDL is
    transactional in both databases), so it is dropped only when the block succeeds, and on
    PostgreSQL at commit in any case.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("A scratch table lives inside a transaction.")
    quoted = quote(name)
    execute(f"DROP TABLE IF EXISTS {quoted}")
    if connection.vendor == "postgresql":
        execute(f"CREATE TEMPORARY TABLE {quoted} ON COMMIT DROP AS {select}", params)
    else:
        execute(f"CREATE TEMPORARY TABLE {quoted} AS {select}", params)
    # No autovacuum visits a temporary table: without statistics the planner guesses its
    # size, and joins against it go badly wrong on long queues.
    execute(f"ANALYZE {quoted}")
    yield quoted
    execute(f"DROP TABLE {quoted}")


def rows_union(
    columns: Sequence[str], rows: Sequence[Sequence[object]]
) -> tuple[str, list[object]]:
    """A derived table of a few literal rows: `SELECT ... UNION ALL SELECT ...` (portable,
    where `VALUES` lists with column names are not). `rows` must not be empty."""
    one = "SELECT " + ", ".join(f"%s AS {quote(column)}" for column in columns)
    return " UNION ALL ".join([one] * len(rows)), [value for row in rows for value in row]


def smaller(a: str, b: str) -> str:
    return f"(CASE WHEN {a} < {b} THEN {a} ELSE {b} END)"


def larger(a: str, b: str) -> str:
    return f"(CASE WHEN {a} > {b} THEN {a} ELSE {b} END)"


def date_placeholder() -> str:
    """A placeholder for a `date_param`, typed as a date even when the value is None."""
    return "CAST(%s AS date)" if connection.vendor == "postgresql" else "%s"


def date_param(value: date | None) -> str | None:
    """A date as a parameter both databases read the same way: its ISO form."""
    return None if value is None else value.isoformat()


def differ(a: str, b: str) -> str:
    """True where `a` and `b` differ, NULL counting as a value of its own."""
    return f"({a} <> {b} OR ({a} IS NULL) <> ({b} IS NULL))"


def days_before(column: str, days: int) -> str:
    """The date `days` days before the date in `column`."""
    days = int(days)
    if connection.vendor == "postgresql":
        return f"({column} - {days})"
    return f"date({column}, '-{days} days')"


def json_lines(
    fields: Mapping[str, str], order_by: str, extra: Mapping[str, str] | None = None
) -> str:
    """An aggregate building `{"lines": [{field: value, ...}, ...], **extra}` for each
    group, the objects ordered by `order_by` (on SQLite, which cannot order inside an
    aggregate, in the order the rows come): what outbox rows store in `data`."""
    pairs = ", ".join(f"'{key}', {value}" for key, value in fields.items())
    head = "".join(f"'{key}', {value}, " for key, value in (extra or {}).items())
    if connection.vendor == "postgresql":
        return (
            f"jsonb_build_object({head}'lines', jsonb_agg(jsonb_build_object({pairs})"
            f" ORDER BY {order_by}))"
        )
    return f"json_object({head}'lines', json_group_array(json_object({pairs})))"
