"""The randomized two-sided fault run: edits on both sides under faults and kills, then a quiet sync and
the oracle's verdict (lost, duplicated, diverged, stuck). Plain Python over the real components:

- Salesforce = the sandbox over HTTPS: a person's edits through the admin surface (`as_user`), API edits
  through unmodified simple-salesforce (under the injected faults, retried by the harness), automation
  (SystemModstamp only), creates, deletes and undeletes;
- the platform = PlatformStore on SQLite or Postgres, edits through `edit_record` as `user` and `system`;
- the sync = receive ticks, pushes and the nightly push as Dagster's jobs run them (see runs.py), each in
  a child process that may be SIGKILLed during a page, during a push, or between write and acknowledgement.

Time: the org's clock starts days in the past just before midnight, crosses it, and after a paused round
jumps to the real time (a pause of `pause_days` or more); receive runs use the org's clock. The platform's
clock (leases, backoffs) moves two minutes a round. From one seed the same edits and kills are chosen (the
sandbox's faults are seeded too; what they hit still depends on timing).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from simple_salesforce.exceptions import SalesforceError as SimpleSalesforceError

from crm_sync.platform import PlatformStore
from crm_sync.salesforce import soql
from crm_sync.sandbox import timefmt
from crm_sync.sandbox.admin_client import SandboxAdminError
from crm_sync.sandbox.process import SandboxInfo
from crm_sync.settings import FieldType, Settings, default_sections_path
from crm_sync.settings.loader import settings_from_data
from crm_sync.settings.schema import BASE_SUFFIX
from crm_sync.sync.send.capture import edit_record
from crm_sync_tests.faults import runs
from crm_sync_tests.faults.oracle import (
    DIVERGED,
    LOST,
    PLATFORM,
    SALESFORCE,
    Finding,
    ModelRules,
    RecordTruth,
    Report,
    Row,
    compare_model,
    normalize,
)

TOKEN_COLUMNS = {"company": "account_number", "end_user": "email", "note": "title", "task": "subject"}
EDITABLE = {
    "company": ("name", "phone", "website", "city", "country", "description", "employees", "annual_revenue"),
    "end_user": ("first_name", "last_name", "phone", "title", "department", "city", "country", "birthdate",
                 "email_opt_out", "lead_source"),
    "task": ("description", "priority", "status", "due_date"),
    "note": ("body", "private"),
}
SYSTEM_EDITABLE = {"company": ("health_score", "employees", "description"), "end_user": ("title", "department")}
AUTOMATION_EDITABLE = {"company": ("description", "phone"), "end_user": ("department", "title"),
                       "task": ("priority", "description"), "note": ("body",)}
PICKLISTS = {
    ("end_user", "lead_source"): ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"),
    ("task", "priority"): ("High", "Normal", "Low"),
    ("task", "status"): ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"),
}
REQUIRED = {("company", "name"), ("end_user", "last_name"), ("task", "priority"), ("task", "status")}
MODEL_WEIGHTS = {"company": 3, "end_user": 3, "task": 3, "note": 1}
SF_OPS = {"person": 45, "api": 20, "automation": 15, "create": 10, "delete": 5, "undelete": 5}
PLATFORM_OPS = {"user": 70, "system": 15, "create": 15}
PLATFORM_ROUND_STEP = timedelta(minutes=2)
PHASE_A_ROUND_STEP = timedelta(seconds=20)


@dataclass
class FaultSuiteConfig:
    """One run's size, faults and kill rate."""

    records: int = 300
    rounds: int = 6
    seed: int = 1
    edits_per_round: int = 0  # 0: records // 40, at least 8
    rate_503: float = 0.05
    rate_lock: float = 0.01
    session_ttl_s: float = 20.0
    commit_lag_s: float = 2.0
    kill_rate: float = 0.3
    pause_days: int = 3
    tie_seconds: float = 1.0
    modstamp_field: str = "SystemModstamp"  # the 30-minute job: automation is received too
    quiet_iterations: int = 10
    live_start: bool = False  # start on the real clock (no midnight, no pause): the hand-made scenarios

    @property
    def edits(self) -> int:
        return self.edits_per_round or max(8, self.records // 40)


@dataclass
class FaultSuiteResult:
    """What a run did and what the oracle found."""

    seed: int
    database: str
    config: dict[str, Any]
    changes: dict[str, dict[str, int]]
    faults_injected: dict[str, int]
    kills: dict[str, int]
    runs: dict[str, int]
    run_errors: list[str]
    report: Report
    quiet_iterations: int
    seconds: float
    clock: list[str] = field(default_factory=list)
    histories: list[dict[str, Any]] = field(default_factory=list)  # what happened to each lost/diverged field

    @property
    def counts(self) -> dict[str, int]:
        return self.report.counts()

    def summary(self, examples: int = 5) -> str:
        lines = [f"fault suite on {self.database}, seed {self.seed} (replay: --seed {self.seed}), "
                 f"{self.config['records']} records, {self.config['rounds']} rounds, {self.seconds:.0f} s",
                 f"changes: platform {self.changes[PLATFORM]}, salesforce {self.changes[SALESFORCE]}",
                 f"faults injected: {self.faults_injected}; kills: {self.kills}; runs: {self.runs}",
                 f"clock: {'; '.join(self.clock)}",
                 f"sync quiet after {self.quiet_iterations} iterations; run errors: {len(self.run_errors)}",
                 self.report.summary(examples)]
        for history in self.histories[:examples]:
            lines.append(f"  history of {history['model']} {history['record']} {history['column']}:")
            lines.extend(f"    {line}" for line in history["lines"])
        return "\n".join(lines)

    def as_dict(self, examples: int = 20) -> dict[str, Any]:
        return {"seed": self.seed, "database": self.database, "config": self.config, "changes": self.changes,
                "faults_injected": self.faults_injected, "kills": self.kills, "runs": self.runs,
                "run_errors": self.run_errors[:examples], "quiet_iterations": self.quiet_iterations,
                "seconds": round(self.seconds, 1), "clock": self.clock, **self.counts,
                "compared_records": self.report.compared_records,
                "compared_fields": self.report.compared_fields,
                "examples": {kind: [f.as_dict() for f in self.report.of(kind)[:examples]]
                             for kind in self.counts},
                "histories": self.histories[:examples]}


def harness_settings() -> Settings:
    """The shipped sections, with a settle of 2 s (rounds last seconds, not minutes) and REST pages of 200
    (so a window has several pages to die between)."""
    data = yaml.safe_load(default_sections_path().read_text(encoding="utf-8"))
    data["defaults"].update(settle_seconds=2, query_page_size=200)
    return settings_from_data(data)


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class FaultSuite:
    """One randomized run against one sandbox and one platform database."""

    def __init__(self, config: FaultSuiteConfig, sandbox: SandboxInfo, platform_url: str, work_dir: Path) -> None:
        self.config = config
        self.sandbox = sandbox
        self.admin = sandbox.admin
        self.platform_url = platform_url
        self.database = sa.make_url(platform_url).get_backend_name()
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(config.seed)
        self.settings = harness_settings()
        self.rules = {s.model: ModelRules.of(s, TOKEN_COLUMNS.get(s.model))
                      for s in self.settings.in_order() if s.direction.value != "off"}
        self.two_way = [m for m in ("company", "end_user", "note", "task") if m in self.rules]
        self.truths: dict[str, list[RecordTruth]] = {m: [] for m in self.rules}
        self.by_sf: dict[str, RecordTruth] = {}
        self.org_offset = timedelta(0)
        self.platform_offset = timedelta(0)
        self.counter = 0
        self.changes: dict[str, Counter] = {PLATFORM: Counter(), SALESFORCE: Counter()}
        self.kills: Counter = Counter()
        self.run_counts: Counter = Counter()
        self.timeline: list[tuple[datetime, datetime, str]] = []  # (started, ended, what) of every run, real time
        self.burst = 0  # runs so far: platform edits with the same count had no sync between them
        self.receives: list[tuple[datetime, datetime, datetime]] = []  # completed ticks: started, ended, window end
        self.landings: dict[str, list[tuple[datetime, datetime]]] = {}  # Salesforce Id -> pushes that wrote it
        # every push and nightly run: (started, ended) in real time and on the org's clock
        self.pushes: list[tuple[datetime, datetime, datetime, datetime]] = []
        self.integration_user_id = ""
        self.run_errors: list[str] = []
        self.clock_log: list[str] = []
        self.live = False  # org clock == real clock: sleep between the sides' edits so their order is clear
        self.round_edited: dict[str, set[int]] = {PLATFORM: set(), SALESFORCE: set()}

    # -- clocks ------------------------------------------------------------------------------------
    def org_now(self) -> datetime:
        return datetime.now(UTC) + self.org_offset

    def platform_now(self) -> datetime:
        return datetime.now(UTC) + self.platform_offset

    def _set_org_time(self, target: datetime, why: str) -> None:
        """Move the org's clock forward to `target` (never backward: modstamps must not go back)."""
        offset = target - datetime.now(UTC)
        if offset <= self.org_offset:
            return
        self.org_offset = offset
        answer = self.admin.set_clock_offset(offset.total_seconds())
        self.clock_log.append(f"{why}: org time {answer['now']}")

    def context(self) -> runs.RunContext:
        return runs.RunContext(self.sandbox.env(), self.platform_url, self.settings, self.work_dir / "landing",
                               self.org_now, self.platform_now, self.config.modstamp_field)

    # -- the whole run -----------------------------------------------------------------------------
    def run(self) -> FaultSuiteResult:
        started = time.monotonic()
        self.setup()
        for number in range(self.config.rounds):
            self._round(number)
        injected = dict(self.admin.faults().get("injected", {}))
        iterations = self.quiet()
        report = self.compare()
        histories = [self.history(f) for f in report.findings if f.kind in (LOST, DIVERGED)][:20]
        return FaultSuiteResult(
            seed=self.config.seed, database=self.database, config=asdict(self.config),
            changes={side: dict(counter) for side, counter in self.changes.items()},
            faults_injected=injected, kills=dict(self.kills), runs=dict(self.run_counts),
            run_errors=self.run_errors, report=report, quiet_iterations=iterations,
            seconds=time.monotonic() - started, clock=self.clock_log, histories=histories)

    def close(self) -> None:
        if hasattr(self, "store"):
            self.store.close()

    def setup(self) -> None:
        self.admin.clear_faults()
        self.admin.reset()
        start_day = datetime.now(UTC).date() - timedelta(days=self.config.pause_days + 1)
        start = datetime.combine(start_day, datetime.min.time(), tzinfo=UTC).replace(hour=23, minute=50)
        self.org_offset = timedelta(0) if self.config.live_start else start - datetime.now(UTC)
        self.live = self.config.live_start
        answer = self.admin.set_clock_offset(self.org_offset.total_seconds())
        self.clock_log.append(f"start: org time {answer['now']}")
        self.admin.seed(self.config.records, self.config.seed)
        self.store = PlatformStore(self.platform_url, self.settings, landing_root=self.work_dir / "landing")
        self.sf = self.sandbox.salesforce()
        self.integration_user_id = self.sf.query(
            f"SELECT Id FROM User WHERE Username = '{self.sandbox.username}'")["records"][0]["Id"]
        self.users = [r["Username"] for r in self.sf.query_all(
            "SELECT Username FROM User WHERE IsActive = true")["records"] if r["Username"] != self.sandbox.username]
        ctx = self.context()
        client = ctx.client()
        runs.full_fetch(client, self.store, ctx)
        for model in self.two_way:
            platform_ids = self._platform_ids(model)
            for row in self._salesforce_rows(client, model):
                truth = RecordTruth(model, salesforce_id=row.key, platform_id=platform_ids.get(row.key),
                                    initial=dict(row.values), deleted=row.deleted, ever_deleted=row.deleted)
                self.truths[model].append(truth)
                self.by_sf[row.key] = truth
        self.shared_emails = Counter(str(t.initial.get("email")).lower() for t in self.truths.get("end_user", [])
                                     if t.initial.get("email"))
        client.close()
        self.admin.set_faults(**{"rate_503": self.config.rate_503, "rate_lock": self.config.rate_lock,
                                        "commit_lag_s": self.config.commit_lag_s,
                                        "session_ttl_s": self.config.session_ttl_s, "seed": self.config.seed})

    def _round(self, number: int) -> None:
        rounds = self.config.rounds
        midnight, pause = (rounds // 3, (2 * rounds) // 3) if rounds >= 3 else (-1, -1)
        if not self.live:
            target = self.org_now() + PHASE_A_ROUND_STEP
            if number == midnight:
                day = self.org_now().date()
                target = max(target, datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(
                    hours=23, minutes=59, seconds=58, milliseconds=500))
            self._set_org_time(target, f"round {number}")
        paused = number == pause
        self.round_edited = {PLATFORM: set(), SALESFORCE: set()}
        edits = self.config.edits
        self._salesforce_edits(edits)
        if not paused:
            self._run("tick")
        self._between_sides()
        self._platform_edits(edits, overlap=SALESFORCE)
        if not paused:
            self._run("push")
        self._between_sides()
        self._salesforce_edits(max(1, edits // 2), overlap=PLATFORM)
        if not paused:
            self._run("tick")
            self._run("push")
            if number % 3 == 2:
                self._run("nightly")
        self.platform_offset += PLATFORM_ROUND_STEP
        if paused:  # nothing ran this round: the sync was paused; it resumes days later
            self.org_offset = timedelta(0)
            answer = self.admin.set_clock_offset(0)
            self.clock_log.append(f"after the pause (round {number}): org time {answer['now']}")
            self.live = True

    def _between_sides(self) -> None:
        if self.live:
            time.sleep(self.config.tie_seconds + 0.2)

    # -- steps for hand-made scenarios -------------------------------------------------------------
    def platform_edit(self, truth: RecordTruth, values: dict[str, Any], actor: str = "user") -> None:
        """Edit a record on the platform as `user` or `system` (values by column), recorded for the oracle."""
        row = self.store.get_record(truth.model, record_id=truth.platform_id) or {}
        edit_record(self.store, truth.model, values, actor=f"{actor}:fault-suite", record_id=truth.platform_id)
        types = self.rules[truth.model].columns
        self._record(truth, PLATFORM, {c: (v, v) for c, v in values.items()}, actor,
                     before={c: normalize(row.get(c), types[c]) for c in values})

    def salesforce_edit(self, truth: RecordTruth, values: dict[str, Any], how: str = "person") -> None:
        """Edit a record in Salesforce (values by column, JSON form) as a person or as automation."""
        body = {self._sf_field(truth.model, c): v for c, v in values.items()}
        obj = self.rules[truth.model].obj
        if how == "automation":
            self.admin.run_automation(obj, ids=[truth.salesforce_id], changes=body)
        else:
            self.admin.update_record(obj, truth.salesforce_id, body, as_user=self.users[0])
        types = self.rules[truth.model].columns
        self._record(truth, SALESFORCE, {c: (v if types[c] is not FieldType.DATE else date.fromisoformat(v), v)
                                         for c, v in values.items()}, how)

    def platform_create(self, model: str, values: dict[str, Any]) -> RecordTruth:
        """Create a record on the platform as a user; its token column must be in `values`."""
        platform_id = edit_record(self.store, model, values, actor="user:fault-suite")
        truth = RecordTruth(model, platform_id=platform_id, token=values[TOKEN_COLUMNS[model]], created_by=PLATFORM)
        self.truths[model].append(truth)
        self._record(truth, PLATFORM, {c: (v, v) for c, v in values.items()}, "create")
        return truth

    def sync(self, kind: str, kill: runs.Kill | None = None) -> runs.RunOutcome:
        """One run (tick | push | nightly) in a child process, killed as `kill` says."""
        self.store.engine.dispose()  # the child must not share the parent's connections
        self.burst += 1
        started = self._clocks_now()
        outcome = runs.run_in_child(kind, self.context(), kill, self.work_dir)
        self._note_run(outcome, started)
        return outcome

    def _clocks_now(self) -> tuple[datetime, datetime]:
        """(real now, the org's clock now)."""
        now = datetime.now(UTC)
        return now, now + self.org_offset

    def _note_run(self, outcome: runs.RunOutcome, started: tuple[datetime, datetime]) -> None:
        """What the other side saw: a completed tick, every Salesforce write made before it started up to its
        window's end (`settle_seconds` before the start); a push (killed or not), the records Salesforce now
        holds a write of by the integration user since it started. The harness edits only between runs."""
        ended = datetime.now(UTC)
        if outcome.kind == "tick":
            if outcome.killed is None and not outcome.error:
                window_end = started[1] - timedelta(seconds=self.settings.defaults.settle_seconds)
                self.receives.append((started[0], ended, window_end))
            return
        self.pushes.append((started[0], ended, started[1], ended + self.org_offset))
        for model in self.two_way:
            query = (f"SELECT Id FROM {self.rules[model].obj} WHERE LastModifiedById = '{self.integration_user_id}'"
                     f" AND LastModifiedDate >= {soql.datetime_literal(started[1] - timedelta(seconds=1))}")
            for record in self._api(lambda q=query: self.sf.query_all(q))["records"]:
                self.landings.setdefault(record["Id"], []).append((started[0], ended))

    def later(self, minutes: float) -> None:
        """Let time pass on the platform's clock (leases and backoffs run out)."""
        self.platform_offset += timedelta(minutes=minutes)

    # -- runs --------------------------------------------------------------------------------------
    def _run(self, kind: str) -> runs.RunOutcome:
        kill = None
        if self.rng.random() < self.config.kill_rate:
            if self.rng.random() < 0.6:
                kill = runs.Kill(point=self.rng.choice(runs.KILL_POINTS[kind]), nth=self.rng.choice((1, 1, 2)))
            else:
                kill = runs.Kill(seconds=self.rng.uniform(0.05, 1.5))
        started = datetime.now(UTC)
        outcome = self.sync(kind, kill)
        self.timeline.append((started, datetime.now(UTC), f"run {kind} kill={outcome.killed or kill or '-'} "
                                                          f"{outcome.counts} {(outcome.error or '')[:80]}"))
        self.run_counts[kind] += 1
        if outcome.killed is not None:
            self.kills[f"{kind} {outcome.killed.point or 'timer'}"] += 1
        if outcome.error:
            self.run_errors.append(f"{kind}: {outcome.error.splitlines()[0][:300]}")
        return outcome

    def quiet(self) -> int:
        """Faults off, every lease and backoff over, then ticks and pushes until nothing changes."""
        self.admin.clear_faults()
        # at least the real time (the users the sandbox made at start): the pause before the quiet sync
        self._set_org_time(datetime.now(UTC), "quiet")
        ctx = self.context()
        client = ctx.client()
        try:
            calm = 0
            for iteration in range(1, self.config.quiet_iterations + 1):
                self.platform_offset += timedelta(hours=3)
                outcomes = []
                for kind in ("tick", "push", *(("nightly", "push") if iteration == 1 else ())):
                    started = self._clocks_now()
                    outcomes.append(runs.run_in_process(kind, ctx, client, self.store))
                    self._note_run(outcomes[-1], started)
                for outcome in outcomes:
                    if outcome.error:
                        self.run_errors.append(f"quiet {outcome.kind}: {outcome.error[:300]}")
                changed = sum(o.counts.get(k, 0) for o in outcomes for k in ("imported", "updated", "deleted",
                                                                                 "sent"))
                # what was just pushed becomes fetchable once `settle` has passed (the org's clock is not
                # moved ahead of the real one: hand-made scenarios go on editing after a quiet sync)
                time.sleep(self.settings.defaults.settle_seconds + 0.3)
                calm = calm + 1 if changed == 0 else 0
                if calm == 2 and iteration > 2:  # two ticks and pushes in a row found nothing to do
                    return iteration
            return self.config.quiet_iterations
        finally:
            client.close()

    # -- values ------------------------------------------------------------------------------------
    def _value(self, model: str, column: str, tag: str) -> tuple[Any, Any]:
        """(platform value, Salesforce JSON value) of a fresh write; unique where the type allows."""
        self.counter += 1
        n = self.counter
        field_type = self.rules[model].columns[column]
        clearable = (model, column) not in REQUIRED and field_type is not FieldType.BOOLEAN  # checkboxes: never null
        if clearable and self.rng.random() < 0.05:
            return None, None
        if (model, column) in PICKLISTS:
            value = self.rng.choice(PICKLISTS[(model, column)])
            return value, value
        if field_type is FieldType.INTEGER:
            return 1000 + n, 1000 + n
        if field_type is FieldType.FLOAT:
            return n + 0.25, n + 0.25
        if field_type is FieldType.BOOLEAN:
            value = self.rng.random() < 0.5
            return value, value
        if field_type is FieldType.DATE:
            value = date(2000, 1, 1) + timedelta(days=n % 9000)
            return value, value.isoformat()
        text = f"{tag}{n}" if field_type is not FieldType.TEXT else f"{tag}{n} text"
        return text, text

    def _may_repeat(self, model: str, column: str) -> bool:
        """Whether a fresh value of this column can equal the one already there (picklist, checkbox, null)."""
        return (model, column) in PICKLISTS or self.rules[model].columns[column] is FieldType.BOOLEAN \
            or (model, column) not in REQUIRED

    def _changed_value(self, model: str, column: str, tag: str, current: Any) -> tuple[Any, Any]:
        """A fresh value that differs from `current`: writing the value a field already holds changes
        nothing, on either side, so the oracle must not count it as an edit."""
        field_type = self.rules[model].columns[column]
        if field_type is FieldType.BOOLEAN:  # a checkbox has one other value (never null)
            flipped = not normalize(current, field_type)
            return flipped, flipped
        for _ in range(20):
            value = self._value(model, column, tag)
            if normalize(value[0], field_type) != normalize(current, field_type):
                return value
        raise AssertionError(f"no value of {model}.{column} differs from {current!r}")

    def _sf_field(self, model: str, column: str) -> str:
        return self.store.section(model).field_for_column(column).salesforce

    def _pick_model(self) -> str:
        weights = {m: w for m, w in MODEL_WEIGHTS.items() if m in self.two_way}
        return _weighted(self.rng, weights)

    def _pick(self, candidates: list[RecordTruth], overlap: str | None) -> RecordTruth | None:
        if not candidates:
            return None
        if overlap:
            touched = [t for t in candidates if id(t) in self.round_edited[overlap]]
            if touched and self.rng.random() < 0.5:
                return self.rng.choice(touched)
        return self.rng.choice(candidates)

    def _columns(self, truth: RecordTruth, choices: tuple[str, ...], overlap: str | None) -> list[str]:
        """One or two columns; for a record the other side edited this round, often one of its columns."""
        choices = tuple(c for c in choices if c in self.rules[truth.model].columns)
        if overlap and id(truth) in self.round_edited[overlap] and self.rng.random() < 0.5:
            theirs = [w.column for w in truth.writes if w.side == overlap and w.column in choices]
            if theirs:
                return [theirs[-1]]
        return self.rng.sample(choices, k=min(len(choices), self.rng.choice((1, 1, 2))))

    # -- Salesforce side ---------------------------------------------------------------------------
    def _salesforce_edits(self, count: int, overlap: str | None = None) -> None:
        self._resolve_salesforce_ids()
        for _ in range(count):
            operation = _weighted(self.rng, SF_OPS)
            model = self._pick_model()
            try:
                if operation == "create":
                    self._sf_create(model)
                elif operation in ("delete", "undelete"):
                    self._sf_delete(model, undelete=operation == "undelete")
                else:
                    self._sf_edit(model, operation, overlap)
            except (SandboxAdminError, SimpleSalesforceError) as exc:
                self.changes[SALESFORCE][f"refused {operation}"] += 1
                self.run_errors.append(f"harness {operation} on {model} refused: {str(exc)[:200]}")

    def _sf_edit(self, model: str, operation: str, overlap: str | None) -> None:
        candidates = [t for t in self.truths[model] if t.salesforce_id and not t.deleted]
        truth = self._pick(candidates, overlap)
        if truth is None:
            return
        choices = AUTOMATION_EDITABLE[model] if operation == "automation" else EDITABLE[model]
        columns = self._columns(truth, choices, overlap)
        obj = self.rules[model].obj
        current: dict[str, Any] = {}
        if any(self._may_repeat(model, c) for c in columns):
            record = self._api(lambda: getattr(self.sf, obj).get(truth.salesforce_id))
            current = {c: record.get(self._sf_field(model, c)) for c in columns}
        values = {c: self._changed_value(model, c, "a" if operation == "automation" else "s", current.get(c))
                  for c in columns}
        body = {self._sf_field(model, c): v[1] for c, v in values.items()}
        if operation == "automation":
            self.admin.run_automation(obj, ids=[truth.salesforce_id], changes=body)
        elif operation == "api":
            self._api(lambda: getattr(self.sf, obj).update(truth.salesforce_id, body))
        else:
            self.admin.update_record(obj, truth.salesforce_id, body, as_user=self.rng.choice(self.users))
        types = self.rules[model].columns
        self._record(truth, SALESFORCE, values, operation,
                     before={c: normalize(v, types[c]) for c, v in current.items()} if current else None)

    def _api(self, call) -> Any:
        """A simple-salesforce call under the injected faults: retried on 503, row locks and expiry."""
        for attempt in range(10):
            try:
                return call()
            except SimpleSalesforceError as exc:
                text = str(exc)
                if attempt == 9 or not any(s in text for s in ("SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW",
                                                               "INVALID_SESSION_ID", "Expired", "503")):
                    raise
                if "INVALID_SESSION_ID" in text or "Expired" in text:
                    self.sf = self.sandbox.salesforce()
                time.sleep(0.05)
        raise AssertionError("unreachable")

    def _sf_create(self, model: str) -> None:
        obj, token = self.rules[model].obj, self._token(model, "s")
        values = self._create_values(model, token, "s")
        if values is None:
            return
        body = {self._sf_field(model, c): v[1] for c, v in values.items()}
        if self.rng.random() < 0.5:
            new_id = self.admin.create_record(obj, body, as_user=self.rng.choice(self.users))
        else:
            new_id = self._api(lambda: getattr(self.sf, obj).create(body))["id"]
        truth = RecordTruth(model, salesforce_id=new_id, token=token, created_by=SALESFORCE)
        self.truths[model].append(truth)
        self.by_sf[new_id] = truth
        self._record(truth, SALESFORCE, values, "create")

    def _sf_delete(self, model: str, *, undelete: bool) -> None:
        if undelete:
            candidates = [t for t in self.truths[model] if t.deleted and t.ever_deleted and t.salesforce_id
                          and t.created_by != PLATFORM]
        else:
            candidates = [t for t in self.truths[model] if t.salesforce_id and not t.deleted and not t.ever_deleted
                          and not any(w.side == PLATFORM for w in t.writes)]
        truth = self._pick(candidates, None)
        if truth is None:
            return
        obj, user = self.rules[model].obj, self.rng.choice(self.users)
        if undelete:
            self.admin.undelete_record(obj, truth.salesforce_id, as_user=user)
        else:
            self.admin.delete_record(obj, truth.salesforce_id, as_user=user)
        truth.deleted, truth.ever_deleted = not undelete, True
        self.changes[SALESFORCE]["undelete" if undelete else "delete"] += 1
        self.round_edited[SALESFORCE].add(id(truth))

    # -- platform side -----------------------------------------------------------------------------
    def _platform_edits(self, count: int, overlap: str | None = None) -> None:
        self._resolve_platform_ids()
        for _ in range(count):
            operation = _weighted(self.rng, PLATFORM_OPS)
            model = self._pick_model()
            if operation == "system" and model not in SYSTEM_EDITABLE:
                operation = "user"
            if operation == "create":
                self._platform_create(model)
                continue
            candidates = [t for t in self.truths[model] if t.platform_id is not None and not t.ever_deleted
                          and not self._kept_out(t)]
            truth = self._pick(candidates, overlap)
            if truth is None:
                continue
            choices = SYSTEM_EDITABLE[model] if operation == "system" else EDITABLE[model]
            columns = self._columns(truth, choices, overlap)
            row = self.store.get_record(model, record_id=truth.platform_id) or {}
            values = {c: self._changed_value(model, c, "y" if operation == "system" else "p", row.get(c))
                      for c in columns}
            edit_record(self.store, model, {c: v[0] for c, v in values.items()},
                        actor=f"{operation}:fault-suite", record_id=truth.platform_id)
            types = self.rules[model].columns
            self._record(truth, PLATFORM, values, operation, before={c: normalize(row.get(c), types[c]) for c in columns})

    def _kept_out(self, truth: RecordTruth) -> bool:
        """A record the send rules keep out on purpose (an end user without an email, or sharing one):
        its platform edits are not sent, as documented, so the run does not make any."""
        if truth.model != "end_user" or truth.created_by is not None:
            return False
        email = truth.initial.get("email")
        return not email or self.shared_emails.get(str(email).lower(), 0) > 1

    def _platform_create(self, model: str) -> None:
        token = self._token(model, "p")
        values = self._create_values(model, token, "p")
        if values is None:
            return
        platform_id = edit_record(self.store, model, {c: v[0] for c, v in values.items()}, actor="user:fault-suite")
        truth = RecordTruth(model, platform_id=platform_id, token=token, created_by=PLATFORM)
        self.truths[model].append(truth)
        self._record(truth, PLATFORM, values, "create")

    def _token(self, model: str, tag: str) -> str:
        self.counter += 1
        token = f"fz{self.config.seed}{tag}{self.counter}"
        return f"{token}@fault.example" if model == "end_user" else token

    def _create_values(self, model: str, token: str, tag: str) -> dict[str, tuple[Any, Any]] | None:
        """The values a create sets: the token, the required fields and a few editable ones."""
        values: dict[str, tuple[Any, Any]] = {TOKEN_COLUMNS[model]: (token, token)}
        if model == "note":
            parents = [t.salesforce_id for t in self.truths["company"] if t.salesforce_id and not t.ever_deleted]
            if not parents:
                return None
            parent = self.rng.choice(parents)
            values["parent_sf_id"] = (parent, parent)
        for column in EDITABLE[model]:
            required = (model, column) in REQUIRED
            if required or self.rng.random() < 0.5:
                value = self._value(model, column, tag)
                while required and value[0] is None:
                    value = self._value(model, column, tag)
                values[column] = value
        return values

    def _record(self, truth: RecordTruth, side: str, values: dict[str, tuple[Any, Any]], kind: str, *,
                before: dict[str, Any] | None = None) -> None:
        real = datetime.now(UTC)
        at = real + self.org_offset if side == SALESFORCE else real
        types = self.rules[truth.model].columns
        truth.write(side, {c: normalize(v[0], types[c]) for c, v in values.items()}, at, kind, real,
                    burst=self.burst if side == PLATFORM else None, before=before)
        self.changes[side][kind] += 1
        self.round_edited[side].add(id(truth))

    # -- identities --------------------------------------------------------------------------------
    def _platform_ids(self, model: str) -> dict[str, int]:
        table = self.store.table(model)
        with self.store.engine.connect() as conn:
            return {sf_id: pid for pid, sf_id in conn.execute(
                sa.select(table.c.id, table.c.salesforce_id).where(table.c.salesforce_id.is_not(None)))}

    def _resolve_platform_ids(self) -> None:
        """Salesforce-created records become editable on the platform once received."""
        for model in self.two_way:
            missing = [t for t in self.truths[model] if t.platform_id is None and t.salesforce_id]
            if missing:
                known = self._platform_ids(model)
                for truth in missing:
                    truth.platform_id = known.get(truth.salesforce_id)

    def _resolve_salesforce_ids(self) -> None:
        """Platform-created records become editable in Salesforce once the push acknowledged them."""
        for model in self.two_way:
            missing = [t for t in self.truths[model] if t.salesforce_id is None and t.platform_id is not None]
            if not missing:
                continue
            table = self.store.table(model)
            with self.store.engine.connect() as conn:
                ids = dict(conn.execute(sa.select(table.c.id, table.c.salesforce_id).where(
                    table.c.id.in_([t.platform_id for t in missing]), table.c.salesforce_id.is_not(None))).all())
            for truth in missing:
                sf_id = ids.get(truth.platform_id)
                if sf_id and sf_id not in self.by_sf:
                    truth.salesforce_id = sf_id
                    self.by_sf[sf_id] = truth

    # -- the verdict -------------------------------------------------------------------------------
    def _salesforce_rows(self, client, model: str) -> list[Row]:
        rules = self.rules[model]
        names = {c: self._sf_field(model, c) for c in rules.columns}
        query = soql.select(rules.obj, ["Id", "IsDeleted", *dict.fromkeys(names.values())], None)
        rows = []
        for record in client.query_records(query, include_deleted=True):
            values = {c: normalize(record.get(f), rules.columns[c]) for c, f in names.items()}
            rows.append(Row(record["Id"], record["Id"], bool(record.get("IsDeleted")), values))
        return rows

    def platform_rows(self, model: str) -> list[Row]:
        rules = self.rules[model]
        table = self.store.table(model)
        pending = {e.record_id for e in self.store.outbox_entries(model)}
        rows = []
        with self.store.engine.connect() as conn:
            for row in conn.execute(sa.select(table)):
                data = row._mapping
                status = data.get("sync_status")
                rows.append(Row(str(data["id"]), data["salesforce_id"], bool(data["deleted"]),
                                {c: normalize(data.get(c), t) for c, t in rules.columns.items()},
                                pending=data["id"] in pending or (status not in (None, "ok"))))
        return rows

    def _note_creates(self) -> None:
        """The creates each push made, as landings. A created record stays invisible to queries for the commit
        lag, so the query right after a push (`_note_run`) can miss it; its CreatedById and CreatedDate never
        change, so they say later which push made it (a push is the only writer while it runs)."""
        if not self.pushes:
            return
        since = soql.datetime_literal(min(org_start for _, _, org_start, _ in self.pushes) - timedelta(seconds=1))
        for model in self.two_way:
            query = (f"SELECT Id, CreatedDate FROM {self.rules[model].obj} WHERE CreatedById = "
                     f"'{self.integration_user_id}' AND CreatedDate >= {since}")
            for record in self._api(lambda q=query: self.sf.query_all(q, include_deleted=True))["records"]:
                created = timefmt.parse_datetime(record["CreatedDate"])
                for started, ended, org_start, org_end in self.pushes:
                    if org_start - timedelta(seconds=1) <= created <= org_end + timedelta(seconds=1):
                        noted = self.landings.setdefault(record["Id"], [])
                        if (started, ended) not in noted:
                            noted.append((started, ended))
                        break

    def compare(self) -> Report:
        """Every mapped field of every record of every section, both sides, against the oracle."""
        report = Report()
        self._note_creates()
        client = self.context().client()
        for truth in (t for truths in self.truths.values() for t in truths):
            truth.group_salesforce_bursts(self.receives)
            truth.group_platform_bursts(self.landings.get(truth.salesforce_id or "", []))
        try:
            for model, rules in self.rules.items():
                compare_model(rules, self.truths.get(model, []), self.platform_rows(model),
                              self._salesforce_rows(client, model),
                              tie=timedelta(seconds=self.config.tie_seconds), report=report)
        finally:
            client.close()
        return report


    def history(self, finding: Finding) -> dict[str, Any]:
        """The harness's writes of one record (all columns, the finding's marked) and the sync log rows
        that name it: enough to tell a product defect from an oracle mistake without a replay."""
        truth = next((t for t in self.truths.get(finding.model, []) if t.name == finding.record), None)
        lines = []
        if truth is not None:
            events = [(w.order, f"{'*' if w.column == finding.column else ' '} {w.order:%H:%M:%S.%f} {w.side} "
                                f"{w.kind} {w.column}={w.value!r} (stamp {w.at:%Y-%m-%d %H:%M:%S.%f})")
                      for w in truth.writes]
            if truth.writes:
                first = min(w.order for w in truth.writes) - timedelta(seconds=5)
                last = max(w.order for w in truth.writes) + timedelta(seconds=60)
                events += [(start, f"  {start:%H:%M:%S.%f}-{end:%H:%M:%S.%f} {what}")
                           for start, end, what in self.timeline if first <= start <= last]
                events += [(start, f"  {start:%H:%M:%S.%f}-{end:%H:%M:%S.%f} landed: Salesforce holds the push's write")
                           for start, end in self.landings.get(truth.salesforce_id or "", [])]
                events += [(w.order, f"  {w.order:%H:%M:%S.%f} burst {w.side} {w.column} #{w.burst}")
                           for w in truth.writes if w.column == finding.column]
            lines.extend(text for _, text in sorted(events))
            needles = [n for n in (truth.salesforce_id, str(truth.platform_id) if truth.platform_id else None) if n]
            schema = self.store.schema
            with self.store.engine.connect() as conn:
                table = schema.sync_log
                for needle in needles[:1]:
                    for row in conn.execute(sa.select(table).where(table.c.details.contains(needle))
                                            .order_by(table.c.id)):
                        lines.append(f"  log {row.at} {row.section} {row.event} {str(row.details)[:400]}")
                if truth.platform_id is not None:
                    base_column = f"{finding.column}{BASE_SUFFIX}"
                    model_table = self.store.table(finding.model)
                    if base_column in model_table.c:
                        base = conn.execute(sa.select(model_table.c[base_column]).where(
                            model_table.c.id == truth.platform_id)).scalar()
                        lines.append(f"  platform base of {finding.column}: {base!r}")
        return {"model": finding.model, "record": finding.record, "column": finding.column, "lines": lines}


def org_time(info: SandboxInfo) -> datetime:
    return timefmt.parse_datetime(info.admin.clock()["now"])
