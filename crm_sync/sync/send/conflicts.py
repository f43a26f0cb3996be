"""Conflicts at push time, decided per field against the last-agreed base.

Before an update is written, Salesforce's current values of the fields to send are read (composite: up
to 5 queries of 200 Ids in ONE API call), with LastModifiedDate and SystemModstamp. For each field the
platform changed (current <> base):
- Salesforce still holds the base: only the platform changed it: it is sent;
- Salesforce already holds the platform's value: both agree: nothing is sent, the base moves;
- Salesforce holds a third value: both changed it. A one-way (send-only) field: the platform owns it.
  A two-way field: the section's `conflict` rule: `newest_wins` (default) compares the time the platform
  changed that field (its outbox row, else the last system write) with Salesforce's latest modstamp (SystemModstamp too, so an automation's change counts);
  `platform_wins` / `salesforce_wins` always pick that side.
After a push that died between its write and its acknowledgement (its values kept in the claim, see
platform/claims.py), the base may be stale: Salesforce holding the values that push wrote means it
landed (they are the base now); Salesforce holding the old base although the record changed since that
push read it means a person or automation may have restored it after our write, so the field counts as
changed on both sides and goes to the rule (logged), instead of being taken for "unchanged".
When Salesforce wins, the field is not sent and its value becomes the platform's current and base value
(origin `salesforce`: no outbox row). Every overwritten value is logged with both values (sync log).
Different fields of one record never conflict: only fields both sides changed are compared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_sync.platform.claims import PendingWrite
from crm_sync.platform.schema import base_column
from crm_sync.platform.values import parse_datetime, same_value, to_platform
from crm_sync.salesforce import soql
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.settings import ConflictRule, Direction, Section

IDS_PER_QUERY = 200
QUERIES_PER_CALL = 5  # Salesforce allows 5 query subrequests in one composite request


@dataclass(frozen=True)
class Overwrite:
    """One field value that a sync overwrote, with both values."""

    record_id: int
    salesforce_id: str
    column: str
    field: str
    platform_value: Any
    salesforce_value: Any
    winner: str  # "platform" | "salesforce"
    reason: str

    def details(self) -> dict[str, Any]:
        return {"record_id": self.record_id, "salesforce_id": self.salesforce_id, "column": self.column,
                "field": self.field, "platform_value": self.platform_value,
                "salesforce_value": self.salesforce_value, "winner": self.winner, "reason": self.reason,
                "overwritten": "salesforce" if self.winner == "platform" else "platform"}


@dataclass
class Decision:
    """What to send for one record after the conflict check, what to take from Salesforce, what both hold."""

    send: list[str]
    take: dict[str, Any]
    agreed: dict[str, Any]
    overwrites: list[Overwrite]


def read_current(client: SalesforceClient, obj: str, ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict]:
    """Salesforce Id -> {field: value, LastModifiedDate} of these records, 1,000 records per API call."""
    stamps = ("id", "lastmodifieddate", "systemmodstamp")
    names = ["Id", "LastModifiedDate", "SystemModstamp", *[f for f in fields if f.lower() not in stamps]]
    found: dict[str, dict] = {}
    chunks = [list(ids[i:i + IDS_PER_QUERY]) for i in range(0, len(ids), IDS_PER_QUERY)]
    for start in range(0, len(chunks), QUERIES_PER_CALL):
        subrequests = [client.query_subrequest(f"q{n}", soql.select(obj, names, soql.id_in(chunk)))
                       for n, chunk in enumerate(chunks[start:start + QUERIES_PER_CALL])]
        for answer in client.composite(subrequests):
            body = answer.get("body")
            if answer.get("httpStatusCode", 500) >= 300 or not isinstance(body, dict):
                raise RuntimeError(f"reading {obj} for the conflict check failed: {body}")
            for record in body.get("records", []):
                found[record["Id"]] = record
    return found


def decide(section: Section, row: dict[str, Any], columns: Sequence[str], current: dict | None,
           changed_at: Mapping[str, datetime | None], unacknowledged: PendingWrite | None = None) -> Decision:
    """Which of `columns` (the platform's changes) to send, given Salesforce's current record (None: not read),
    when the platform changed each column, and an earlier push's write of the record that was never
    acknowledged (None: there is none)."""
    decision = Decision(send=[], take={}, agreed={}, overwrites=[])
    sf_modified = latest_modstamp(current)
    for column in columns:
        mapping = section.field_for_column(column)
        if current is None or mapping.salesforce not in current:
            decision.send.append(column)
            continue
        theirs = current[mapping.salesforce]
        if same_value(row.get(column), theirs, mapping.type):
            decision.agreed[column] = row.get(column)
            continue
        holds_base = same_value(row.get(base_column(column)), theirs, mapping.type)
        written = _unacknowledged_value(unacknowledged, mapping.salesforce)
        if written is not _NOTHING and same_value(to_platform(written, mapping.type), theirs, mapping.type):
            decision.send.append(column)  # that write landed and is the base; the platform changed it since
            continue
        if holds_base and not (written is not _NOTHING and _changed_since(unacknowledged, sf_modified)):
            decision.send.append(column)
            continue
        winner, reason = _winner(section, section.direction_of(mapping), changed_at.get(column), sf_modified)
        decision.overwrites.append(Overwrite(row["id"], row.get("salesforce_id") or "", column, mapping.salesforce,
                                             _jsonable(row.get(column)), theirs, winner, reason))
        if winner == "platform":
            decision.send.append(column)
        else:
            decision.take[column] = to_platform(theirs, mapping.type)
    return decision


_NOTHING = object()


def _unacknowledged_value(write: PendingWrite | None, field: str) -> Any:
    """The value an unacknowledged write sent for `field` (its payload's own field name), or _NOTHING."""
    return _NOTHING if write is None else write.values.get(field, _NOTHING)


def _changed_since(write: PendingWrite | None, sf_modified: datetime | None) -> bool:
    """Whether Salesforce's record changed after the unacknowledged write read it (unknown: yes)."""
    if write is None:
        return False
    return write.seen_modstamp is None or sf_modified is None or sf_modified > write.seen_modstamp


def latest_modstamp(current: dict | None) -> datetime | None:
    """The later of Salesforce's LastModifiedDate and SystemModstamp (automation moves only the latter)."""
    stamps = [parse_datetime(current[k]) for k in ("LastModifiedDate", "SystemModstamp")
              if current and current.get(k)]
    return max(stamps) if stamps else None


def _winner(section: Section, direction: Direction, changed_at: datetime | None,
            sf_modified: datetime | None) -> tuple[str, str]:
    if direction is Direction.SEND:
        return "platform", "one-way field: the platform owns it"
    if section.conflict is ConflictRule.PLATFORM_WINS:
        return "platform", "rule platform_wins"
    if section.conflict is ConflictRule.SALESFORCE_WINS:
        return "salesforce", "rule salesforce_wins"
    if changed_at is not None and sf_modified is not None and changed_at < sf_modified:
        return "salesforce", "newest_wins: Salesforce changed it later"
    return "platform", "newest_wins: the platform changed it later"


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
