"""Property tests: the engine's answer equals a plain Python filter and sort over the same records.

Random Accounts and Contacts (with deleted, not-yet-visible and null values), random WHERE trees over
own and parent fields of several types (text, int, double, boolean, date, datetime, reference), IN,
LIKE, NOT, AND/OR in parentheses, date literals, then ORDER BY + LIMIT/OFFSET.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_sync_tests.sandbox.soql_fixtures import NOW, TinyOrg

TODAY = NOW.date()
TEXTS = ["Acme", "acme", "ACME labs", "b", "B", "o'brien", "back\\slash", "50% off", "a_b", "zeta", "é", "Émile"]
INDUSTRIES = ["Banking", "Energy", "Retail"]
_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold(text: str) -> str:
    """SQLite NOCASE: only ASCII letters fold."""
    return text.translate(_ASCII_FOLD)


def soql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


moments = st.integers(-60, 60).flatmap(
    lambda hours: st.sampled_from([0, 1, 999]).map(
        lambda ms: NOW + timedelta(hours=hours, milliseconds=ms)
    )
)
days = st.integers(-5, 5).map(lambda n: TODAY + timedelta(days=n))
visibility = st.one_of(st.none(), st.sampled_from([NOW - timedelta(seconds=1), NOW, NOW + timedelta(seconds=1)]))
deleted = st.sampled_from([False, False, False, True])


@dataclass
class Account:
    Name: str | None
    NumberOfEmployees: int | None
    AnnualRevenue: float | None
    Industry: str | None
    IsDeleted: bool
    visible_after: datetime | None
    Id: str = ""


@dataclass
class Contact:
    LastName: str | None
    account: int | None
    Birthdate: date | None
    CreatedDate: datetime
    HasOptedOutOfEmail: bool | None
    IsDeleted: bool
    visible_after: datetime | None
    Id: str = ""


accounts_st = st.lists(st.builds(
    Account,
    Name=st.one_of(st.none(), st.sampled_from(TEXTS)),
    NumberOfEmployees=st.one_of(st.none(), st.integers(-3, 3)),
    AnnualRevenue=st.one_of(st.none(), st.sampled_from([-1.5, 0.0, 0.5, 2.0, 100.25])),
    Industry=st.one_of(st.none(), st.sampled_from(INDUSTRIES)),
    IsDeleted=deleted,
    visible_after=visibility,
), min_size=1, max_size=5)


def contacts_st(account_count: int):
    return st.lists(st.builds(
        Contact,
        LastName=st.one_of(st.none(), st.sampled_from(TEXTS)),
        account=st.one_of(st.none(), st.integers(0, account_count - 1)) if account_count else st.none(),
        Birthdate=st.one_of(st.none(), days),
        CreatedDate=moments,
        HasOptedOutOfEmail=st.one_of(st.none(), st.booleans()),
        IsDeleted=deleted,
        visible_after=visibility,
    ), min_size=2, max_size=10)


@dataclass
class World:
    accounts: list[Account]
    contacts: list[Contact]
    include_deleted: bool

    def visible(self, record: Account | Contact) -> bool:
        shown = record.visible_after is None or record.visible_after <= NOW
        return shown and (self.include_deleted or not record.IsDeleted)

    def parent(self, contact: Contact) -> Account | None:
        if contact.account is None:
            return None
        account = self.accounts[contact.account]
        return account if self.visible(account) else None


@st.composite
def worlds(draw) -> World:
    accounts = draw(accounts_st)
    contacts = draw(contacts_st(len(accounts)))
    return World(accounts, contacts, draw(st.booleans()))


# A field: (SOQL path, kind, getter(world, contact)).
FIELDS = {
    "LastName": ("text", lambda w, c: c.LastName),
    "Account.Name": ("text", lambda w, c: (p := w.parent(c)) and p.Name),
    "Account.NumberOfEmployees": ("int", lambda w, c: (p := w.parent(c)) and p.NumberOfEmployees),
    "Account.AnnualRevenue": ("double", lambda w, c: (p := w.parent(c)) and p.AnnualRevenue),
    "Account.Industry": ("picklist", lambda w, c: (p := w.parent(c)) and p.Industry),
    "Birthdate": ("date", lambda w, c: c.Birthdate),
    "CreatedDate": ("datetime", lambda w, c: c.CreatedDate),
    "HasOptedOutOfEmail": ("bool", lambda w, c: c.HasOptedOutOfEmail),
    "AccountId": ("id", lambda w, c: c.account),
}


def value_of(world: World, contact: Contact, path: str) -> object:
    kind, getter = FIELDS[path]
    value = getter(world, contact)
    if path.startswith("Account.") and world.parent(contact) is None:
        return None
    if kind == "id":
        return None if value is None else world.accounts[value].Id
    return value


# A literal: (SOQL text, Python value, or ("range", start, end) for date literals).
def _datetime_text(moment: datetime, zone: str, with_ms: bool) -> str:
    offsets = {"Z": timedelta(0), "+02:00": timedelta(hours=2), "-0530": -timedelta(hours=5, minutes=30)}
    local = moment.astimezone(timezone(offsets[zone]))
    fraction = f".{moment.microsecond // 1000:03d}" if with_ms else ""
    return local.strftime("%Y-%m-%dT%H:%M:%S") + fraction + zone


DATE_LITERALS = {
    "TODAY": (0, 1), "YESTERDAY": (-1, 0), "TOMORROW": (1, 2),
    "LAST_N_DAYS:0": (0, 1), "LAST_N_DAYS:2": (-2, 1), "NEXT_N_DAYS:1": (1, 2), "NEXT_N_DAYS:3": (1, 4),
}


def date_literal(kind: str):
    def build(name: str) -> tuple[str, tuple]:
        start, end = DATE_LITERALS[name]
        first, last = TODAY + timedelta(days=start), TODAY + timedelta(days=end)
        if kind == "datetime":
            first_dt = datetime(first.year, first.month, first.day, tzinfo=UTC)
            last_dt = datetime(last.year, last.month, last.day, tzinfo=UTC)
            return name, ("range", first_dt, last_dt)
        return name, ("range", first, last)

    return st.sampled_from(sorted(DATE_LITERALS)).map(build)


def literals_for(kind: str, world: World):
    null = st.just(("null", None))
    if kind in ("text", "picklist"):
        pool = TEXTS + ["ac", "z"] if kind == "text" else INDUSTRIES + ["banking", "Other"]
        return st.one_of(null, st.sampled_from(pool).map(lambda t: (soql_string(t), t)))
    if kind == "int":
        return st.one_of(null, st.integers(-3, 3).map(lambda n: (str(n), n)))
    if kind == "double":
        return st.one_of(null, st.sampled_from([-1.5, 0.0, 0.5, 1, 2.0, 100.25]).map(lambda x: (repr(x), x)))
    if kind == "bool":
        return st.sampled_from([("true", True), ("FALSE", False), ("null", None)])
    if kind == "date":
        return st.one_of(null, days.map(lambda d: (d.isoformat(), d)), date_literal("date"))
    if kind == "datetime":
        exact = st.tuples(moments, st.sampled_from(["Z", "+02:00", "-0530"]), st.booleans()).map(
            lambda t: (_datetime_text(t[0], t[1], t[2] or t[0].microsecond != 0), t[0])
        )
        return st.one_of(exact, date_literal("datetime"))
    ids = [a.Id for a in world.accounts] or ["001000000000000AAA"]
    return st.one_of(null, st.sampled_from(ids).flatmap(
        lambda i: st.sampled_from([(f"'{i}'", i), (f"'{i[:15]}'", i)])
    ))


def compare(value: object, op: str, literal: object, kind: str) -> bool:
    if isinstance(literal, tuple):  # a date literal's range
        _, start, end = literal
        if value is None:
            return op == "!="
        inside = start <= value < end
        return {"=": inside, "!=": not inside, "<": value < start, "<=": value < end,
                ">": value >= end, ">=": value >= start}[op]
    if literal is None:
        return {"=": value is None, "!=": value is not None}.get(op, False)
    if value is None:
        return op == "!="
    if kind in ("text", "picklist"):
        value, literal = fold(value), fold(literal)  # type: ignore[arg-type]
    return {"=": value == literal, "!=": value != literal, "<": value < literal, "<=": value <= literal,
            ">": value > literal, ">=": value >= literal}[op]  # type: ignore[operator]


# LIKE patterns: (SOQL snippet, regex piece) tokens.
LIKE_TOKENS = [("a", "a"), ("B", "b"), ("c", "c"), ("%", ".*"), ("_", "."), ("\\%", "%"), ("\\_", "_"),
               ("\\'", "'"), ("\\\\", re.escape("\\")), ("é", "é"), (" ", " ")]


@dataclass
class Condition:
    text: str
    test: object  # (world, contact) -> bool
    compound: bool = False


@st.composite
def comparisons(draw, world: World) -> Condition:
    path = draw(st.sampled_from(sorted(FIELDS)))
    kind = FIELDS[path][0]
    operators = ["=", "!="] if kind in ("bool", "id") else ["=", "!=", "<", "<=", ">", ">="]
    shapes = ["op", "in", "not in"] + (["like"] if kind == "text" else [])
    shape = draw(st.sampled_from(shapes if kind != "bool" else ["op"]))
    if shape == "like":
        tokens = draw(st.lists(st.sampled_from(LIKE_TOKENS), min_size=1, max_size=4))
        regex = re.compile("".join(piece for _, piece in tokens), re.DOTALL)
        text = f"{path} LIKE '{''.join(snippet for snippet, _ in tokens)}'"

        def like(w: World, c: Contact) -> bool:
            value = value_of(w, c, path)
            return value is not None and regex.fullmatch(fold(value)) is not None  # type: ignore[arg-type]

        return Condition(text, like)
    if shape in ("in", "not in"):
        chosen = draw(st.lists(literals_for(kind, world), min_size=1, max_size=3))
        text = f"{path} {shape.upper()} ({', '.join(t for t, _ in chosen)})"
        negate = shape == "not in"

        def member(w: World, c: Contact) -> bool:
            value = value_of(w, c, path)
            found = any(compare(value, "=", literal, kind) for _, literal in chosen)
            return found != negate

        return Condition(text, member)
    op = draw(st.sampled_from(operators))
    literal_text, literal = draw(literals_for(kind, world))
    op_text = "<>" if op == "!=" and draw(st.booleans()) else op
    return Condition(f"{path} {op_text} {literal_text}",
                     lambda w, c: compare(value_of(w, c, path), op, literal, kind))


def conditions(world: World):
    def extend(children):
        def combine(op: str):
            def build(items: list[Condition]) -> Condition:
                text = f" {op} ".join(f"({i.text})" if i.compound else i.text for i in items)
                tests = [i.test for i in items]
                if op == "AND":
                    return Condition(text, lambda w, c: all(t(w, c) for t in tests), True)
                return Condition(text, lambda w, c: any(t(w, c) for t in tests), True)
            return build

        negation = children.map(lambda i: Condition(
            f"NOT ({i.text})" if i.compound or i.text.startswith("NOT") else f"NOT {i.text}",
            lambda w, c: not i.test(w, c), True,
        ))
        return st.one_of(
            st.lists(children, min_size=2, max_size=3).map(combine("AND")),
            st.lists(children, min_size=2, max_size=3).map(combine("OR")),
            negation,
        )

    return st.recursive(comparisons(world), extend, max_leaves=6)


ORDERABLE = ["LastName", "Birthdate", "CreatedDate", "Account.Name", "Account.NumberOfEmployees",
             "HasOptedOutOfEmail"]


@st.composite
def orderings(draw) -> list[tuple[str, bool, bool, str]]:
    paths = draw(st.lists(st.sampled_from(ORDERABLE), unique=True, max_size=2))
    keys = []
    for path in paths:
        direction = draw(st.sampled_from(["", " ASC", " DESC"]))
        nulls = draw(st.sampled_from(["", " NULLS FIRST", " NULLS LAST"]))
        descending = direction == " DESC"
        nulls_last = nulls == " NULLS LAST" or (nulls == "" and descending)
        keys.append((path, descending, nulls_last, f"{path}{direction}{nulls}"))
    return keys


def sort_reference(world: World, contacts: list[Contact], keys) -> list[Contact]:
    ordered = sorted(contacts, key=lambda c: c.Id)
    for path, descending, nulls_last, _ in reversed(keys):
        kind = FIELDS[path][0]

        def compare_rows(a: Contact, b: Contact, path=path, descending=descending, nulls_last=nulls_last,
                         kind=kind) -> int:
            x, y = value_of(world, a, path), value_of(world, b, path)
            if x is None or y is None:
                if x is None and y is None:
                    return 0
                return (1 if nulls_last else -1) * (1 if x is None else -1)
            if kind == "text":
                x, y = fold(x), fold(y)  # type: ignore[arg-type]
            result = (x > y) - (x < y)  # type: ignore[operator]
            return -result if descending else result

        ordered = sorted(ordered, key=functools.cmp_to_key(compare_rows))
    return ordered


def load(world: World) -> TinyOrg:
    org = TinyOrg()
    for account in world.accounts:
        account.Id = org.insert("Account", Name=account.Name, NumberOfEmployees=account.NumberOfEmployees,
                                AnnualRevenue=account.AnnualRevenue, Industry=account.Industry,
                                IsDeleted=account.IsDeleted, _visible_after=account.visible_after)
    for contact in world.contacts:
        contact.Id = org.insert(
            "Contact", LastName=contact.LastName, Birthdate=contact.Birthdate, CreatedDate=contact.CreatedDate,
            HasOptedOutOfEmail=contact.HasOptedOutOfEmail, IsDeleted=contact.IsDeleted,
            _visible_after=contact.visible_after,
            AccountId=None if contact.account is None else world.accounts[contact.account].Id,
        )
    return org


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_query_matches_python_filter_and_sort(data) -> None:
    world = data.draw(worlds())
    org = load(world)
    condition = data.draw(st.one_of(st.none(), conditions(world)))
    keys = data.draw(orderings())
    limit = data.draw(st.one_of(st.none(), st.integers(0, 8)))
    offset = data.draw(st.one_of(st.none(), st.integers(0, 4)))

    where = f" WHERE {condition.text}" if condition else ""
    order = " ORDER BY " + ", ".join([k[3] for k in keys] + ["Id"])
    paging = (f" LIMIT {limit}" if limit is not None else "") + (f" OFFSET {offset}" if offset is not None else "")
    soql = f"SELECT Id, LastName, Account.Name, HasOptedOutOfEmail FROM Contact{where}{order}{paging}"

    matching = [c for c in world.contacts
                if world.visible(c) and (condition is None or condition.test(world, c))]  # type: ignore[operator]
    expected = sort_reference(world, matching, keys)
    start = offset or 0
    expected = expected[start:] if limit is None else expected[start:start + limit]

    records = org.records(soql, include_deleted=world.include_deleted)
    assert [r["Id"] for r in records] == [c.Id for c in expected], soql
    for record, contact in zip(records, expected, strict=True):
        parent = world.parent(contact)
        assert record["Account"] == (None if parent is None else {
            "attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{parent.Id}"},
            "Name": parent.Name,
        })
        assert record["HasOptedOutOfEmail"] == contact.HasOptedOutOfEmail
        assert record["LastName"] == contact.LastName

    count = org.count(f"SELECT COUNT() FROM Contact{where}", include_deleted=world.include_deleted)
    assert count == len(matching), soql
