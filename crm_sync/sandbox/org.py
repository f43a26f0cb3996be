"""The Org: one sandbox Salesforce org, tying the store, SOQL, sessions, limits, faults and jobs together.

The server holds one Org; the admin surface and the CLI work on it too. Its data directory holds
the SQLite file (org.sqlite), the generated credentials (credentials.json) and Bulk job files (bulk/).

Test tooling changes two things a real org's admin would: `rotate_credentials()` (new password,
security token and client secret; every session and refresh token revoked) and `hide_field()` /
`restore_field()` (a field gone from every API view while its data stays; see hidden_fields).
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from crm_sync.sandbox import hidden_fields, timefmt
from crm_sync.sandbox.catalog import CATALOG, Catalog
from crm_sync.sandbox.cli import INFO_FILE, write_info
from crm_sync.sandbox.errors import SalesforceError
from crm_sync.sandbox.generator import seed_org
from crm_sync.sandbox.ids import IdFactory
from crm_sync.sandbox.server.auth import Credentials, Sessions
from crm_sync.sandbox.server.bulk1_jobs import Bulk1Jobs
from crm_sync.sandbox.server.bulk_jobs import BulkJobs
from crm_sync.sandbox.server.cursors import QueryCursors
from crm_sync.sandbox.server.faults import FaultConfig, Faults
from crm_sync.sandbox.server.limits import DEFAULT_DAILY_API_REQUESTS, ApiUsage
from crm_sync.sandbox.server.writes import RecordWrites
from crm_sync.sandbox.store import Store

log = logging.getLogger("crm_sync.sandbox.org")

DATABASE_FILE = "org.sqlite"
CREDENTIALS_FILE = "credentials.json"
LOCATOR_PREFIX = "01g"


class OrgStore(Store):
    """The Store with `transaction()`: the writes made inside it commit together or not at all.

    Inside a transaction each Store write runs in a SAVEPOINT of the one open write transaction
    (same thread only), so a failed write undoes just itself and the caller decides the outcome;
    reads on that thread use the transaction's connection, so they see its uncommitted writes.
    A `transaction()` opened inside another one is a SAVEPOINT too: whatever block an exception
    leaves, the writes made in that block are undone, and nothing else.
    """

    def __init__(self, *args, **kwargs) -> None:
        self._transaction = threading.local()
        super().__init__(*args, **kwargs)
        with self._write() as conn:
            hidden_fields.create_table(conn)

    def hidden_fields(self) -> set[hidden_fields.FieldName]:
        """The hidden fields saved in the SQLite file (those the full catalog still has)."""
        with self.reader() as conn:
            return hidden_fields.load(conn, self.schema)

    @contextmanager
    def schema_change(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the store's write lock, for a change to the org's schema tables."""
        with self._write() as conn:
            yield conn

    @contextmanager
    def _write(self, *, one_statement: bool = False) -> Iterator:
        """The store's own transaction outside `transaction()`; inside it, a savepoint of the open one.

        A `one_statement` write needs no savepoint: what it checks before its one statement changes
        nothing, and SQLite undoes a statement that fails by itself (its statement journal), so a failed
        write still leaves the transaction as it found it.
        """
        connection = getattr(self._transaction, "connection", None)
        if connection is None:
            with super()._write() as conn:
                yield conn
            return
        if one_statement:
            yield connection
            return
        depth = self._transaction.depth = self._transaction.depth + 1
        savepoint = f"write_{depth}"
        connection.execute(f"SAVEPOINT {savepoint}")
        try:
            yield connection
        except BaseException:
            connection.execute(f"ROLLBACK TO {savepoint}")
            connection.execute(f"RELEASE {savepoint}")
            raise
        finally:
            self._transaction.depth -= 1
        connection.execute(f"RELEASE {savepoint}")

    def in_transaction(self) -> bool:
        """True inside transaction() on this thread."""
        return getattr(self._transaction, "connection", None) is not None

    @contextmanager
    def reader(self) -> Iterator:
        connection = getattr(self._transaction, "connection", None)
        if connection is not None:
            yield connection
            return
        with super().reader() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction for every write made in the block (an exception rolls all back).

        Inside an open one it is a savepoint of that one: an exception leaving the block undoes the
        block's writes (an all-or-none collection inside /composite undoes its own records), and the
        outer transaction still decides whether the block's writes commit. Nothing the Store remembers
        per transaction goes wrong by the undo: Ids handed out stay used (a gap), and values known
        absent (look_up_unique) were forgotten by the writes that gave rows them.
        """
        if getattr(self._transaction, "connection", None) is not None:
            with self._write():  # a savepoint of the open transaction
                yield
            return
        with super()._write() as conn:
            self._transaction.connection = conn
            self._transaction.depth = 0
            try:
                yield
            finally:
                self._transaction.connection = None


class Org:
    """One sandbox org (thread-safe where its parts are)."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        faults: FaultConfig | None = None,
        daily_api_requests: int = DEFAULT_DAILY_API_REQUESTS,
        catalog: Catalog = CATALOG,
        clock: Callable[[], datetime] = timefmt.now,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.full_catalog = catalog  # every field, hidden or not (what the SQLite tables hold)
        self._base_clock = clock
        self._clock_offset = timedelta(0)  # moved by tests through the admin surface (`clock`)
        clock = self.clock
        self._lock = threading.Lock()  # one credentials or catalog change at a time
        self.store = OrgStore(self.data_dir / DATABASE_FILE, catalog, clock=clock)
        self._hidden = self.store.hidden_fields()
        self._use_catalog(hidden_fields.catalog_without(catalog, self._hidden))
        self.credentials = Credentials.load_or_create(self.data_dir / CREDENTIALS_FILE)
        self.faults = Faults(faults)
        self.sessions = Sessions(self.credentials.org_id, ttl=lambda: self.faults.config.session_ttl_s)
        self.usage = ApiUsage(daily_api_requests, clock=clock)
        # locators and job Ids start at a random point, so Ids from an earlier run never match new ones
        self._ids = IdFactory(start={prefix: secrets.randbelow(62**8) for prefix in (LOCATOR_PREFIX, "750", "751", "752")})
        self.cursors = QueryCursors(self.store.reader, lambda: self._ids.new_id(LOCATOR_PREFIX),
                                    materialize=self.store.in_transaction)
        self.writes = RecordWrites(self.store, self.faults, clock)
        self.bulk = BulkJobs(self, self.data_dir / "bulk", clock)
        self.bulk1 = Bulk1Jobs(self, self.data_dir / "bulk1", clock)

    def clock(self) -> datetime:
        """The org's time: the injected clock plus the offset set by `set_clock_offset`."""
        return self._base_clock() + self._clock_offset

    def now(self) -> datetime:
        return self.clock()

    @property
    def clock_offset(self) -> timedelta:
        return self._clock_offset

    def set_clock_offset(self, offset: timedelta) -> datetime:
        """Shift the org's time (modstamps, commit lag, limits, Bulk jobs) by `offset`; returns the new now.

        Test tooling: a paused weekend or a midnight crossing without waiting. Moving it backwards makes
        new modstamps older than ones already given out, as commit lag does.
        """
        self._clock_offset = offset
        log.info("org clock offset now %s", offset)
        return self.clock()

    def new_id(self, prefix: str) -> str:
        return self._ids.new_id(prefix)

    def login_user(self) -> dict:
        """The integration user, the one the generated credentials log in as (read whatever fields are hidden)."""
        with self.store.reader() as conn:
            row = conn.execute('SELECT Id, Username, Name, Email, TimeZoneSidKey FROM "User" WHERE Id = ?',
                               (self.store.integration_user_id,)).fetchone()
        return dict(zip(("Id", "Username", "Name", "Email", "TimeZoneSidKey"), row, strict=True))

    def user_id(self, username: str) -> str:
        """The Id of an active user by Username (case-insensitive), or NOT_FOUND."""
        with self.store.reader() as conn:
            row = conn.execute('SELECT Id FROM "User" WHERE Username = ? COLLATE NOCASE AND IsDeleted = 0',
                               (username,)).fetchone()
        if row is None:
            raise SalesforceError(404, "NOT_FOUND", f"No user with Username {username!r}")
        return row[0]

    # ----- credentials ---------------------------------------------------------------------------

    def rotate_credentials(self) -> Credentials:
        """New password, security token and client secret (username and client id stay), saved to
        credentials.json and sandbox.json (if the server wrote one); every session and refresh token is revoked,
        so API calls answer INVALID_SESSION_ID and logins with the old secrets fail."""
        with self._lock:
            rotated = self.credentials.rotated()
            rotated.save(self.data_dir / CREDENTIALS_FILE)
            self.credentials = rotated
            revoked = self.sessions.revoke_all()
            self._rewrite_info(rotated)
        log.info("credentials rotated; %s sessions revoked", revoked)
        return rotated

    def _rewrite_info(self, credentials: Credentials) -> None:
        path = self.data_dir / INFO_FILE
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return  # no server announced itself here (yet): it writes the file from self.credentials
        info.update(password=credentials.password, security_token=credentials.security_token,
                    client_secret=credentials.client_secret)
        write_info(path, info)

    # ----- hidden fields --------------------------------------------------------------------------

    def hidden_fields(self) -> list[dict[str, str]]:
        """The hidden fields, sorted: [{"object", "field"}]."""
        return [{"object": obj, "field": field} for obj, field in sorted(self._hidden)]

    def hide_field(self, obj: str, field: str) -> list[dict[str, str]]:
        """Remove a non-system field from every API view (describe, SOQL, writes, Bulk); its data stays."""
        return self._set_hidden(hidden_fields.hideable_field(self.full_catalog, obj, field), True)

    def restore_field(self, obj: str, field: str) -> list[dict[str, str]]:
        """Bring a hidden field back, with the values it had (no-op for a field that is not hidden)."""
        return self._set_hidden(hidden_fields.hideable_field(self.full_catalog, obj, field), False)

    def _set_hidden(self, name: hidden_fields.FieldName, hide: bool) -> list[dict[str, str]]:
        with self._lock:
            hidden = self._hidden | {name} if hide else self._hidden - {name}
            if hidden != self._hidden:
                catalog = hidden_fields.catalog_without(self.full_catalog, hidden)
                with self.store.schema_change() as conn:
                    hidden_fields.save(conn, hidden)
                self._use_catalog(catalog)
                self._hidden = hidden
                log.info("hidden fields now %s", sorted(hidden))
        return self.hidden_fields()

    def _use_catalog(self, catalog: Catalog) -> None:
        """Swap the catalog every part of the org names fields by (describe, SOQL, writes, rules).

        Compiled queries are never cached (only parses, which name no catalog), so the next query
        compiles against this one; queries already running finish on the columns they chose.
        """
        self.catalog = catalog
        self.store.catalog = catalog
        self.store.rules.catalog = catalog

    def is_empty(self) -> bool:
        """True when the org holds no records besides its users."""
        return not any(count for name, count in self.store.counts().items() if name != "User")

    def seed(self, records: int, seed: int = 1) -> dict[str, int]:
        """Add a generated org of about `records` records (see generator.seed_org), stamped up to the org's today."""
        anchor = self.now().replace(hour=0, minute=0, second=0, microsecond=0)
        made = seed_org(self.store, records, seed, anchor=anchor)
        log.info("seeded %s records (seed %s)", sum(made.values()), seed)
        return made

    def reset(self) -> None:
        """Empty the org: records, rules, open cursors, bulk jobs, API usage (sessions stay valid)."""
        self.cursors.close_all()
        self.bulk.clear()
        self.bulk1.clear()
        self.store.reset()
        self.usage.reset()

    def close(self) -> None:
        self.cursors.close_all()
        self.bulk.close()
        self.bulk1.close()
        self.store.close()
