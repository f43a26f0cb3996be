"""Salesforce Ids: the 18-character checksum, validation and the IdFactory."""

import threading

import pytest

from crm_sync.sandbox.catalog import CATALOG
from crm_sync.sandbox.ids import (
    IdFactory,
    checksum_suffix,
    is_valid_id,
    key_prefix,
    normalize_id,
    to_18,
)


def test_checksum_of_a_known_id() -> None:
    assert checksum_suffix("001M000000qfPyS") == "IAU"
    assert to_18("001M000000qfPyS") == "001M000000qfPySIAU"


def test_checksum_distinguishes_case() -> None:
    assert checksum_suffix("001m000000qfpys") == "AAA"
    assert checksum_suffix("ABCDEABCDEABCDE") == "555"


def test_to_18_keeps_an_18_character_id() -> None:
    assert to_18("001M000000qfPySIAU") == "001M000000qfPySIAU"


def test_checksum_needs_15_characters() -> None:
    with pytest.raises(ValueError):
        checksum_suffix("001M000000qfPy")


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("001M000000qfPyS", True),
        ("001M000000qfPySIAU", True),
        ("001M000000qfPySIAA", False),  # wrong checksum
        ("001M000000qfPy", False),  # too short
        ("001M000000qfPyS!AU", False),  # not base62
        ("001M000000qfP-S", False),
        ("", False),
        (None, False),
        (1234567890123456, False),
    ],
)
def test_is_valid_id(value: object, valid: bool) -> None:
    assert is_valid_id(value) is valid


def test_normalize_id() -> None:
    assert normalize_id("001M000000qfPyS") == "001M000000qfPySIAU"
    assert normalize_id("001M000000qfPySIAA") is None


def test_factory_ids_are_valid_unique_and_carry_the_prefix() -> None:
    factory = IdFactory()
    made = {factory.new_id(sobject.key_prefix) for sobject in CATALOG.objects for _ in range(500)}
    assert len(made) == 500 * len(CATALOG.objects)
    for record_id in made:
        assert len(record_id) == 18 and is_valid_id(record_id)
        assert CATALOG.by_prefix(key_prefix(record_id)) is not None


def test_factory_sequences_count_up_per_prefix() -> None:
    factory = IdFactory()
    accounts = [factory.new_id("001") for _ in range(3)]
    contact = factory.new_id("003")
    assert [IdFactory.sequence_of(i) for i in accounts] == [1, 2, 3]
    assert IdFactory.sequence_of(contact) == 1
    assert accounts == sorted(accounts)


def test_ensure_after_continues_past_existing_ids() -> None:
    factory = IdFactory()
    factory.ensure_after("001", 61 * 62 + 5)
    assert IdFactory.sequence_of(factory.new_id("001")) == 61 * 62 + 6


def test_ensure_after_never_repeats_an_issued_id() -> None:
    factory = IdFactory()
    issued = [factory.new_id("001") for _ in range(3)]
    factory.ensure_after("001", 1)
    assert factory.new_id("001") not in issued


def test_factory_is_thread_safe() -> None:
    factory = IdFactory()
    made: list[str] = []

    def make() -> None:
        made.extend(factory.new_id("00Q") for _ in range(2000))

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 8000


def test_new_ids_hands_out_a_batch_in_order_with_its_last_sequence() -> None:
    factory = IdFactory(start={"001": 41})
    made, last = factory.new_ids("001", 3)
    assert [IdFactory.sequence_of(i) for i in made] == [41, 42, 43] and last == 43
    assert all(is_valid_id(i) and i.startswith("0018a") for i in made)
    assert IdFactory.sequence_of(factory.new_id("001")) == 44
    assert factory.new_ids("001", 0) == ([], 0)


def _reference_checksum(id15: str) -> str:
    """Salesforce's algorithm, character by character."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << position for position, char in enumerate(id15[start:start + 5]) if "A" <= char <= "Z")
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return suffix


@pytest.mark.parametrize("first", [1, 61, 62, 3843, 3844, 62**5 - 2, 62**5, 62**9 + 3, 62**10 - 3])
@pytest.mark.parametrize("prefix", ["001", "a0B", "ZZZ"])
def test_new_ids_by_table_equal_the_ids_spelled_digit_by_digit(prefix: str, first: int) -> None:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    made, _ = IdFactory(start={prefix: first}).new_ids(prefix, 3)
    for sequence, record_id in zip(range(first, first + 3), made, strict=True):
        digits = "".join(alphabet[sequence // 62**power % 62] for power in range(9, -1, -1))
        body = prefix + IdFactory.POD + digits
        assert record_id == body + _reference_checksum(body)
    with pytest.raises(OverflowError):
        IdFactory(start={prefix: 62**10 - 1}).new_ids(prefix, 2)


def test_checksum_of_any_characters_follows_the_reference() -> None:
    for id15 in ("001000000000000", "0018a00000AbCdE", "zzzzzZZZZZaaaaa", "ab-é_ZZ.Q9x!0Az", "ABCDEFGHIJKLMNO"):
        assert checksum_suffix(id15) == _reference_checksum(id15)
