"""The platform database's tables: the store's own (cursors, log, landing manifest, outbox, schema version)
and one table per model of the sync sections.

A model table holds: `id` (platform id, never reused: AUTOINCREMENT on SQLite, a sequence on Postgres),
`salesforce_id` (unique, NULL until the record exists in Salesforce), one column per mapped field, the
Salesforce modstamps, `origin` (who wrote the row last: user, system or salesforce; it decides only *when*
a change is sent), `updated_at`, `system_changed_at` (the last `system` write), `deleted`/`deleted_at` (rows are marked, never removed by a Salesforce
delete), `out_of_scope_at` (set while the Salesforce record no longer matches the section's filter),
`sync_status`/`sync_error` (the last send outcome of the record), and for every column that can be sent
its **base** `<column>__base`: the value both sides last agreed on, written when a receive applies it and
when a push of it is acknowledged. A platform change is `column IS DISTINCT FROM column__base`.

`push_claim` holds one row per record a push is working on: the claim token, a fencing version that
grows with every claim of the record, the lease, and, while a create's outcome is unknown, when it was
written and with which key and values (so a retry or a receive can find the record instead of
creating it twice); likewise for an update, the values it wrote and Salesforce's modstamp read before it
(so the next push can tell "Salesforce restored the agreed value after our write" from "unchanged").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from crm_sync.platform.dialect import now_sql
from crm_sync.platform.types import UTCDateTime, sql_type
from crm_sync.settings import RESERVED_MODELS, Section
from crm_sync.settings.schema import BASE_SUFFIX

SCHEMA_VERSION = 3
ORIGINS = ("user", "system", "salesforce")
# A 64-bit id on Postgres; INTEGER PRIMARY KEY (the rowid) on SQLite.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id_column() -> sa.Column:
    return sa.Column("id", _ID, primary_key=True, autoincrement=True)


@dataclass
class PlatformSchema:
    """Every table of one platform database, built for one dialect and one set of sections."""

    dialect_name: str
    metadata: sa.MetaData = field(default_factory=sa.MetaData)
    models: dict[str, sa.Table] = field(default_factory=dict)

    def __post_init__(self) -> None:
        now = sa.text(now_sql(self.dialect_name))
        md = self.metadata
        self.schema_version = sa.Table(
            "schema_version", md,
            sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("applied_at", UTCDateTime(), nullable=False, server_default=now),
            sa.Column("description", sa.Text, nullable=False),
        )
        self.sync_cursor = sa.Table(
            "sync_cursor", md,
            sa.Column("section", sa.Text, primary_key=True),
            sa.Column("modstamp_field", sa.Text, primary_key=True),
            sa.Column("value", UTCDateTime(), nullable=False),
            sa.Column("updated_at", UTCDateTime(), nullable=False, server_default=now),
        )
        self.partition_cursor = sa.Table(
            "partition_cursor", md,
            sa.Column("section", sa.Text, primary_key=True),
            sa.Column("modstamp_field", sa.Text, primary_key=True),
            sa.Column("day", sa.Date, primary_key=True),
            sa.Column("window_start", UTCDateTime()),
            sa.Column("window_end", UTCDateTime(), nullable=False),
            sa.Column("applied_at", UTCDateTime(), nullable=False, server_default=now),
        )
        self.sync_log = sa.Table(
            "sync_log", md,
            _id_column(),
            sa.Column("at", UTCDateTime(), nullable=False, server_default=now),
            sa.Column("run_id", sa.Text),
            sa.Column("section", sa.Text),
            sa.Column("event", sa.Text, nullable=False),
            sa.Column("count", sa.BigInteger),
            sa.Column("details", sa.Text),
            sa.Index("ix_sync_log_section_at", "section", "at"),
            sa.Index("ix_sync_log_at", "at"),
        )
        self.landing_manifest = sa.Table(
            "landing_manifest", md,
            _id_column(),
            sa.Column("section", sa.Text, nullable=False),
            sa.Column("day", sa.Date, nullable=False),
            sa.Column("page_no", sa.Integer, nullable=False),
            sa.Column("path", sa.Text, nullable=False, unique=True),
            sa.Column("rows", sa.Integer, nullable=False),
            sa.Column("window_start", UTCDateTime()),
            sa.Column("window_end", UTCDateTime()),
            sa.Column("modstamp_field", sa.Text),
            sa.Column("applied", sa.Boolean, nullable=False, server_default=sa.false()),
            sa.Column("applied_at", UTCDateTime()),
            sa.Column("run_id", sa.Text),
            sa.Column("landed_at", UTCDateTime(), nullable=False, server_default=now),
            sa.Index("ix_landing_manifest_pending", "section", "applied", "day"),
        )
        self.push_claim = sa.Table(
            "push_claim", md,
            sa.Column("model", sa.Text, primary_key=True),
            sa.Column("record_id", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("token", sa.Text),
            sa.Column("fence", sa.BigInteger, nullable=False, server_default="0"),
            sa.Column("claimed_until", UTCDateTime()),
            sa.Column("create_started_at", UTCDateTime()),  # a create written, its outcome not yet known
            sa.Column("create_key", sa.Text),
            sa.Column("create_values", sa.Text),  # JSON: the Salesforce fields the create wrote
            sa.Column("write_started_at", UTCDateTime()),  # an update about to be written, not yet acknowledged
            sa.Column("write_seen_modstamp", UTCDateTime()),  # Salesforce's modstamp the push read before it
            sa.Column("write_values", sa.Text),  # JSON: the Salesforce fields the update wrote
        )
        self.outbox = sa.Table(
            "outbox", md,
            _id_column(),
            sa.Column("model", sa.Text, nullable=False),
            sa.Column("record_id", sa.BigInteger, nullable=False),
            sa.Column("changed_columns", sa.Text, nullable=False),  # JSON array of column names
            sa.Column("origin", sa.Text, nullable=False),
            sa.Column("created_at", UTCDateTime(), nullable=False, server_default=now),
            sa.Column("claimed_until", UTCDateTime()),
            sa.Column("claim_token", sa.Text),
            sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
            sa.Column("next_attempt_at", UTCDateTime(), nullable=False, server_default=now),
            sa.Column("last_error", sa.Text),  # JSON: {"statusCode", "message", "fields"}
            sa.Column("dead", sa.Boolean, nullable=False, server_default=sa.false()),
            sa.Index("ix_outbox_model_record", "model", "record_id"),
            sa.Index("ix_outbox_due", "dead", "next_attempt_at"),
        )

    @property
    def internal_tables(self) -> list[sa.Table]:
        """The store's own tables (their names are reserved: no model may use them)."""
        return [self.schema_version, self.sync_cursor, self.partition_cursor, self.sync_log,
                self.landing_manifest, self.outbox, self.push_claim]

    def add_models(self, sections: Iterable[Section]) -> None:
        """Define the table of each section's model (once per model)."""
        for section in sections:
            if section.model not in self.models:
                self.models[section.model] = model_table(self.metadata, section, self.dialect_name)

    def model(self, name: str) -> sa.Table:
        """The table of a model, by model name."""
        try:
            return self.models[name]
        except KeyError:
            raise KeyError(f"no platform model {name!r} (models: {', '.join(self.models)})") from None


def model_table(metadata: sa.MetaData, section: Section, dialect_name: str) -> sa.Table:
    """The table of one section's model: bookkeeping columns plus one column per mapped field."""
    assert section.model not in RESERVED_MODELS, section.model
    name = section.model
    now = sa.text(now_sql(dialect_name))
    origins = ", ".join(f"'{o}'" for o in ORIGINS)
    return sa.Table(
        name, metadata,
        _id_column(),
        sa.Column("salesforce_id", sa.String(18), nullable=True),
        *(sa.Column(f.column, sql_type(f.type), nullable=True) for f in section.fields),
        sa.Column("sf_last_modified", UTCDateTime()),
        sa.Column("sf_system_modstamp", UTCDateTime()),
        # LastModifiedDate of our own last write, read back with it: when the platform's change landed.
        # Kept apart from sf_last_modified, which only the receive side moves.
        sa.Column("sf_sent_modstamp", UTCDateTime()),
        sa.Column("origin", sa.Text, nullable=False, server_default="user"),
        sa.Column("updated_at", UTCDateTime(), nullable=False, server_default=now),
        # The last `system` write (write_record sets it): the platform side of a conflict for a field a
        # system write changed; a user write's time per field is its outbox row's.
        sa.Column("system_changed_at", UTCDateTime()),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("deleted_at", UTCDateTime()),
        sa.Column("out_of_scope_at", UTCDateTime()),
        sa.Column("sync_status", sa.Text),
        sa.Column("sync_error", sa.Text),
        *(sa.Column(base_column(c), sql_type(section.field_for_column(c).type), nullable=True)
          for c in section.base_columns()),
        sa.UniqueConstraint("salesforce_id", name=f"uq_{name}_salesforce_id"),
        sa.CheckConstraint(f"origin IN ({origins})", name=f"ck_{name}_origin"),
        sa.Index(f"ix_{name}_origin_updated", "origin", "updated_at"),
        sqlite_autoincrement=True,
    )


def base_column(column: str) -> str:
    """The column holding the last-agreed value of a sent column."""
    return column + BASE_SUFFIX
