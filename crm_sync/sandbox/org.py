"""The Org: one sandbox Salesforce org, tying the store, SOQL, sessions, limits, faults and jobs together.

The server holds one Org; the admin surface and the CLI work on it too. Its data directory holds
the SQLite file (org.sqlite), the generated credentials (credentials.json) and Bulk job files (bulk/).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from crm_sync.sandbox import timefmt
from crm_sync.sandbox.catalog import CATALOG, Catalog
from crm_sync.sandbox.errors import SalesforceError
from crm_sync.sandbox.generator import seed_org
from crm_sync.sandbox.ids import IdFactory
from crm_sync.sandbox.server.auth import Credentials, Sessions
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
    """

    def __init__(self, *args, **kwargs) -> None:
        self._transaction = threading.local()
        super().__init__(*args, **kwargs)

    @contextmanager
    def _write(self) -> Iterator:
        connection = getattr(self._transaction, "connection", None)
        if connection is None:
            with super()._write() as conn:
                yield conn
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
        """One write transaction for every write made in the block (an exception rolls all back)."""
        if getattr(self._transaction, "connection", None) is not None:
            yield  # already inside one: the outer transaction decides
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
        self.catalog = catalog
        self.clock = clock
        self.store = OrgStore(self.data_dir / DATABASE_FILE, catalog, clock=clock)
        self.credentials = Credentials.load_or_create(self.data_dir / CREDENTIALS_FILE)
        self.faults = Faults(faults)
        self.sessions = Sessions(self.credentials.org_id, ttl=lambda: self.faults.config.session_ttl_s)
        self.usage = ApiUsage(daily_api_requests, clock=clock)
        # locators and job Ids start at a random point, so Ids from an earlier run never match new ones
        self._ids = IdFactory(start={prefix: secrets.randbelow(62**8) for prefix in (LOCATOR_PREFIX, "750")})
        self.cursors = QueryCursors(self.store.reader, lambda: self._ids.new_id(LOCATOR_PREFIX),
                                    materialize=self.store.in_transaction)
        self.writes = RecordWrites(self.store, self.faults, clock)
        self.bulk = BulkJobs(self, self.data_dir / "bulk", clock)

    def now(self) -> datetime:
        return self.clock()

    def new_id(self, prefix: str) -> str:
        return self._ids.new_id(prefix)

    def login_user(self) -> dict:
        """The integration user, the one the generated credentials log in as."""
        return self.store.get("User", self.store.integration_user_id,
                              ["Id", "Username", "Name", "Email", "TimeZoneSidKey"])

    def user_id(self, username: str) -> str:
        """The Id of an active user by Username (case-insensitive), or NOT_FOUND."""
        with self.store.reader() as conn:
            row = conn.execute('SELECT Id FROM "User" WHERE Username = ? COLLATE NOCASE AND IsDeleted = 0',
                               (username,)).fetchone()
        if row is None:
            raise SalesforceError(404, "NOT_FOUND", f"No user with Username {username!r}")
        return row[0]

    def is_empty(self) -> bool:
        """True when the org holds no records besides its users."""
        return not any(count for name, count in self.store.counts().items() if name != "User")

    def seed(self, records: int, seed: int = 1) -> dict[str, int]:
        """Add a generated org of about `records` records (see generator.seed_org)."""
        made = seed_org(self.store, records, seed)
        log.info("seeded %s records (seed %s)", sum(made.values()), seed)
        return made

    def reset(self) -> None:
        """Empty the org: records, rules, open cursors, bulk jobs, API usage (sessions stay valid)."""
        self.cursors.close_all()
        self.bulk.clear()
        self.store.reset()
        self.usage.reset()

    def close(self) -> None:
        self.cursors.close_all()
        self.bulk.close()
        self.store.close()
