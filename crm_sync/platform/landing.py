"""Raw landing: every fetched page is written to Parquet before it is applied, and listed in a manifest,
so a failed apply can be replayed without spending API calls again, from any machine that reaches the store.

The landing lives behind fsspec: a local folder by default (<data dir>/landing), object storage by URL
(`s3://bucket/prefix`, `gs://bucket/prefix`; $CRM_SYNC_LANDING_URL) with the driver's own credentials from
the environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS), never from crm_sync's settings.
Files live under `<root>/<Object>/<YYYY-MM-DD>/<run_id>-<page_no>.parquet` (one file a page; the day is
the partition's UTC day), and the manifest holds each page's full URL, so a replay reads it wherever it runs.
A page appears whole or not at all: written beside and renamed on a local disk, one PUT on object storage.
The manifest row is marked applied by `apply_page(..., landed_path=...)` in the apply's own transaction, so
"applied" is true exactly when the page's rows are in the model table.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from fsspec.implementations.local import LocalFileSystem
from sqlalchemy.engine import Connection

from crm_sync.platform import dialect
from crm_sync.platform.engine import data_dir
from crm_sync.platform.schema import PlatformSchema
from crm_sync.platform.types import utc_now

LANDING_URL_ENV = "CRM_SYNC_LANDING_URL"
# The optional extra that brings each object store's fsspec driver.
DRIVER_EXTRAS = {"s3": "crm_sync[s3]", "s3a": "crm_sync[s3]", "gs": "crm_sync[gcs]", "gcs": "crm_sync[gcs]"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class LandingConfigError(ValueError):
    """The landing URL names a store fsspec does not know, or one whose driver is not installed."""


def default_landing_root() -> Path:
    """<data dir>/landing (the data dir is $CRM_SYNC_DATA or ./data)."""
    return data_dir() / "landing"


@dataclass(frozen=True)
class LandingRoot:
    """Where pages land: the root as a URL (or absolute local path) and the fsspec filesystem behind it."""

    url: str
    fs: fsspec.AbstractFileSystem

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, LocalFileSystem)

    def join(self, *parts: str) -> str:
        return "/".join((self.url.rstrip("/"), *parts))


def landing_root(root: str | Path | None = None) -> LandingRoot:
    """The given root, else $CRM_SYNC_LANDING_URL, else <data dir>/landing. A local path is made absolute.

    Raises LandingConfigError (naming the setting and the extra to install) for an unknown protocol or a
    missing driver, before anything is fetched.
    """
    from_env = root is None and bool(os.environ.get(LANDING_URL_ENV))
    value = str(root if root is not None else os.environ.get(LANDING_URL_ENV) or default_landing_root())
    source = f"${LANDING_URL_ENV}" if from_env else "the landing root"
    protocol = value.split("://", 1)[0] if "://" in value else "file"
    try:
        fs, path = fsspec.core.url_to_fs(value)
    except ImportError as exc:
        extra = DRIVER_EXTRAS.get(protocol)
        hint = f"install {extra}" if extra else "install its fsspec driver"
        raise LandingConfigError(f"{source} {value!r}: no driver for {protocol}:// ({hint}): {exc}") from None
    except ValueError as exc:
        raise LandingConfigError(f"{source} {value!r}: {exc}") from None
    if isinstance(fs, LocalFileSystem):
        return LandingRoot(str(Path(path).resolve()), fs)
    return LandingRoot(value.rstrip("/"), fs)


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


def page_path(root: LandingRoot, section: str, day: date, page_no: int, run_id: str | None) -> str:
    """Where a page's Parquet file goes (a URL, or an absolute path for a local root)."""
    run = _UNSAFE.sub("_", run_id) if run_id else "manual"
    return root.join(_UNSAFE.sub("_", section), day.isoformat(), f"{run}-{page_no:05d}.parquet")


def land_page(conn: Connection, schema: PlatformSchema, root: LandingRoot, section: str, day: date,
              table: pa.Table, *, page_no: int, run_id: str | None = None, window_start: datetime | None = None,
              window_end: datetime | None = None, modstamp_field: str | None = None) -> str:
    """Write one page to Parquet (whole or not at all) and record it in the manifest (not applied yet)."""
    path = page_path(root, section, day, page_no, run_id)
    _write_whole(root, path, table)
    manifest = schema.landing_manifest
    values = dict(section=section, day=day, page_no=page_no, path=path, rows=table.num_rows,
                  window_start=window_start, window_end=window_end, modstamp_field=modstamp_field,
                  applied=False, applied_at=None, run_id=run_id, landed_at=utc_now())
    stmt = dialect.insert(manifest, conn.dialect.name).values(**values)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[manifest.c.path],
        set_={k: stmt.excluded[k] for k in values if k != "path"},
    ))
    return path


def _write_whole(root: LandingRoot, path: str, table: pa.Table) -> None:
    if root.is_local:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        partial = f"{path}.partial"
        pq.write_table(table, partial)
        os.replace(partial, path)
        return
    with root.fs.open(path, "wb") as handle:  # an object store's PUT: the object appears whole or not at all
        pq.write_table(table, handle)


def read_landed_page(path: str | Path) -> pa.Table:
    """The Arrow table of a landed page, from its URL or local path as the manifest holds it."""
    with fsspec.open(str(path), "rb") as handle:
        return pq.read_table(handle)


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
