"""Splitting one object's records into Id ranges, so a large query runs as several Bulk jobs.

Salesforce Ids of one object share a 3-character key prefix and then count up in base 62 (digits, upper,
lower case: ASCII order), so Ids compare in the order they were made. Given the smallest and largest Id
of a query's records, `split` cuts that span into parts of equal width. Invariants:
- the conditions of the parts cover every Id exactly once: the first part has no lower bound and the last
  no upper bound (records made after the bounds were read still fall in the last part); each bound
  belongs to the part it opens (`Id >= b`), so no Id is in two parts;
- bounds are well-formed 18-character Ids (with the case checksum), strictly increasing.
Parts may hold unequal numbers of records when Ids are unevenly spread; correctness does not depend on it.
"""

from __future__ import annotations

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_VALUE = {char: index for index, char in enumerate(_BASE62)}
_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_PREFIX = 3  # the key prefix; the other 12 of the 15 characters count


def checksum_suffix(id15: str) -> str:
    """The three characters Salesforce appends to a 15-character Id to make it case-insensitive."""
    suffix = []
    for chunk in range(3):
        bits = sum(1 << position for position, char in enumerate(id15[chunk * 5:chunk * 5 + 5]) if "A" <= char <= "Z")
        suffix.append(_CHECKSUM_ALPHABET[bits])
    return "".join(suffix)


def _number(record_id: str) -> int:
    number = 0
    for char in record_id[_PREFIX:15]:
        number = number * 62 + _VALUE[char]
    return number


def _id(prefix: str, number: int) -> str:
    chars = []
    for _ in range(15 - _PREFIX):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    id15 = prefix + "".join(reversed(chars))
    return id15 + checksum_suffix(id15)


def split(first_id: str, last_id: str, parts: int) -> list[str]:
    """The inner bounds (parts - 1 Ids, or fewer when the span is too narrow) cutting first..last evenly."""
    if parts < 2 or first_id[:_PREFIX] != last_id[:_PREFIX]:
        return []
    low, high = _number(first_id), _number(last_id)
    bounds: list[str] = []
    for index in range(1, parts):
        value = low + (high - low) * index // parts
        if value > low and (not bounds or value > _number(bounds[-1])):
            bounds.append(_id(first_id[:_PREFIX], value))
    return bounds


def conditions(bounds: list[str]) -> list[str]:
    """One SOQL condition per part (`Id < b1`, `Id >= b1 AND Id < b2`, ..., `Id >= bn`); none without bounds."""
    if not bounds:
        return []
    edges: list[str | None] = [None, *bounds, None]
    parts = []
    for low, high in zip(edges, edges[1:], strict=False):
        terms = ([f"Id >= '{low}'"] if low else []) + ([f"Id < '{high}'"] if high else [])
        parts.append(" AND ".join(terms))
    return parts
