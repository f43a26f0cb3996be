"""Id ranges: the parts' conditions put every Id in exactly one part, with well-formed bounds."""

from __future__ import annotations

import random

from crm_sync.salesforce import id_ranges
from crm_sync.sandbox.ids import checksum_suffix, is_valid_id

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _random_id(rng: random.Random, prefix: str = "003") -> str:
    id15 = prefix + "".join(rng.choice(_BASE62) for _ in range(12))
    return id15 + checksum_suffix(id15)


def _matches(condition: str, record_id: str) -> bool:
    """Evaluate `Id >= 'a' AND Id < 'b'` the way SOQL compares Ids (in base-62 ASCII order)."""
    for term in condition.split(" AND "):
        op, bound = term.split(" ")[1], term.split("'")[1]
        if (op == ">=" and not record_id[:15] >= bound[:15]) or (op == "<" and not record_id[:15] < bound[:15]):
            return False
    return True


def test_every_id_lies_in_exactly_one_part() -> None:
    rng = random.Random(7)
    for parts in (2, 3, 8):
        ids = sorted(_random_id(rng) for _ in range(500))
        bounds = id_ranges.split(ids[0], ids[-1], parts)
        assert len(bounds) == parts - 1 and bounds == sorted(bounds) and len(set(bounds)) == len(bounds)
        assert all(is_valid_id(b) and b[:3] == "003" for b in bounds)
        conditions = id_ranges.conditions(bounds)
        outside = ["0030" + "0" * 11, "003" + "z" * 12]  # made before or after the bounds were read
        for record_id in [*ids, *bounds, *(o + checksum_suffix(o) for o in outside)]:
            assert sum(_matches(c, record_id) for c in conditions) == 1, record_id


def test_sequential_ids_split_evenly() -> None:
    ids = [f"0038a{n:010d}" for n in range(1, 30_001)]  # decimal digits are base-62 digits too
    ids = sorted(i + checksum_suffix(i) for i in ids)
    conditions = id_ranges.conditions(id_ranges.split(ids[0], ids[-1], 3))
    sizes = [sum(_matches(c, i) for i in ids) for c in conditions]
    assert sum(sizes) == len(ids) and max(sizes) - min(sizes) <= len(ids) // 10


def test_nothing_to_split() -> None:
    assert id_ranges.split("003000000000001AAA", "003000000000001AAA", 4) == []
    assert id_ranges.split("003000000000001AAA", "001000000000009AAA", 4) == []  # prefixes differ
    assert id_ranges.split("003000000000001AAA", "003000000000009AAA", 1) == []
    assert id_ranges.conditions([]) == []
