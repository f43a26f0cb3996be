"""Describe results: a per-client cache, and the mapping of field paths to Arrow types.

Arrow types by describe type: datetime -> timestamp("ms", UTC), date -> date32, boolean -> bool,
int -> int64, double/currency/percent -> float64, anything else (id, reference, string, picklist,
textarea, email, ...) -> string. A parent path such as `Owner.Email` resolves through the field whose
relationshipName is `Owner` to its referenceTo object's describe (the first target that has the field,
for polymorphic relationships).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa

from crm_sync.salesforce.errors import SalesforceSchemaError

TIMESTAMP = pa.timestamp("ms", tz="UTC")
ARROW_TYPES: dict[str, pa.DataType] = {
    "datetime": TIMESTAMP,
    "date": pa.date32(),
    "boolean": pa.bool_(),
    "int": pa.int64(),
    "long": pa.int64(),
    "double": pa.float64(),
    "currency": pa.float64(),
    "percent": pa.float64(),
}

DescribeFn = Callable[[str], dict | None]


def arrow_type(sf_type: str) -> pa.DataType:
    """The Arrow type for a describe field type."""
    return ARROW_TYPES.get(sf_type, pa.string())


class DescribeCache:
    """Describe answers per object name (case-insensitive), fetched once; None is cached too."""

    def __init__(self, fetch: DescribeFn) -> None:
        self._fetch = fetch
        self._cache: dict[str, dict | None] = {}
        self._lock = threading.Lock()

    def get(self, obj: str) -> dict | None:
        key = obj.lower()
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        result = self._fetch(obj)
        with self._lock:
            self._cache[key] = result
        return result

    def known(self, obj: str) -> bool:
        with self._lock:
            return obj.lower() in self._cache

    def put(self, obj: str, describe: dict | None) -> None:
        """Keep an answer fetched elsewhere (e.g. inside a composite call)."""
        with self._lock:
            self._cache[obj.lower()] = describe

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


@dataclass(frozen=True)
class ResolvedPath:
    """A select-list path resolved against describe: canonical spelling, leaf field, Arrow type."""

    path: str
    field: dict
    arrow_type: pa.DataType


def _field(describe: dict, name: str) -> dict | None:
    lowered = name.lower()
    return next((f for f in describe.get("fields", []) if f["name"].lower() == lowered), None)


def _relationship(describe: dict, name: str) -> dict | None:
    lowered = name.lower()
    return next(
        (f for f in describe.get("fields", []) if (f.get("relationshipName") or "").lower() == lowered), None
    )


def _describe_or_fail(describe: DescribeFn, obj: str) -> dict:
    result = describe(obj)
    if result is None:
        raise SalesforceSchemaError(f"object {obj} does not exist (or is not visible to this user)")
    return result


def resolve_path(describe: DescribeFn, obj: str, path: str) -> ResolvedPath:
    """Resolve `path` (`Name`, `Owner.Email`, `Account.Owner.Name`) from `obj` to its leaf field."""
    *parents, leaf = path.split(".")
    current = [_describe_or_fail(describe, obj)]
    canonical: list[str] = []
    for hop in parents:
        ref = next((r for r in (_relationship(d, hop) for d in current) if r), None)
        if ref is None or not ref.get("referenceTo"):
            raise SalesforceSchemaError(f"{obj}: no relationship {hop!r} in path {path!r}")
        canonical.append(ref["relationshipName"])
        current = [d for d in (describe(target) for target in ref["referenceTo"]) if d is not None]
        if not current:
            raise SalesforceSchemaError(f"{obj}: relationship {hop!r} points to no describable object")
    found = [f for f in (_field(d, leaf) for d in current) if f is not None]
    if not found:
        raise SalesforceSchemaError(f"{obj}: no field {leaf!r} in path {path!r}")
    types = {arrow_type(f["type"]) for f in found}
    chosen = arrow_type(found[0]["type"]) if len(types) == 1 else pa.string()
    canonical.append(found[0]["name"])
    return ResolvedPath(".".join(canonical), found[0], chosen)


def arrow_schema(describe: DescribeFn, obj: str, paths: Sequence[str]) -> pa.Schema:
    """The Arrow schema of a page of `obj` records with these select-list paths (canonical names)."""
    resolved = [resolve_path(describe, obj, p) for p in paths]
    return pa.schema([pa.field(r.path, r.arrow_type) for r in resolved])
