"""Column types of the platform tables and their Arrow counterparts, per mapped field type.

Datetimes are stored in UTC: `timestamptz` on Postgres, fixed-width text
(`YYYY-MM-DD HH:MM:SS.ffffff`) on SQLite, so text order is time order there too.
They are returned timezone-aware (UTC); a naive datetime is refused on the way in.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from crm_sync.settings import FieldType

SQLITE_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's own SQLite DATETIME storage form


class UTCDateTime(TypeDecorator):
    """A timezone-aware datetime stored in UTC on both databases."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"a datetime is needed, got {value!r}")
        if value.tzinfo is None:
            raise ValueError(f"a timezone-aware datetime is needed, got the naive {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def sql_type(field_type: FieldType) -> sa.types.TypeEngine:
    """The column type of a mapped field."""
    return {
        FieldType.STRING: sa.Text(),
        FieldType.TEXT: sa.Text(),
        FieldType.INTEGER: sa.BigInteger(),
        FieldType.FLOAT: sa.Double(),
        FieldType.BOOLEAN: sa.Boolean(),
        FieldType.DATE: sa.Date(),
        FieldType.DATETIME: UTCDateTime(),
        FieldType.REFERENCE: sa.String(18),
    }[field_type]


ARROW_TIMESTAMP = pa.timestamp("us", tz="UTC")


def arrow_type(field_type: FieldType) -> pa.DataType:
    """The Arrow type a page column is cast to before it is staged."""
    return {
        FieldType.STRING: pa.string(),
        FieldType.TEXT: pa.string(),
        FieldType.INTEGER: pa.int64(),
        FieldType.FLOAT: pa.float64(),
        FieldType.BOOLEAN: pa.bool_(),
        FieldType.DATE: pa.date32(),
        FieldType.DATETIME: ARROW_TIMESTAMP,
        FieldType.REFERENCE: pa.string(),
    }[field_type]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
