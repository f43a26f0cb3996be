"""Raw landing: every fetched page is written to Parquet before it is applied, and listed in a manifest,
so a failed apply can be replayed without spending API calls again.

Files live under `<root>/<Object>/<YYYY-MM-DD>/<run_id>-<page_no>.parquet` (one file a page; the day is
the partition's UTC day). The manifest row is marked applied by `apply_page(..., landed_path=...)` in the
apply's own transaction, so "applied" is true exactly when the page's rows are in the model table.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from crm_sync.platform import dialect
from crm_sync.platform.engine import data_dir
from crm_sync.platform.schema import PlatformSchema
from crm_sync.platform.types import utc_now

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def default_landing_root() -> Path:
    """<data dir>/landing (the data dir is $CRM_SYNC_DATA or ./data)."""
    return data_dir() / "landing"


@dataclass(frozen=True)
class LandedPage:
    """One manifest row."""

    id: int
    section: str
    day: date
    page_no: int
    path: str
    rows: int
    window_start: datetime | None
    window_end: datetime | None
    modstamp_field: str | None
    applied: bool
    run_id: str | None
    landed_at: datetime


def page_path(root: Path, section: str, day: date, page_no: int, run_id: str | None) -> Path:
    """Where a page's Parquet file goes."""
    run = _UNSAFE.sub("_", run_id) if run_id else "manual"
    return Path(root) / _UNSAFE.sub("_", section) / day.isoformat() / f"{run}-{page_no:05d}.parquet"


def land_page(conn: Connection, schema: PlatformSchema, root: Path, section: str, day: date, table: pa.Table, *,
              page_no: int, run_id: str | None = None, window_start: datetime | None = None,
              window_end: datetime | None = None, modstamp_field: str | None = None) -> Path:
    """Write one page to Parquet (atomically) and record it in the manifest (not applied yet)."""
    path = page_path(root, section, day, page_no, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".parquet.partial")
    pq.write_table(table, partial)
    os.replace(partial, path)
    manifest = schema.landing_manifest
    values = dict(section=section, day=day, page_no=page_no, path=str(path), rows=table.num_rows,
                  window_start=window_start, window_end=window_end, modstamp_field=modstamp_field,
                  applied=False, applied_at=None, run_id=run_id, landed_at=utc_now())
    stmt = dialect.insert(manifest, conn.dialect.name).values(**values)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[manifest.c.path],
        set_={k: stmt.excluded[k] for k in values if k != "path"},
    ))
    return path


def read_landed_page(path: str | Path) -> pa.Table:
    """The Arrow table of a landed page."""
    return pq.read_table(path)


def pages_to_replay(conn: Connection, schema: PlatformSchema, section: str | None = None, *,
                    day: date | None = None, run_id: str | None = None) -> list[LandedPage]:
    """Landed pages not applied yet, in (section, day, landing order, page) order."""
    manifest = schema.landing_manifest
    query = sa.select(manifest).where(manifest.c.applied.is_(sa.false())).order_by(
        manifest.c.section, manifest.c.day, manifest.c.landed_at, manifest.c.page_no)
    if section is not None:
        query = query.where(manifest.c.section == section)
    if day is not None:
        query = query.where(manifest.c.day == day)
    if run_id is not None:
        query = query.where(manifest.c.run_id == run_id)
    return [_landed(row) for row in conn.execute(query)]


def landed_pages(conn: Connection, schema: PlatformSchema, section: str, day: date) -> list[LandedPage]:
    """Every manifest row of one partition day (applied or not)."""
    manifest = schema.landing_manifest
    query = sa.select(manifest).where(manifest.c.section == section, manifest.c.day == day).order_by(
        manifest.c.landed_at, manifest.c.page_no)
    return [_landed(row) for row in conn.execute(query)]


def _landed(row: sa.Row) -> LandedPage:
    return LandedPage(row.id, row.section, row.day, row.page_no, row.path, row.rows, row.window_start,
                      row.window_end, row.modstamp_field, bool(row.applied), row.run_id, row.landed_at)
