"""Every refusal of the SOQL engine: Salesforce's errorCode, status and message shape."""

from __future__ import annotations

import pytest

from crm_sync.sandbox.catalog import CATALOG
from crm_sync.sandbox.errors import SalesforceError
from crm_sync.sandbox.soql import compile_soql
from crm_sync_tests.sandbox.soql_fixtures import NOW

NO_SUCH_COLUMN_TAIL = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)


def error_of(text: str) -> SalesforceError:
    with pytest.raises(SalesforceError) as caught:
        compile_soql(text, CATALOG, include_deleted=False, now=NOW)
    return caught.value


def tail(error: SalesforceError) -> str:
    """The message after the positional prefix."""
    return error.message.split("\n")[-1]


def test_unknown_column_message_points_at_the_field() -> None:
    error = error_of("SELECT Id, Foo FROM Account")
    assert (error.status, error.error_code) == (400, "INVALID_FIELD")
    assert error.message == (
        "\nSELECT Id, Foo FROM Account\n           ^\nERROR at Row:1:Column:12\n"
        f"No such column 'Foo' on entity 'Account'. {NO_SUCH_COLUMN_TAIL}"
    )
    assert error.body() == [{"message": error.message, "errorCode": "INVALID_FIELD"}]


def test_unknown_column_on_a_parent_names_the_parent_entity() -> None:
    error = error_of("SELECT Owner.Nickname FROM Account")
    assert tail(error) == f"No such column 'Nickname' on entity 'User'. {NO_SUCH_COLUMN_TAIL}"


@pytest.mark.parametrize(
    "text",
    [
        "SELECT Id FROM Account WHERE Foo = 'x'",
        "SELECT Id FROM Account ORDER BY Foo",
        "SELECT _visible_after FROM Account",
        "SELECT _deleted_at FROM Account",
        "SELECT COUNT(Foo) FROM Account",
    ],
)
def test_unknown_columns_everywhere(text: str) -> None:
    error = error_of(text)
    assert error.error_code == "INVALID_FIELD"
    assert "No such column" in tail(error)


def test_unknown_relationship() -> None:
    error = error_of("SELECT Acount.Name FROM Contact")
    assert error.error_code == "INVALID_FIELD"
    assert tail(error).startswith("Didn't understand relationship 'Acount' in field path.")
    assert "append the '__r'" in tail(error)
    assert error_of("SELECT Account__c.Name FROM License__c").error_code == "INVALID_FIELD"
    assert error_of("SELECT AccountId.Name FROM Contact").error_code == "INVALID_FIELD"
    assert error_of("SELECT Name.Given FROM Account").error_code == "INVALID_FIELD"


@pytest.mark.parametrize(
    "text",
    ["SELECT Who.Name FROM Task", "SELECT Id FROM Task WHERE What.Name = 'x'", "SELECT Parent.Name FROM Note"],
)
def test_polymorphic_relationships_are_refused(text: str) -> None:
    error = error_of(text)
    assert error.error_code == "INVALID_FIELD"
    assert "polymorphic" in tail(error) and "not supported by the crm_sync sandbox" in tail(error)


def test_too_deep_relationship_path() -> None:
    ok = "SELECT Account.Owner.Manager.Manager.Manager.Name FROM Contact"
    assert compile_soql(ok, CATALOG, include_deleted=False, now=NOW).columns == [
        "Account.Owner.Manager.Manager.Manager.Name"
    ]
    error = error_of("SELECT Account.Owner.Manager.Manager.Manager.Manager.Name FROM Contact")
    assert error.error_code == "MALFORMED_QUERY"


def test_unknown_object() -> None:
    error = error_of("SELECT Id FROM Foo")
    assert (error.status, error.error_code) == (400, "INVALID_TYPE")
    assert error.message == (
        "\nSELECT Id FROM Foo\n               ^\nERROR at Row:1:Column:16\n"
        "sObject type 'Foo' is not supported. If you are attempting to use a custom object, be sure to append "
        "the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
    )


@pytest.mark.parametrize(
    ("text", "token", "column"),
    [
        ("SELECT Id FROMX Account", "FROMX", 11),
        ("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", "OR", 56),
        ("SELECT Id FROM Account WHERE Name = 'a' OR Name = 'b' AND Name = 'c'", "AND", 55),
        ("SELECT Id FROM Account WHERE Name = \"x\"", '"', 37),
        ("SELECT Id, FROM Account", "FROM", 12),
        ("SELECT Id FROM Account WHERE Name = 'x' AND or = 'y'", "or", 45),
        ("SELECT Id FROM Account LIMIT 5 ORDER BY Name", "ORDER", 32),
        ("SELECT Id FROM Account OFFSET 5 LIMIT 2", "LIMIT", 33),
        ("SELECT Id FROM Account WHERE Name = 'x' Name", "Name", 41),
        ("SELECT Id FROM Account LIMIT -1", "-1", 30),
        ("SELECT Id FROM Account WHERE CreatedDate > 2024-01-31T10:00:00", "T10", 54),
    ],
)
def test_syntax_errors_name_the_unexpected_token(text: str, token: str, column: int) -> None:
    assert text[column - 1 :].startswith(token)
    error = error_of(text)
    assert (error.status, error.error_code) == (400, "MALFORMED_QUERY")
    assert error.message == (
        f"\n{text}\n{' ' * (column - 1)}^\nERROR at Row:1:Column:{column}\nunexpected token: '{token}'"
    )


def test_syntax_error_at_the_end_and_on_later_lines() -> None:
    assert tail(error_of("SELECT Id FROM")) == "unexpected token: '<EOF>'"
    assert tail(error_of("SELECT Id FROM Account WHERE")) == "unexpected token: '<EOF>'"
    error = error_of("SELECT Id\nFROM Account\nWHERE Name = 'a' AND Name = 'b' OR Name = 'c'")
    assert error.message == (
        "\nWHERE Name = 'a' AND Name = 'b' OR Name = 'c'\n                                ^\n"
        "ERROR at Row:3:Column:33\nunexpected token: 'OR'"
    )


def test_duplicate_fields() -> None:
    for text, name in [
        ("SELECT Name, Name FROM Account", "Name"),
        ("SELECT Id, Name, name FROM Account", "name"),
        ("SELECT Owner.Email, owner.email FROM Account", "owner.email"),
        ("SELECT Id, FIELDS(ALL) FROM User LIMIT 200", "Id"),
        ("SELECT FIELDS(STANDARD), FIELDS(ALL) FROM Account LIMIT 10", "Id"),
    ]:
        error = error_of(text)
        assert (error.status, error.error_code, error.message) == (400, "INVALID_FIELD",
                                                                   f"duplicate field selected: {name}")


@pytest.mark.parametrize(
    "text",
    [
        "SELECT FIELDS(ALL) FROM Account",
        "SELECT FIELDS(ALL) FROM Account LIMIT 201",
        "SELECT FIELDS(CUSTOM) FROM Account",
    ],
)
def test_unbounded_fields_function_needs_limit_200(text: str) -> None:
    error = error_of(text)
    assert (error.error_code, error.message) == (
        "MALFORMED_QUERY", "The SOQL FIELDS function must have a LIMIT of at most 200"
    )


def test_fields_function_argument_must_be_known() -> None:
    assert error_of("SELECT FIELDS(SOME) FROM Account LIMIT 1").error_code == "MALFORMED_QUERY"


def test_offset_is_at_most_2000() -> None:
    error = error_of("SELECT Id FROM Account LIMIT 10 OFFSET 2001")
    assert (error.status, error.error_code, error.message) == (
        400, "NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000"
    )
    assert compile_soql("SELECT Id FROM Account OFFSET 2000", CATALOG, include_deleted=False, now=NOW)


def test_limit_out_of_range() -> None:
    error = error_of("SELECT Id FROM Account LIMIT 99999999999")
    assert error.error_code == "MALFORMED_QUERY" and "out of range" in tail(error)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT Id FROM Account WHERE NumberOfEmployees = '5'",
         "value of filter criterion for field 'NumberOfEmployees' must be of type integer and should not be "
         "enclosed in quotes"),
        ("SELECT Id FROM Account WHERE AnnualRevenue > 'x'",
         "value of filter criterion for field 'AnnualRevenue' must be of type currency and should not be "
         "enclosed in quotes"),
        ("SELECT Id FROM Account WHERE Health_Score__c IN (1, '2')",
         "value of filter criterion for field 'Health_Score__c' must be of type double and should not be "
         "enclosed in quotes"),
        ("SELECT Id FROM Account WHERE Name = 5",
         "value of filter criterion for field 'Name' must be of type string and should be enclosed in quotes"),
        ("SELECT Id FROM Account WHERE Name = true",
         "value of filter criterion for field 'Name' must be of type string and should be enclosed in quotes"),
        ("SELECT Id FROM Account WHERE Name = TODAY",
         "value of filter criterion for field 'Name' must be of type string and should be enclosed in quotes"),
        ("SELECT Id FROM Account WHERE Name LIKE 5",
         "value of filter criterion for field 'Name' must be of type string and should be enclosed in quotes"),
        ("SELECT Id FROM Account WHERE Id = 5",
         "value of filter criterion for field 'Id' must be of type id and should be enclosed in quotes"),
        ("SELECT Id FROM Account WHERE IsDeleted = 'true'",
         "value of filter criterion for field 'IsDeleted' must be of type boolean and should not be enclosed in "
         "quotes"),
        ("SELECT Id FROM Account WHERE IsDeleted = 1",
         "value of filter criterion for field 'IsDeleted' must be of type boolean and should not be enclosed in "
         "quotes"),
        ("SELECT Id FROM Account WHERE CreatedDate = 2024-01-31",
         "value of filter criterion for field 'CreatedDate' must be of type dateTime and should not be enclosed "
         "in quotes"),
        ("SELECT Id FROM Account WHERE CreatedDate > '2024-01-31T00:00:00Z'",
         "value of filter criterion for field 'CreatedDate' must be of type dateTime and should not be enclosed "
         "in quotes"),
        ("SELECT Id FROM Contact WHERE Birthdate = 2024-01-31T00:00:00Z",
         "value of filter criterion for field 'Birthdate' must be of type date and should not be enclosed in "
         "quotes"),
        ("SELECT Id FROM Contact WHERE Birthdate = '2024-01-31'",
         "value of filter criterion for field 'Birthdate' must be of type date and should not be enclosed in "
         "quotes"),
        ("SELECT Id FROM Contact WHERE Account.NumberOfEmployees = '1'",
         "value of filter criterion for field 'NumberOfEmployees' must be of type integer and should not be "
         "enclosed in quotes"),
    ],
)
def test_value_type_mismatches(text: str, expected: str) -> None:
    error = error_of(text)
    assert (error.status, error.error_code, tail(error)) == (400, "INVALID_FIELD", expected)
    assert "ERROR at Row:1:Column:" in error.message


def test_type_error_points_at_the_field() -> None:
    error = error_of("SELECT Id FROM Account WHERE NumberOfEmployees = '5'")
    assert error.message.split("\n")[2] == " " * 29 + "^"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT Id FROM Account WHERE Id = 'abc'", "invalid ID field: abc"),
        ("SELECT Id FROM Contact WHERE AccountId IN ('001000000000000AAA', 'nope')", "invalid ID field: nope"),
        ("SELECT Id FROM Account WHERE NumberOfEmployees LIKE '5%'", "invalid operator on integer field"),
        ("SELECT Id FROM Account WHERE Id LIKE '001%'", "invalid operator on id field"),
        ("SELECT Id FROM Account WHERE IsDeleted > false", "invalid operator on boolean field"),
    ],
)
def test_invalid_filter_operators(text: str, expected: str) -> None:
    error = error_of(text)
    assert (error.error_code, tail(error)) == ("INVALID_QUERY_FILTER_OPERATOR", expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"SELECT Id FROM Account WHERE Name = 'a\qb'",
         r"Invalid string literal 'a\qb'. Illegal character sequence '\q' in string literal."),
        (r"SELECT Id FROM Account WHERE Name = '50\%'",
         r"Invalid string literal '50\%'. Illegal character sequence '\%' in string literal."),
        (r"SELECT Id FROM Account WHERE Name LIKE 'a\x%'",
         r"Invalid string literal 'a\x%'. Illegal character sequence '\x' in string literal."),
        ("SELECT Id FROM Account WHERE Name = foo", "unexpected token: 'foo'"),
        ("SELECT Id FROM Account WHERE CreatedDate = LAST_N_FORTNIGHTS:3", "unexpected token: 'LAST_N_FORTNIGHTS'"),
        ("SELECT Id FROM Account WHERE CreatedDate = TODAY:3", "unexpected token: 'TODAY'"),
        ("SELECT Id FROM Account WHERE Name = :name", "Bind variables only allowed in Apex code"),
        ("SELECT Id FROM Contact WHERE Birthdate = 2024-02-30", "invalid date: 2024-02-30"),
        ("SELECT Name, COUNT() FROM Account", "COUNT() cannot be combined with other fields"),
        ("SELECT COUNT(Id), Name FROM Account", "Field must be grouped or aggregated: Name"),
        ("SELECT COUNT() FROM Account ORDER BY Name", "Ordered field must be grouped or aggregated: Name"),
    ],
)
def test_malformed_values_and_selects(text: str, expected: str) -> None:
    error = error_of(text)
    assert (error.status, error.error_code, tail(error)) == (400, "MALFORMED_QUERY", expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT Id FROM Account WHERE Description = 'x'", "field 'Description' can not be filtered in query call"),
        ("SELECT Id FROM Account ORDER BY Description", "field 'Description' can not be sorted in a query call"),
        ("SELECT Id FROM Contact WHERE Account.Description LIKE 'x%'",
         "field 'Description' can not be filtered in query call"),
    ],
)
def test_long_text_areas_cannot_be_filtered_or_sorted(text: str, expected: str) -> None:
    error = error_of(text)
    assert (error.error_code, tail(error)) == ("INVALID_FIELD", expected)


def test_short_text_areas_can_be_filtered() -> None:
    assert compile_soql("SELECT Id FROM Account WHERE BillingStreet = 'Main St 1' ORDER BY BillingStreet",
                        CATALOG, include_deleted=False, now=NOW).params[-1] == "Main St 1"


@pytest.mark.parametrize(
    ("text", "construct"),
    [
        ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "Subqueries (child relationships)"),
        ("SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)", "Semi-join"),
        ("SELECT Id FROM Account WHERE Id NOT IN (SELECT AccountId FROM Contact)", "Semi-join"),
        ("SELECT Industry FROM Account GROUP BY Industry", "GROUP BY"),
        ("SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry HAVING COUNT(Id) > 1", "GROUP BY and HAVING"),
        ("SELECT TYPEOF What WHEN Account THEN Name ELSE Subject END FROM Task", "TYPEOF"),
        ("SELECT Id FROM Account WITH SECURITY_ENFORCED", "WITH SECURITY_ENFORCED"),
        ("SELECT Id FROM Account LIMIT 1 FOR UPDATE", "FOR UPDATE"),
        ("SELECT Id FROM Account USING SCOPE mine", "USING SCOPE"),
        ("SELECT SUM(AnnualRevenue) FROM Account", "aggregate function SUM()"),
        ("SELECT MAX(NumberOfEmployees) total FROM Account", "aggregate function MAX()"),
        ("SELECT toLabel(Industry) FROM Account", "function toLabel()"),
        ("SELECT Id FROM Account WHERE CALENDAR_YEAR(CreatedDate) = 2024", "function CALENDAR_YEAR()"),
        ("SELECT Id FROM Account ORDER BY MAX(Name)", "function MAX()"),
        ("SELECT Id FROM Account WHERE Industry INCLUDES ('Banking')", "INCLUDES operator"),
        ("SELECT Id FROM Account WHERE Industry EXCLUDES ('Banking')", "EXCLUDES operator"),
    ],
)
def test_unsupported_constructs_are_named(text: str, construct: str) -> None:
    error = error_of(text)
    assert (error.status, error.error_code) == (501, "NOT_SUPPORTED_BY_SANDBOX")
    assert construct in error.message
    assert error.message.endswith("is not supported by the crm_sync sandbox")
