"""WHERE: operators per field type, null semantics, LIKE, escapes, Ids, date literals, parent paths."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from crm_sync.sandbox.ids import to_18
from crm_sync_tests.sandbox.soql_fixtures import NOW, TinyOrg


@pytest.fixture
def org() -> TinyOrg:
    org = TinyOrg()
    rows = [
        ("Acme", "Technology", 120, 1000.5, True),
        ("acme labs", "Banking", 5, None, False),
        ("Bob's BBQ", None, None, 20.0, False),
        ("100% Cotton_Co", "Retail", 50, 0.0, True),
        ("Back\\slash", "Energy", 0, -3.5, False),
    ]
    for name, industry, employees, score, _ in rows:
        org.insert("Account", Name=name, Industry=industry, NumberOfEmployees=employees, Health_Score__c=score)
    return org


def names(org: TinyOrg, where: str) -> set[str]:
    return {r["Name"] for r in org.records(f"SELECT Name FROM Account WHERE {where}")}


ALL = {"Acme", "acme labs", "Bob's BBQ", "100% Cotton_Co", "Back\\slash"}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'acme'", {"Acme"}),
        ("Name = 'ACME'", {"Acme"}),
        ("Name != 'acme'", ALL - {"Acme"}),
        ("Name <> 'ACME'", ALL - {"Acme"}),
        ("Name = 'Bob\\'s BBQ'", {"Bob's BBQ"}),
        ("Name = 'Back\\\\slash'", {"Back\\slash"}),
        ("Name IN ('acme', 'BOB\\'S bbq', 'nobody')", {"Acme", "Bob's BBQ"}),
        ("Name NOT IN ('acme', 'acme labs')", ALL - {"Acme", "acme labs"}),
        ("Name < 'b'", {"Acme", "acme labs", "100% Cotton_Co"}),
        ("Name >= 'BACK'", {"Bob's BBQ", "Back\\slash"}),
        ("Industry = 'technology'", {"Acme"}),
        ("Industry = null", {"Bob's BBQ"}),
        ("Industry != null", ALL - {"Bob's BBQ"}),
        ("Industry != 'Banking'", ALL - {"acme labs"}),  # null Industry included, as Salesforce
        ("Industry NOT IN ('Banking', 'Retail')", ALL - {"acme labs", "100% Cotton_Co"}),
        ("Industry IN ('Banking', null)", {"acme labs", "Bob's BBQ"}),
        ("Industry NOT IN ('Banking', null)", ALL - {"acme labs", "Bob's BBQ"}),
        ("NumberOfEmployees = 5", {"acme labs"}),
        ("NumberOfEmployees > 5", {"Acme", "100% Cotton_Co"}),
        ("NumberOfEmployees <= 5", {"acme labs", "Back\\slash"}),
        ("NumberOfEmployees < 5.5", {"acme labs", "Back\\slash"}),
        ("NumberOfEmployees != 5", ALL - {"acme labs"}),
        ("NumberOfEmployees IN (0, 120)", {"Acme", "Back\\slash"}),
        ("NumberOfEmployees = null", {"Bob's BBQ"}),
        ("NumberOfEmployees > null", set()),
        ("Health_Score__c >= -3.5", ALL - {"acme labs"}),
        ("Health_Score__c < 0", {"Back\\slash"}),
        ("Health_Score__c = 20", {"Bob's BBQ"}),
        ("Health_Score__c = +20.0", {"Bob's BBQ"}),
    ],
)
def test_comparisons(org: TinyOrg, where: str, expected: set[str]) -> None:
    assert names(org, where) == expected


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name LIKE 'acme%'", {"Acme", "acme labs"}),
        ("Name LIKE 'ACME'", {"Acme"}),
        ("Name LIKE '%bbq'", {"Bob's BBQ"}),
        ("Name LIKE '_cme'", {"Acme"}),
        ("Name LIKE '100\\%%'", {"100% Cotton_Co"}),
        ("Name LIKE '%\\_Co'", {"100% Cotton_Co"}),
        ("Name LIKE '%n_Co'", {"100% Cotton_Co"}),
        ("Name LIKE '1_0%'", {"100% Cotton_Co"}),
        ("Name LIKE 'Back\\\\%'", {"Back\\slash"}),
        ("Name LIKE '%\\'%'", {"Bob's BBQ"}),
        ("NOT Name LIKE 'a%'", ALL - {"Acme", "acme labs"}),
        ("Industry LIKE null", set()),
        ("Industry LIKE '%'", ALL - {"Bob's BBQ"}),
    ],
)
def test_like(org: TinyOrg, where: str, expected: set[str]) -> None:
    assert names(org, where) == expected


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'Acme' OR Name = 'acme labs'", {"Acme", "acme labs"}),
        ("Name LIKE 'a%' AND NumberOfEmployees > 10", {"Acme"}),
        ("Name LIKE 'a%' AND NumberOfEmployees > 10 AND Industry = 'Technology'", {"Acme"}),
        ("(Name LIKE 'a%' AND NumberOfEmployees > 10) OR Industry = 'Energy'", {"Acme", "Back\\slash"}),
        ("Name LIKE 'a%' AND (NumberOfEmployees > 10 OR Industry = 'Banking')", {"Acme", "acme labs"}),
        ("NOT Name = 'Acme'", ALL - {"Acme"}),
        ("NOT (Name = 'Acme' OR Name = 'acme labs')", ALL - {"Acme", "acme labs"}),
        ("NOT Industry = 'Banking'", ALL - {"acme labs"}),  # null Industry: the comparison is false, NOT true
        ("NOT NumberOfEmployees > 10", ALL - {"Acme", "100% Cotton_Co"}),
        ("NOT (Industry = 'Banking' AND NumberOfEmployees = 5)", ALL - {"acme labs"}),
        ("NOT (NOT Industry = 'Banking')", {"acme labs"}),
        ("(((Name = 'Acme')))", {"Acme"}),
        ("Name = 'Acme' AND NOT Industry = null", {"Acme"}),
    ],
)
def test_boolean_logic(org: TinyOrg, where: str, expected: set[str]) -> None:
    assert names(org, where) == expected


def test_booleans() -> None:
    org = TinyOrg()
    org.insert("Contact", LastName="Yes", HasOptedOutOfEmail=True)
    org.insert("Contact", LastName="No", HasOptedOutOfEmail=False)
    query = "SELECT LastName FROM Contact WHERE HasOptedOutOfEmail = {}"
    assert [r["LastName"] for r in org.records(query.format("true"))] == ["Yes"]
    assert [r["LastName"] for r in org.records(query.format("FALSE"))] == ["No"]
    assert [r["LastName"] for r in org.records(query.replace("=", "!=").format("True"))] == ["No"]


def test_ids_accept_15_and_18_characters() -> None:
    org = TinyOrg()
    acme = org.insert("Account", Name="Acme")
    contact = org.insert("Contact", LastName="Doe", AccountId=acme)
    assert org.ids_of(f"SELECT Id FROM Account WHERE Id = '{acme}'") == [acme]
    assert org.ids_of(f"SELECT Id FROM Account WHERE Id = '{acme[:15]}'") == [acme]
    assert org.ids_of(f"SELECT Id FROM Contact WHERE AccountId IN ('{acme[:15]}')") == [contact]
    assert org.ids_of(f"SELECT Id FROM Contact WHERE Account.Id = '{acme}'") == [contact]
    assert org.ids_of(f"SELECT Id FROM Account WHERE Id > '{to_18('001000000000000')}'") == [acme]
    assert org.ids_of("SELECT Id FROM Contact WHERE AccountId = null") == []


def test_parent_path_filters() -> None:
    org = TinyOrg()
    owner = org.insert("User", LastName="Smith", Email="ann@example.com", Username="ann", Alias="ann")
    acme = org.insert("Account", Name="Acme", OwnerId=owner, NumberOfEmployees=10)
    other = org.insert("Account", Name="Other")
    org.insert("Contact", LastName="A", AccountId=acme)
    org.insert("Contact", LastName="B", AccountId=other)
    org.insert("Contact", LastName="C")
    query = "SELECT LastName FROM Contact WHERE {} ORDER BY LastName"

    def last_names(where: str) -> list[str]:
        return [r["LastName"] for r in org.records(query.format(where))]

    assert last_names("Account.Name = 'ACME'") == ["A"]
    assert last_names("Account.Name != 'Acme'") == ["B", "C"]
    assert last_names("Account.Owner.Email LIKE 'ann@%'") == ["A"]
    assert last_names("Account.NumberOfEmployees >= 10 OR Account.Id = null") == ["A", "C"]
    assert last_names("Account.Owner.Email = null") == ["B", "C"]


@pytest.fixture
def timed() -> TinyOrg:
    org = TinyOrg()
    moments = {
        "two days ago": NOW - timedelta(days=2),
        "yesterday late": datetime(2024, 5, 14, 23, 59, 59, 999000, tzinfo=UTC),
        "today start": datetime(2024, 5, 15, tzinfo=UTC),
        "now": NOW,
        "today end": datetime(2024, 5, 15, 23, 59, 59, 999000, tzinfo=UTC),
        "tomorrow": datetime(2024, 5, 16, 8, tzinfo=UTC),
        "last month": datetime(2024, 4, 30, 10, tzinfo=UTC),
        "long ago": datetime(2020, 1, 1, tzinfo=UTC),
    }
    for label, moment in moments.items():
        org.insert("Task", Subject=label, CreatedDate=moment, ActivityDate=moment.date())
    org.insert("Task", Subject="no date", CreatedDate=datetime(2020, 1, 1, tzinfo=UTC), ActivityDate=None)
    return org


def subjects(org: TinyOrg, where: str) -> set[str]:
    return {r["Subject"] for r in org.records(f"SELECT Subject FROM Task WHERE {where}")}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("CreatedDate = TODAY", {"today start", "now", "today end"}),
        ("CreatedDate = today", {"today start", "now", "today end"}),
        ("CreatedDate > TODAY", {"tomorrow"}),
        ("CreatedDate >= TODAY", {"today start", "now", "today end", "tomorrow"}),
        ("CreatedDate < TODAY", {"two days ago", "yesterday late", "last month", "long ago", "no date"}),
        ("CreatedDate <= TODAY", {"two days ago", "yesterday late", "last month", "long ago", "no date",
                                  "today start", "now", "today end"}),
        ("CreatedDate = YESTERDAY", {"yesterday late"}),
        ("CreatedDate = TOMORROW", {"tomorrow"}),
        ("CreatedDate != TODAY", {"two days ago", "yesterday late", "tomorrow", "last month", "long ago",
                                  "no date"}),
        ("CreatedDate = LAST_N_DAYS:1", {"yesterday late", "today start", "now", "today end"}),
        ("CreatedDate = LAST_N_DAYS:2", {"two days ago", "yesterday late", "today start", "now", "today end"}),
        ("CreatedDate = NEXT_N_DAYS:1", {"tomorrow"}),
        ("CreatedDate = THIS_MONTH", {"two days ago", "yesterday late", "today start", "now", "today end",
                                      "tomorrow"}),
        ("CreatedDate = LAST_MONTH", {"last month"}),
        ("CreatedDate IN (YESTERDAY, TOMORROW)", {"yesterday late", "tomorrow"}),
        ("CreatedDate > 2024-05-15T12:30:00Z", {"today end", "tomorrow"}),
        ("CreatedDate = 2024-05-15T12:30:00.000Z", {"now"}),
        ("CreatedDate = 2024-05-15T14:30:00+02:00", {"now"}),
        ("CreatedDate = 2024-05-15T07:00:00-0530", {"now"}),
        ("CreatedDate < 2024-05-15T00:00:00.001Z", {"two days ago", "yesterday late", "today start",
                                                    "last month", "long ago", "no date"}),
        ("ActivityDate = TODAY", {"today start", "now", "today end"}),
        ("ActivityDate = 2024-05-14", {"yesterday late"}),
        ("ActivityDate > 2024-05-15", {"tomorrow"}),
        ("ActivityDate = LAST_N_DAYS:2", {"two days ago", "yesterday late", "today start", "now", "today end"}),
        ("ActivityDate < LAST_N_DAYS:2", {"last month", "long ago"}),
        ("ActivityDate = null", {"no date"}),
        ("ActivityDate != TODAY", {"two days ago", "yesterday late", "tomorrow", "last month", "long ago",
                                   "no date"}),
    ],
)
def test_dates_and_date_literals(timed: TinyOrg, where: str, expected: set[str]) -> None:
    assert subjects(timed, where) == expected


def test_date_literals_follow_now(timed: TinyOrg) -> None:
    later = NOW + timedelta(days=1)
    found = {r["Subject"] for r in timed.records("SELECT Subject FROM Task WHERE CreatedDate = YESTERDAY", now=later)}
    assert found == {"today start", "now", "today end"}


def test_birthdate_is_a_date_field() -> None:
    org = TinyOrg()
    org.insert("Contact", LastName="Old", Birthdate=date(1950, 1, 1))
    org.insert("Contact", LastName="Young", Birthdate=date(2000, 12, 31))
    found = org.records("SELECT LastName FROM Contact WHERE Birthdate < 1990-01-01")
    assert [r["LastName"] for r in found] == ["Old"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("ActivityDate IN (YESTERDAY, TOMORROW, 2020-01-01)", {"yesterday late", "tomorrow", "long ago"}),
        ("ActivityDate NOT IN (TODAY, null)", {"two days ago", "yesterday late", "tomorrow", "last month",
                                               "long ago"}),
        ("CreatedDate NOT IN (THIS_MONTH)", {"last month", "long ago", "no date"}),
    ],
)
def test_date_literals_in_lists(timed: TinyOrg, where: str, expected: set[str]) -> None:
    assert subjects(timed, where) == expected


def test_picklists_compare_case_insensitively_and_support_like(org: TinyOrg) -> None:
    assert names(org, "Industry LIKE 'tech%'") == {"Acme"}
    assert names(org, "Industry IN ('RETAIL', 'energy')") == {"100% Cotton_Co", "Back\\slash"}
    assert names(org, "Industry > 'e'") == {"Acme", "100% Cotton_Co", "Back\\slash"}
