"""The platform database (SQLAlchemy; SQLite or Postgres by URL): model tables, received-page upserts,
cursors, raw landing, change capture into the outbox, record send status and the sync log.

Use `PlatformStore`; the modules behind it take a SQLAlchemy connection and the `PlatformSchema`.
"""

from crm_sync.platform.cursors import CursorUpdate, PartitionWindow
from crm_sync.platform.engine import PLATFORM_URL_ENV, platform_url
from crm_sync.platform.landing import LandedPage
from crm_sync.platform.outbox import OutboxEntry
from crm_sync.platform.records import ApplyCounts
from crm_sync.platform.store import PlatformStore
from crm_sync.platform.sync_log import EVENTS, LogEntry

__all__ = [
    "EVENTS",
    "PLATFORM_URL_ENV",
    "ApplyCounts",
    "CursorUpdate",
    "LandedPage",
    "LogEntry",
    "OutboxEntry",
    "PartitionWindow",
    "PlatformStore",
    "platform_url",
]
