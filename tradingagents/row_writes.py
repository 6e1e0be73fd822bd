"""Model.save() for the rows written on every call (a run, a gateway call), without
building the same SQL every time.

`save()` compiles its INSERT or UPDATE anew for each row: for a run's twenty-odd
columns that is several times the cost of executing it. Here the statement is
compiled once per model, column list and database, and each call only converts its
values the way save() does (each field's pre_save and get_db_prep_save). Models with
pre_save/post_save receivers, or a database without INSERT ... RETURNING, go through
save() as before, so signals and primary keys behave the same either way.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from django.db import DatabaseError, connections, router
from django.db.models import Model
from django.db.models.signals import post_save, pre_save

from tradingagents import hot_reads

_VENDORS = ("postgresql", "sqlite")  # where the statements below are what save() sends
_lock = threading.Lock()
_statements: dict[tuple[Any, ...], tuple[str, tuple[Any, ...]]] = {}


def _plain(model: type[Model]) -> bool:
    return not pre_save.has_listeners(model) and not post_save.has_listeners(model)


def insert(obj: Model) -> None:
    """obj.save(force_insert=True)."""
    model = type(obj)
    alias = router.db_for_write(model, instance=obj)
    connection = connections[alias]
    if not _plain(model) or connection.vendor not in _VENDORS or not connection.features.can_return_columns_from_insert:
        obj.save(force_insert=True, using=alias)
        return
    sql, params = _insert_statement(obj, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    _inserted(obj, alias, row[0])


def insert_after_read(obj: Model, read_sql: str, read_params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """hot_reads.fetch_all(read_sql, read_params), then insert(obj): the rows read.

    On PostgreSQL (outside a transaction) both go in one round trip (a pipeline), and
    the INSERT commits without waiting for its flush to disk (synchronous_commit off,
    for this transaction only). That is only for a row the caller writes again before
    anyone relies on it: the next, durable commit on the server flushes this one too,
    and a crash before it loses the row as if it had never been started. A run inserted
    as `running` is such a row: its final UPDATE commits durably before it answers."""
    model = type(obj)
    alias = router.db_for_write(model, instance=obj)
    connection = connections[alias]
    if not _pipelines(connection) or not _plain(model):
        rows = hot_reads.fetch_all(read_sql, read_params)
        insert(obj)
        return rows
    sql, params = _insert_statement(obj, connection)
    row, rows = _write_and_read(connection, sql, params, read_sql, read_params, read_first=True)
    _inserted(obj, alias, row[0])
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


def update(obj: Model, update_fields: Sequence[str]) -> None:
    """obj.save(update_fields=update_fields) of a row that exists."""
    model = type(obj)
    alias = router.db_for_write(model, instance=obj)
    connection = connections[alias]
    if not _plain(model) or connection.vendor not in _VENDORS:
        obj.save(update_fields=update_fields, using=alias)
        return
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
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount == 0:  # the row is gone: as save() says it
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
    if not _pipelines(connection):
        claimed = update_returning(model, pk, where=where, values=values)
        return claimed, (hot_reads.fetch_all(read_sql, read_params) if claimed is not None else None)
    sql, params = _update_returning_statement(model, pk, where, values, connection)
    row, rows = _write_and_read(connection, sql, params, read_sql, read_params, read_first=False)
    if row is None:
        return None, None
    return hot_reads.instance(model, model._meta.concrete_fields, row, using=alias), rows


def _pipelines(connection: Any) -> bool:
    """Whether _write_and_read may pipeline on this connection: PostgreSQL with
    prepared hot reads, outside a transaction (its own BEGIN/COMMIT would end the
    caller's)."""
    return connection.vendor == "postgresql" and hot_reads.prepared() and not connection.in_atomic_block


def _write_and_read(
    connection: Any, sql: str, params: Sequence[Any], read_sql: str, read_params: Sequence[Any], *, read_first: bool,
) -> tuple[tuple[Any, ...] | None, list[tuple[Any, ...]]]:
    """(the row `sql` returns, the rows `read_sql` reads) in one round trip: a psycopg
    pipeline, the write in a transaction of its own that commits without waiting for
    its flush to disk (synchronous_commit off for it alone), the read prepared, before
    or after it."""
    import psycopg

    with connection.cursor() as django_cursor:  # opens the connection as for any query
        raw = django_cursor.cursor.connection
        try:
            with connection.wrap_database_errors:
                read, write, control = psycopg.Cursor(raw), psycopg.Cursor(raw), psycopg.Cursor(raw)
                with raw.pipeline():
                    if read_first:
                        read.execute(read_sql, read_params, prepare=True)
                    control.execute("BEGIN")
                    control.execute("SET LOCAL synchronous_commit TO OFF")
                    write.execute(sql, params)
                    control.execute("COMMIT")
                    if not read_first:
                        read.execute(read_sql, read_params, prepare=True)
                row, rows = write.fetchone(), read.fetchall()
        except BaseException:
            # An error aborts the rest of the pipeline, COMMIT included: end the transaction.
            if raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE and not raw.closed:
                raw.execute("ROLLBACK")
            raise
    if connection.queries_logged:
        logged = [{"sql": read_sql, "time": "0"}, {"sql": sql, "time": "0"}]
        connection.queries_log.extend(logged if read_first else logged[::-1])
    return row, rows


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
