"""Turning one received page (Arrow table or list of dicts) into a typed, de-duplicated Arrow table.

A page's columns are keyed by platform column (the mapping from Salesforce names is the caller's),
plus `salesforce_id`, `sf_last_modified` and/or `sf_system_modstamp`, and optionally `deleted`.
Values are cast to the column types: strings are parsed (Salesforce datetimes such as
`2024-05-01T12:30:00.000+0000`, `true`/`false`, numbers); an empty string in a non-text column is NULL;
naive Arrow timestamps are taken as UTC; NUL characters are removed from text. Columns that are not received (send-only or off) are dropped,
so they are never overwritten; a column the section does not map is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from crm_sync.platform.types import ARROW_TIMESTAMP, arrow_type
from crm_sync.settings import Section

MODSTAMP_COLUMNS = {"LastModifiedDate": "sf_last_modified", "SystemModstamp": "sf_system_modstamp"}
META_TYPES: dict[str, pa.DataType] = {
    "salesforce_id": pa.string(),
    "sf_last_modified": ARROW_TIMESTAMP,
    "sf_system_modstamp": ARROW_TIMESTAMP,
    "deleted": pa.bool_(),
}

Rows = pa.Table | Sequence[Mapping[str, Any]]


def normalize_page(section: Section, rows: Rows, modstamp_field: str) -> pa.Table:
    """The page as an Arrow table: meta columns, then received columns in section order, one row per Id
    (the one with the newest active modstamp), `deleted` filled with False."""
    if not isinstance(rows, pa.Table) and len(rows) == 0:
        return pa.table({name: pa.array([], type_) for name, type_ in META_TYPES.items()})
    targets = dict(META_TYPES)
    received = {f.column: arrow_type(f.type) for f in section.receive_fields()}
    targets.update(received)
    source = rows if isinstance(rows, pa.Table) else _from_dicts(rows, targets)
    mapped = set(section.columns)
    unknown = [n for n in source.column_names if n not in META_TYPES and n not in mapped]
    if unknown:
        raise ValueError(f"section {section.object}: the page has columns the section does not map: "
                         f"{', '.join(unknown)}")
    active = MODSTAMP_COLUMNS[modstamp_field]
    for required in ("salesforce_id", active):
        if required not in source.column_names:
            raise ValueError(f"section {section.object}: the page has no {required!r} column")

    names = [n for n in targets if n in source.column_names]
    arrays = [_without_nul(_cast(source.column(n), targets[n], n)) for n in names]
    table = pa.table(dict(zip(names, arrays, strict=True)))
    if "deleted" in names:
        table = table.set_column(names.index("deleted"), "deleted", pc.fill_null(table["deleted"], False))
    else:
        table = table.append_column("deleted", pa.chunked_array([pa.array([False] * table.num_rows, pa.bool_())]))
    for required in ("salesforce_id", active):
        if table[required].null_count:
            raise ValueError(f"section {section.object}: {table[required].null_count} row(s) without {required}")
    return _newest_per_id(table, active)


def _from_dicts(rows: Sequence[Mapping[str, Any]], targets: Mapping[str, pa.DataType]) -> pa.Table:
    names = list(dict.fromkeys(key for row in rows for key in row))
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        target = targets.get(name)
        try:
            columns[name] = pa.array(values, type=target) if target is not None else pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            try:
                columns[name] = pa.array(values)  # e.g. strings to parse; cast later
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise ValueError(f"column {name!r}: mixed or unsupported values ({exc})") from exc
    return pa.table(columns) if columns else pa.table({})


def _cast(column: pa.ChunkedArray, target: pa.DataType, name: str) -> pa.ChunkedArray:
    """One column cast to its target type (see the module docstring for what is accepted)."""
    source = column.type
    if source == target:
        return column
    try:
        if pa.types.is_null(source):
            return pa.chunked_array([pa.nulls(len(column), target)])
        if pa.types.is_string(source) or pa.types.is_large_string(source):
            if not pa.types.is_string(target):
                column = pc.if_else(pc.equal(column, ""), pa.scalar(None, source), column)
            return column.cast(target)
        if pa.types.is_timestamp(source) and pa.types.is_timestamp(target) and source.tz is None:
            return column.cast(pa.timestamp(source.unit, tz="UTC")).cast(target)
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise ValueError(f"column {name!r}: cannot convert {source} values to {target}: {exc}") from exc


def _without_nul(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Text without NUL characters: no database text type holds one (Postgres refuses it)."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return pc.replace_substring(column, "\x00", "")
    return column


def _newest_per_id(table: pa.Table, active: str) -> pa.Table:
    """Drop repeated Ids, keeping the row with the newest active modstamp (the last one on a tie)."""
    if table.num_rows < 2 or pc.count_distinct(table["salesforce_id"]).as_py() == table.num_rows:
        return table
    table = table.append_column("_position", pa.array(range(table.num_rows), pa.int64()))
    order = pc.sort_indices(table, sort_keys=[("salesforce_id", "ascending"), (active, "ascending"),
                                              ("_position", "ascending")])
    table = table.take(order).combine_chunks()
    ids = table["salesforce_id"]
    last_of_id = pc.not_equal(ids.slice(0, len(ids) - 1), ids.slice(1))
    keep = pa.concat_arrays([last_of_id.combine_chunks(), pa.array([True])])
    return table.filter(keep).drop_columns(["_position"])
