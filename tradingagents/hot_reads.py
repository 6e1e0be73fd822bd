"""The reads every API and gateway call repeats, cheaper on PostgreSQL.

Django binds parameters on the client (psycopg's ClientCursor), so PostgreSQL plans
every statement anew. For the few multi-join reads that run on every call (a cached
route's or run target's freshness check, a token's permissions) planning cost more than
running them: 0.4 ms of a 0.5 ms read. `fetch_all` runs them as prepared statements,
planned once per connection. Elsewhere (SQLite, or DATABASE_PREPARED_HOT_READS off) it
is a plain cursor read. Either way the read shows in `connection.queries` like any
other, and database errors are Django's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.db import connection, connections
from django.db.models import Model


def prepared() -> bool:
    """Whether fetch_all prepares its statements on this connection."""
    return (
        connection.vendor == "postgresql"
        and settings.DATABASE_PREPARED_HOT_READS
        # psycopg ignores prepare=True on a connection that prepares nothing (Django's default).
        and connection.settings_dict.get("OPTIONS", {}).get("prepare_threshold") is not None
    )


def fetch_all(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Every row of one read, as tuples. `sql` uses %s placeholders."""
    if not prepared():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [tuple(row) for row in cursor.fetchall()]
    import psycopg

    # Django's cursor first: it opens the connection and refuses a broken transaction,
    # as for any query.
    with connection.cursor() as django_cursor:
        started = time.monotonic()
        with connection.wrap_database_errors, psycopg.Cursor(django_cursor.cursor.connection) as cursor:
            cursor.execute(sql, params, prepare=True)
            rows = cursor.fetchall()
    if connection.queries_logged:
        connection.queries_log.append({"sql": f"{sql} -- {list(params)!r}", "time": f"{time.monotonic() - started:.3f}"})
    return rows


async def fetch_all_on_loop(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """fetch_all(), from the caller's event loop, on a connection of it (loop_db): the
    same rows, prepared or not as there. Only where loop_db.available()."""
    import psycopg

    from tradingagents import loop_db

    started = time.monotonic()
    with connection.wrap_database_errors:
        async with loop_db.connection() as conn:
            if prepared():
                cursor = psycopg.AsyncCursor(conn)
                await cursor.execute(sql, params, prepare=True)
            else:
                cursor = psycopg.AsyncClientCursor(conn)
                await cursor.execute(sql, params)
            rows = await cursor.fetchall()
    if connection.queries_logged:
        connection.queries_log.append({"sql": f"{sql} -- {list(params)!r}", "time": f"{time.monotonic() - started:.3f}"})
    return [tuple(row) for row in rows]


def statement(name: str, build: Callable[[Callable[[str], str], Callable[[type[Model], str], str]], str]) -> str:
    """The SQL of a freshness check (a read of every row a cached value was built
    from), built once per database vendor and preparing mode: `build(quote, columns)`,
    where `columns(model, alias)` reads a row whole. With prepared reads (PostgreSQL)
    that is the md5 of the row's text, which changes with any column: the same
    comparison without sending and decoding the JSON and text."""
    fingerprints = prepared()
    key = (name, connection.vendor, fingerprints)
    sql = _statements.get(key)
    if sql is None:
        quote = connection.ops.quote_name

        def columns(model: type[Model], alias: str) -> str:
            if fingerprints:
                return f"md5({alias}::text)"
            return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)

        sql = _statements[key] = build(quote, columns)
    return sql


_statements: dict[tuple[str, str, bool], str] = {}


def instance(model: type[Model], fields: Sequence[Any], values: Sequence[Any], *, using: str = "default") -> Model:
    """The model instance a row of `fields`' columns reads as, converted the way the
    ORM converts what it reads (the backend's converters, then the field's)."""
    db = connections[using]
    key = (model, tuple(fields), using)
    plan = _conversions.get(key)
    if plan is None:
        columns = [field.get_col(model._meta.db_table) for field in fields]
        plan = _conversions[key] = (
            [f.attname for f in fields],
            [(column, (*db.ops.get_db_converters(column), *column.get_db_converters(db))) for column in columns],
        )
    attnames, converters = plan
    converted = []
    for (column, column_converters), value in zip(converters, values):
        for converter in column_converters:
            value = converter(value, column, db)
        converted.append(value)
    return model.from_db(using, attnames, converted)


# What instance() applies to each column, per model, columns and database alias (found once).
_conversions: dict[tuple[Any, ...], tuple[list[str], list[tuple[Any, tuple[Any, ...]]]]] = {}
