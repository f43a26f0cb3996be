"""One API call that tells which sections have something new to receive.

For every section, one `/composite` request (so one API call for up to 8 sections) asks Salesforce
two counts on the active modstamp field (through queryAll, deletes included) and the deleted Ids:
- `past`: records modified at or after the section's cursor: ordinary new work;
- `late`: live records in the lookback band [cursor - lookback, cursor). Compared with the platform's
  own count of live rows in that band, a difference means a record committed late (with a modstamp
  before the cursor) that the platform has not seen yet. Deleted records are left out on both sides:
  a delete moves the modstamp past the cursor, where `past` sees it;
- `gone`: the `deleted` resource over [cursor - lookback, now] (a GET, so it rides in the same composite
  call): Ids deleted there that the platform still holds live. It finds hard deletes, which queryAll never
  shows, and the run it starts marks them (Receiver.receive_deletes).
A section without a cursor has never been received and is always due.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote as url_quote
from urllib.parse import urlencode

from crm_sync.platform import PlatformStore
from crm_sync.salesforce import composite, soql
from crm_sync.salesforce.client import SalesforceClient
from crm_sync.settings import Section
from crm_sync.sync.mapping import with_filter

SUBREQUESTS_PER_SECTION = 3
DELETED_REACH = timedelta(days=15) - timedelta(minutes=5)  # how far back `deleted` answers, with a margin


@dataclass(frozen=True)
class SectionChanges:
    """What the check found for one section."""

    section: str
    cursor: datetime | None
    past_cursor: int
    late: int
    gone: int = 0

    @property
    def due(self) -> bool:
        return self.cursor is None or self.past_cursor > 0 or self.late > 0 or self.gone > 0


def _count_request(client: SalesforceClient, reference: str, section: Section, where: str, *,
                   include_deleted: bool) -> dict:
    query = soql.count(section.object, with_filter(section, where))
    endpoint = "queryAll" if include_deleted else "query"
    url = f"{client.transport.data_path}/{endpoint}?q={url_quote(query, safe='')}"
    return composite.subrequest("GET", url, reference)


def _deleted_request(client: SalesforceClient, reference: str, section: Section, start: datetime,
                     end: datetime) -> dict:
    start = max(start, end - DELETED_REACH)
    start = min(start, end - timedelta(minutes=1))  # the resource answers whole minutes
    window = urlencode({"start": _iso(start), "end": _iso(end)})
    url = f"{client.transport.data_path}/sobjects/{soql.name(section.object)}/deleted/?{window}"
    return composite.subrequest("GET", url, reference)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def find_changes(client: SalesforceClient, store: PlatformStore, sections: Sequence[Section], *,
                 modstamp_field: str, now: datetime | None = None) -> list[SectionChanges]:
    """Per section, whether anything is new since its cursor, asked in as few API calls as possible."""
    now = now or datetime.now(UTC)
    lookback = timedelta(minutes=store.settings.defaults.lookback_minutes)
    results: list[SectionChanges] = []
    asked: list[tuple[Section, datetime]] = []
    subrequests: list[dict] = []
    for section in sections:
        cursor = store.get_cursor(section, modstamp_field)
        if cursor is None:
            results.append(SectionChanges(section.object, None, 0, 0))
            continue
        field = soql.path(modstamp_field)
        band = soql.window_condition(modstamp_field, cursor - lookback, cursor)
        subrequests += [
            _count_request(client, f"past_{len(asked)}", section, f"{field} >= {soql.datetime_literal(cursor)}",
                           include_deleted=True),
            _count_request(client, f"band_{len(asked)}", section, band, include_deleted=False),
            _deleted_request(client, f"gone_{len(asked)}", section, cursor - lookback, now),
        ]
        asked.append((section, cursor))

    per_call = composite.COMPOSITE_MAX_SUBREQUESTS - composite.COMPOSITE_MAX_SUBREQUESTS % SUBREQUESTS_PER_SECTION
    answers: list[dict] = []
    for start in range(0, len(subrequests), per_call):
        answers += client.composite(subrequests[start:start + per_call])
    for index, (section, cursor) in enumerate(asked):
        first = index * SUBREQUESTS_PER_SECTION
        past, band = (_total(answers[first + k]) for k in range(2))
        known = store.count_in_modstamp_range(section, modstamp_field, cursor - lookback, cursor,
                                              include_deleted=False)
        gone = store.count_live(section, [item["id"] for item in _body(answers[first + 2]).get("deletedRecords", [])])
        results.append(SectionChanges(section.object, cursor, past, max(0, band - known), gone))
    return results


def _total(answer: dict) -> int:
    return int(_body(answer)["totalSize"])


def _body(answer: dict) -> dict:
    return composite.answer_body(answer)
