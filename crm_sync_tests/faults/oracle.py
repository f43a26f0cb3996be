"""The oracle of the fault suite: what each mapped field must hold on both sides once the sync is quiet.

The harness records every write it makes, per side, with that side's own time (the platform's clock for
platform edits, the org's clock for Salesforce edits: the times the product itself compares). For a field:
- written by nobody: its value at the start (both sides held it after the full fetch; for a record the run
  created, whatever default Salesforce gave it, as long as both sides agree);
- written by one side only: that side's last value (different fields of one record never conflict);
- written by both: the write made later (on one clock) when the earlier one may have been agreed before
  it, or the section's conflict rule when they met: `newest_wins` on the sides' own stamps (the org's
  clock may be shifted, so stamp order and real order can differ; with unshifted clocks both name the
  same write), `platform_wins` / `salesforce_wins` that side. Writes closer than `tie` are both
  acceptable, and so is Salesforce's value when Salesforce changed the record (any field) after the
  platform's write, because Salesforce says when a record changed, never which field;
- changed and changed back by one side before the other side saw the change (a "burst" of edits that ends
  on the value the field had before it): that is no change at all against the last-agreed base (the merge
  rule compares values, not edits), so the expectation without those writes is acceptable too (when the
  value before the burst was itself unsent, the burst's time may still date the change: both are
  acceptable). A platform burst is the writes no push delivered in between (`group_platform_bursts`:
  after the push, Salesforce held the integration user's write of the record); a Salesforce burst is the
  writes no receive saw in between (`group_salesforce_bursts`: a receive sees a record's latest write if
  it was made before the receive started, stamped before the window's end, `settle_seconds` before the
  start, and not overwritten before the receive ended). Salesforce says a record
  changed, never which field, so a field back at its base looks unchanged;
- a send-only field: the platform's last value (not checked before the platform writes it: the receive
  never fills it; nor when its only writes are a burst set back to where it started, which is no change);
  a receive-only field: whatever Salesforce holds.

Then each (record, field) is classified, comparing what the two sides hold:
- **lost**: neither side holds an acceptable value: an edit vanished from both sides;
- **stuck**: the sides differ, one holds the expected value, and the platform still has unsent work for
  the record (outbox rows, dead letters, an error status);
- **diverged**: the sides differ otherwise (or differ on a receive-only field, or on being deleted);
- **duplicated**: more than one row of one side carries one record's identity (its Salesforce Id, or
  the unique token a created record was given).
A record missing on one side is lost (stuck when its create is still waiting in the outbox).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from crm_sync.settings import ConflictRule, Direction, FieldType, Section

PLATFORM = "platform"
SALESFORCE = "salesforce"
LOST, DUPLICATED, DIVERGED, STUCK = "lost", "duplicated", "diverged", "stuck"
KINDS = (LOST, DUPLICATED, DIVERGED, STUCK)
RECORD = "<record>"
DELETED = "<deleted>"
DEFAULT_TIE = timedelta(seconds=1)
UNCHECKED = frozenset({"(not checked)"})  # a send-only field the platform never wrote


def normalize(value: Any, field_type: FieldType) -> Any:
    """One comparable form for a platform value and a Salesforce (JSON) value of the same field."""
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if field_type is FieldType.FLOAT:
        return round(float(value), 2)
    if field_type is FieldType.INTEGER:
        return int(float(value))
    if field_type is FieldType.BOOLEAN:
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1")
        return bool(value)
    if field_type is FieldType.DATE:
        if isinstance(value, datetime):
            return value.date().isoformat()
        return value.isoformat() if isinstance(value, date) else str(value)[:10]
    if field_type is FieldType.DATETIME:
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00").replace("+0000", "+00:00"))
        return value.astimezone(UTC).replace(microsecond=0).isoformat()
    return str(value)


@dataclass
class Write:
    """One field value written by the harness on one side, at that side's time."""

    side: str
    column: str
    value: Any  # normalized
    at: datetime  # the side's own stamp (the org's clock may be shifted)
    kind: str  # user | system | person | api | automation | create
    real: datetime | None = None  # when the harness made it (one clock for both sides); None: same as `at`
    burst: int | None = None  # writes of one side with equal bursts: the other side saw nothing in between
    before: Any = None  # the side's value before this write (only where `known_before`)
    known_before: bool = False

    @property
    def order(self) -> datetime:
        return self.real or self.at


@dataclass
class RecordTruth:
    """Everything the harness did to one record: its identity on each side, start values and writes."""

    model: str
    salesforce_id: str | None = None
    platform_id: int | None = None
    token: str | None = None  # the unique value of the model's token column, for records the run created
    initial: dict[str, Any] = field(default_factory=dict)
    writes: list[Write] = field(default_factory=list)
    deleted: bool = False
    ever_deleted: bool = False
    created_by: str | None = None
    burst_start: dict[tuple[str, str, int], Any] = field(default_factory=dict)  # (side, column, burst) -> before
    reverted: set[tuple[str, str, int]] = field(default_factory=set)  # bursts that ended where they started

    @property
    def name(self) -> str:
        return self.salesforce_id or (f"token {self.token}" if self.token else f"platform id {self.platform_id}")

    def write(self, side: str, values: dict[str, Any], at: datetime, kind: str,
              real: datetime | None = None, *, burst: int | None = None,
              before: dict[str, Any] | None = None) -> None:
        """Record writes; `before` holds each column's value on that side before this write, so a burst (writes
        with one `burst`) that returns a field to its value before the burst is known as reverted."""
        for column, value in values.items():
            known = before is not None and column in before
            self.writes.append(Write(side, column, value, at, kind, real, burst,
                                     before[column] if known else None, known))
        self._find_reverted(side)

    def _find_reverted(self, side: str) -> None:
        """The bursts of `side` that end on the value the field had before them (unknown start: never)."""
        self.burst_start = {k: v for k, v in self.burst_start.items() if k[0] != side}
        self.reverted = {k for k in self.reverted if k[0] != side}
        unknown: set[tuple[str, str, int]] = set()
        for w in sorted((w for w in self.writes if w.side == side and w.burst is not None), key=lambda w: w.order):
            key = (side, w.column, w.burst)
            if key not in self.burst_start and key not in unknown:
                if not w.known_before:
                    unknown.add(key)
                    continue
                self.burst_start[key] = w.before
            if key in unknown:
                continue
            if w.value == self.burst_start[key]:
                self.reverted.add(key)
            else:
                self.reverted.discard(key)

    def group_salesforce_bursts(self, receives: Sequence[tuple[datetime, datetime, datetime]]) -> None:
        """Number the Salesforce writes of this record into bursts: a new burst starts after a write whose
        result a receive saw. `receives` are (started, ended; one clock: window end, the org's clock) of the
        receives that completed. One saw a write when it started after it, ended before the record's next
        Salesforce write (any field), and its window ended after the write's stamp."""
        self._number_bursts(SALESFORCE, lambda made, stamp, overwritten: any(
            started > made and (overwritten is None or ended < overwritten) and window_end > stamp
            for started, ended, window_end in receives))

    def group_platform_bursts(self, landings: Sequence[tuple[datetime, datetime]]) -> None:
        """Number the platform writes of this record into bursts: a new burst starts after a write that a push
        delivered. `landings` are (started, ended) of the pushes after which Salesforce held a write of this
        record by the integration user; one delivered a write when it started after it and ended before the
        record's next platform write."""
        self._number_bursts(PLATFORM, lambda made, _stamp, overwritten: any(
            started > made and (overwritten is None or ended < overwritten) for started, ended in landings))

    def _number_bursts(self, side: str, seen: Callable[[datetime, datetime, datetime | None], bool]) -> None:
        """Writes of one side share a burst until one of them was seen by the other side: `seen(made, stamp,
        next made)` of each write operation (the columns one edit wrote share its times)."""
        operations = sorted({(w.order, w.at) for w in self.writes if w.side == side})
        burst_of: dict[datetime, int] = {}
        burst = 0
        for n, (made, stamp) in enumerate(operations):
            burst_of[made] = burst
            if seen(made, stamp, operations[n + 1][0] if n + 1 < len(operations) else None):
                burst += 1
        for w in self.writes:
            if w.side == side:
                w.burst = burst_of[w.order]
        self._find_reverted(side)

    def last(self, side: str, column: str) -> Write | None:
        found = [w for w in self.writes if w.side == side and w.column == column]
        return max(found, key=lambda w: w.order) if found else None


@dataclass
class ModelRules:
    """What the oracle needs of one sync section."""

    model: str
    obj: str
    conflict: ConflictRule
    two_way: dict[str, FieldType]
    send_only: dict[str, FieldType]
    receive_only: dict[str, FieldType]
    token_column: str | None = None

    @classmethod
    def of(cls, section: Section, token_column: str | None = None) -> ModelRules:
        """Mapped fields by direction (parent paths such as Owner.Email are left out: a documented limit)."""
        two_way, send_only, receive_only = {}, {}, {}
        for mapping in section.fields:
            if "." in mapping.salesforce:
                continue
            direction = section.direction_of(mapping)
            target = two_way if direction is Direction.BOTH else send_only if direction is Direction.SEND \
                else receive_only
            target[mapping.column] = mapping.type
        if not section.sends:
            receive_only.update(two_way)
            receive_only.update(send_only)
            two_way, send_only = {}, {}
        return cls(section.model, section.object, ConflictRule(section.conflict), two_way, send_only,
                   receive_only, token_column)

    @property
    def columns(self) -> dict[str, FieldType]:
        return {**self.two_way, **self.send_only, **self.receive_only}


@dataclass
class Row:
    """One side's copy of a record at the end: values keyed by platform column, normalized."""

    key: str  # platform id or Salesforce Id
    salesforce_id: str | None
    deleted: bool
    values: dict[str, Any]
    pending: bool = False  # platform only: outbox rows, dead letters or an error status remain


@dataclass(frozen=True)
class Finding:
    kind: str
    model: str
    record: str
    column: str
    expected: Any
    platform: Any
    salesforce: Any

    def __str__(self) -> str:
        return (f"{self.kind}: {self.model} {self.record} {self.column}: expected {self.expected!r}, "
                f"platform {self.platform!r}, salesforce {self.salesforce!r}")

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "record": self.record, "column": self.column,
                "expected": _jsonable(self.expected), "platform": _jsonable(self.platform),
                "salesforce": _jsonable(self.salesforce)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def expected_values(truth: RecordTruth, column: str, rules: ModelRules, *,
                    tie: timedelta = DEFAULT_TIE) -> set | None:
    """The acceptable end values of one field (None: any, as long as both sides agree)."""
    expected = _expected(truth, truth.writes, column, rules, tie)
    if expected is None or expected is UNCHECKED:
        return expected
    for side in (PLATFORM, SALESFORCE):
        last = truth.last(side, column)
        if last is None or last.burst is None or (side, column, last.burst) not in truth.reverted:
            continue
        without = [w for w in truth.writes if not (w.side == side and w.column == column and w.burst == last.burst)]
        alternative = _expected(truth, without, column, rules, tie)
        if alternative is UNCHECKED:  # a send-only field whose platform writes were all that burst: never written
            return UNCHECKED
        if alternative is not None:
            expected = expected | alternative
    return expected


def _last(writes: list[Write], side: str, column: str) -> Write | None:
    found = [w for w in writes if w.side == side and w.column == column]
    return max(found, key=lambda w: w.order) if found else None


def _expected(truth: RecordTruth, writes: list[Write], column: str, rules: ModelRules,
              tie: timedelta) -> set | None:
    if column in rules.receive_only:
        return None
    mine, theirs = _last(writes, PLATFORM, column), _last(writes, SALESFORCE, column)
    start = {truth.initial[column]} if column in truth.initial else None  # a create that left it unset: any
    if column in rules.send_only:  # the platform owns it: nothing to hold before the platform writes it
        return {mine.value} if mine else UNCHECKED
    if mine is None and theirs is None:
        return start
    if theirs is None:
        return {mine.value}
    if mine is None:
        return {theirs.value}
    if abs(mine.at - theirs.at) <= tie or abs(mine.order - theirs.order) <= tie:
        return {mine.value, theirs.value}
    # The write made later (one clock) may win when the earlier one was agreed before it was made; if
    # not, the two met as a conflict and the rule decides on the sides' own stamps.
    later = mine if mine.order > theirs.order else theirs
    if rules.conflict is ConflictRule.PLATFORM_WINS:
        return {mine.value, later.value}
    if rules.conflict is ConflictRule.SALESFORCE_WINS:
        return {theirs.value, later.value}
    if mine.at < theirs.at:
        return {theirs.value, later.value}
    record_changed_later = any(w.side == SALESFORCE and w.at > mine.at + tie for w in writes)
    return {mine.value, later.value, *([theirs.value] if record_changed_later else [])}


def _shown(values: set | None) -> Any:
    if values is None:
        return "(equal on both sides)"
    return next(iter(values)) if len(values) == 1 else values


@dataclass
class Report:
    """The findings of one comparison, by kind."""

    findings: list[Finding] = field(default_factory=list)
    compared_fields: int = 0
    compared_records: int = 0

    def of(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def counts(self) -> dict[str, int]:
        return {kind: len(self.of(kind)) for kind in KINDS}

    @property
    def clean(self) -> bool:
        return not self.findings

    def summary(self, examples: int = 5) -> str:
        lines = [f"compared {self.compared_records} records, {self.compared_fields} fields: " +
                 ", ".join(f"{k} {v}" for k, v in self.counts().items())]
        for kind in KINDS:
            for finding in self.of(kind)[:examples]:
                lines.append(f"  {finding}")
        return "\n".join(lines)


def _index(rows: Iterable[Row], key) -> dict[Any, list[Row]]:
    index: dict[Any, list[Row]] = {}
    for row in rows:
        value = key(row)
        if value is not None:
            index.setdefault(value, []).append(row)
    return index


def compare_model(rules: ModelRules, truths: Sequence[RecordTruth], platform_rows: Sequence[Row],
                  salesforce_rows: Sequence[Row], *, tie: timedelta = DEFAULT_TIE,
                  report: Report | None = None) -> Report:
    """Compare one model's two sides against the truths of its records; every record of a side is looked at."""
    report = report if report is not None else Report()
    token = rules.token_column
    p_by_sf, p_by_id = _index(platform_rows, lambda r: r.salesforce_id), _index(platform_rows, lambda r: r.key)
    s_by_id = _index(salesforce_rows, lambda r: r.key)
    p_by_token = _index(platform_rows, lambda r: r.values.get(token)) if token else {}
    s_by_token = _index(salesforce_rows, lambda r: r.values.get(token)) if token else {}
    seen_p: set[str] = set()
    seen_s: set[str] = set()

    def add(kind: str, truth_name: str, column: str, expected: Any, p: Any, s: Any) -> None:
        report.findings.append(Finding(kind, rules.model, truth_name, column, expected, p, s))

    for truth in truths:
        p_rows = _unique([*p_by_sf.get(truth.salesforce_id, []), *p_by_id.get(str(truth.platform_id), []),
                          *(p_by_token.get(truth.token, []) if truth.token else [])])
        s_rows = _unique([*s_by_id.get(truth.salesforce_id, []),
                          *(s_by_token.get(truth.token, []) if truth.token else [])])
        seen_p.update(r.key for r in p_rows)
        seen_s.update(r.key for r in s_rows)
        report.compared_records += 1
        if len(p_rows) > 1:
            add(DUPLICATED, truth.name, RECORD, 1, [r.key for r in p_rows], len(s_rows))
        if len(s_rows) > 1:
            add(DUPLICATED, truth.name, RECORD, 1, len(p_rows), [r.key for r in s_rows])
        p = _primary(p_rows, truth, PLATFORM)
        s = _primary(s_rows, truth, SALESFORCE)
        if p is None or s is None:
            if truth.deleted and s is not None and p is None and truth.created_by == SALESFORCE:
                continue  # created and deleted in Salesforce before any receive: nothing to hold
            pending = p is not None and p.pending
            add(STUCK if pending else LOST, truth.name, RECORD, "on both sides",
                p.key if p else None, s.key if s else None)
            continue
        if p.deleted != truth.deleted or s.deleted != truth.deleted:
            add(DIVERGED, truth.name, DELETED, truth.deleted, p.deleted, s.deleted)
            continue
        if truth.deleted:
            continue
        for column in rules.columns:
            report.compared_fields += 1
            expected = expected_values(truth, column, rules, tie=tie)
            pv, sv = p.values.get(column), s.values.get(column)
            kind = classify(expected, pv, sv, pending=p.pending)
            if kind is not None:
                add(kind, truth.name, column, _shown(expected), pv, sv)
    for row in platform_rows:
        if row.key not in seen_p and not row.deleted:
            report.compared_records += 1
            s_rows = s_by_id.get(row.salesforce_id, []) if row.salesforce_id else []
            if not s_rows:
                add(STUCK if row.pending else DIVERGED, f"platform id {row.key}", RECORD,
                    "a record the run knows", row.key, None)
                continue
            seen_s.add(s_rows[0].key)
            _compare_equal(rules, row, s_rows[0], report, add)
    for row in salesforce_rows:
        if row.key not in seen_s and not row.deleted:
            report.compared_records += 1
            p_rows = p_by_sf.get(row.key, [])
            if not p_rows:
                add(LOST, row.key, RECORD, "a platform row", None, row.key)
                continue
            _compare_equal(rules, p_rows[0], row, report, add)
    return report


def _compare_equal(rules: ModelRules, p: Row, s: Row, report: Report, add) -> None:
    """A record no truth speaks of (one the run never touched): its sides must simply agree."""
    if p.deleted != s.deleted:
        add(DIVERGED, s.key, DELETED, s.deleted, p.deleted, s.deleted)
        return
    for column in rules.columns:
        report.compared_fields += 1
        if p.values.get(column) != s.values.get(column):
            add(STUCK if p.pending else DIVERGED, s.key, column, "(equal on both sides)", p.values.get(column),
                s.values.get(column))


def classify(expected: set | None, platform_value: Any, salesforce_value: Any, *, pending: bool) -> str | None:
    """lost | stuck | diverged for one field, or None when it is right."""
    if expected is UNCHECKED:
        return None
    if expected is None:
        return None if platform_value == salesforce_value else (STUCK if pending else DIVERGED)
    p_ok, s_ok = platform_value in expected, salesforce_value in expected
    if p_ok and s_ok and platform_value == salesforce_value:
        return None
    if not p_ok and not s_ok:
        return LOST
    return STUCK if pending else DIVERGED


def _unique(rows: list[Row]) -> list[Row]:
    seen: dict[str, Row] = {}
    for row in rows:
        seen.setdefault(row.key, row)
    return list(seen.values())


def _primary(rows: list[Row], truth: RecordTruth, side: str) -> Row | None:
    """The row that is the record on this side: the one with its known Id, else the first live one."""
    if not rows:
        return None
    for row in rows:
        if side == PLATFORM and truth.platform_id is not None and row.key == str(truth.platform_id):
            return row
        if side == SALESFORCE and truth.salesforce_id and row.key == truth.salesforce_id:
            return row
    live = [r for r in rows if not r.deleted]
    return (live or rows)[0]
