"""Record writes made through the API: the Store's writes plus the faults that apply to them.

Every API write (REST row, collection record, composite subrequest, Bulk ingest row) goes through
here, so row-lock faults and commit lag behave the same everywhere:
- UNABLE_TO_LOCK_ROW is drawn per record write at the configured `rate_lock`;
- commit lag: a record *created* through the API becomes visible only `commit_lag_s` after the
  write, with its modstamps of write time. Updates, deletes and upserts apply at once (the Store
  takes no visibility time for them), so lag only ever hides new records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from crm_sync.sandbox.server.faults import Faults

if TYPE_CHECKING:
    from crm_sync.sandbox.org import OrgStore


class RecordWrites:
    """API-level create/update/upsert/delete against the org's store."""

    def __init__(self, store: OrgStore, faults: Faults, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.faults = faults
        self.clock = clock

    def _check_lock(self, record_id: str | None) -> None:
        error = self.faults.lock_error(record_id)
        if error is not None:
            raise error

    def create(self, obj: str, values: dict, *, user_id: str) -> str:
        self._check_lock(None)
        visible_after = self.faults.visible_after(self.clock())
        return self.store.create(obj, values, user_id=user_id, visible_after=visible_after)

    def update(self, obj: str, record_id: str, values: dict, *, user_id: str) -> None:
        self._check_lock(record_id)
        self.store.update(obj, record_id, values, user_id=user_id)

    def upsert(self, obj: str, field: str, value: str, values: dict, *, user_id: str) -> tuple[str, bool]:
        self._check_lock(None)
        return self.store.upsert(obj, field, value, values, user_id=user_id)

    def delete(self, obj: str, record_id: str, *, user_id: str) -> None:
        self._check_lock(record_id)
        self.store.delete(obj, record_id, user_id=user_id)

    def hard_delete(self, obj: str, record_id: str, *, user_id: str) -> None:
        """Delete without the recycle bin (Bulk `hardDelete`): gone from queryAll, still in getDeleted."""
        self._check_lock(record_id)
        self.store.hard_delete(obj, record_id, user_id=user_id)

    @contextmanager
    def all_or_none(self) -> Iterator[None]:
        """Writes inside run in one transaction: an exception leaving the block undoes all of them (inside
        another all-or-none group, only them: see OrgStore.transaction)."""
        with self.store.transaction():
            yield
