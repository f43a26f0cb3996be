"""REST query pages (`query` / `queryAll` with `nextRecordsUrl`) and their conversion to Arrow tables.

Each page's records become one table whose columns are the select-list paths in canonical spelling;
parent paths (`Owner.Email`) are read from the nested parent objects, a null parent gives nulls.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from crm_sync.salesforce.arrowconv import to_column
from crm_sync.salesforce.transport import Transport


def iter_query_bodies(
    transport: Transport,
    soql: str,
    *,
    include_deleted: bool = False,
    batch_size: int = 2000,
    obj: str | None = None,
) -> Iterator[dict]:
    """The JSON body of each page of a REST query, one API call per page."""
    if not 200 <= batch_size <= 2000:
        raise ValueError("batch_size must be between 200 and 2000")
    headers = {"Sforce-Query-Options": f"batchSize={batch_size}"}
    endpoint = "queryAll/" if include_deleted else "query/"
    body = transport.request("GET", endpoint, params={"q": soql}, headers=headers,
                             purpose="query", obj=obj).json()
    yield body
    while not body.get("done", True) and body.get("nextRecordsUrl"):
        body = transport.request("GET", body["nextRecordsUrl"], headers=headers,
                                 purpose="query", obj=obj).json()
        yield body


def _lookup(record: dict, key: str) -> object:
    if key in record:
        return record[key]
    lowered = key.lower()
    return next((value for name, value in record.items() if name.lower() == lowered), None)


def path_value(record: dict, path: str) -> object:
    """The value at `path` (`Owner.Email`) inside a REST record; None when a parent is null."""
    value: object = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = _lookup(value, part)
    return value


def records_to_table(records: list[dict], schema: pa.Schema) -> pa.Table:
    """A table of `schema` (column names are paths) from REST records."""
    columns = [to_column([path_value(r, f.name) for r in records], f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)
