"""The sandbox org's schema: which objects exist, their fields, and how each is stored in SQLite.

One SQLite table per object, named after the object; one column per field, named after the field.
Storage forms: text for ids, strings and picklists; datetimes as text in `timefmt` form;
dates as `YYYY-MM-DD`; booleans as 0/1; int as INTEGER; double/currency/percent as REAL.
Describe answers are built from these definitions (`describe_field`, `describe_object`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Field types, as Salesforce's describe names them.
TEXT_TYPES = {"id", "string", "textarea", "picklist", "email", "phone", "url", "reference"}
NUMBER_TYPES = {"int", "double", "currency", "percent"}
SQLITE_TYPE = {
    "id": "TEXT", "string": "TEXT", "textarea": "TEXT", "picklist": "TEXT", "email": "TEXT",
    "phone": "TEXT", "url": "TEXT", "reference": "TEXT", "datetime": "TEXT", "date": "TEXT",
    "boolean": "INTEGER", "int": "INTEGER", "double": "REAL", "currency": "REAL", "percent": "REAL",
}
# Compound fields (address, location) are not stored: each reads its component fields, the ones whose
# compoundFieldName names it. They are read-only, cannot be filtered or sorted, and Bulk queries refuse them.
COMPOUND_TYPES = {"address", "location"}
SOAP_TYPE = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int",
    "double": "xsd:double", "currency": "xsd:double", "percent": "xsd:double",
    "datetime": "xsd:dateTime", "date": "xsd:date", "address": "urn:address", "location": "urn:location",
}


@dataclass(frozen=True)
class Field:
    """One field of an object, with the describe attributes the sandbox reports and enforces."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    custom: bool = False
    calculated: bool = False
    external_id: bool = False
    unique: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    compound_field_name: str | None = None
    picklist_values: tuple[str, ...] = ()
    default: object = None  # value used on create when the field is not given

    @property
    def sqlite_type(self) -> str:
        return SQLITE_TYPE[self.type]

    @property
    def is_compound(self) -> bool:
        return self.type in COMPOUND_TYPES

    @property
    def is_polymorphic(self) -> bool:
        return len(self.reference_to) > 1

    @property
    def required_on_create(self) -> bool:
        """Salesforce's rule: createable, not nillable and no default means the caller must give it."""
        return self.createable and not self.nillable and self.default is None and self.type != "boolean"


@dataclass(frozen=True)
class SObject:
    """One object (table) of the org."""

    name: str
    key_prefix: str
    label: str
    label_plural: str
    fields: tuple[Field, ...]
    custom: bool = False
    name_field: str | None = "Name"
    compound_fields: tuple[Field, ...] = ()  # not stored: see COMPOUND_TYPES

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_lower", {f.name.lower(): f for f in self.fields})
        object.__setattr__(self, "_compound_by_lower", {f.name.lower(): f for f in self.compound_fields})
        object.__setattr__(
            self,
            "_by_relationship",
            {f.relationship_name.lower(): f for f in self.fields if f.relationship_name},
        )

    def field(self, name: str) -> Field | None:
        """The field with this name, case-insensitive as in SOQL, or None."""
        return self._by_lower.get(name.lower())  # type: ignore[attr-defined]

    @property
    def required_candidates(self) -> tuple[Field, ...]:
        """Fields a write must not leave blank: not nillable, writable, not boolean (in field order)."""
        cached = self.__dict__.get("_required_candidates")
        if cached is None:
            cached = tuple(f for f in self.fields
                           if f.type != "boolean" and not f.nillable and (f.createable or f.updateable))
            object.__setattr__(self, "_required_candidates", cached)
        return cached

    @property
    def unique_fields(self) -> tuple[Field, ...]:
        """Fields with a unique value (in field order)."""
        cached = self.__dict__.get("_unique_fields")
        if cached is None:
            cached = tuple(f for f in self.fields if f.unique)
            object.__setattr__(self, "_unique_fields", cached)
        return cached

    def compound(self, name: str) -> Field | None:
        """The compound field (BillingAddress) with this name, case-insensitive, or None."""
        return self._compound_by_lower.get(name.lower())  # type: ignore[attr-defined]

    def components(self, compound: Field) -> list[Field]:
        """The stored fields a compound field is made of (hidden ones left out)."""
        return [f for f in self.fields if f.compound_field_name == compound.name]

    def described_fields(self) -> list[Field]:
        """Stored fields in order, each compound field right after its last component (as describe lists them)."""
        out: list[Field] = []
        pending = {f.name: f for f in self.compound_fields}
        for position, f in enumerate(self.fields):
            out.append(f)
            name = f.compound_field_name
            following = self.fields[position + 1].compound_field_name if position + 1 < len(self.fields) else None
            if name in pending and following != name:
                out.append(pending.pop(name))
        return out + list(pending.values())

    def relationship(self, name: str) -> Field | None:
        """The reference field whose relationshipName is `name` (case-insensitive), or None."""
        return self._by_relationship.get(name.lower())  # type: ignore[attr-defined]

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def has_owner(self) -> bool:
        return self.field("OwnerId") is not None


def _f(name: str, type_: str, label: str | None = None, **kw) -> Field:
    length = kw.pop("length", {"string": 255, "textarea": 32000, "picklist": 255, "email": 80,
                               "phone": 40, "url": 255, "id": 18, "reference": 18}.get(type_, 0))
    return Field(name=name, type=type_, label=label or name.replace("__c", "").replace("_", " "),
                 length=length, custom=name.endswith("__c"), **kw)


def _ref(name: str, to: Iterable[str], relationship: str, label: str | None = None, **kw) -> Field:
    return _f(name, "reference", label, reference_to=tuple(to), relationship_name=relationship, **kw)


def _system_fields(owner: bool = True) -> list[Field]:
    ro = {"createable": False, "updateable": False, "nillable": False}
    fields = [
        _f("Id", "id", "Record ID", **ro),
        _f("IsDeleted", "boolean", "Deleted", **ro),
        _f("CreatedDate", "datetime", "Created Date", **ro),
        _ref("CreatedById", ["User"], "CreatedBy", "Created By ID", **ro),
        _f("LastModifiedDate", "datetime", "Last Modified Date", **ro),
        _ref("LastModifiedById", ["User"], "LastModifiedBy", "Last Modified By ID", **ro),
        _f("SystemModstamp", "datetime", "System Modstamp", **ro),
    ]
    if owner:
        fields.append(_ref("OwnerId", ["User"], "Owner", "Owner ID", nillable=False, default="$caller"))
    return fields


_NAME_RO = {"createable": False, "updateable": False}


GEOCODE_ACCURACY = ("Address", "NearAddress", "Block", "Street", "ExtendedZip", "Zip", "Neighborhood", "City",
                    "County", "State", "Unknown")


def _address(prefix: str) -> list[Field]:
    compound = f"{prefix}Address"
    return [
        _f(f"{prefix}Street", "textarea", length=255, compound_field_name=compound),
        _f(f"{prefix}City", "string", length=40, compound_field_name=compound),
        _f(f"{prefix}State", "string", length=80, compound_field_name=compound),
        _f(f"{prefix}PostalCode", "string", length=20, compound_field_name=compound),
        _f(f"{prefix}Country", "string", length=80, compound_field_name=compound),
        _f(f"{prefix}Latitude", "double", compound_field_name=compound),
        _f(f"{prefix}Longitude", "double", compound_field_name=compound),
        _f(f"{prefix}GeocodeAccuracy", "picklist", "Geocode Accuracy", length=40, compound_field_name=compound,
           picklist_values=GEOCODE_ACCURACY),
    ]


def _compound_address(prefix: str, label: str) -> Field:
    return Field(name=f"{prefix}Address", type="address", label=label, createable=False, updateable=False)


USER = SObject("User", "005", "User", "Users", tuple(_system_fields(owner=False) + [
    _f("Username", "string", length=80, nillable=False, unique=True),
    _f("FirstName", "string", length=40),
    _f("LastName", "string", length=80, nillable=False),
    _f("Name", "string", "Full Name", length=121, **_NAME_RO),
    _f("Email", "email", nillable=False),
    _f("Alias", "string", length=8, nillable=False),
    _f("IsActive", "boolean", "Active", default=True),
    _f("Title", "string", length=80),
    _f("Department", "string", length=80),
    _f("TimeZoneSidKey", "picklist", "Time Zone", nillable=False, default="GMT",
       picklist_values=("GMT", "Europe/London", "America/New_York", "America/Los_Angeles")),
    _ref("ManagerId", ["User"], "Manager", "Manager ID"),
]))

ACCOUNT = SObject("Account", "001", "Account", "Accounts", tuple(_system_fields() + [
    _f("Name", "string", "Account Name", nillable=False),
    _f("AccountNumber", "string", length=40),
    _f("Type", "picklist", "Account Type",
       picklist_values=("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other")),
    _f("Industry", "picklist", picklist_values=(
        "Agriculture", "Banking", "Education", "Energy", "Healthcare", "Manufacturing", "Media",
        "Retail", "Technology", "Telecommunications", "Transportation")),
    _f("Rating", "picklist", picklist_values=("Hot", "Warm", "Cold")),
    _f("AnnualRevenue", "currency", "Annual Revenue"),
    _f("NumberOfEmployees", "int", "Employees"),
    _f("Phone", "phone", "Account Phone"),
    _f("Website", "url"),
    *_address("Billing"),
    *_address("Shipping"),
    _f("Description", "textarea", "Account Description"),
    _ref("ParentId", ["Account"], "Parent", "Parent Account ID"),
    _f("External_Id__c", "string", "External Id", length=64, external_id=True, unique=True),
    _f("Health_Score__c", "double", "Health Score"),
]), compound_fields=(_compound_address("Billing", "Billing Address"),
                     _compound_address("Shipping", "Shipping Address")))

CONTACT = SObject("Contact", "003", "Contact", "Contacts", tuple(_system_fields() + [
    _ref("AccountId", ["Account"], "Account", "Account ID"),
    _f("FirstName", "string", length=40),
    _f("LastName", "string", length=80, nillable=False),
    _f("Name", "string", "Full Name", length=121, **_NAME_RO),
    _f("Email", "email"),
    _f("Phone", "phone", "Business Phone"),
    _f("Title", "string", length=128),
    _f("Department", "string", length=80),
    _f("LeadSource", "picklist", "Lead Source",
       picklist_values=("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")),
    _f("Birthdate", "date"),
    _f("HasOptedOutOfEmail", "boolean", "Email Opt Out", default=False),
    *_address("Mailing"),
    *_address("Other"),
    _f("External_Id__c", "string", "External Id", length=64, external_id=True, unique=True),
]), compound_fields=(_compound_address("Mailing", "Mailing Address"),
                     _compound_address("Other", "Other Address")))

LEAD = SObject("Lead", "00Q", "Lead", "Leads", tuple(_system_fields() + [
    _f("FirstName", "string", length=40),
    _f("LastName", "string", length=80, nillable=False),
    _f("Name", "string", "Full Name", length=121, **_NAME_RO),
    _f("Company", "string", length=255, nillable=False),
    _f("Email", "email"),
    _f("Phone", "phone"),
    _f("Title", "string", length=128),
    _f("Status", "picklist", "Lead Status", nillable=False, default="Open - Not Contacted",
       picklist_values=("Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                        "Closed - Not Converted")),
    _f("LeadSource", "picklist", "Lead Source",
       picklist_values=("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")),
    _f("Industry", "picklist"),
    _f("IsConverted", "boolean", "Converted", default=False, updateable=False),
]))

NOTE = SObject("Note", "002", "Note", "Notes", tuple(_system_fields() + [
    _ref("ParentId", ["Account", "Contact", "Case", "Asset", "License__c", "Project__c"], "Parent",
         "Parent ID", nillable=False, updateable=False),
    _f("Title", "string", length=80, nillable=False),
    _f("Body", "textarea"),
    _f("IsPrivate", "boolean", "Private", default=False),
]), name_field="Title")

TASK = SObject("Task", "00T", "Task", "Tasks", tuple(_system_fields() + [
    _ref("WhoId", ["Contact", "Lead"], "Who", "Name ID"),
    _ref("WhatId", ["Account", "Case", "Asset", "License__c", "Project__c"], "What", "Related To ID"),
    _ref("AccountId", ["Account"], "Account", "Account ID", createable=False, updateable=False),
    _f("Subject", "string", length=255),
    _f("ActivityDate", "date", "Due Date Only"),
    _f("Status", "picklist", nillable=False, default="Not Started",
       picklist_values=("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")),
    _f("Priority", "picklist", nillable=False, default="Normal", picklist_values=("High", "Normal", "Low")),
    _f("Type", "picklist", picklist_values=("Call", "Email", "Meeting", "Other")),
    _f("Description", "textarea", "Comments"),
    _f("IsClosed", "boolean", "Closed", createable=False, updateable=False, calculated=True),
]), name_field=None)

CASE = SObject("Case", "500", "Case", "Cases", tuple(_system_fields() + [
    _f("CaseNumber", "string", "Case Number", length=30, createable=False, updateable=False, nillable=False),
    _ref("AccountId", ["Account"], "Account", "Account ID"),
    _ref("ContactId", ["Contact"], "Contact", "Contact ID"),
    _f("Subject", "string", length=255),
    _f("Description", "textarea"),
    _f("Status", "picklist", nillable=False, default="New",
       picklist_values=("New", "Working", "Escalated", "Closed")),
    _f("Priority", "picklist", default="Medium", picklist_values=("High", "Medium", "Low")),
    _f("Origin", "picklist", "Case Origin", picklist_values=("Phone", "Email", "Web")),
    _f("Type", "picklist", picklist_values=("Question", "Problem", "Feature Request")),
    _f("Reason", "picklist", "Case Reason",
       picklist_values=("Installation", "Equipment Complexity", "Performance", "Breakdown", "Other")),
    _f("IsClosed", "boolean", "Closed", createable=False, updateable=False, calculated=True),
    _f("ClosedDate", "datetime", "Closed Date", createable=False, updateable=False),
]), name_field=None)

ASSET = SObject("Asset", "02i", "Asset", "Assets", tuple(_system_fields() + [
    _f("Name", "string", "Asset Name", nillable=False),
    _ref("AccountId", ["Account"], "Account", "Account ID"),
    _ref("ContactId", ["Contact"], "Contact", "Contact ID"),
    _f("SerialNumber", "string", "Serial Number", length=80),
    _f("Status", "picklist", picklist_values=("Purchased", "Shipped", "Installed", "Registered", "Obsolete")),
    _f("Price", "currency"),
    _f("Quantity", "double"),
    _f("PurchaseDate", "date", "Purchase Date"),
    _f("InstallDate", "date", "Install Date"),
    _f("UsageEndDate", "date", "Usage End Date"),
]))

LICENSE = SObject("License__c", "a0L", "License", "Licenses", tuple(_system_fields() + [
    _f("Name", "string", "License Name", length=80, nillable=False),
    _ref("Account__c", ["Account"], "Account__r", "Account"),
    _f("Product__c", "picklist", "Product", picklist_values=("Core", "Analytics", "Automation", "Enterprise")),
    _f("Seats__c", "double", "Seats"),
    _f("Status__c", "picklist", "Status", picklist_values=("Trial", "Active", "Expired", "Cancelled")),
    _f("Start_Date__c", "date", "Start Date"),
    _f("End_Date__c", "date", "End Date"),
    _f("Annual_Value__c", "currency", "Annual Value"),
]), custom=True)

PROJECT = SObject("Project__c", "a0P", "Project", "Projects", tuple(_system_fields() + [
    _f("Name", "string", "Project Name", length=80, nillable=False),
    _ref("Account__c", ["Account"], "Account__r", "Account"),
    _f("Status__c", "picklist", "Status", picklist_values=("Planned", "In Progress", "Done", "On Hold")),
    _f("Budget__c", "currency", "Budget"),
    _f("Start_Date__c", "date", "Start Date"),
    _f("Due_Date__c", "date", "Due Date"),
    _f("Description__c", "textarea", "Description"),
]), custom=True)

OBJECTS: tuple[SObject, ...] = (USER, ACCOUNT, CONTACT, LEAD, NOTE, TASK, CASE, ASSET, LICENSE, PROJECT)


class Catalog:
    """Look-ups over the org's objects: by name (case-insensitive, as Salesforce) and by key prefix."""

    def __init__(self, objects: Iterable[SObject] = OBJECTS) -> None:
        self.objects = tuple(objects)
        self._by_lower = {o.name.lower(): o for o in self.objects}
        self._by_prefix = {o.key_prefix: o for o in self.objects}

    def get(self, name: str) -> SObject | None:
        return self._by_lower.get(name.lower())

    def by_prefix(self, prefix: str) -> SObject | None:
        return self._by_prefix.get(prefix)

    def names(self) -> list[str]:
        return [o.name for o in self.objects]


CATALOG = Catalog()


def describe_field(f: Field) -> dict:
    """The describe entry of one field, with every attribute crm_sync and clients rely on present."""
    return {
        "name": f.name,
        "type": f.type,
        "label": f.label,
        "length": f.length,
        "byteLength": f.length * 3,
        "digits": 9 if f.type == "int" else 0,
        "precision": 18 if f.type in {"double", "currency", "percent"} else 0,
        "scale": 2 if f.type in {"double", "currency", "percent"} else 0,
        "nillable": f.nillable,
        "createable": f.createable,
        "updateable": f.updateable,
        "custom": f.custom,
        "calculated": f.calculated,
        "externalId": f.external_id,
        "unique": f.unique,
        "idLookup": f.name == "Id" or f.external_id or f.name in {"Name", "Email", "Username"},
        "filterable": f.type != "textarea" and not f.is_compound,
        "sortable": f.type != "textarea" and not f.is_compound,
        "groupable": f.type not in {"textarea", "double", "currency", "percent", "datetime", *COMPOUND_TYPES},
        "nameField": f.name == "Name",
        "defaultedOnCreate": f.default is not None or f.name in {"Id", "IsDeleted", "CreatedDate",
                                                                 "CreatedById", "LastModifiedDate",
                                                                 "LastModifiedById", "SystemModstamp"},
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "polymorphicForeignKey": f.is_polymorphic,
        "compoundFieldName": f.compound_field_name,
        "soapType": SOAP_TYPE.get(f.type, "xsd:string"),
        "picklistValues": [
            {"active": True, "defaultValue": v == f.default, "label": v, "validFor": None, "value": v}
            for v in f.picklist_values
        ],
        "defaultValue": f.default if f.default not in (None, "$caller") else None,
        "restrictedPicklist": False,
        "deprecatedAndHidden": False,
    }


def describe_object(o: SObject, base_url: str = "/services/data/v59.0", fields: bool = True) -> dict:
    """The describe (or, with fields=False, the describe-global entry) of one object."""
    urls = {
        "sobject": f"{base_url}/sobjects/{o.name}",
        "describe": f"{base_url}/sobjects/{o.name}/describe",
        "rowTemplate": f"{base_url}/sobjects/{o.name}/{{ID}}",
    }
    entry = {
        "name": o.name,
        "label": o.label,
        "labelPlural": o.label_plural,
        "keyPrefix": o.key_prefix,
        "custom": o.custom,
        "customSetting": False,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "undeletable": True,
        "queryable": True,
        "retrieveable": True,
        "searchable": False,
        "replicateable": True,
        "triggerable": True,
        "layoutable": True,
        "mergeable": False,
        "activateable": False,
        "deprecatedAndHidden": False,
        "feedEnabled": False,
        "urls": urls,
    }
    if fields:
        entry["fields"] = [describe_field(f) for f in o.described_fields()]
        entry["childRelationships"] = []
        entry["recordTypeInfos"] = []
    return entry
