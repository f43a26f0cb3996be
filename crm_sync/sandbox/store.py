"""The sandbox org's records: one SQLite file, written with Salesforce's semantics.

One table per catalog object (table name = object name, one column per field) plus two hidden
columns: `_visible_after` (commit lag: the row exists but is not visible before that instant) and
`_deleted_at` (when it went to the recycle bin). A hard delete (or emptying the recycle bin) removes
the row and writes (object, Id, deleted date) to the delete log `_sandbox_delete_log`: such a record
is never in queryAll again, yet getDeleted (`deleted()`) still lists it, and its Id is never handed
out again. Datetimes are stored in `timefmt` form, so text
order is time order. Writes go through one lock and one writer connection, one transaction each;
readers use their own short-lived connections (WAL), so a long SELECT sees one snapshot while
writes go on. The planner's statistics are refreshed for a table whenever API inserts have doubled it
since its last ANALYZE.

A record write checks first (reads only) and changes the table with one statement, its last step: an
INSERT of the columns that have a value, or an UPDATE of those that changed. Inside one transaction
(OrgStore), `look_up_unique` answers the unique look-ups of many writes with one query; what it learns
is exact and lasts only as long as the transaction (see there).
"""

from __future__ import annotations

import functools
import json
import math
import random
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from crm_sync.sandbox import timefmt
from crm_sync.sandbox.catalog import CATALOG, NUMBER_TYPES, Catalog, Field, SObject
from crm_sync.sandbox.errors import SalesforceError
from crm_sync.sandbox.ids import IdFactory, is_valid_id, key_prefix, to_18
from crm_sync.sandbox.rules import Rules, is_blank

VISIBLE_AFTER = "_visible_after"
MODSTAMP_FIELDS = ("SystemModstamp", "LastModifiedDate")
DELETED_AT = "_deleted_at"
HIDDEN_COLUMNS = (VISIBLE_AFTER, DELETED_AT)
VISIBLE_SQL = '("_visible_after" IS NULL OR "_visible_after" <= ?)'
INTEGRATION_USERNAME = "integration@crm-sync.sandbox"
AUTOMATION_USERNAME = "automation@crm-sync.sandbox"
FIRST_CASE_NUMBER = 1000
RULES_TABLE = "_sandbox_rules"
DELETE_LOG_TABLE = "_sandbox_delete_log"
MAX_CACHED_STATEMENTS = 1000  # INSERT/UPDATE texts kept per kind (one per object and set of columns)
REANALYZE_MIN_ROWS = 1000  # API inserts into a table before its statistics are refreshed, at the least

_ONE_MS = timedelta(milliseconds=1)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FULL_NAME_OBJECTS = {"User", "Contact", "Lead"}
_DEPARTMENTS = ("Sales", "Marketing", "Finance", "Operations", "IT", "Support", "Engineering")


def quote(identifier: str) -> str:
    """An SQLite identifier in double quotes ("Case" is a keyword)."""
    return '"' + identifier.replace('"', '""') + '"'


def indexed_columns(sobject: SObject) -> list[str]:
    """Columns with a plain index: modstamps, IsDeleted, references, external ids, unique fields."""
    columns = [*MODSTAMP_FIELDS, "IsDeleted"]
    for field in sobject.fields:
        if field.type == "reference" or field.external_id or field.unique or field.name == "CaseNumber":
            columns.append(field.name)
    return columns


def schema_statements(sobject: SObject) -> list[str]:
    """CREATE TABLE and CREATE INDEX statements of one object (idempotent)."""
    table = quote(sobject.name)
    columns = [
        f"{quote(field.name)} {field.sqlite_type}" + (" PRIMARY KEY" if field.name == "Id" else "")
        for field in sobject.fields
    ]
    columns += [f"{quote(column)} TEXT" for column in HIDDEN_COLUMNS]
    statements = [f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(columns)})"]
    for column in indexed_columns(sobject):
        index = quote(f"ix_{sobject.name}_{column}")
        # a modstamp index also holds what every query filters on besides the window (deleted, visible), so
        # a COUNT() over a window reads the index alone instead of a row per record, in modstamp order
        covering = [column, "IsDeleted", VISIBLE_AFTER] if column in MODSTAMP_FIELDS else [column]
        statements.append(f"CREATE INDEX IF NOT EXISTS {index} ON {table} ({', '.join(map(quote, covering))})")
    for field in sobject.fields:
        if field.external_id and not field.unique:
            # external Ids match without regard to case (upserts, `IN` look-ups): a NOCASE index, or a scan
            index = quote(f"ixnc_{sobject.name}_{field.name}")
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {index} ON {table} ({quote(field.name)} COLLATE NOCASE)"
            )
        if field.unique:
            index = quote(f"uq_{sobject.name}_{field.name}")
            statements.append(
                f"CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {table} ({quote(field.name)} COLLATE NOCASE)"
            )
    return statements


# ----- values: JSON form <-> stored form ----------------------------------------------------------


def _invalid_type(field: Field, value: Any) -> SalesforceError:
    return SalesforceError(
        400, "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{field.label}: value not of required type: {value}", [field.name]
    )


def convert_value(field: Field, value: Any) -> Any:
    """A JSON value (or its CSV text) for `field` in stored form; Salesforce's error when it does not fit.

    Blank text means null; booleans accept true/false/1/0; numbers accept numeric text.
    """
    if isinstance(value, (dict, list)):  # a tuple: isinstance on a `X | Y` union is several times slower
        raise _not_a_value(field, value)
    if field.type == "boolean":
        return _to_boolean(field, value)
    if value is None or value == "":
        return None
    return _typed_conversion(field)(field, value)


def converter(field: Field) -> Callable[[Any], Any]:
    """`convert_value(field, ·)` with the field's type looked at once: a write plan's per-field conversion."""
    if field.type == "boolean":
        return functools.partial(_to_boolean_value, field)
    typed = _typed_conversion(field)

    def convert(value: Any) -> Any:
        if isinstance(value, (dict, list)):
            raise _not_a_value(field, value)
        if value is None or value == "":
            return None
        return typed(field, value)

    return convert


def _typed_conversion(field: Field) -> Callable[[Field, Any], Any]:
    """The conversion of a non-blank, non-boolean value by the field's type."""
    if field.type in NUMBER_TYPES:
        return _to_number
    if field.type == "date":
        return _to_date
    if field.type == "datetime":
        return _to_datetime
    if field.type in ("reference", "id"):
        return _to_id
    return _to_text


def _not_a_value(field: Field, value: dict | list) -> SalesforceError:
    kind = "START_OBJECT" if isinstance(value, dict) else "START_ARRAY"
    return SalesforceError(
        400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of {field.type} from {kind} value "
        f"for field {field.name}", [field.name],
    )


def _to_boolean_value(field: Field, value: Any) -> int:
    if isinstance(value, (dict, list)):
        raise _not_a_value(field, value)
    return _to_boolean(field, value)


def _to_id(field: Field, value: Any) -> str:
    if not is_valid_id(value):
        raise SalesforceError(
            400, "MALFORMED_ID", f"{field.label}: id value of incorrect type: {value}", [field.name]
        )
    return to_18(value)


def _to_boolean(field: Field, value: Any) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return int(value.strip().lower() in ("true", "1"))
    raise _invalid_type(field, value)


def _to_number(field: Field, value: Any) -> int | float:
    if isinstance(value, bool):
        raise _invalid_type(field, value)
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _invalid_type(field, value) from None
    else:
        raise _invalid_type(field, value)
    if not math.isfinite(number):
        raise _invalid_type(field, value)
    if field.type == "int":
        if not number.is_integer():
            raise _invalid_type(field, value)
        return int(number)
    return number


def _to_date(field: Field, value: Any) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return timefmt.format_date(value)
    if isinstance(value, str) and _DATE_RE.match(value.strip()):
        try:
            return timefmt.format_date(timefmt.parse_date(value))
        except ValueError:
            pass
    raise _invalid_type(field, value)


def _to_datetime(field: Field, value: Any) -> str:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return timefmt.format_datetime(value)
    if isinstance(value, str):
        try:
            return timefmt.normalize_datetime(value)
        except (ValueError, OverflowError):
            pass
    raise _invalid_type(field, value)


def _to_text(field: Field, value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float, str)):
        text = str(value)
    else:
        raise _invalid_type(field, value)
    if field.length and len(text) > field.length:
        raise SalesforceError(
            400, "STRING_TOO_LONG", f"{field.label}: data value too large: {text} (max length={field.length})",
            [field.name],
        )
    if field.type == "email" and not _EMAIL_RE.match(text):
        raise SalesforceError(
            400, "INVALID_EMAIL_ADDRESS", f"{field.label}: invalid email address: {text}", [field.name]
        )
    return text


def to_json(field: Field, stored: Any) -> Any:
    """A stored value in JSON form: booleans true/false, ints, floats, text, null."""
    if stored is None:
        return None
    if field.type == "boolean":
        return bool(stored)
    if field.type == "int":
        return int(stored)
    if field.type in NUMBER_TYPES:
        return float(stored)
    return stored


class _WritePlan:
    """What a write of one object recomputed per record before: its blank row, the defaults of a create
    (converted once), its reference fields and the SQL of its per-record look-ups.

    Built from one SObject and used only while the store's catalog still holds that very object (a
    hidden field swaps it, and the plan with it).
    """

    def __init__(self, sobject: SObject) -> None:
        self.sobject = sobject
        self.blank = dict.fromkeys(field.name for field in sobject.fields)
        # (name, value) of each field a create fills when left null; _CALLER stands for the writing user
        self.defaults: list[tuple[str, Any]] = []
        for field in sobject.fields:
            if field.default is not None:
                value = _CALLER if field.default == "$caller" else convert_value(field, field.default)
                self.defaults.append((field.name, value))
            elif field.type == "boolean":
                self.defaults.append((field.name, 0))
        self.references = {field.name.lower(): field for field in sobject.fields if field.type == "reference"}
        self.converters = {field.name: converter(field) for field in sobject.fields}
        self.fetch_sql = f"SELECT * FROM {quote(sobject.name)} WHERE Id = ?"
        self._lookups: dict[tuple[str, str], str] = {}

    def _lookup_sql(self, kind: str, name: str) -> str:
        """The SELECT of one kind of look-up by one field, built once."""
        sql = self._lookups.get((kind, name))
        if sql is None:
            sql = self._lookups[(kind, name)] = _LOOKUP_SQL[kind].format(
                table=quote(self.sobject.name), column=quote(name))
        return sql

    def unique_sql(self, name: str) -> str:
        return self._lookup_sql("unique", name)

    def duplicate_sql(self, name: str) -> str:
        return self._lookup_sql("duplicate", name)

    def external_sql(self, name: str) -> str:
        return self._lookup_sql("external", name)


_LOOKUP_SQL = {  # a field's value among the object's records, compared as Salesforce does (case-insensitive)
    "unique": "SELECT Id FROM {table} WHERE {column} = ? COLLATE NOCASE AND Id IS NOT ? LIMIT 1",
    "duplicate": "SELECT Id FROM {table} WHERE {column} = ? COLLATE NOCASE AND +IsDeleted = 0 AND Id IS NOT ? LIMIT 1",
    "external": "SELECT Id FROM {table} WHERE {column} = ? COLLATE NOCASE AND +IsDeleted = 0 ORDER BY Id LIMIT 10",
}


_CALLER = object()
_VERBATIM_TYPES = {"string", "textarea", "picklist", "email", "phone", "url"}  # a text value is stored as given
_LOOKUP_BATCH = 500  # values per `IN (...)` of look_up_unique
_STAMP_LENGTH = len("2024-05-01T12:30:00.000+0000")


def _earlier(stored: str | None, now: str) -> bool:
    """True when a stored stamp is empty or at least a millisecond before `now` (both in stored form).

    Both are fixed-width text of whole milliseconds in UTC, where text order is time order; a stamp of
    any other shape answers False (the caller then compares parsed times).
    """
    if not stored:
        return True
    return len(stored) == _STAMP_LENGTH == len(now) and stored.endswith("+0000") and stored < now


def _not_found() -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")


def _no_such_column(sobject: SObject, name: object) -> SalesforceError:
    return SalesforceError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject.name}")


class Store:
    """The org's data in one SQLite file, with Salesforce's write semantics and errors."""

    def __init__(
        self,
        path: str | Path,
        catalog: Catalog = CATALOG,
        *,
        clock: Callable[[], datetime] = timefmt.now,
    ) -> None:
        self.path = Path(path)
        self.catalog = catalog  # what callers may name (an org may swap in one with fields hidden)
        self.schema = catalog  # what the tables hold: every column, hidden fields' too
        self.clock = clock
        self.ids = IdFactory()
        self._id_high: dict[str, int] = {}  # the highest sequence handed out per key prefix
        # prefixes whose highest Id was read in the open write transaction: no other writer can add one
        # before it ends (SQLite's write lock), so _new_ids trusts _id_high for them until then
        self._ids_read: set[str] = set()
        self._insert_sql: dict[tuple[str, tuple[str, ...]], str] = {}  # (object, columns) -> INSERT
        self._update_sql: dict[tuple[str, tuple[str, ...]], str] = {}  # (object, columns) -> UPDATE
        self._row_names: dict[str, tuple[str, ...]] = {}  # table -> its columns in SELECT * order
        self._plans: dict[str, _WritePlan] = {}  # object name -> its write plan (see _plan)
        self._stamp: tuple[datetime | None, str] = (None, "")  # the last _now() and its text (see _now_text)
        # (table, column) -> ASCII values (lower case) no row holds, learnt in the open write transaction and
        # forgotten when it ends (see look_up_unique)
        self._absent: dict[tuple[str, str], set[str]] = {}
        # planner statistics kept current under API writes: rows per table at its last ANALYZE, and rows
        # inserted since (see _refresh_statistics)
        self._analyzed_rows: dict[str, int] = {}
        self._inserted: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._writer = self._connect()
        self._writer.row_factory = sqlite3.Row
        self._writer.execute("PRAGMA journal_mode=WAL")
        self._writer.execute("PRAGMA cache_size=-131072")
        # a savepoint's sub-journal (one per write of several statements inside a transaction) in memory, not a temp
        # file: it holds the pages a record's write changed, a few KB, and halves the cost of the write
        self._writer.execute("PRAGMA temp_store=MEMORY")
        self.rules = Rules(catalog, on_change=self._save_rules)
        with self._write() as conn:
            self._create_schema(conn)
            self.integration_user_id = self._ensure_user(
                conn, INTEGRATION_USERNAME, last_name="Integration", alias="integ", creator_id=None
            )
            self.automation_user_id = self._ensure_user(
                conn, AUTOMATION_USERNAME, last_name="Automated Process", alias="autoproc",
                creator_id=self.integration_user_id,
            )
            saved_rules = conn.execute(f"SELECT document FROM {RULES_TABLE} WHERE id = 1").fetchone()
        self.analyze()
        if saved_rules:
            self.rules.load(json.loads(saved_rules[0]), notify=False)
            self._ensure_duplicate_indexes(self.rules.to_dict())

    # ----- connections -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def _write(self, *, one_statement: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction on the writer connection, under the write lock.

        `one_statement` promises that the block changes the database with at most one statement, its last
        step (everything before it only reads): a subclass nesting writes may then skip its savepoint.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the store is closed")
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            self._ids_read = set()
            self._absent = {}
            try:
                yield conn
            except BaseException:
                self._absent = {}
                conn.execute("ROLLBACK")
                raise
            self._absent = {}
            conn.execute("COMMIT")
            self._refresh_statistics(conn)

    def _refresh_statistics(self, conn: sqlite3.Connection) -> None:
        """ANALYZE each table whose rows API writes have doubled since its last analysis (caller holds the
        write lock, outside a transaction).

        The planner's statistics come from the last ANALYZE: a table analyzed at 200 rows and grown to 100k
        by inserts would still be scanned for an `IN (...)` of 200 keys instead of looked up by its index.
        """
        grown = [name for name, count in self._inserted.items()
                 if count >= max(REANALYZE_MIN_ROWS, self._analyzed_rows.get(name, 0))]
        for name in grown:
            conn.execute("PRAGMA analysis_limit=1000")
            conn.execute(f"ANALYZE {quote(name)}")
            self._inserted.pop(name, None)
            self._analyzed_rows[name] = self._statistics_rows(conn).get(name, 0)

    @staticmethod
    def _statistics_rows(conn: sqlite3.Connection) -> dict[str, int]:
        """Rows per table as the last ANALYZE estimated them (sqlite_stat1's first number)."""
        try:
            rows = conn.execute("SELECT tbl, max(CAST(stat AS INTEGER)) FROM sqlite_stat1 GROUP BY tbl").fetchall()
        except sqlite3.OperationalError:  # no ANALYZE yet
            return {}
        return {name: count or 0 for name, count in rows}

    @contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A connection for SELECTs, usable from any thread; every statement inside sees one snapshot.

        The connection is opened for the block and closed after it (about half a millisecond), so a
        cursor left unconsumed cannot pin an old snapshot for a later reader; consume cursors inside.
        """
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            yield conn
        finally:
            conn.close()

    def close(self) -> None:
        """Close the writer connection; the file stays."""
        with self._lock:
            self._closed = True
            self._writer.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- schema, users, rules ------------------------------------------------------------------

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        for sobject in self.schema.objects:
            conn.execute(schema_statements(sobject)[0])
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({quote(sobject.name)})")}
            wanted = [(f.name, f.sqlite_type) for f in sobject.fields] + [(c, "TEXT") for c in HIDDEN_COLUMNS]
            for name, sqlite_type in wanted:
                if name not in present:  # a field added to the catalog since the file was made
                    conn.execute(f"ALTER TABLE {quote(sobject.name)} ADD COLUMN {quote(name)} {sqlite_type}")
            for statement in schema_statements(sobject)[1:]:
                conn.execute(statement)
        conn.execute(f"CREATE TABLE IF NOT EXISTS {RULES_TABLE} (id INTEGER PRIMARY KEY, document TEXT NOT NULL)")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {DELETE_LOG_TABLE} (object TEXT NOT NULL, Id TEXT NOT NULL, "
                     "deleted_at TEXT NOT NULL, PRIMARY KEY (object, Id))")

    def _ensure_user(
        self, conn: sqlite3.Connection, username: str, *, last_name: str, alias: str, creator_id: str | None
    ) -> str:
        row = conn.execute('SELECT Id FROM "User" WHERE Username = ? COLLATE NOCASE', (username,)).fetchone()
        if row:
            return row[0]
        user = self._sobject("User")
        record_id = self._new_ids(conn, user, 1)[0]
        values = {"Username": username, "LastName": last_name, "Alias": alias, "Email": username}
        changes = self._parse(user, values, creating=True)
        return self._insert(conn, user, changes, user_id=creator_id or record_id, record_id=record_id)

    def _save_rules(self, document: dict) -> None:
        with self._write() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO {RULES_TABLE} (id, document) VALUES (1, ?)", (json.dumps(document),)
            )
        self._ensure_duplicate_indexes(document)

    def _ensure_duplicate_indexes(self, document: dict) -> None:
        """A NOCASE index per duplicate-rule field, so the duplicate check is a look-up, not a scan."""
        with self._write() as conn:
            for entry in document.get("duplicate_rules", []):
                table, column = entry["object"], entry["field"]
                conn.execute(
                    f"CREATE INDEX IF NOT EXISTS {quote(f'dup_{table}_{column}')} "
                    f"ON {quote(table)} ({quote(column)} COLLATE NOCASE)"
                )

    # ----- look-ups -------------------------------------------------------------------------------

    def _sobject(self, obj: str) -> SObject:
        sobject = self.catalog.get(obj)
        if sobject is None:
            raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        return sobject

    def _field(self, sobject: SObject, name: str) -> Field:
        field = sobject.field(name)
        if field is None:
            raise _no_such_column(sobject, name)
        return field

    def _plan(self, sobject: SObject) -> _WritePlan:
        """The write plan of `sobject`, rebuilt when the catalog's object is another one than the plan's."""
        plan = self._plans.get(sobject.name)
        if plan is None or plan.sobject is not sobject:
            plan = self._plans[sobject.name] = _WritePlan(sobject)
        return plan

    @staticmethod
    def _record_id(sobject: SObject, record_id: str) -> str:
        """The 18-character Id of a record of this object, or NOT_FOUND for anything else."""
        if not is_valid_id(record_id) or key_prefix(record_id) != sobject.key_prefix:
            raise _not_found()
        return to_18(record_id)

    def _now(self) -> datetime:
        value = self.clock().astimezone(UTC)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)

    def _now_text(self) -> str:
        return self._stamp_text(self._now())

    def _stamp_text(self, moment: datetime) -> str:
        """timefmt.format_datetime(moment); the last instant's text is kept (a collection writes many records
        a millisecond)."""
        stamp = self._stamp
        if stamp[0] != moment:
            stamp = self._stamp = (moment, timefmt.format_datetime(moment))
        return stamp[1]

    def _next_stamp(self, previous: dict, after: Iterable[str]) -> str:
        """clock(), but strictly after the record's stamps named in `after` (one millisecond later)."""
        stamp = self._now()
        text = self._stamp_text(stamp)
        if all(_earlier(previous.get(name), text) for name in after):
            return text
        for name in after:
            if previous.get(name):
                stamp = max(stamp, timefmt.parse_datetime(previous[name]) + _ONE_MS)
        return timefmt.format_datetime(stamp)

    def _fetch(self, conn: sqlite3.Connection, sobject: SObject, record_id: str) -> dict | None:
        """The stored row of one record (every column, hidden ones too) as {column: value}, or None."""
        cursor = conn.execute(self._plan(sobject).fetch_sql, (record_id,))
        row = cursor.fetchone()
        if row is None:
            return None
        names = self._row_names.get(sobject.name)
        if names is None:  # a table's columns only change when the file is opened (_create_schema)
            names = self._row_names[sobject.name] = tuple(column[0] for column in cursor.description)
        return dict(zip(names, row, strict=True))  # dict(sqlite3.Row) costs several times more

    def _fetch_live(self, conn: sqlite3.Connection, sobject: SObject, record_id: str) -> dict:
        record = self._fetch(conn, sobject, record_id)
        if record is None:
            raise _not_found()
        if record["IsDeleted"]:
            raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted")
        return record

    def _new_ids(self, conn: sqlite3.Connection, sobject: SObject, count: int) -> list[str]:
        """New Ids past both the highest Id in the table and every Id handed out before (under the lock)."""
        prefix = sobject.key_prefix
        if prefix not in self._ids_read:
            row = conn.execute(
                f"SELECT Id FROM {quote(sobject.name)} WHERE Id GLOB ? ORDER BY Id DESC LIMIT 1",
                (prefix + IdFactory.POD + "*",),
            ).fetchone()
            purged = conn.execute(f"SELECT max(Id) FROM {DELETE_LOG_TABLE} WHERE object = ?",
                                  (sobject.name,)).fetchone()
            highest = max(IdFactory.sequence_of(row[0]) if row else 0, self._id_high.get(prefix, 0),
                          IdFactory.sequence_of(purged[0]) if purged and purged[0] else 0)
            self.ids.ensure_after(prefix, highest)
            self._ids_read.add(prefix)
        new, last = self.ids.new_ids(prefix, count)
        if new:
            self._id_high[prefix] = last
        return new

    def _case_numbers(self, conn: sqlite3.Connection, count: int) -> list[str]:
        row = conn.execute('SELECT max(CaseNumber) FROM "Case"').fetchone()
        start = max(int(row[0]) + 1 if row and row[0] else FIRST_CASE_NUMBER, FIRST_CASE_NUMBER)
        return [f"{number:08d}" for number in range(start, start + count)]

    # ----- validation ----------------------------------------------------------------------------

    def _parse(
        self, sobject: SObject, values: Any, *, creating: bool, record_id: str | None = None
    ) -> dict[str, Any]:
        """Caller's values (JSON form, any name case) as {field name: stored value}, or Salesforce's error."""
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "The record must be a JSON object of field values")
        given: dict[str, tuple[Field, Any]] = {}  # by field name (a Field hashes all its attributes)
        for key, value in values.items():
            if isinstance(key, str) and key.lower() == "attributes":
                continue
            field = sobject.field(key) if isinstance(key, str) else None
            if field is None:
                compound = sobject.compound(key) if isinstance(key, str) else None
                if compound is None:
                    raise _no_such_column(sobject, key)
                field = compound  # read-only: refused below with the other locked fields
            if field.name == "Id":
                if creating:
                    raise SalesforceError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
                if not (is_valid_id(value) and to_18(value) == record_id):
                    raise SalesforceError(
                        400, "INVALID_FIELD", "The Id field should not be specified in the sobject data.", ["Id"]
                    )
                continue
            given[field.name] = (field, value)
        locked = [field.name for field, _ in given.values() if not (field.createable if creating else field.updateable)]
        if locked:
            raise SalesforceError(
                400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(locked)}. Please check the security settings of "
                "this field and verify that it is read/write for your profile or permission set.",
                locked,
            )
        converters = self._plan(sobject).converters
        return {name: converters[name](value) for name, (_, value) in given.items()}

    def _check_required(self, sobject: SObject, record: dict, names: Iterable[str]) -> None:
        whole = names is record and len(record) == len(sobject.fields)  # a new record: every field, in order
        if whole:
            missing = [f.name for f in sobject.required_candidates if is_blank(record.get(f.name))]
        else:
            names = list(names)
            candidates = {f.name.lower() for f in sobject.required_candidates}
            missing = [name for name in names if name.lower() in candidates and is_blank(record.get(name))]
        required = self.rules.required_fields(sobject.name)
        if required:
            given = record if whole else set(names)  # membership only: a dict's keys are the names
            missing += [name for name in required
                        if name in given and name not in missing and is_blank(record.get(name))]
        if missing:
            raise SalesforceError(
                400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
            )

    def _check_references(self, conn: sqlite3.Connection, sobject: SObject, changes: dict) -> None:
        references = self._plan(sobject).references
        for name, value in changes.items():
            if value is None:
                continue
            field = references.get(name.lower())
            if field is None:
                continue
            target = self.catalog.by_prefix(key_prefix(value))
            if target is None or target.name not in field.reference_to:
                raise SalesforceError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [name])
            active = ", IsActive" if target.name == "User" else ""
            row = conn.execute(
                f"SELECT IsDeleted{active} FROM {quote(target.name)} WHERE Id = ?", (value,)
            ).fetchone()
            if row is None:
                raise SalesforceError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [name])
            if row[0]:
                raise SalesforceError(400, "ENTITY_IS_DELETED", "entity is deleted", [name])
            if name == "OwnerId" and not row[1]:
                raise SalesforceError(
                    400, "INACTIVE_OWNER_OR_USER",
                    f"operation performed with inactive user [{value}] as owner of {sobject.name.lower()}",
                    [name],
                )

    def _check_unique(
        self, conn: sqlite3.Connection, sobject: SObject, record: dict, names: Iterable[str], record_id: str | None
    ) -> None:
        if not sobject.unique_fields:
            return
        plan = self._plan(sobject)
        given = names if isinstance(names, dict) else set(names)  # field names as _parse gives them
        for field in sobject.unique_fields:
            name = field.name
            if name not in given or is_blank(record.get(name)) or self._known_absent(conn, sobject, name, record[name]):
                continue
            row = conn.execute(plan.unique_sql(name), (record[name], record_id)).fetchone()
            if row:
                raise SalesforceError(
                    400, "DUPLICATE_VALUE",
                    f"duplicate value found: {name} duplicates value on record with id: {row[0]}", [name],
                )

    def _check_duplicate_rules(
        self, conn: sqlite3.Connection, sobject: SObject, record: dict, names: Iterable[str], record_id: str | None
    ) -> None:
        fields = self.rules.duplicate_fields(sobject.name)
        if not fields:
            return
        names = set(names)
        plan = self._plan(sobject)
        for name in fields:
            if name not in names or is_blank(record.get(name)):
                continue
            row = conn.execute(plan.duplicate_sql(name), (record[name], record_id)).fetchone()
            if row:
                raise SalesforceError(400, "DUPLICATES_DETECTED", "Use one of these records?")

    def _as_json(self, sobject: SObject, record: dict) -> dict[str, Any]:
        return {field.name: to_json(field, record.get(field.name)) for field in sobject.fields}

    # ----- derived fields ------------------------------------------------------------------------

    def _derive(
        self, conn: sqlite3.Connection, sobject: SObject, record: dict, previous: dict | None, stamp: str
    ) -> None:
        """Fields Salesforce computes: full Name, Task.AccountId, IsClosed, Case.ClosedDate."""
        if sobject.name in _FULL_NAME_OBJECTS:
            record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p) or None
        if sobject.name == "Task":
            record["IsClosed"] = int(record.get("Status") == "Completed")
            record["AccountId"] = self._task_account(conn, record)
        if sobject.name == "Case":
            closed = record.get("Status") == "Closed"
            record["IsClosed"] = int(closed)
            if not closed:
                record["ClosedDate"] = None
            elif not (previous and previous["IsClosed"]):
                record["ClosedDate"] = stamp

    def _task_account(self, conn: sqlite3.Connection, record: dict) -> str | None:
        """The Account of a Task: its WhatId when an Account, else the What's or the Who's account."""
        what, who = record.get("WhatId"), record.get("WhoId")
        for related in (what, who):
            target = self.catalog.by_prefix(key_prefix(related)) if related else None
            if target is None:
                continue
            if target.name == "Account":
                return related
            account_field = next((f for f in ("AccountId", "Account__c") if target.field(f)), None)
            if account_field:
                row = conn.execute(
                    f"SELECT {quote(account_field)} FROM {quote(target.name)} WHERE Id = ?", (related,)
                ).fetchone()
                if row and row[0]:
                    return row[0]
        return None

    # ----- unique values looked up ahead ----------------------------------------------------------

    def look_up_unique(self, obj: str, values: Mapping[str, Iterable[Any]]) -> None:
        """Look up at once which of these values of unique or external-id text fields no row of `obj` holds
        (live or deleted): the unique and external-id look-ups of the writes that follow in the same write
        transaction then skip the values known absent. Only of use inside OrgStore.transaction().

        Exact, not a guess: a value is known absent only after a query found no row with it (compared as
        SQLite's NOCASE does: ASCII values only), and forgotten as soon as a write of the transaction gives
        a row that value (_forget_absent); the knowledge ends with the transaction. Unknown objects, fields
        and values of other kinds are left to the writes' own look-ups.
        """
        sobject = self.catalog.get(obj)
        if sobject is None:
            return
        with self._write(one_statement=True) as conn:  # reads only
            for name, given in values.items():
                field = sobject.field(name)
                if field is None or not (field.unique or field.external_id) or field.type not in _VERBATIM_TYPES:
                    continue
                asked = {value.lower() for value in given if isinstance(value, str) and value and value.isascii()}
                if asked:
                    found = self._present_values(conn, sobject, field.name, sorted(asked))
                    self._absent.setdefault((sobject.name, field.name), set()).update(asked - found)

    @staticmethod
    def _present_values(conn: sqlite3.Connection, sobject: SObject, column: str, values: list[str]) -> set[str]:
        """Those of these lower-case ASCII values that some row's `column` equals, compared as NOCASE."""
        found: set[str] = set()
        for start in range(0, len(values), _LOOKUP_BATCH):
            batch = values[start:start + _LOOKUP_BATCH]
            rows = conn.execute(f"SELECT {quote(column)} FROM {quote(sobject.name)} WHERE {quote(column)} "
                                f"COLLATE NOCASE IN ({', '.join('?' * len(batch))})", batch)
            found.update(str(row[0]).lower() for row in rows)
        return found

    def _known_absent(self, conn: sqlite3.Connection, sobject: SObject, column: str, value: Any) -> bool:
        """True when no row holds `value` in `column` (NOCASE), as look_up_unique learnt on this transaction's
        connection (other connections see other snapshots: never)."""
        known = self._absent.get((sobject.name, column)) if conn is self._writer else None
        return bool(known) and isinstance(value, str) and value.isascii() and value.lower() in known

    def _forget_absent(self, sobject: SObject, written: Mapping[str, Any]) -> None:
        """A row of `sobject` now holds these values: none of them is known absent any more."""
        for (table, column), known in self._absent.items():
            value = written.get(column) if table == sobject.name else None
            if isinstance(value, str):
                known.discard(value.lower())

    # ----- writes --------------------------------------------------------------------------------

    def _insert(
        self,
        conn: sqlite3.Connection,
        sobject: SObject,
        changes: dict[str, Any],
        *,
        user_id: str,
        record_id: str | None = None,
        visible_after: datetime | None = None,
    ) -> str:
        record: dict[str, Any] = self._plan(sobject).blank.copy()
        record.update(changes)
        for name, default in self._plan(sobject).defaults:
            if record[name] is None:
                record[name] = user_id if default is _CALLER else default
        self._check_required(sobject, record, record)
        self._check_references(conn, sobject, changes)
        stamp = self._now_text()
        self._derive(conn, sobject, record, None, stamp)
        if self.rules.has_validation(sobject.name):
            self.rules.check_validation(sobject.name, self._as_json(sobject, record))
        self._check_duplicate_rules(conn, sobject, record, record, None)
        self._check_unique(conn, sobject, record, record, None)
        record.update(
            Id=record_id or self._new_ids(conn, sobject, 1)[0], IsDeleted=0, CreatedDate=stamp,
            LastModifiedDate=stamp, SystemModstamp=stamp, CreatedById=user_id, LastModifiedById=user_id,
        )
        if "CaseNumber" in record:
            record["CaseNumber"] = self._case_numbers(conn, 1)[0]
        record[VISIBLE_AFTER] = timefmt.format_datetime(visible_after) if visible_after else None
        # only the columns with a value: the others are NULL all the same (no column has a DEFAULT), and
        # binding ~25 NULLs of a 39-column row cost as much as the insert itself
        columns = tuple(name for name, value in record.items() if value is not None)
        conn.execute(self._insert_statement(sobject, columns), [record[column] for column in columns])
        if self._absent:
            self._forget_absent(sobject, record)
        self._inserted[sobject.name] = self._inserted.get(sobject.name, 0) + 1
        return record["Id"]

    def _insert_statement(self, sobject: SObject, columns: tuple[str, ...]) -> str:
        """The INSERT of these columns of the object's table, built once per set of columns."""
        sql = self._insert_sql.get((sobject.name, columns))
        if sql is None:
            if len(self._insert_sql) >= MAX_CACHED_STATEMENTS:  # kept small whatever mix of columns comes
                self._insert_sql.clear()
            sql = self._insert_sql[(sobject.name, columns)] = (
                f"INSERT INTO {quote(sobject.name)} ({', '.join(map(quote, columns))}) "
                f"VALUES ({', '.join('?' * len(columns))})")
        return sql

    def _update(
        self, conn: sqlite3.Connection, sobject: SObject, record_id: str, changes: dict, *, user_id: str
    ) -> None:
        previous = self._fetch_live(conn, sobject, record_id)
        record = dict(previous)
        record.update(changes)
        self._check_required(sobject, record, changes)
        self._check_references(conn, sobject, changes)
        stamp = self._next_stamp(previous, ("LastModifiedDate", "SystemModstamp"))
        self._derive(conn, sobject, record, previous, stamp)
        if self.rules.has_validation(sobject.name):
            self.rules.check_validation(sobject.name, self._as_json(sobject, record))
        self._check_duplicate_rules(conn, sobject, record, changes, record_id)
        self._check_unique(conn, sobject, record, changes, record_id)
        record.update(LastModifiedDate=stamp, SystemModstamp=stamp, LastModifiedById=user_id)
        self._write_changes(conn, sobject, previous, record)

    def _write_changes(self, conn: sqlite3.Connection, sobject: SObject, previous: dict, record: dict) -> None:
        """One UPDATE of the columns whose value differs from `previous` (none: no statement)."""
        columns = tuple(name for name, value in record.items() if name != "Id" and previous.get(name) != value)
        if columns:
            sql = self._update_sql.get((sobject.name, columns))
            if sql is None:
                if len(self._update_sql) >= MAX_CACHED_STATEMENTS:
                    self._update_sql.clear()
                assignments = ", ".join(f"{quote(column)} = ?" for column in columns)
                sql = self._update_sql[(sobject.name, columns)] = (
                    f"UPDATE {quote(sobject.name)} SET {assignments} WHERE Id = ?")
            conn.execute(sql, [record[column] for column in columns] + [record["Id"]])
            if self._absent:
                self._forget_absent(sobject, {column: record[column] for column in columns})

    def create(
        self, obj: str, values: dict, *, user_id: str, visible_after: datetime | None = None
    ) -> str:
        """Insert a record as `user_id` and return its new Id.

        With `visible_after`, the row (with modstamps of now) stays invisible to queries until then:
        Salesforce's commit lag.
        """
        sobject = self._sobject(obj)
        changes = self._parse(sobject, values, creating=True)
        with self._write(one_statement=True) as conn:
            return self._insert(conn, sobject, changes, user_id=user_id, visible_after=visible_after)

    def update(self, obj: str, record_id: str, values: dict, *, user_id: str) -> None:
        """Change a record as `user_id`; bumps LastModifiedDate and SystemModstamp."""
        sobject = self._sobject(obj)
        record_id = self._record_id(sobject, record_id)
        changes = self._parse(sobject, values, creating=False, record_id=record_id)
        with self._write(one_statement=True) as conn:
            self._update(conn, sobject, record_id, changes, user_id=user_id)

    def upsert(
        self, obj: str, external_field: str, external_value: str, values: dict, *, user_id: str
    ) -> tuple[str, bool]:
        """Update the live record whose external id equals `external_value`, or create it: (Id, created)."""
        sobject = self._sobject(obj)
        field = self._external_field(sobject, external_field)
        with self._write(one_statement=True) as conn:
            if field.name == "Id":
                record_id = self._record_id(sobject, external_value)
                self._fetch_live(conn, sobject, record_id)
                matches = [record_id]
            else:
                matches = self._match_external(conn, sobject, field, external_value)
            name = field.name.lower()
            if matches:
                wanted = str(external_value).lower()
                payload = {
                    key: value for key, value in (values or {}).items()
                    if not (isinstance(key, str) and key.lower() == name and str(value).lower() == wanted)
                }
                changes = self._parse(sobject, payload, creating=False, record_id=matches[0])
                self._update(conn, sobject, matches[0], changes, user_id=user_id)
                return matches[0], False
            payload = {
                key: value for key, value in (values or {}).items() if not (isinstance(key, str) and key.lower() == name)
            }
            changes = self._parse(sobject, payload, creating=True)
            changes[field.name] = convert_value(field, external_value)
            return self._insert(conn, sobject, changes, user_id=user_id), True

    def _external_field(self, sobject: SObject, name: str) -> Field:
        field = sobject.field(name)
        if field is None:
            raise SalesforceError(
                400, "INVALID_FIELD", f"Provided external ID field does not exist or is not accessible: {name}"
            )
        if field.name != "Id" and not field.external_id:
            raise SalesforceError(
                400, "INVALID_FIELD", f"Field {field.name} is not an external id field of {sobject.name}", [field.name]
            )
        return field

    def _match_external(
        self, conn: sqlite3.Connection, sobject: SObject, field: Field, value: Any
    ) -> list[str]:
        """The live records whose `field` equals `value` (case-insensitive); 300 MULTIPLE_CHOICES if several."""
        stored = convert_value(field, value)
        if stored is None:
            raise SalesforceError(400, "INVALID_FIELD", f"An external id value for {field.name} is needed")
        if self._known_absent(conn, sobject, field.name, stored):
            return []
        rows = conn.execute(self._plan(sobject).external_sql(field.name), (stored,)).fetchall()
        ids = [row[0] for row in rows]
        if len(ids) > 1:
            raise SalesforceError(
                300, "MULTIPLE_CHOICES",
                f"More than one record found for {field.name} = '{value}': {', '.join(ids)}",
            )
        return ids

    def delete(self, obj: str, record_id: str, *, user_id: str) -> None:
        """Move a record to the recycle bin: IsDeleted = 1, `_deleted_at`, modstamps bumped."""
        sobject = self._sobject(obj)
        record_id = self._record_id(sobject, record_id)
        with self._write(one_statement=True) as conn:
            previous = self._fetch_live(conn, sobject, record_id)
            stamp = self._next_stamp(previous, ("LastModifiedDate", "SystemModstamp"))
            record = dict(previous, IsDeleted=1, LastModifiedDate=stamp, SystemModstamp=stamp,
                          LastModifiedById=user_id, **{DELETED_AT: stamp})
            self._write_changes(conn, sobject, previous, record)

    def hard_delete(self, obj: str, record_id: str, *, user_id: str) -> None:
        """Remove a record without the recycle bin (live, or already in the bin): never in queryAll again,
        listed by `deleted()` at the time of its delete (its recycle-bin time if it was in the bin)."""
        sobject = self._sobject(obj)
        record_id = self._record_id(sobject, record_id)
        with self._write() as conn:
            previous = self._fetch(conn, sobject, record_id)
            if previous is None:
                raise _not_found()
            if previous["IsDeleted"]:
                deleted_at = previous[DELETED_AT] or previous["SystemModstamp"]
            else:
                deleted_at = self._next_stamp(previous, ("LastModifiedDate", "SystemModstamp"))
            self._purge(conn, sobject, record_id, deleted_at)

    def empty_recycle_bin(self, record_ids: list[str] | None = None) -> list[str]:
        """Purge records from the recycle bin (those named, or every one); the Ids purged.

        Like a hard delete: gone from queryAll, still listed by `deleted()` at their recycle-bin time.
        A named Id that is not in the recycle bin is NOT_FOUND and nothing is purged.
        """
        with self._write() as conn:
            if record_ids is None:
                binned = [(sobject, row[0], row[1]) for sobject in self.schema.objects
                          for row in conn.execute(f"SELECT Id, {DELETED_AT} FROM {quote(sobject.name)} "
                                                  "WHERE IsDeleted = 1")]
            else:
                binned, missing = [], []
                for value in record_ids:
                    sobject = self.catalog.by_prefix(key_prefix(value)) if is_valid_id(value) else None
                    row = self._fetch(conn, sobject, to_18(value)) if sobject is not None else None
                    if row is None or not row["IsDeleted"]:
                        missing.append(value)
                    else:
                        binned.append((sobject, row["Id"], row[DELETED_AT]))
                if missing:
                    raise SalesforceError(404, "NOT_FOUND", f"Not in the recycle bin: {', '.join(missing)}")
            for sobject, record_id, deleted_at in binned:
                self._purge(conn, sobject, record_id, deleted_at)
        return [record_id for _, record_id, _ in binned]

    @staticmethod
    def _purge(conn: sqlite3.Connection, sobject: SObject, record_id: str, deleted_at: str) -> None:
        conn.execute(f"DELETE FROM {quote(sobject.name)} WHERE Id = ?", (record_id,))
        conn.execute(f"INSERT OR REPLACE INTO {DELETE_LOG_TABLE} (object, Id, deleted_at) VALUES (?, ?, ?)",
                     (sobject.name, record_id, deleted_at))

    def undelete(self, obj: str, record_id: str, *, user_id: str) -> None:
        """Restore a record from the recycle bin; modstamps bumped."""
        sobject = self._sobject(obj)
        record_id = self._record_id(sobject, record_id)
        with self._write(one_statement=True) as conn:
            previous = self._fetch(conn, sobject, record_id)
            if previous is None:
                raise _not_found()
            if not previous["IsDeleted"]:
                raise SalesforceError(400, "UNDELETE_FAILED", "Entity is not in the recycle bin")
            stamp = self._next_stamp(previous, ("LastModifiedDate", "SystemModstamp"))
            record = dict(previous, IsDeleted=0, LastModifiedDate=stamp, SystemModstamp=stamp,
                          LastModifiedById=user_id, **{DELETED_AT: None})
            self._write_changes(conn, sobject, previous, record)

    def run_automation(
        self,
        obj: str,
        *,
        ids: list[str] | None = None,
        limit: int | None = None,
        changes: dict | None = None,
    ) -> list[str]:
        """Simulate a flow/trigger run by the Automated Process user over live records.

        Applies `changes` (or a small realistic default change per object) and bumps only
        SystemModstamp: LastModifiedDate and LastModifiedById stay. Targets `ids` (or every live
        record in Id order), at most `limit` of them. Returns the Ids changed.
        """
        sobject = self._sobject(obj)
        parsed = self._parse(sobject, changes, creating=False) if changes else None
        with self._write() as conn:
            if ids is not None:
                targets = list(dict.fromkeys(to_18(i) for i in ids if is_valid_id(i)))
                targets = targets[:limit] if limit is not None else targets
            else:
                sql = f"SELECT Id FROM {quote(sobject.name)} WHERE IsDeleted = 0 ORDER BY Id"
                params: tuple = ()
                if limit is not None:
                    sql, params = sql + " LIMIT ?", (limit,)
                targets = [row[0] for row in conn.execute(sql, params)]
            if parsed:
                self._check_references(conn, sobject, parsed)
            changed = []
            for record_id in targets:
                previous = self._fetch(conn, sobject, record_id)
                if previous is None or previous["IsDeleted"]:
                    continue
                record = dict(previous)
                record.update(parsed if parsed is not None else _automatic_change(sobject, previous))
                stamp = self._next_stamp(previous, ("LastModifiedDate", "SystemModstamp"))
                self._derive(conn, sobject, record, previous, stamp)
                self._check_unique(conn, sobject, record, parsed or (), record_id)
                record["SystemModstamp"] = stamp
                self._write_changes(conn, sobject, previous, record)
                changed.append(record_id)
            return changed

    def bulk_insert(self, obj: str, rows: list[tuple], columns: list[str]) -> None:
        """Insert prepared rows as they are (no validation, no defaults): the generator's fast path.

        Columns are checked against the tables, so hidden fields' columns are filled too.
        """
        sobject = self.schema.get(obj) or self._sobject(obj)
        known = set(sobject.field_names) | set(HIDDEN_COLUMNS)
        for column in columns:
            if column not in known:
                raise _no_such_column(sobject, column)
        sql = (
            f"INSERT INTO {quote(sobject.name)} ({', '.join(map(quote, columns))}) "
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        with self._write() as conn:
            conn.executemany(sql, rows)
            self._ids_read.discard(sobject.key_prefix)  # Ids of its own: read the highest again
            self._absent = {key: values for key, values in self._absent.items() if key[0] != sobject.name}

    def analyze(self) -> None:
        """Refresh the query planner's statistics (sampled, milliseconds even at a million rows).

        Without them SQLite may pick the IsDeleted index over a far better one (a SystemModstamp
        range, an email look-up). Run on open and after bulk loads.
        """
        with self._write() as conn:
            conn.execute("PRAGMA analysis_limit=1000")
            conn.execute("ANALYZE")
            self._analyzed_rows = self._statistics_rows(conn)
            self._inserted = {}

    def new_ids(self, obj: str, count: int) -> list[str]:
        """Reserve `count` new Ids of an object (for rows built outside the Store, see bulk_insert)."""
        sobject = self._sobject(obj)
        with self._write() as conn:
            return self._new_ids(conn, sobject, count)

    def next_case_numbers(self, count: int) -> list[str]:
        """The next `count` CaseNumbers after the highest stored one (for bulk_insert rows)."""
        with self._write() as conn:
            return self._case_numbers(conn, count)

    def reset(self) -> None:
        """Empty every table except the integration and automation users; clear the rules."""
        with self._write() as conn:
            for sobject in self.catalog.objects:
                if sobject.name == "User":
                    conn.execute(
                        'DELETE FROM "User" WHERE Id NOT IN (?, ?)',
                        (self.integration_user_id, self.automation_user_id),
                    )
                else:
                    conn.execute(f"DELETE FROM {quote(sobject.name)}")
            conn.execute(f"DELETE FROM {DELETE_LOG_TABLE}")
        self.rules.clear()

    # ----- reads ---------------------------------------------------------------------------------

    def get(self, obj: str, record_id: str, fields: list[str] | None = None) -> dict:
        """One visible, live record in JSON form (all fields, or those named); NOT_FOUND otherwise."""
        sobject = self._sobject(obj)
        wanted = [self._field(sobject, name) for name in fields] if fields else list(sobject.fields)
        record_id = self._record_id(sobject, record_id)
        columns = ", ".join(quote(field.name) for field in wanted)
        with self.reader() as conn:
            row = conn.execute(
                f"SELECT {columns} FROM {quote(sobject.name)} WHERE Id = ? AND IsDeleted = 0 AND {VISIBLE_SQL}",
                (record_id, self._now_text()),
            ).fetchone()
        if row is None:
            raise _not_found()
        return {field.name: to_json(field, value) for field, value in zip(wanted, row, strict=True)}

    def find_by_external(self, obj: str, external_field: str, value: str) -> str | None:
        """The Id of the live record whose external id equals `value` (case-insensitive), or None."""
        sobject = self._sobject(obj)
        field = self._external_field(sobject, external_field)
        if field.name == "Id":
            try:
                return self.get(sobject.name, value, ["Id"])["Id"]
            except SalesforceError:
                return None
        with self.reader() as conn:
            matches = self._match_external(conn, sobject, field, value)
        return matches[0] if matches else None

    def updated(self, obj: str, start: datetime, end: datetime) -> list[str]:
        """Ids of visible, live records whose SystemModstamp lies in [start, end] (getUpdated)."""
        sobject = self._sobject(obj)
        with self.reader() as conn:
            rows = conn.execute(
                f"SELECT Id FROM {quote(sobject.name)} WHERE SystemModstamp BETWEEN ? AND ? "
                f"AND +IsDeleted = 0 AND {VISIBLE_SQL} ORDER BY SystemModstamp, Id",
                (timefmt.format_datetime(start), timefmt.format_datetime(end), self._now_text()),
            ).fetchall()
        return [row[0] for row in rows]

    def deleted(self, obj: str, start: datetime, end: datetime) -> list[dict]:
        """Records deleted in [start, end], in the recycle bin or hard-deleted: [{"id", "deletedDate"}]."""
        sobject = self._sobject(obj)
        window = (timefmt.format_datetime(start), timefmt.format_datetime(end))
        with self.reader() as conn:
            rows = conn.execute(
                f"SELECT Id, {DELETED_AT} AS at FROM {quote(sobject.name)} WHERE IsDeleted = 1 "
                f"AND {DELETED_AT} BETWEEN ? AND ? "
                f"UNION ALL SELECT Id, deleted_at AS at FROM {DELETE_LOG_TABLE} WHERE object = ? "
                "AND deleted_at BETWEEN ? AND ? ORDER BY at, Id",
                (*window, sobject.name, *window),
            ).fetchall()
        return [{"id": row[0], "deletedDate": row[1]} for row in rows]

    def count(self, obj: str, include_deleted: bool = False) -> int:
        """Rows of an object (visible or not), without the recycle bin unless include_deleted."""
        sobject = self._sobject(obj)
        where = "" if include_deleted else " WHERE IsDeleted = 0"
        with self.reader() as conn:
            return conn.execute(f"SELECT count(*) FROM {quote(sobject.name)}{where}").fetchone()[0]

    def counts(self) -> dict[str, int]:
        """Live records per object."""
        return {sobject.name: self.count(sobject.name) for sobject in self.catalog.objects}


def _automatic_change(sobject: SObject, previous: dict) -> dict[str, Any]:
    """A small change a flow would make (stored form); nothing but the modstamp for some objects."""
    rng = random.Random(f"{previous['Id']}{previous['SystemModstamp']}")
    name = sobject.name
    if name == "Account":
        return {"Health_Score__c": round(rng.uniform(0, 100), 1)}
    if name == "Contact":
        return {"Department": rng.choice(_DEPARTMENTS)}
    if name == "Lead" and previous.get("Status") == "Open - Not Contacted":
        return {"Status": "Working - Contacted"}
    if name == "Case":
        return {"Priority": rng.choice(("High", "Medium", "Low"))}
    if name == "Task":
        return {"Priority": rng.choice(("High", "Normal", "Low"))}
    if name == "Asset":
        return {"Status": rng.choice(("Shipped", "Installed", "Registered"))}
    if name == "License__c":
        return {"Seats__c": (previous.get("Seats__c") or 0) + rng.randint(1, 5)}
    if name == "Project__c":
        return {"Status__c": rng.choice(("In Progress", "Done", "On Hold"))}
    return {}
