"""The sandbox's SOQL engine: SOQL text -> one SQLite query, and its rows -> Salesforce's answers.

`compile_soql(text, catalog, include_deleted=..., now=...)` returns a `CompiledQuery` whose `sql` and
`params` run against the store, and whose `record` / `csv_header` / `csv_values` shape the rows.
"""

from crm_sync.sandbox.soql.compiler import CompiledQuery, compile_soql

__all__ = ["CompiledQuery", "compile_soql"]
