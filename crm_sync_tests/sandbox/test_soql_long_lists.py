"""A query ending in a long IN list of literals (a read-back of 200 Ids) parses to the very tree, and fails with
the very error, that Lark's full parse of the text gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_sync.sandbox.catalog import CATALOG
from crm_sync.sandbox.errors import SalesforceError
from crm_sync.sandbox.ids import to_18
from crm_sync.sandbox.soql import compile_soql, parser
from crm_sync_tests.sandbox.soql_fixtures import NOW

PREFIXES = [
    "SELECT Id, LastModifiedDate, LastModifiedById FROM Account WHERE Id IN",
    "SELECT Id FROM Account WHERE Name = 'x' AND External_Id__c in",
    "SELECT Id FROM Account\nWHERE Name = 'x' OR\n NOT Id NOT IN",
    "select Id from Account where (Name = 'a' or Name = 'b') and Id IN",
]
literal_text = st.text(st.characters(blacklist_characters="'\\\n", blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=60, deadline=None)
@given(prefix=st.sampled_from(PREFIXES), values=st.lists(literal_text, min_size=1, max_size=40),
       gaps=st.sampled_from([",", ", ", " ,\n  ", ",\n"]), tail=st.sampled_from(["", " ", "\n"]))
def test_the_tree_equals_the_full_parse(prefix: str, values: list[str], gaps: str, tail: str) -> None:
    text = f"{prefix} ( " + gaps.join(f"'{v}'" for v in values) + f"){tail}"
    fast = parser._parse_long_list(text)
    assert fast == parser._PARSER.parse(text) if fast is not None else len(values) < parser.LONG_LIST_LITERALS
    assert parser.parse(text) == parser._PARSER.parse(text)


def test_a_bad_literal_in_a_long_list_is_reported_where_it_is() -> None:
    """An Id that is not one, on the third line of the list: Salesforce's message names its line and column."""
    ids = [f"'{to_18(f'001AA{n:010d}')}'" for n in range(20)]
    ids[13] = "'not an id'"
    text = "SELECT Id FROM Account WHERE Id IN (\n" + ",\n".join(ids) + ")"
    assert parser._parse_long_list(text) is not None
    with pytest.raises(SalesforceError) as caught:
        compile_soql(text, CATALOG, include_deleted=False, now=NOW)
    assert caught.value.error_code == "INVALID_QUERY_FILTER_OPERATOR"
    assert "Row:15:Column:1" in caught.value.message and "invalid ID field: not an id" in caught.value.message


@pytest.mark.parametrize("text", [
    "SELECT Id FROM Account WHERE Id IN (" + ",".join(["'a'"] * 10) + ",)",  # a trailing comma
    "SELECT Id, FROM Account WHERE Id IN (" + ",".join(["'a'"] * 10) + ")",  # an error before the list
    "SELECT Id FROM Account WHERE IN (" + ",".join(["'a'"] * 10) + ")",  # no operand
])
def test_a_malformed_query_gets_the_full_parse_error(text: str) -> None:
    with pytest.raises(SalesforceError) as fast:
        parser.parse(text)
    with pytest.raises(SalesforceError) as full:
        parser._parse_text.__wrapped__(text)
    assert (fast.value.error_code, fast.value.message) == (full.value.error_code, full.value.message)
