"""Rows written with their SQL built once per database and shape.

Capture writes the same few rows for every lead (the raw submission, the lead, its event, its
consent). Through `bulk_create`, building each INSERT (an InsertQuery, its compiler, every value
checked for expressions, quoted and placed) cost several times what SQLite took to run it, and
most of that work gives the same text every time.
"""

import functools
from collections.abc import Sequence
from contextlib import nullcontext
from typing import TypeVar

from django.db import connections, models, transaction

M = TypeVar("M", bound=models.Model)


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
