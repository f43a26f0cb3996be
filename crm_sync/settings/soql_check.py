"""A static plausibility check of a SOQL condition (a section's `filter`), without an org.

It does not parse SOQL: it catches the mistakes people make when they paste a filter into the
sections file (a whole query, unbalanced parentheses or quotes, double-quoted strings, a dangling
AND). Whether the fields exist is checked against describe (`validation.validate_against_describe`).
"""

from __future__ import annotations

import re

# Clauses that belong to a query, not to a WHERE condition.
QUERY_KEYWORDS = ("SELECT", "FROM", "WHERE", "LIMIT", "ORDER", "GROUP", "HAVING", "OFFSET")
_COMPARISON = re.compile(r"(!=|<>|<=|>=|=|<|>|\bLIKE\b|\bIN\b|\bINCLUDES\b|\bEXCLUDES\b)", re.IGNORECASE)
_DANGLING_START = re.compile(r"^\s*(AND|OR)\b", re.IGNORECASE)
_DANGLING_END = re.compile(r"(\b(AND|OR|NOT|IN|LIKE)|!=|<>|<=|>=|=|<|>)\s*$", re.IGNORECASE)


def _strip_literals(text: str) -> tuple[str, str | None]:
    """The text with every single-quoted literal replaced by '' and the first quoting problem, if any."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "'":
            index += 1
            while index < len(text) and text[index] != "'":
                index += 2 if text[index] == "\\" else 1
            if index >= len(text):
                return "".join(out), "unbalanced quote: a string literal is not closed"
            out.append("''")
        elif char == '"':
            return "".join(out), 'SOQL strings use single quotes, not "'
        else:
            out.append(char)
        index += 1
    return "".join(out), None


def condition_problem(text: str) -> str | None:
    """Why `text` is not a plausible SOQL condition, or None when it looks fine."""
    if not text or not text.strip():
        return "the filter is empty: leave the key out for no filter"
    bare, quote_problem = _strip_literals(text)
    if quote_problem:
        return quote_problem
    depth = 0
    for char in bare:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return "unbalanced parentheses: ')' without a matching '('"
    if depth:
        return "unbalanced parentheses: '(' is not closed"
    if ";" in bare:
        return "a filter is one condition: ';' is not allowed"
    for keyword in QUERY_KEYWORDS:
        if re.search(rf"\b{keyword}\b", bare, re.IGNORECASE):
            return f"a filter is only the condition of a WHERE clause: {keyword} is not allowed"
    if not _COMPARISON.search(bare):
        return "not a condition: no comparison (=, !=, <, >, LIKE, IN, INCLUDES, EXCLUDES) found"
    if _DANGLING_START.search(bare) or _DANGLING_END.search(bare):
        return "the condition starts or ends with a dangling operator"
    return None
