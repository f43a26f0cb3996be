"""Every difference between SQLite and Postgres the platform store needs, in one place.

- the current time as SQL, and null-safe comparison;
- the dialect's INSERT (for ON CONFLICT upserts);
- a per-transaction lock (advisory on Postgres; SQLite's BEGIN IMMEDIATE already serializes writers);
- join planning for an apply (nested loops through the model table's index on Postgres);
- staging a page: see staging.py;
- the outbox change-capture triggers (SQLite triggers; a plpgsql function and triggers on Postgres).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

TRIGGER_PREFIX = "crm_outbox_"
PG_CAPTURE_FUNCTION = "crm_sync_outbox_capture"


def is_sqlite(bind: Connection | sa.Engine | sa.Dialect) -> bool:
    dialect = bind if isinstance(bind, sa.Dialect) else bind.dialect
    return dialect.name == "sqlite"


def now_sql(dialect_name: str) -> str:
    """SQL for the current UTC time in the form the dialect's datetime columns hold."""
    if dialect_name == "sqlite":
        return "strftime('%Y-%m-%d %H:%M:%f000', 'now')"  # SS.SSS + 000: microsecond width
    return "now()"


def same(left: str, right: str, dialect_name: str) -> str:
    """SQL that is true when two expressions are equal or both NULL."""
    if dialect_name == "sqlite":
        return f"{left} IS {right}"
    return f"{left} IS NOT DISTINCT FROM {right}"


def differs(left: str, right: str, dialect_name: str) -> str:
    """SQL that is true when two expressions differ, NULL counting as a value."""
    if dialect_name == "sqlite":
        return f"{left} IS NOT {right}"
    return f"{left} IS DISTINCT FROM {right}"


def insert(table: sa.Table, dialect_name: str):  # noqa: ANN201 - dialect-specific Insert
    """The dialect's INSERT construct, which offers on_conflict_do_update / on_conflict_do_nothing."""
    return sqlite.insert(table) if dialect_name == "sqlite" else postgresql.insert(table)


def lock(conn: Connection, key: str) -> None:
    """Serialize transactions that use the same key (until this transaction ends)."""
    if not is_sqlite(conn):
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})


@contextlib.contextmanager
def joins_by_index_lookups(conn: Connection) -> Iterator[None]:
    """Within the block, Postgres joins by nested loop, each staged row of an apply looking its model row up
    in the salesforce_id index. Its planner otherwise hash-joins the page against every model row (or every
    one in the page's Id span: nearly all of them when a page comes in modstamp order), one read of the
    model table per page, quadratic over a full fetch. It cannot judge this alone: a staging table is new
    each time, without statistics. SQLite joins by nested loop anyway.
    JIT is off too: the costs those settings add to a plan (and the per-row subplans of a conflict rule)
    pass its threshold, and compiling took 80-600 ms of a statement that runs in 20-50 ms."""
    if is_sqlite(conn):
        yield
        return
    settings = ("enable_hashjoin", "enable_mergejoin", "enable_seqscan", "jit")
    for setting in settings:
        conn.exec_driver_sql(f"SET LOCAL {setting} = off")
    yield
    for setting in settings:
        conn.exec_driver_sql(f"SET LOCAL {setting} TO DEFAULT")


def quote(conn: Connection | sa.Engine, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


# -- change capture ------------------------------------------------------------------------------

_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {PG_CAPTURE_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  changed text[] := ARRAY[]::text[];
  col text;
  new_row jsonb := to_jsonb(NEW);
  old_row jsonb := CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(OLD) ELSE NULL END;
BEGIN
  -- TG_ARGV: the send columns of the model; the table is named after the model.
  FOREACH col IN ARRAY TG_ARGV LOOP
    IF TG_OP = 'INSERT' THEN
      IF new_row -> col <> 'null'::jsonb THEN changed := changed || col; END IF;
    ELSIF (new_row -> col) IS DISTINCT FROM (old_row -> col) THEN
      changed := changed || col;
    END IF;
  END LOOP;
  IF TG_OP = 'UPDATE' AND cardinality(changed) = 0 THEN
    RETURN NULL;
  END IF;
  UPDATE outbox SET dead = false, attempts = 0, next_attempt_at = now()
   WHERE model = TG_TABLE_NAME AND record_id = NEW.id AND dead;
  INSERT INTO outbox (model, record_id, changed_columns, origin, created_at, attempts, next_attempt_at, dead)
  VALUES (TG_TABLE_NAME, NEW.id, to_jsonb(changed)::text, 'user', now(), 0, now(), false);
  RETURN NULL;
END
$$
"""


def install_outbox_triggers(conn: Connection, model: str, send_columns: Sequence[str]) -> bool:
    """Make the change-capture triggers of one model table match its send columns (none when it has none);
    return True when DDL ran (it does not when the installed triggers already match).

    A write whose new origin is 'user' appends one outbox row listing the send columns it changed
    (an insert lists the non-NULL ones) and revives the record's dead letters; an update that changes
    no send column appends nothing. Writes with origin 'system' or 'salesforce' never append.
    """
    if not is_sqlite(conn) and send_columns:
        _ensure_pg_capture_function(conn)
    wanted = _wanted_triggers(conn, model, send_columns)
    installed = {name: found for name, found in outbox_triggers(conn).items() if found[0] == model}
    if installed == {name: (model, signature) for name, (signature, _ddl) in wanted.items()}:
        return False
    drop_outbox_triggers(conn, [model])
    for _signature, ddl in wanted.values():
        conn.exec_driver_sql(ddl)
    return True


def _wanted_triggers(conn: Connection, model: str, send_columns: Sequence[str]) -> dict[str, tuple[object, str]]:
    """Trigger name -> (the signature outbox_triggers reports for it, its DDL)."""
    if not send_columns:
        return {}
    if is_sqlite(conn):
        return {name: (ddl, ddl) for name, ddl in _sqlite_trigger_ddl(conn, model, send_columns).items()}
    name = TRIGGER_PREFIX + model
    arguments = ", ".join("'" + c + "'" for c in send_columns)  # snake_case identifiers: no quoting issue
    ddl = (f"CREATE TRIGGER {quote(conn, name)} AFTER INSERT OR UPDATE ON {quote(conn, model)} "
           f"FOR EACH ROW WHEN (NEW.origin = 'user') EXECUTE FUNCTION {PG_CAPTURE_FUNCTION}({arguments})")
    return {name: (tuple(send_columns), ddl)}


def _ensure_pg_capture_function(conn: Connection) -> None:
    body = _PG_FUNCTION.split("$$")[1]
    current = conn.execute(sa.text("SELECT prosrc FROM pg_proc WHERE proname = :name AND pg_function_is_visible(oid)"),
                           {"name": PG_CAPTURE_FUNCTION}).scalar()
    if current != body:
        conn.exec_driver_sql(_PG_FUNCTION)


def _sqlite_trigger_ddl(conn: Connection, model: str, send_columns: Sequence[str]) -> dict[str, str]:
    now = now_sql("sqlite")
    table = quote(conn, model)
    cols = [quote(conn, c) for c in send_columns]

    def listing(condition_of) -> str:  # noqa: ANN001 - a small local helper
        parts = " || ".join(f"CASE WHEN {condition_of(q)} THEN '\"{c}\",' ELSE '' END"
                            for q, c in zip(cols, send_columns, strict=True))
        return f"'[' || rtrim({parts}, ',') || ']'"

    revive = (f"UPDATE outbox SET dead = 0, attempts = 0, next_attempt_at = {now} "
              f"WHERE model = '{model}' AND record_id = NEW.id AND dead = 1;")

    def append(changed: str) -> str:
        return ("INSERT INTO outbox (model, record_id, changed_columns, origin, created_at, attempts, "
                f"next_attempt_at, dead) VALUES ('{model}', NEW.id, {changed}, 'user', {now}, 0, {now}, 0);")

    any_changed = " OR ".join(differs(f"OLD.{q}", f"NEW.{q}", "sqlite") for q in cols)
    insert_name, update_name = TRIGGER_PREFIX + model + "_ins", TRIGGER_PREFIX + model + "_upd"
    return {
        insert_name: f"CREATE TRIGGER {quote(conn, insert_name)} AFTER INSERT ON {table} "
                     f"FOR EACH ROW WHEN NEW.origin = 'user' BEGIN {revive} "
                     f"{append(listing(lambda q: f'NEW.{q} IS NOT NULL'))} END",
        update_name: f"CREATE TRIGGER {quote(conn, update_name)} AFTER UPDATE ON {table} "
                     f"FOR EACH ROW WHEN NEW.origin = 'user' AND ({any_changed}) BEGIN {revive} "
                     f"{append(listing(lambda q: differs(f'OLD.{q}', f'NEW.{q}', 'sqlite')))} END",
    }


def outbox_triggers(conn: Connection) -> dict[str, tuple[str, object]]:
    """Installed change-capture triggers: name -> (table, signature). The signature is the DDL on SQLite
    and the tuple of send columns (the trigger's arguments) on Postgres."""
    if is_sqlite(conn):
        query = ("SELECT name, tbl_name, sql FROM sqlite_master "
                 "WHERE type = 'trigger' AND substr(name, 1, :length) = :prefix")
        rows = conn.execute(sa.text(query), {"length": len(TRIGGER_PREFIX), "prefix": TRIGGER_PREFIX})
        return {name: (table, sql) for name, table, sql in rows}
    query = ("SELECT t.tgname, c.relname, t.tgargs FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
             "WHERE NOT t.tgisinternal AND left(t.tgname, :length) = :prefix AND pg_table_is_visible(c.oid)")
    rows = conn.execute(sa.text(query), {"length": len(TRIGGER_PREFIX), "prefix": TRIGGER_PREFIX})
    return {name: (table, tuple(a.decode() for a in bytes(args).split(b"\x00")[:-1])) for name, table, args in rows}


def drop_outbox_triggers(conn: Connection, models: Iterable[str]) -> None:
    """Drop the change-capture triggers on the given model tables."""
    wanted = set(models)
    for name, (table, _signature) in outbox_triggers(conn).items():
        if table in wanted:
            on = "" if is_sqlite(conn) else f" ON {quote(conn, table)}"
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {quote(conn, name)}{on}")
