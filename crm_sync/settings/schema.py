"""The sync sections file as pydantic v2 models: what a section, a field mapping and the defaults hold.

A `Settings` document is a list of `Section`s (one Salesforce object paired with one platform model)
plus `SyncDefaults`. Structural rules (types, identifiers, unknown keys, a plausible filter) are
checked by the models; rules that look at several keys at once live in `validation.py` and run from
the model validators, so a `Settings` built in code is checked exactly like one loaded from YAML.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from crm_sync.settings.soql_check import condition_problem

# Columns every model table has; a mapping may not use them.
RESERVED_COLUMNS = frozenset({
    "id", "salesforce_id", "sf_last_modified", "sf_system_modstamp", "sf_sent_modstamp", "origin", "updated_at",
    "deleted", "deleted_at", "sync_status", "sync_error", "out_of_scope_at", "system_changed_at",
})
# Each sent column keeps the value both sides last agreed on in `<column>__base` (see platform/schema.py).
BASE_SUFFIX = "__base"
# Tables the platform store keeps for itself; a model may not be named like them.
RESERVED_MODELS = frozenset({
    "schema_version", "sync_cursor", "partition_cursor", "sync_log", "landing_manifest", "outbox", "push_claim",
})
# Modstamp fields a receive job may page by.
MODSTAMP_FIELDS = ("LastModifiedDate", "SystemModstamp")

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")
API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
FIELD_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*){0,5}$")
MAX_MODEL_LENGTH = 40  # leaves room for trigger and index names within Postgres' 63 characters
MAX_COLUMN_LENGTH = 55

# The context key that tells model validators to leave cross-key checks to the caller (the loader).
COLLECT_PROBLEMS = "collect_problems"


class Direction(StrEnum):
    """Which way records (or one field) flow."""

    RECEIVE = "receive"  # Salesforce -> platform
    SEND = "send"  # platform -> Salesforce
    BOTH = "both"
    OFF = "off"

    @property
    def receives(self) -> bool:
        return self in (Direction.RECEIVE, Direction.BOTH)

    @property
    def sends(self) -> bool:
        return self in (Direction.SEND, Direction.BOTH)


class FieldType(StrEnum):
    """The platform column type of a mapped field."""

    STRING = "string"
    TEXT = "text"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    REFERENCE = "reference"  # an 18-character Salesforce Id


class ConflictRule(StrEnum):
    """What the receive side does when Salesforce changed a record the platform has unsent user changes for.

    - newest_wins: the Salesforce version is applied unless a user change waiting in the outbox is newer
      than its modstamp (that change is then sent and its echo received later).
    - salesforce_wins: the Salesforce version is always applied.
    - platform_wins: the Salesforce version is not applied while user changes wait in the outbox.
    """

    NEWEST_WINS = "newest_wins"
    SALESFORCE_WINS = "salesforce_wins"
    PLATFORM_WINS = "platform_wins"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _snake_case(value: str, what: str, max_length: int) -> str:
    if not SNAKE_CASE.match(value):
        raise ValueError(f"{what} {value!r} must be a snake_case identifier (a-z, 0-9, _; starting with a letter)")
    if len(value) > max_length:
        raise ValueError(f"{what} {value!r} is longer than {max_length} characters")
    return value


class FieldMapping(_Strict):
    """One Salesforce field (or dotted parent path such as `Owner.Email`) mapped to one platform column."""

    salesforce: str = Field(description="Field API name, or a parent path like Owner.Email (receive only)")
    column: str = Field(description="snake_case platform column")
    type: FieldType = FieldType.STRING
    direction: Direction | None = Field(default=None, description="Override of the section's direction")
    references: list[str] | None = Field(
        default=None, description="objects a reference field points at (default: read from its name; "
                                  "[] for none): the asset graph's edges and the sync order follow them")

    @field_validator("references", mode="before")
    @classmethod
    def _references_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("salesforce")
    @classmethod
    def _field_path(cls, value: str) -> str:
        if not FIELD_PATH.match(value):
            raise ValueError(f"{value!r} is not a Salesforce field name or a dotted parent path (at most 5 levels)")
        return value

    @field_validator("column")
    @classmethod
    def _column(cls, value: str) -> str:
        _snake_case(value, "column", MAX_COLUMN_LENGTH)
        if value in RESERVED_COLUMNS:
            raise ValueError(f"column {value!r} is reserved for the platform's own bookkeeping "
                             f"(reserved: {', '.join(sorted(RESERVED_COLUMNS))})")
        if value.endswith(BASE_SUFFIX):
            raise ValueError(f"column {value!r} ends with {BASE_SUFFIX!r}, which names the platform's sync base columns")
        return value

    @property
    def is_parent_path(self) -> bool:
        """True for a dotted path through a relationship (read-only in Salesforce)."""
        return "." in self.salesforce


class Section(_Strict):
    """One sync section: a Salesforce object paired with a platform model."""

    object: str = Field(description="Salesforce object API name, e.g. Account or License__c")
    model: str = Field(description="platform model name (snake_case); also its table name")
    direction: Direction
    enabled: bool = True
    fields: list[FieldMapping]
    filter: str | None = Field(default=None, description="SOQL condition added to every receive query")
    after: list[str] = Field(default_factory=list, description="objects this section must sync after")
    conflict: ConflictRule = ConflictRule.NEWEST_WINS
    match_on: str | None = Field(default=None, description="column used to match existing Salesforce "
                                                           "records before creating one (e.g. email)")
    required_columns: list[str] = Field(default_factory=list, description="columns that must be non-empty "
                                                                          "for a record to be sent")

    @field_validator("object")
    @classmethod
    def _object(cls, value: str) -> str:
        if not API_NAME.match(value):
            raise ValueError(f"{value!r} is not a Salesforce object API name")
        return value

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        _snake_case(value, "model", MAX_MODEL_LENGTH)
        if value in RESERVED_MODELS:
            raise ValueError(f"model {value!r} is the name of one of the platform's own tables")
        return value

    @field_validator("after", mode="before")
    @classmethod
    def _after_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("filter")
    @classmethod
    def _filter(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = condition_problem(value)
        if problem:
            raise ValueError(problem)
        from crm_sync.settings.filters import parse_filter

        parse_filter(value.strip())  # the reader the send side evaluates it with
        return value.strip()

    @field_validator("fields")
    @classmethod
    def _some_fields(cls, value: list[FieldMapping]) -> list[FieldMapping]:
        if not value:
            raise ValueError("a section needs at least one field mapping")
        return value

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Section:
        if info.context and info.context.get(COLLECT_PROBLEMS):
            return self
        from crm_sync.settings.validation import section_problems

        problems = section_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- what flows where ---------------------------------------------------------------------------
    @property
    def receives(self) -> bool:
        """True when the section is enabled and Salesforce records flow into the platform."""
        return self.enabled and self.direction.receives

    @property
    def sends(self) -> bool:
        """True when the section is enabled and platform changes flow to Salesforce."""
        return self.enabled and self.direction.sends

    def direction_of(self, mapping: FieldMapping) -> Direction:
        """The effective direction of one field: its override, else the section's."""
        return mapping.direction or self.direction

    def receive_fields(self) -> list[FieldMapping]:
        """Fields whose Salesforce value is written to the platform (in file order)."""
        return [f for f in self.fields if self.direction.receives and self.direction_of(f).receives]

    def send_fields(self) -> list[FieldMapping]:
        """Fields whose platform value is written to Salesforce (in file order); never a parent path."""
        return [f for f in self.fields if self.direction.sends and self.direction_of(f).sends]

    def base_columns(self) -> list[str]:
        """Columns whose last-agreed value the platform keeps: every field that can flow to Salesforce
        (independent of `enabled`, so pausing a section keeps its state)."""
        return [f.column for f in self.fields if self.direction.sends and self.direction_of(f).sends]

    def soql_fields(self) -> list[str]:
        """The SELECT list of a receive query: Id, every receive field (parent paths included), both modstamps."""
        names = ["Id", *(f.salesforce for f in self.receive_fields()), *MODSTAMP_FIELDS]
        seen: set[str] = set()
        unique = []
        for name in names:
            if name.lower() not in seen:
                seen.add(name.lower())
                unique.append(name)
        return unique

    def field_for_column(self, column: str) -> FieldMapping | None:
        """The mapping that fills `column`, or None."""
        return next((f for f in self.fields if f.column == column), None)

    @property
    def columns(self) -> list[str]:
        """Every mapped platform column, in file order."""
        return [f.column for f in self.fields]


class SyncDefaults(_Strict):
    """Numbers that shape every sync; each has a sensible default."""

    modstamp_field: Literal["LastModifiedDate", "SystemModstamp"] = Field(
        default="LastModifiedDate",
        description="which receive job is on: the 10-minute LastModifiedDate job or the 30-minute SystemModstamp one")
    standard_interval_minutes: int = Field(default=10, ge=1, le=1440)
    system_modstamp_interval_minutes: int = Field(default=30, ge=1, le=1440)
    lookback_minutes: int = Field(default=10, ge=0, le=1440,
                                  description="a receive window starts this long before the cursor")
    settle_seconds: int = Field(default=30, ge=0, le=3600,
                                description="a receive window ends this long before now")
    partition_start_date: date = Field(
        default=date(2025, 1, 1),
        description="first day of the daily receive partitions (UTC); the first partition also holds every "
                    "older record, so a full fetch takes all history whatever this date")
    query_page_size: int = Field(default=2000, ge=200, le=2000, description="REST query batch size")
    bulk_threshold: int = Field(default=10_000, ge=1,
                                description="a receive window with more records than this uses Bulk API 2.0")
    bulk_page_records: int = Field(default=1_000_000, ge=1000, le=10_000_000,
                                   description="records per Bulk API 2.0 results request (one API call each; "
                                               "parsed as it streams, so memory does not grow with it)")
    receive_page_records: int = Field(default=50_000, ge=1000, le=1_000_000,
                                      description="records per landed and applied page of a Bulk receive")
    bulk_range_records: int = Field(default=250_000, ge=10_000,
                                    description="a Bulk receive of more records is split into Id ranges of "
                                                "about this many records, one query job each")
    bulk_jobs_in_flight: int = Field(default=2, ge=1, le=10,
                                     description="query jobs of one Bulk receive that Salesforce prepares at "
                                                 "once (the next range is ready while this one is read)")
    push_chunk_size: int = Field(default=200, ge=1, le=200, description="records per sObject Collections call")
    push_requests_in_flight: int = Field(default=4, ge=1, le=25,
                                         description="sObject Collections calls a push keeps in flight at once")
    push_bulk_threshold: int = Field(default=2000, ge=1,
                                     description="a push with more records than this uses Bulk API 2.0 ingest")
    push_interval_seconds: int = Field(default=10, ge=1, le=300,
                                       description="how often the outbox sensor looks for user edits to send")
    push_follow_idle_seconds: int = Field(
        default=120, ge=0, le=3600,
        description="a push_changes run the sensor launched keeps polling the outbox until nothing was due "
                    "for this long (0: one batch per run)")
    push_follow_max_seconds: int = Field(default=900, ge=0, le=86_400,
                                         description="the longest a push_changes run keeps polling the outbox")
    push_poll_seconds: float = Field(default=0.25, gt=0, le=60,
                                     description="how often a polling push_changes run looks at the outbox")
    claim_lease_seconds: int = Field(default=300, ge=10,
                                     description="how long a claimed outbox row stays invisible to others")
    max_attempts: int = Field(default=30, ge=1, description="send attempts before a change is a dead letter")
    retry_backoff_seconds: int = Field(default=30, ge=1, description="first retry delay; doubles per attempt")
    retry_backoff_max_seconds: int = Field(default=3600, ge=1)
    nightly_push_hour_utc: int = Field(default=2, ge=0, le=23)
    api_quota_min_percent: float = Field(default=10.0, ge=0, le=100)


class Settings(_Strict):
    """The whole sync configuration: the sections (file order matters) and the defaults."""

    sections: list[Section]
    defaults: SyncDefaults = Field(default_factory=SyncDefaults)

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Settings:
        if info.context and info.context.get(COLLECT_PROBLEMS):
            return self
        from crm_sync.settings.validation import settings_problems

        problems = settings_problems(self.sections)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def section(self, name: str) -> Section:
        """The section of a Salesforce object (case-insensitive) or, failing that, of a platform model."""
        lowered = name.lower()
        for section in self.sections:
            if section.object.lower() == lowered:
                return section
        for section in self.sections:
            if section.model == name:
                return section
        raise KeyError(f"no sync section for {name!r} (objects: {', '.join(s.object for s in self.sections)})")

    def in_order(self) -> list[Section]:
        """Every section in sync order: file order, moved later where `after` asks (a cycle is an error)."""
        from crm_sync.settings.validation import sync_order

        return sync_order(self.sections)

    def enabled_sections(self) -> list[Section]:
        """Enabled sections whose direction is not off, in sync order."""
        return [s for s in self.in_order() if s.enabled and s.direction is not Direction.OFF]

    def receiving_sections(self) -> list[Section]:
        """Enabled sections whose records flow from Salesforce into the platform, in sync order."""
        return [s for s in self.enabled_sections() if s.receives]

    def predecessor(self, name: str) -> Section | None:
        """The enabled section just before `name` in sync order (what its receive asset depends on)."""
        ordered = self.enabled_sections()
        target = self.section(name)
        for before, current in zip(ordered, ordered[1:], strict=False):
            if current is target:
                return before
        return None

