"""SOQL literals: string escapes, LIKE patterns, numbers, dates, date literals, Java double printing."""

from __future__ import annotations

from datetime import date

import pytest

from crm_sync.sandbox.soql import literals
from crm_sync.sandbox.soql.shaping import java_double


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (r"'plain'", "plain"),
        (r"'Bob\'s BBQ'", "Bob's BBQ"),
        (r"'say \"hi\"'", 'say "hi"'),
        (r"'back\\slash'", "back\\slash"),
        (r"'a\nb\Nc'", "a\nb\nc"),
        (r"'\r\R\t\T\b\B\f\F'", "\r\r\t\t\b\b\f\f"),
        (r"'caf\u00e9 \u00C9'", "café É"),
        (r"'100%_'", "100%_"),
        (r"''", ""),
    ],
)
def test_decode_string_escapes(raw: str, expected: str) -> None:
    assert literals.decode_string(raw) == expected


@pytest.mark.parametrize("raw", [r"'a\q'", r"'50\%'", r"'a\_b'", r"'\u12'", r"'\uZZZZ'", "'trailing\\'"])
def test_unknown_or_like_only_escapes_are_errors_outside_like(raw: str) -> None:
    with pytest.raises(literals.LiteralError, match="Illegal character sequence"):
        literals.decode_string(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (r"'a%'", "a%"),
        (r"'_b'", "_b"),
        (r"'50\%'", "50\\%"),
        (r"'a\_b'", "a\\_b"),
        (r"'back\\slash'", "back\\\\slash"),
        (r"'it\'s%'", "it's%"),
    ],
)
def test_like_pattern_keeps_wildcards_and_escapes_literals(raw: str, expected: str) -> None:
    assert literals.like_pattern(raw) == expected


def test_like_pattern_rejects_unknown_escape() -> None:
    with pytest.raises(literals.LiteralError):
        literals.like_pattern(r"'a\x'")


def test_numbers_keep_integers_integral() -> None:
    assert literals.parse_number("42") == 42 and isinstance(literals.parse_number("42"), int)
    assert literals.parse_number("-7") == -7
    assert literals.parse_number("2.5") == 2.5
    assert literals.parse_number(".5") == 0.5


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("2024-01-31T10:00:00Z", "2024-01-31T10:00:00.000+0000"),
        ("2024-01-31T10:00:00.123Z", "2024-01-31T10:00:00.123+0000"),
        ("2024-01-31T10:00:00.1234567Z", "2024-01-31T10:00:00.123+0000"),
        ("2024-01-31T10:00:00+02:00", "2024-01-31T08:00:00.000+0000"),
        ("2024-01-31T01:00:00-0530", "2024-01-31T06:30:00.000+0000"),
        ("2024-01-01T01:00:00+0200", "2023-12-31T23:00:00.000+0000"),
    ],
)
def test_datetime_literals_become_stored_utc(text: str, stored: str) -> None:
    assert literals.parse_datetime_literal(text) == stored


def test_impossible_dates_are_errors() -> None:
    with pytest.raises(literals.LiteralError):
        literals.parse_date_literal("2024-02-30")
    with pytest.raises(literals.LiteralError):
        literals.parse_datetime_literal("2024-13-01T00:00:00Z")


TODAY = date(2024, 5, 15)  # a Wednesday


@pytest.mark.parametrize(
    ("name", "n", "start", "end"),
    [
        ("TODAY", None, date(2024, 5, 15), date(2024, 5, 16)),
        ("yesterday", None, date(2024, 5, 14), date(2024, 5, 15)),
        ("TOMORROW", None, date(2024, 5, 16), date(2024, 5, 17)),
        ("LAST_N_DAYS", 3, date(2024, 5, 12), date(2024, 5, 16)),
        ("NEXT_N_DAYS", 2, date(2024, 5, 16), date(2024, 5, 18)),
        ("LAST_90_DAYS", None, date(2024, 2, 15), date(2024, 5, 16)),
        ("NEXT_90_DAYS", None, date(2024, 5, 16), date(2024, 8, 14)),
        ("N_DAYS_AGO", 2, date(2024, 5, 13), date(2024, 5, 14)),
        ("THIS_WEEK", None, date(2024, 5, 12), date(2024, 5, 19)),
        ("LAST_WEEK", None, date(2024, 5, 5), date(2024, 5, 12)),
        ("THIS_MONTH", None, date(2024, 5, 1), date(2024, 6, 1)),
        ("LAST_MONTH", None, date(2024, 4, 1), date(2024, 5, 1)),
        ("NEXT_MONTH", None, date(2024, 6, 1), date(2024, 7, 1)),
        ("LAST_N_MONTHS", 2, date(2024, 3, 1), date(2024, 5, 1)),
        ("NEXT_N_MONTHS", 8, date(2024, 6, 1), date(2025, 2, 1)),
        ("THIS_QUARTER", None, date(2024, 4, 1), date(2024, 7, 1)),
        ("LAST_QUARTER", None, date(2024, 1, 1), date(2024, 4, 1)),
        ("THIS_YEAR", None, date(2024, 1, 1), date(2025, 1, 1)),
        ("LAST_FISCAL_YEAR", None, date(2023, 1, 1), date(2024, 1, 1)),
        ("N_YEARS_AGO", 2, date(2022, 1, 1), date(2023, 1, 1)),
    ],
)
def test_date_literal_ranges(name: str, n: int | None, start: date, end: date) -> None:
    assert literals.date_literal_range(name, n, TODAY) == (start, end)


def test_unknown_date_literal_is_none() -> None:
    assert literals.date_literal_range("FORTNIGHT", None, TODAY) is None
    assert literals.date_literal_range("LAST_N_DAYS", None, TODAY) is None
    assert literals.date_literal_range("TODAY", 3, TODAY) is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (100.0, "100.0"),
        (0.5, "0.5"),
        (-2.25, "-2.25"),
        (1234567.5, "1234567.5"),
        (1e7, "1.0E7"),
        (16147805824397.0, "1.6147805824397E13"),
        (35000000.0, "3.5E7"),
        (0.001, "0.001"),
        (0.0001, "1.0E-4"),
        (-0.00012, "-1.2E-4"),
        (0.0, "0.0"),
        (3, "3.0"),
    ],
)
def test_java_double_matches_salesforce_printing(value: float, text: str) -> None:
    assert java_double(value) == text
