"""The static check of a section's filter: plausible SOQL conditions pass, pasted queries do not."""

from __future__ import annotations

import pytest

from crm_sync.settings.soql_check import condition_problem


@pytest.mark.parametrize("condition", [
    "Industry = 'Retail'",
    "IsDeleted = false AND (Type = 'Customer' OR Type = 'Partner')",
    "Name LIKE 'Acme (%'",  # a parenthesis inside a string does not count
    "Name != 'O\\'Brien'",  # an escaped quote stays inside the string
    "Status__c IN ('Active', 'Trial')",
    "CreatedDate > LAST_N_DAYS:30",
    "Region__c INCLUDES ('EMEA')",
    "Name = 'select from order by'",  # keywords inside strings are text
    "NOT (Rating = 'Cold')",
])
def test_plausible_conditions_pass(condition: str) -> None:
    assert condition_problem(condition) is None


@pytest.mark.parametrize("condition, words", [
    ("   ", "empty"),
    ("SELECT Id FROM Account WHERE Name = 'x'", "SELECT"),
    ("Name = 'x' GROUP BY Name", "GROUP"),
    ("Name = 'x' OFFSET 5", "OFFSET"),
    ("((Name = 'x')", "not closed"),
    ("Name = 'x'))", "without a matching"),
    ("Name = 'x", "not closed"),
    ("OR Name = 'x'", "dangling"),
    ("Name =", "dangling"),
    ("Name", "no comparison"),
])
def test_implausible_conditions_say_why(condition: str, words: str) -> None:
    problem = condition_problem(condition)
    assert problem is not None and words in problem
