"""SOQL building: escaping, literals, windows, Id lists, SELECT statements."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_sync.salesforce import soql


def _unescape(literal: str) -> str:
    """Salesforce's reading of a quoted string literal (the inverse of soql.quote)."""
    assert literal[0] == literal[-1] == "'"
    body, out, i = literal[1:-1], [], 0
    table = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}
    while i < len(body):
        if body[i] == "\\":
            out.append(table[body[i + 1]])
            i += 2
        else:
            assert body[i] != "'", "an unescaped quote would end the literal"
            out.append(body[i])
            i += 1
    return "".join(out)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "'plain'"),
        ("O'Brien", r"'O\'Brien'"),
        ('say "hi"', r"""'say \"hi\"'"""),
        ("back\\slash", r"'back\\slash'"),
        ("line\nbreak\r\ttab", r"'line\nbreak\r\ttab'"),
        ("x' OR Name != '", r"'x\' OR Name != \''"),
    ],
)
def test_quote_escapes(value: str, expected: str) -> None:
    assert soql.quote(value) == expected


@given(st.text())
def test_quote_round_trips(value: str) -> None:
    assert _unescape(soql.quote(value)) == value


def test_quote_rejects_non_strings() -> None:
    with pytest.raises(TypeError):
        soql.quote(5)  # type: ignore[arg-type]


def test_datetime_literal_is_utc_with_milliseconds() -> None:
    paris = timezone(timedelta(hours=1))
    assert soql.datetime_literal(datetime(2024, 1, 31, 11, 0, 0, 123456, tzinfo=paris)) == "2024-01-31T10:00:00.123Z"
    assert soql.datetime_literal(datetime(2024, 1, 31, 10, tzinfo=UTC)) == "2024-01-31T10:00:00.000Z"
    with pytest.raises(ValueError):
        soql.datetime_literal(datetime(2024, 1, 31))


def test_literals() -> None:
    assert soql.literal(None) == "null"
    assert soql.literal(True) == "true"
    assert soql.literal(3) == "3"
    assert soql.literal(date(2024, 2, 29)) == "2024-02-29"
    assert soql.literal("a'b") == r"'a\'b'"


def test_window_condition_is_half_open() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=1)
    assert soql.window_condition("SystemModstamp", start, end) == (
        "SystemModstamp >= 2024-01-01T00:00:00.000Z AND SystemModstamp < 2024-01-02T00:00:00.000Z"
    )
    with pytest.raises(ValueError):
        soql.window_condition("SystemModstamp", end, start)
    with pytest.raises(ValueError):
        soql.window_condition("SystemModstamp; DROP", start, end)


def test_id_in() -> None:
    ids = ["001000000000001AAA", "001000000000002", "001000000000001AAA"]
    assert soql.id_in(ids) == "Id IN ('001000000000001AAA','001000000000002')"
    assert soql.id_in(["001000000000001AAA"], field="AccountId").startswith("AccountId IN (")
    with pytest.raises(ValueError):
        soql.id_in([])
    with pytest.raises(ValueError):
        soql.id_in(["001' OR Id != '"])


def test_select_builds_and_validates() -> None:
    text = soql.select("Contact", ["Id", "Owner.Email"], where=["Email != null", "IsDeleted = false"],
                       order_by="SystemModstamp ASC, Id", limit=10)
    assert text == ("SELECT Id, Owner.Email FROM Contact WHERE (Email != null) AND (IsDeleted = false) "
                    "ORDER BY SystemModstamp ASC, Id LIMIT 10")
    assert soql.select("Account", ["Id"], where="Name = 'x'") == "SELECT Id FROM Account WHERE (Name = 'x')"
    for bad in (lambda: soql.select("Account", []),
                lambda: soql.select("Account; x", ["Id"]),
                lambda: soql.select("Account", ["Id, (SELECT Id FROM Contacts)"]),
                lambda: soql.select("Account", ["Id"], order_by="Id; DELETE")):
        with pytest.raises(ValueError):
            bad()


def test_parse_select_and_count() -> None:
    assert soql.parse_select("select Id, owner.email\nfrom Contact where Name = 'FROM x'") == (
        "Contact", ["Id", "owner.email"])
    with pytest.raises(ValueError):
        soql.parse_select("SELECT COUNT() FROM Account")
    with pytest.raises(ValueError):
        soql.parse_select("SELECT Id, (SELECT Id FROM Contacts) FROM Account")
    assert soql.count("Account", "Name != null") == "SELECT COUNT() FROM Account WHERE Name != null"
