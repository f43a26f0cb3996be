"""Salesforce's error shapes for queries: the positional form that echoes the query with a caret."""

from __future__ import annotations

from crm_sync.sandbox.errors import SalesforceError
from crm_sync.sandbox.soql.ast import Pos


def positioned(text: str, pos: Pos, error_code: str, message: str, fields: list[str] | None = None
               ) -> SalesforceError:
    """A 400 error whose message echoes the query line at `pos`, a caret under it, and the message.

    Salesforce's form: "\\n<line>\\n<spaces>^\\nERROR at Row:<r>:Column:<c>\\n<message>".
    """
    lines = text.split("\n")
    line_text = lines[pos.line - 1].rstrip("\r") if 0 < pos.line <= len(lines) else ""
    caret = " " * (pos.column - 1) + "^"
    body = f"\n{line_text}\n{caret}\nERROR at Row:{pos.line}:Column:{pos.column}\n{message}"
    return SalesforceError(400, error_code, body, list(fields or []))


def malformed(text: str, pos: Pos, message: str) -> SalesforceError:
    """A positional MALFORMED_QUERY error."""
    return positioned(text, pos, "MALFORMED_QUERY", message)


def invalid_field(text: str, pos: Pos, message: str) -> SalesforceError:
    """A positional INVALID_FIELD error."""
    return positioned(text, pos, "INVALID_FIELD", message)


def end_position(text: str) -> Pos:
    """The position just after the last non-blank character (where `<EOF>` is reported)."""
    stripped = text.rstrip()
    line = stripped.count("\n") + 1
    column = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return Pos(line, column)
