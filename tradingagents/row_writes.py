"""Model.save() for the rows written on every call (a run, a gateway call), without
building the same SQL every time.

`save()` compiles its INSERT or UPDATE anew for each row: for a run's twenty-odd
columns that is several times the cost of executing it. Here the statement is
compiled once per model, column list and database, and each call only converts its
values the way save() does (each field's pre_save and get_db_prep_save). Models with
pre_save/post_save receivers, or a database without INSERT ... RETURNING, go through
save() as before, so signals and primary keys behave the same either way.

On PostgreSQL, outside a transaction, a write with its read (insert_after_read,
claim_then_read) and a result row are each one message to the server, with statements
prepared once per connection (_write_and_read). The *_on_loop functions send the same
messages from an async caller's event loop, on its connections (tradingagents.loop_db).

A result row (a finished run, a gateway call: what the caller answers from) commits on
PostgreSQL without waiting for its flush to disk unless DATABASE_DURABLE_RESULTS is
set: the guarantee SQLite's WAL with synchronous=NORMAL gives every commit. The row is
visible at once and survives any crash of this application; only a crash of the
database server (or its machine) in the next few hundred milliseconds can lose it.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import weakref
from collections.abc import Sequence
from typing import Any, NamedTuple

from django.conf import settings
from django.db import DatabaseError, connections, router
from django.db.models import Model
from django.db.models.signals import post_save, pre_save

from tradingagents import hot_reads, loop_db

_VENDORS = ("postgresql", "sqlite")  # where the statements below are what save() sends
_lock = threading.Lock()
_statements: dict[tuple[Any, ...], tuple[str, tuple[Any, ...]]] = {}


def _plain(model: type[Model]) -> bool:
    return not pre_save.has_listeners(model) and not post_save.has_listeners(model)


def insert(obj: Model, *, result: bool = False) -> None:
    """obj.save(force_insert=True); a `result` row commits as the module says."""
    model = type(obj)
    alias = router.db_for_write(model, instance=obj)
    connection = connections[alias]
    if not _plain(model) or connection.vendor not in _VENDORS or not connection.features.can_return_columns_from_insert:
        obj.save(force_insert=True, using=alias)
        return
    sql, params = _insert_statement(obj, connection)
    if result and _unflushed_results(connection):
        row = _write_and_read(connection, sql, params)[0].row
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    _inserted(obj, alias, row[0])


def insert_after_read(obj: Model, read_sql: str, read_params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """hot_reads.fetch_all(read_sql, read_params), then insert(obj): the rows read.

    On PostgreSQL (outside a transaction) both go in one message (_write_and_read), and
    the INSERT commits without waiting for its flush to disk (synchronous_commit off,
    for this transaction only). That is only for a row the caller writes again before
    anyone relies on it: any later durable commit on the server flushes this one too,
    and a crash of the server before it loses the row as if it had never been started.
    A run inserted as `running` is such a row: its final UPDATE, a result row, follows."""
    model = type(obj)
    alias = router.db_for_write(model, instance=obj)
    connection = connections[alias]
    if not _batches(connection) or not _plain(model):
        rows = hot_reads.fetch_all(read_sql, read_params)
        insert(obj)
        return rows
    sql, params = _insert_statement(obj, connection)
    written, rows = _write_and_read(connection, sql, params, read_sql, read_params, read_first=True)
    _inserted(obj, alias, written.row[0])
    return rows


def _insert_statement(obj: Model, connection: Any) -> tuple[str, list[Any]]:
    model = type(obj)
    meta = model._meta
    pk = meta.pk
    key = ("insert", model, connection.vendor)
    statement = _statements.get(key)
    if statement is None:
        fields = tuple(f for f in meta.local_concrete_fields if f is not pk and not getattr(f, "generated", False))
        quote = connection.ops.quote_name
        returning, _ = connection.ops.return_insert_columns([pk])
        sql = (
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES ({', '.join(_placeholder(f, connection) for f in fields)}) {returning}"
        )
        statement = _remember(key, sql, fields)
    sql, fields = statement
    return sql, [f.get_db_prep_save(f.pre_save(obj, True), connection=connection) for f in fields]


def _inserted(obj: Model, alias: str, pk_value: Any) -> None:
    pk = obj._meta.pk
    setattr(obj, pk.attname, pk.to_python(pk_value))
    obj._state.adding = False
    obj._state.db = alias


def update(obj: Model, update_fields: Sequence[str], *, result: bool = False) -> None:
    """obj.save(update_fields=update_fields) of a row that exists; a `result` row
    commits as the module says."""
    model = type(obj)
    alias = router.db_for_write(model, instance=obj)
    connection = connections[alias]
    if not _plain(model) or connection.vendor not in _VENDORS:
        obj.save(update_fields=update_fields, using=alias)
        return
    sql, params = _update_statement(obj, update_fields, connection)
    if result and _unflushed_results(connection):
        updated = _write_and_read(connection, sql, params)[0].rowcount
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            updated = cursor.rowcount
    _updated(updated)


def _update_statement(obj: Model, update_fields: Sequence[str], connection: Any) -> tuple[str, list[Any]]:
    model = type(obj)
    meta = model._meta
    key = ("update", model, connection.vendor, tuple(update_fields))
    statement = _statements.get(key)
    if statement is None:
        fields = tuple(meta.get_field(name) for name in update_fields)
        quote = connection.ops.quote_name
        sql = (
            f"UPDATE {quote(meta.db_table)} SET "
            f"{', '.join(f'{quote(f.column)} = {_placeholder(f, connection)}' for f in fields)} "
            f"WHERE {quote(meta.pk.column)} = %s"
        )
        statement = _remember(key, sql, fields)
    sql, fields = statement
    params = [f.get_db_prep_save(f.pre_save(obj, False), connection=connection) for f in fields]
    params.append(meta.pk.get_db_prep_value(obj.pk, connection))
    return sql, params


def _updated(rowcount: int) -> None:
    if rowcount == 0:  # the row is gone: as save() says it
        raise DatabaseError("Save with update_fields did not affect any rows.")


def _placeholder(field: Any, connection: Any) -> str:
    # As SQLInsertCompiler/SQLUpdateCompiler: a field may wrap its value (BinaryField).
    return field.get_placeholder(None, None, connection) if hasattr(field, "get_placeholder") else "%s"


def _remember(key: tuple[Any, ...], sql: str, fields: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    with _lock:
        _statements[key] = (sql, fields)
    return sql, fields


def update_returning(model: type[Model], pk: Any, *, where: dict[str, Any], values: dict[str, Any]) -> Model | None:
    """Set `values` on the row `pk` if its columns still hold `where`, and return the
    row as it is then (a model instance, like QuerySet.get()), or None when no row
    matched: a claim in one statement instead of an UPDATE and a SELECT."""
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor not in _VENDORS or not connection.features.can_return_columns_from_insert:
        if not model._default_manager.using(alias).filter(pk=pk, **where).update(**values):
            return None
        return model._default_manager.using(alias).get(pk=pk)
    sql, params = _update_returning_statement(model, pk, where, values, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    return hot_reads.instance(model, model._meta.concrete_fields, row, using=alias)


def claim_then_read(
    model: type[Model], pk: Any, *, where: dict[str, Any], values: dict[str, Any], read_sql: str, read_params: Sequence[Any],
) -> tuple[Model | None, list[tuple[Any, ...]] | None]:
    """update_returning(), then hot_reads.fetch_all(read_sql, read_params): (the row,
    the rows read), the read skipped (None) when nothing was claimed.

    On PostgreSQL (outside a transaction) both go in one round trip, and the claim
    commits without waiting for its flush to disk, as in insert_after_read: a claim lost
    to a crash leaves the row as it was before (a run then stays queued, and the sweep
    sends it again)."""
    alias = router.db_for_write(model)
    connection = connections[alias]
    if not _batches(connection):
        claimed = update_returning(model, pk, where=where, values=values)
        return claimed, (hot_reads.fetch_all(read_sql, read_params) if claimed is not None else None)
    sql, params = _update_returning_statement(model, pk, where, values, connection)
    written, rows = _write_and_read(connection, sql, params, read_sql, read_params)
    row = written.row
    if row is None:
        return None, None
    return hot_reads.instance(model, model._meta.concrete_fields, row, using=alias), rows


def _batches(connection: Any) -> bool:
    """Whether _write_and_read may batch on this connection: PostgreSQL, outside a
    transaction (in one, the batch's commit setting would apply to the caller's)."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _unflushed_results(connection: Any) -> bool:
    """Whether a result row may commit without waiting for its flush: a batch, and
    DATABASE_DURABLE_RESULTS off."""
    return _batches(connection) and not settings.DATABASE_DURABLE_RESULTS


class _Written(NamedTuple):
    rowcount: int
    row: tuple[Any, ...] | None  # the first row the write returned


_UNFLUSHED = "SET LOCAL synchronous_commit TO OFF"
# The statements each connection has prepared (PREPARE, by name), kept with the connection;
# None for a connection whose server forgot them once.
_prepared: weakref.WeakKeyDictionary[Any, set[str] | None] = weakref.WeakKeyDictionary()


def _write_and_read(
    connection: Any, sql: str, params: Sequence[Any], read_sql: str | None = None, read_params: Sequence[Any] = (),
    *, read_first: bool = False,
) -> tuple[_Written, list[tuple[Any, ...]]]:
    """(what the write `sql` did, the rows `read_sql` reads) from one message to the
    server and one answer: a simple query of several statements, which PostgreSQL runs
    as one transaction, that commits without waiting for its flush to disk
    (synchronous_commit off for it alone). The read, if any, goes before or after the
    write. Both are statements prepared once per connection when hot reads are prepared.
    (A psycopg pipeline sends each statement as it is queued: the server then wakes up
    for each, which cost twice as much as this.)"""
    import psycopg

    parts = _parts(sql, params, read_sql, read_params, read_first)
    with connection.cursor() as django_cursor:  # opens the connection as for any query
        raw = django_cursor.cursor.connection
        with connection.wrap_database_errors:
            cursor = psycopg.ClientCursor(raw)  # binds on the client: several statements are allowed
            try:
                _send(cursor, raw, parts)
            except psycopg.errors.InvalidSqlStatementName:
                # The server forgot what this connection prepared (a pooler's DISCARD ALL,
                # or a pooler in transaction mode, which sends each transaction where it
                # likes): nothing was done, since the batch is one transaction. This
                # connection's batches no longer prepare.
                _prepared[raw] = None
                _send(cursor, raw, parts)
            cursor.nextset()  # past the SET
            results = []
            for _ in parts:
                results.append((cursor.rowcount, cursor.fetchall() if cursor.pgresult.ntuples else []))
                cursor.nextset()
    return _answer(connection, parts, results, read_sql is not None, read_first)


def _parts(
    sql: str, params: Sequence[Any], read_sql: str | None, read_params: Sequence[Any], read_first: bool
) -> list[tuple[str, Sequence[Any]]]:
    """The statements of a batch, in order: the write, and the read before or after it."""
    if read_sql is None:
        return [(sql, params)]
    return [(read_sql, read_params), (sql, params)] if read_first else [(sql, params), (read_sql, read_params)]


def _answer(
    connection: Any, parts: list[tuple[str, Sequence[Any]]], results: list[tuple[int, list[Any]]], read: bool,
    read_first: bool,
) -> tuple[_Written, list[tuple[Any, ...]]]:
    """_write_and_read's answer from each part's (rowcount, rows); logged as Django logs queries."""
    if connection.queries_logged:
        connection.queries_log.extend({"sql": part[0], "time": "0"} for part in parts)
    write_at = 1 if read and read_first else 0
    rowcount, returned = results[write_at]
    rows = results[1 - write_at][1] if read else []
    return _Written(rowcount, returned[0] if returned else None), rows


def _send(cursor: Any, raw: Any, parts: list[tuple[str, Sequence[Any]]]) -> None:
    """The batch: the commit setting, then each (sql, params) of `parts`, as one query."""
    query, values, to_prepare = _batch(raw, parts)
    for name, prepare in to_prepare:
        raw.execute(prepare)
        _prepared[raw].add(name)
    cursor.execute(query, values)


def _batch(
    raw: Any, parts: list[tuple[str, Sequence[Any]]], *, unflushed: bool = True
) -> tuple[str, list[Any], list[tuple[str, str]]]:
    """(the query, its values, the (name, PREPARE) to run on `raw` first) of a batch,
    which commits without waiting for its flush when `unflushed`.
    Each statement is EXECUTE of one this connection prepared, or itself when hot
    reads are not prepared or this connection's server forgot them once (a pooler).
    Its parameters (%s) take the types the statement gives them: the columns they are
    compared with or stored in, or casts."""
    prepared = _prepared.setdefault(raw, set())
    preparing = prepared is not None and hot_reads.prepared()
    statements, values, to_prepare = [_UNFLUSHED] if unflushed else [], [], []
    for sql, params in parts:
        if preparing:
            name, prepare, sql = _as_prepared(sql)
            if name not in prepared:
                to_prepare.append((name, prepare))
        statements.append(sql)
        values.extend(params)
    return "; ".join(statements), values, to_prepare


@functools.lru_cache(maxsize=256)
def _as_prepared(sql: str) -> tuple[str, str, str]:
    """(name, PREPARE, EXECUTE with %s placeholders) of `sql`."""
    count = sql.count("%s")
    name = "ta_" + hashlib.md5(sql.encode()).hexdigest()[:20]
    numbered = "".join(part + (f"${i}" if i <= count else "") for i, part in enumerate(sql.split("%s"), start=1))
    arguments = f"({', '.join(['%s'] * count)})" if count else ""
    return name, f"PREPARE {name} AS {numbered}", f"EXECUTE {name}{arguments}"


def _update_returning_statement(
    model: type[Model], pk: Any, where: dict[str, Any], values: dict[str, Any], connection: Any
) -> tuple[str, list[Any]]:
    meta = model._meta
    key = ("update_returning", model, connection.vendor, tuple(values), tuple(where))
    statement = _statements.get(key)
    if statement is None:
        quote = connection.ops.quote_name
        set_fields = [meta.get_field(name) for name in values]
        where_fields = [meta.get_field(name) for name in where]
        sql = (
            f"UPDATE {quote(meta.db_table)} SET "
            f"{', '.join(f'{quote(f.column)} = {_placeholder(f, connection)}' for f in set_fields)} "
            f"WHERE {quote(meta.pk.column)} = %s"
            f"{''.join(f' AND {quote(f.column)} = %s' for f in where_fields)} "
            f"RETURNING {', '.join(quote(f.column) for f in meta.concrete_fields)}"
        )
        statement = _remember(key, sql, (tuple(set_fields), tuple(where_fields)))
    sql, (set_fields, where_fields) = statement
    params = [f.get_db_prep_save(value, connection=connection) for f, value in zip(set_fields, values.values())]
    params.append(meta.pk.get_db_prep_value(pk, connection))
    params.extend(f.get_db_prep_value(value, connection) for f, value in zip(where_fields, where.values()))
    return sql, params


# On the server's event loop (tradingagents.loop_db) --------------------------------


def on_loop(model: type[Model]) -> bool:
    """Whether an async caller may write `model`'s rows with the *_on_loop functions
    below: the statements they send are what insert/update send (no signals to send),
    and loop_db has connections for its database."""
    return _plain(model) and loop_db.available(router.db_for_write(model))


async def insert_on_loop(obj: Model, *, result: bool = False) -> None:
    """insert(), from the caller's event loop."""
    alias = router.db_for_write(type(obj), instance=obj)
    sql, params = _insert_statement(obj, connections[alias])
    unflushed = result and not settings.DATABASE_DURABLE_RESULTS
    _inserted(obj, alias, (await _write_and_read_on_loop(alias, sql, params, unflushed=unflushed))[0].row[0])


async def insert_after_read_on_loop(
    obj: Model, read_sql: str, read_params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """insert_after_read(), from the caller's event loop: one message, as there."""
    alias = router.db_for_write(type(obj), instance=obj)
    sql, params = _insert_statement(obj, connections[alias])
    written, rows = await _write_and_read_on_loop(alias, sql, params, read_sql, read_params, read_first=True)
    _inserted(obj, alias, written.row[0])
    return rows


async def update_on_loop(obj: Model, update_fields: Sequence[str], *, result: bool = False) -> None:
    """update(), from the caller's event loop (a `result` row commits as the module
    says; any other, and every row with DATABASE_DURABLE_RESULTS, waits for its flush)."""
    alias = router.db_for_write(type(obj), instance=obj)
    sql, params = _update_statement(obj, update_fields, connections[alias])
    unflushed = result and not settings.DATABASE_DURABLE_RESULTS
    _updated((await _write_and_read_on_loop(alias, sql, params, unflushed=unflushed))[0].rowcount)


async def delete_on_loop(obj: Model) -> None:
    """The row of `obj` deleted, from the caller's event loop, as QuerySet.delete() of a
    row nothing refers to yet (one that this caller has just inserted)."""
    alias = router.db_for_write(type(obj), instance=obj)
    connection = connections[alias]
    meta = type(obj)._meta
    quote = connection.ops.quote_name
    sql = f"DELETE FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s"
    await _write_and_read_on_loop(alias, sql, [meta.pk.get_db_prep_value(obj.pk, connection)], unflushed=False)


async def _write_and_read_on_loop(
    alias: str, sql: str, params: Sequence[Any], read_sql: str | None = None, read_params: Sequence[Any] = (),
    *, read_first: bool = False, unflushed: bool = True,
) -> tuple[_Written, list[tuple[Any, ...]]]:
    """_write_and_read() on a connection of the caller's loop (loop_db)."""
    import psycopg

    parts = _parts(sql, params, read_sql, read_params, read_first)
    connection = connections[alias]
    with connection.wrap_database_errors:
        async with loop_db.connection(alias) as conn:
            cursor = psycopg.AsyncClientCursor(conn)
            try:
                await _send_on_loop(cursor, conn, parts, unflushed)
            except psycopg.errors.InvalidSqlStatementName:  # as in _write_and_read
                _prepared[conn] = None
                await _send_on_loop(cursor, conn, parts, unflushed)
            if unflushed:
                cursor.nextset()  # past the SET
            results = []
            for _ in parts:
                results.append((cursor.rowcount, await cursor.fetchall() if cursor.pgresult.ntuples else []))
                cursor.nextset()
    return _answer(connection, parts, results, read_sql is not None, read_first)


async def _send_on_loop(cursor: Any, conn: Any, parts: list[tuple[str, Sequence[Any]]], unflushed: bool) -> None:
    query, values, to_prepare = _batch(conn, parts, unflushed=unflushed)
    for name, prepare in to_prepare:
        await conn.execute(prepare)
        _prepared[conn].add(name)
    await cursor.execute(query, values)
