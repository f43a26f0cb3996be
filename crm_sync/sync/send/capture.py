"""Writing platform records with an origin: the app-facing API (and what `crm-sync platform set` calls).

How an application writes so that change capture does the right thing: every INSERT/UPDATE of a model
table sets the row's `origin` column in the same statement (and `updated_at`):

- `origin = 'user'`: a person's edit. The table's triggers append an outbox row listing the changed send
  columns; the `platform_outbox` sensor pushes it within seconds.
- `origin = 'system'`: a calculation (health score, enrichment). No outbox row; the nightly push sends
  the rows whose last write was `system` after the previous nightly push.
- `origin = 'salesforce'`: reserved for the receive side; such writes are never sent back.

In Python, use `PlatformStore.write_record(model, values, origin=...)` or `edit_record` below; with plain
SQL, e.g. `UPDATE company SET name = 'Acme', origin = 'user', updated_at = now() WHERE id = 42`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from crm_sync.platform import PlatformStore
from crm_sync.settings import FieldType, Section

ORIGINS_FOR_APPS = ("user", "system")
NULL_WORDS = ("", "null", "none")


@dataclass(frozen=True)
class Actor:
    """Who makes an edit: origin `user` (with the person, e.g. ana@example.com) or `system` (with a job name)."""

    origin: str
    who: str | None = None

    def __str__(self) -> str:
        return f"{self.origin}:{self.who}" if self.who else self.origin


def parse_actor(text: str) -> Actor:
    """`user:ana@example.com`, `user`, `system` or `system:health-score` -> Actor."""
    origin, _, who = text.partition(":")
    origin = origin.strip().lower()
    if origin not in ORIGINS_FOR_APPS:
        raise ValueError(f"--as must be user[:<who>] or system[:<job>], not {text!r}")
    return Actor(origin, who.strip() or None)


def column_for(section: Section, key: str) -> str:
    """The platform column a key names: a mapped column, or a Salesforce field name (case-insensitive)."""
    if section.field_for_column(key) is not None:
        return key
    for mapping in section.fields:
        if mapping.salesforce.lower() == key.lower():
            return mapping.column
    raise KeyError(f"model {section.model} has no column or Salesforce field {key!r} "
                   f"(columns: {', '.join(section.columns)})")


def parse_value(text: str, field_type: FieldType) -> Any:
    """A command-line text as a value of the column's type; '', null and none mean NULL."""
    if text.strip().lower() in NULL_WORDS:
        return None
    if field_type is FieldType.INTEGER:
        return int(text)
    if field_type is FieldType.FLOAT:
        return float(text)
    if field_type is FieldType.BOOLEAN:
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{text!r} is not a boolean (true/false)")
        return lowered in ("true", "1", "yes")
    if field_type is FieldType.DATE:
        return date.fromisoformat(text)
    if field_type is FieldType.DATETIME:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if value.tzinfo is None:
            raise ValueError(f"{text!r}: a datetime needs a time zone (e.g. ...Z)")
        return value
    return text


def parse_assignments(section: Section, assignments: Mapping[str, str]) -> dict[str, Any]:
    """`{"Name": "Acme", "employees": "12"}` -> platform values keyed by column, typed per the mapping."""
    values: dict[str, Any] = {}
    for key, text in assignments.items():
        column = column_for(section, key)
        values[column] = parse_value(text, section.field_for_column(column).type)
    return values


def edit_record(store: PlatformStore, model: Section | str, values: Mapping[str, Any], *, actor: Actor | str,
                record_id: int | None = None) -> int:
    """Create (record_id None) or change a record as `actor`; return its platform id.

    A `user` edit of a send column is captured into the outbox by the table's triggers; a `system` edit
    waits for the nightly push. Receive-only columns may be edited too, but are never sent.
    """
    resolved = actor if isinstance(actor, Actor) else parse_actor(actor)
    return store.write_record(model, dict(values), origin=resolved.origin, record_id=record_id)


def describe_record(store: PlatformStore, model: Section | str, record_id: int) -> str:
    """A record as JSON for the command line (its columns, origin and sync status)."""
    row = store.get_record(model, record_id=record_id)
    if row is None:
        raise KeyError(f"model {store.section(model).model} has no record with id {record_id}")
    return json.dumps(row, default=str, indent=2, sort_keys=True)
