"""Field mapping of the receive side: which Salesforce fields (and rows: the filter) a section fetches, and how a fetched page
(columns named by Salesforce field path) becomes a platform page (columns named by platform column)."""

from __future__ import annotations

import pyarrow as pa

from crm_sync.settings import Section

# Salesforce system fields every receive query selects, and the platform meta column each fills.
META_COLUMNS = {
    "Id": "salesforce_id",
    "LastModifiedDate": "sf_last_modified",
    "SystemModstamp": "sf_system_modstamp",
    "IsDeleted": "deleted",
}


def receive_fields(section: Section) -> list[str]:
    """The SELECT list of a receive query: the section's receive fields plus Id, both modstamps and IsDeleted."""
    fields = section.soql_fields()
    if not any(f.lower() == "isdeleted" for f in fields):
        fields.append("IsDeleted")
    return fields


def with_filter(section: Section, condition: str) -> str:
    """`condition` AND the section's filter when it has one: the WHERE of every query about a section."""
    conditions = [condition] + ([section.filter] if section.filter else [])
    return " AND ".join(f"({c})" for c in conditions)


def to_platform_page(section: Section, page: pa.Table) -> pa.Table:
    """Rename a fetched page's columns to platform columns; a path mapped to several columns fills each."""
    by_path = {name.lower(): name for name in page.column_names}
    columns: dict[str, pa.ChunkedArray] = {}
    for path, column in META_COLUMNS.items():
        source = by_path.get(path.lower())
        if source is not None:
            columns[column] = page.column(source)
    for mapping in section.receive_fields():
        source = by_path.get(mapping.salesforce.lower())
        if source is None:
            raise ValueError(f"section {section.object}: the fetched page has no column {mapping.salesforce!r}")
        columns[mapping.column] = page.column(source)
    return pa.table(columns)
