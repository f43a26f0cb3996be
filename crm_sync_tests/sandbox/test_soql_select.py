"""SELECT lists, relationship paths, record and CSV shaping, COUNT, FIELDS(), visibility, ORDER BY, LIMIT."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from crm_sync.sandbox.catalog import CATALOG
from crm_sync_tests.sandbox.soql_fixtures import NOW, TinyOrg


@pytest.fixture
def org() -> TinyOrg:
    org = TinyOrg()
    manager = org.insert("User", LastName="Boss", Name="Big Boss", Email="boss@example.com",
                         Username="boss@example.com", Alias="boss")
    owner = org.insert("User", LastName="Smith", Name="Ann Smith", Email="ann@example.com",
                       Username="ann@example.com", Alias="ann", ManagerId=manager, IsActive=True)
    acme = org.insert("Account", Name="Acme", OwnerId=owner, NumberOfEmployees=120, AnnualRevenue=35000000.0,
                      Health_Score__c=0.5, Industry="Technology")
    org.insert("Account", Name="Globex", OwnerId=owner, NumberOfEmployees=None, Industry="Energy")
    org.insert("Contact", LastName="Doe", FirstName="Jane", AccountId=acme, OwnerId=owner,
               HasOptedOutOfEmail=True, Birthdate=date(1990, 4, 1), Email="jane@acme.test")
    org.insert("Contact", LastName="Roe", OwnerId=owner, HasOptedOutOfEmail=False)
    org.insert("License__c", Name="L-1", Account__c=acme, OwnerId=owner, Seats__c=25.0)
    org.people = {"manager": manager, "owner": owner, "acme": acme}  # type: ignore[attr-defined]
    return org


def test_flat_record_has_attributes_and_fields_in_select_order(org: TinyOrg) -> None:
    records = org.records("SELECT Name, Id, NumberOfEmployees, AnnualRevenue FROM Account WHERE Name = 'Acme'")
    acme = org.people["acme"]  # type: ignore[attr-defined]
    assert records == [{
        "attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{acme}"},
        "Name": "Acme", "Id": acme, "NumberOfEmployees": 120, "AnnualRevenue": 35000000.0,
    }]
    assert list(records[0]) == ["attributes", "Name", "Id", "NumberOfEmployees", "AnnualRevenue"]
    assert isinstance(records[0]["NumberOfEmployees"], int)
    assert isinstance(records[0]["AnnualRevenue"], float)


def test_root_url_is_present_even_when_id_is_not_selected(org: TinyOrg) -> None:
    compiled, rows = org.rows("SELECT Name FROM Account WHERE Name = 'Acme'")
    record = compiled.record(rows[0], base_url="/services/data/v60.0")
    assert record["attributes"]["url"].endswith(f"/sobjects/Account/{org.people['acme']}")  # type: ignore[attr-defined]
    assert record["attributes"]["url"].startswith("/services/data/v60.0/")
    assert list(record) == ["attributes", "Name"]
    assert compiled.columns == ["Name"]


def test_parent_paths_nest_with_their_own_attributes(org: TinyOrg) -> None:
    people = org.people  # type: ignore[attr-defined]
    records = org.records(
        "SELECT LastName, Account.Name, Account.Owner.Email, Account.Owner.Manager.Name, Owner.Alias "
        "FROM Contact ORDER BY LastName"
    )
    doe, roe = records
    assert doe["Account"] == {
        "attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{people['acme']}"},
        "Name": "Acme",
        "Owner": {
            "attributes": {"type": "User", "url": f"/services/data/v59.0/sobjects/User/{people['owner']}"},
            "Email": "ann@example.com",
            "Manager": {
                "attributes": {"type": "User", "url": f"/services/data/v59.0/sobjects/User/{people['manager']}"},
                "Name": "Big Boss",
            },
        },
    }
    assert doe["Owner"]["Alias"] == "ann"
    assert list(doe) == ["attributes", "LastName", "Account", "Owner"]
    assert roe["Account"] is None
    assert roe["Owner"]["Alias"] == "ann"


def test_null_lookup_deep_in_the_path(org: TinyOrg) -> None:
    records = org.records("SELECT Name, Owner.Manager.Manager.Name FROM Account WHERE Name = 'Acme'")
    assert records[0]["Owner"]["Manager"]["Manager"] is None


def test_custom_relationship_and_canonical_casing(org: TinyOrg) -> None:
    compiled, rows = org.rows("select name, account__r.NAME, ACCOUNT__R.owner.EMAIL, seats__C from license__C")
    assert compiled.sobject.name == "License__c"
    assert compiled.columns == ["Name", "Account__r.Name", "Account__r.Owner.Email", "Seats__c"]
    record = compiled.record(rows[0])
    assert record["attributes"]["type"] == "License__c"
    assert record["Account__r"]["Name"] == "Acme"
    assert record["Account__r"]["Owner"]["Email"] == "ann@example.com"
    assert record["Seats__c"] == 25.0


def test_object_name_may_qualify_a_field(org: TinyOrg) -> None:
    assert org.records("SELECT Account.Name FROM Account WHERE Account.Name = 'Globex'")[0]["Name"] == "Globex"


def test_selected_parent_id_is_used_for_the_parent_url(org: TinyOrg) -> None:
    compiled, rows = org.rows("SELECT Account.Id, Account.Name FROM Contact WHERE LastName = 'Doe'")
    acme = org.people["acme"]  # type: ignore[attr-defined]
    assert compiled.record(rows[0])["Account"] == {
        "attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{acme}"},
        "Id": acme, "Name": "Acme",
    }
    assert len(rows[0]) == 3  # the two fields and the root Id, no second copy of Account.Id


def test_booleans_numbers_and_dates_in_json(org: TinyOrg) -> None:
    record = org.records("SELECT HasOptedOutOfEmail, Birthdate, CreatedDate FROM Contact WHERE LastName = 'Doe'")[0]
    assert record["HasOptedOutOfEmail"] is True
    assert record["Birthdate"] == "1990-04-01"
    assert record["CreatedDate"] == "2024-05-15T12:30:00.000+0000"


def test_csv_header_and_values(org: TinyOrg) -> None:
    compiled, rows = org.rows(
        "SELECT Id, LastName, Account.Name, Account.AnnualRevenue, Account.NumberOfEmployees, "
        "HasOptedOutOfEmail, Birthdate, CreatedDate, Account.Health_Score__c FROM Contact ORDER BY LastName"
    )
    assert compiled.csv_header() == [
        "Id", "LastName", "Account.Name", "Account.AnnualRevenue", "Account.NumberOfEmployees",
        "HasOptedOutOfEmail", "Birthdate", "CreatedDate", "Account.Health_Score__c",
    ]
    doe, roe = (compiled.csv_values(row) for row in rows)
    assert doe[1:] == ["Doe", "Acme", "3.5E7", "120", "true", "1990-04-01", "2024-05-15T12:30:00.000+0000", "0.5"]
    assert roe[1:] == ["Roe", "", "", "", "false", "", "2024-05-15T12:30:00.000+0000", ""]
    assert all(isinstance(cell, str) for cell in doe + roe)


def test_count_only_query(org: TinyOrg) -> None:
    compiled = org.compile("SELECT COUNT() FROM Contact")
    assert compiled.is_count and compiled.columns == []
    assert org.count("SELECT COUNT() FROM Contact") == 2
    assert org.count("select count() from Contact where Account.Name = 'ACME'") == 1
    assert org.count("SELECT COUNT() FROM Contact LIMIT 1") == 1
    assert org.count("SELECT COUNT() FROM Contact LIMIT 5 OFFSET 1") == 1
    with pytest.raises(TypeError):
        compiled.record((1,))


def test_count_of_a_field_is_an_aggregate_result(org: TinyOrg) -> None:
    compiled, rows = org.rows("SELECT COUNT(Id), COUNT(AccountId) withAccount FROM Contact")
    assert not compiled.is_count
    assert compiled.columns == ["expr0", "withAccount"]
    assert [compiled.record(row) for row in rows] == [
        {"attributes": {"type": "AggregateResult"}, "expr0": 2, "withAccount": 1}
    ]
    assert compiled.csv_values(rows[0]) == ["2", "1"]


def test_fields_functions_expand_from_the_catalog(org: TinyOrg) -> None:
    account = CATALOG.get("Account")
    assert account is not None
    every = org.compile("SELECT FIELDS(ALL) FROM Account LIMIT 200")
    assert every.columns == account.field_names
    standard = org.compile("SELECT FIELDS(STANDARD) FROM Account")  # bounded: no LIMIT needed
    assert standard.columns == [f.name for f in account.fields if not f.custom]
    custom = org.compile("SELECT Id, FIELDS(CUSTOM) FROM Account LIMIT 10")
    assert custom.columns == ["Id", "External_Id__c", "Health_Score__c"]
    records = org.records("SELECT FIELDS(ALL) FROM Account WHERE Name = 'Acme' LIMIT 1")
    assert records[0]["Industry"] == "Technology" and records[0]["IsDeleted"] is False
    assert "_visible_after" not in records[0]


def test_deleted_and_invisible_records_are_hidden(org: TinyOrg) -> None:
    org.insert("Account", Name="Gone", IsDeleted=True)
    org.insert("Account", Name="Later", _visible_after=NOW + timedelta(seconds=5))
    org.insert("Account", Name="Earlier", _visible_after=NOW - timedelta(seconds=5))
    names = {r["Name"] for r in org.records("SELECT Name FROM Account")}
    assert names == {"Acme", "Globex", "Earlier"}
    names_all = {r["Name"] for r in org.records("SELECT Name FROM Account", include_deleted=True)}
    assert names_all == {"Acme", "Globex", "Earlier", "Gone"}
    later = {r["Name"] for r in org.records("SELECT Name FROM Account", now=NOW + timedelta(seconds=5))}
    assert "Later" in later
    assert org.count("SELECT COUNT() FROM Account WHERE IsDeleted = true", include_deleted=True) == 1


def test_deleted_or_invisible_parents_count_as_null(org: TinyOrg) -> None:
    gone = org.insert("Account", Name="Gone", IsDeleted=True)
    hidden = org.insert("Account", Name="Hidden", _visible_after=NOW + timedelta(minutes=1))
    org.insert("Contact", LastName="Orphan", AccountId=gone)
    org.insert("Contact", LastName="Early", AccountId=hidden)
    records = org.records("SELECT LastName, Account.Name FROM Contact WHERE LastName IN ('Orphan', 'Early')")
    assert [r["Account"] for r in records] == [None, None]
    assert org.count("SELECT COUNT() FROM Contact WHERE Account.Name = null") == 3
    later = org.records("SELECT Account.Name FROM Contact WHERE LastName = 'Early'", now=NOW + timedelta(minutes=1))
    assert later[0]["Account"]["Name"] == "Hidden"


def test_order_by_defaults_and_nulls(org: TinyOrg) -> None:
    org.insert("Account", Name="beta", NumberOfEmployees=7)
    org.insert("Account", Name="Alpha", NumberOfEmployees=7)
    names = [r["Name"] for r in org.records("SELECT Name FROM Account ORDER BY Name")]
    assert names == ["Acme", "Alpha", "beta", "Globex"]  # case-insensitive
    by_size = [r["Name"] for r in org.records("SELECT Name FROM Account ORDER BY NumberOfEmployees, Name DESC")]
    assert by_size == ["Globex", "beta", "Alpha", "Acme"]  # ASC puts nulls first by default
    desc = [r["Name"] for r in org.records("SELECT Name FROM Account ORDER BY NumberOfEmployees DESC, Name")]
    assert desc == ["Acme", "Alpha", "beta", "Globex"]  # DESC puts nulls last by default
    nulls_last = org.records("SELECT Name FROM Account ORDER BY NumberOfEmployees ASC NULLS LAST, Name")
    assert [r["Name"] for r in nulls_last][-1] == "Globex"
    nulls_first = org.records("SELECT Name FROM Account ORDER BY NumberOfEmployees DESC NULLS FIRST, Name")
    assert [r["Name"] for r in nulls_first][0] == "Globex"


def test_order_by_parent_path(org: TinyOrg) -> None:
    globex = org.insert("Account", Name="Aardvark")
    org.insert("Contact", LastName="Zed", AccountId=globex)
    names = [r["LastName"] for r in org.records("SELECT LastName FROM Contact ORDER BY Account.Name NULLS LAST")]
    assert names == ["Zed", "Doe", "Roe"]


def test_limit_and_offset(org: TinyOrg) -> None:
    for number in range(10):
        org.insert("Lead", LastName=f"L{number}", Company="C")
    names = [r["LastName"] for r in org.records("SELECT LastName FROM Lead ORDER BY LastName LIMIT 3 OFFSET 2")]
    assert names == ["L2", "L3", "L4"]
    assert len(org.records("SELECT Id FROM Lead OFFSET 8")) == 2
    assert org.records("SELECT Id FROM Lead LIMIT 0") == []
    assert len(org.records("SELECT Id FROM Lead ORDER BY LastName LIMIT 100 OFFSET 2000")) == 0


def test_keywords_and_whitespace_are_free_form(org: TinyOrg) -> None:
    text = "\n  sElEcT\tName\n,Id\r\n  FrOm   Account\n wHeRe Name='Acme'\n oRdEr  bY Name DeSc NuLlS LaSt LiMiT 5\n"
    assert [r["Name"] for r in org.records(text)] == ["Acme"]


def test_sql_always_quotes_identifiers_and_binds_now(org: TinyOrg) -> None:
    org.insert("Case", Subject="Broken", CaseNumber="00001000", Status="New")
    compiled = org.compile("SELECT Subject, Account.Name FROM Case WHERE Status = 'New'")
    assert 'FROM "Case" AS t0' in compiled.sql
    assert compiled.params.count("2024-05-15T12:30:00.000+0000") == 2  # root and the joined Account
    assert org.records("SELECT Subject FROM Case WHERE Status = 'new'")[0]["Subject"] == "Broken"


def test_compiling_is_cached_by_text() -> None:
    from crm_sync.sandbox.soql.parser import parse

    first = parse("SELECT Id FROM Account WHERE Name = 'x'")
    assert parse("SELECT Id FROM Account WHERE Name = 'x'") is first
