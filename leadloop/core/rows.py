"""Rows read and written with their SQL built once per database and shape.

Capture asks the same few queries and writes the same few rows for every lead (the API key's
source, the lead and company lookups; the raw submission, the lead, its event, its consent).
Through the ORM, building each statement (a Query, its compiler, every value checked for
expressions, quoted and placed) and turning rows into instances cost several times what
SQLite took to run it, and most of that work gives the same result every time.
"""

import functools
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TypeVar

from django.db import connections, models, transaction
from django.db.models import QuerySet

M = TypeVar("M", bound=models.Model)


def select(model: type[M], build: Callable[..., QuerySet], **values: Sequence) -> list[M]:
    """What `build(model.objects, **values)` finds (the model's own columns only), with its SQL
    written once per database and number of values. The API key's lookup took 0.4 ms through
    the ORM on the benchmark machine, against 0.1 ms to run it; RawQuerySet, which wrote the
    SQL once, still spent 0.1 ms per query reading the cursor's columns back into instances."""
    alias = model.objects.db
    shape = tuple((name, len(given)) for name, given in values.items())
    query = _select(model, alias, build, shape)
    by_slot = {_slot(name, i): v for name, given in values.items() for i, v in enumerate(given)}
    params = [by_slot.get(p, p) if isinstance(p, str) else p for p in query.params]
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(query.sql, params)
        found = cursor.fetchall()
    return [
        model.from_db(alias, query.attnames, _converted(row, query.converters, connection))
        for row in found
    ]


def _converted(row: tuple, converters: tuple, connection) -> list:
    values = list(row)
    for position, functions, expression in converters:
        for function in functions:
            values[position] = function(values[position], expression, connection)
    return values


@dataclass(frozen=True)
class _Select:
    sql: str
    params: tuple
    attnames: list[str]
    converters: tuple  # (column position, functions, expression): text to datetime, JSON...


def _slot(name: str, index: int) -> str:
    return f"\0{name}{index}"


# Bounded: the importer's batches come in many sizes.
@functools.lru_cache(maxsize=128)
def _select(model: type[models.Model], alias: str, build: Callable, shape: tuple) -> _Select:
    slots = {name: [_slot(name, i) for i in range(count)] for name, count in shape}
    compiler = build(model.objects.using(alias), **slots).query.get_compiler(alias)
    sql, params = compiler.as_sql()
    if compiler.annotation_col_map or compiler.klass_info.get("related_klass_infos"):
        raise ValueError("rows.select reads one model's own columns, nothing joined or annotated")
    columns = [column for column, _, _ in compiler.select]
    # The converters depend on the columns and on the database's backend and settings, not
    # on which thread's connection looked them up, so one set serves every thread.
    converters = tuple(
        (position, functions, expression)
        for position, (functions, expression) in compiler.get_converters(columns).items()
    )
    return _Select(sql, tuple(params), [column.target.attname for column in columns], converters)


def insert(objs: list[M]) -> list[M]:
    """Insert new instances of one model (no primary key yet) and set their primary keys.

    What `bulk_create` does for plain rows: no save(), no signals, field defaults and `auto_now`
    applied, foreign keys taken from related objects saved since they were assigned. Models
    with a parent table are not supported."""
    if not objs:
        return objs
    model = type(objs[0])
    alias = model.objects.db
    connection = connections[alias]
    if not connection.features.can_return_rows_from_bulk_insert:  # SQLite before 3.35
        return model.objects.bulk_create(objs)
    fields = _insert_fields(model)
    size = max(1, connection.ops.bulk_batch_size(fields, objs))
    # Several statements must land together, as bulk_create's do.
    with transaction.atomic(using=alias, savepoint=False) if len(objs) > size else nullcontext():
        for start in range(0, len(objs), size):
            _insert_batch(objs[start : start + size], fields, connection)
    return objs


def _insert_batch(objs: Sequence[models.Model], fields: tuple, connection) -> None:
    params = []
    for obj in objs:
        if obj.pk is not None:
            raise ValueError(f"{obj!r} already has a primary key")
        obj._prepare_related_fields_for_save(operation_name="insert")
        params.extend(f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(type(objs[0]), connection.alias, len(objs)), params)
        keys = cursor.fetchall()
    for obj, (key,) in zip(objs, keys, strict=True):
        obj.pk = key
        obj._state.adding = False
        obj._state.db = connection.alias


@functools.cache
def _insert_fields(model: type[models.Model]) -> tuple:
    if model._meta.parents:
        raise ValueError(f"{model.__name__} has a parent table: use bulk_create")
    return tuple(
        f
        for f in model._meta.concrete_fields
        if not f.generated and not isinstance(f, models.AutoField)
    )


# Bounded: the importer's batches come in many sizes.
@functools.lru_cache(maxsize=128)
def _insert_sql(model: type[models.Model], alias: str, rows: int) -> str:
    ops = connections[alias].ops
    fields = _insert_fields(model)
    columns = ", ".join(ops.quote_name(f.column) for f in fields)
    row = f"({', '.join(['%s'] * len(fields))})"
    returning, _ = ops.return_insert_columns([model._meta.pk])
    table = ops.quote_name(model._meta.db_table)
    # Names quoted from the model's own metadata; every value is a placeholder.
    return f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * rows)} {returning}"  # noqa: S608
