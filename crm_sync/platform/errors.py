"""Errors of the platform store that name what they are about: section, record and column."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator

import adbc_driver_manager
import psycopg2
import pyarrow as pa
import sqlalchemy as sa

from crm_sync.settings import Section

# Postgres names the line and column of a COPY it refused, e.g. "COPY crm_stage_company, line 3, column name".
_COPY_CONTEXT = re.compile(r"COPY \S+, line (\d+)(?:, column (\w+))?")


class ApplyError(RuntimeError):
    """A received page could not be applied; nothing of it was written (its transaction rolled back)."""

    def __init__(self, message: str, *, section: str, salesforce_id: str | None, column: str | None) -> None:
        super().__init__(message)
        self.section, self.salesforce_id, self.column = section, salesforce_id, column


@contextlib.contextmanager
def apply_errors_named(section: Section, page: pa.Table) -> Iterator[None]:
    """Turn a database error while applying `page` into an ApplyError naming the section, the record's
    Salesforce Id and the column where the database says which (Postgres COPY does)."""
    try:
        yield
    # the raw drivers' own too: COPY's (psycopg2) and a SQLite staging file's (ADBC)
    except (sa.exc.DBAPIError, psycopg2.Error, sqlite3.Error, adbc_driver_manager.Error) as exc:
        text = str(exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc)
        detail = text.strip().splitlines()
        found = _COPY_CONTEXT.search(text)
        salesforce_id = column = None
        if found:
            line = int(found.group(1))
            if 0 < line <= page.num_rows:
                salesforce_id = page["salesforce_id"][line - 1].as_py()
            column = found.group(2)
        where = ", ".join(part for part in (
            f"record {salesforce_id}" if salesforce_id else f"a page of {page.num_rows} records",
            f"column {column}" if column else None) if part)
        raise ApplyError(f"section {section.object}: applying {where} failed: {detail[0] if detail else exc}",
                         section=section.object, salesforce_id=salesforce_id, column=column) from exc
