"""Salesforce record Ids: key prefixes, the 18-character checksum, and a generator of new Ids."""

from __future__ import annotations

import functools
import threading

_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_CHARS = set(_BASE62)


def _case_bits(text: str) -> int:
    """Bit i set when text[i] is an upper-case letter (the checksum's view of five characters)."""
    bits = 0
    for position, char in enumerate(text):
        if "A" <= char <= "Z":
            bits |= 1 << position
    return bits


def checksum_suffix(id15: str) -> str:
    """The three characters Salesforce appends to a 15-character Id to make it case-insensitive."""
    if len(id15) != 15:
        raise ValueError(f"a 15-character Id is needed, got {id15!r}")
    return _chunk_check(id15[:5]) + _chunk_check(id15[5:10]) + _chunk_check(id15[10:])


@functools.lru_cache(maxsize=1 << 16)
def _chunk_check(chunk: str) -> str:
    """The checksum character of five characters of an Id (the chunks of one org's Ids repeat a lot)."""
    return _CHECKSUM_ALPHABET[_case_bits(chunk)]


def to_18(record_id: str) -> str:
    """The 18-character form of a 15- or 18-character Id (an 18-character Id is returned unchanged)."""
    if len(record_id) == 18:
        return record_id
    return record_id + checksum_suffix(record_id)


def is_valid_id(value: object) -> bool:
    """True when value is a well-formed 15- or 18-character Id whose checksum (if any) is right."""
    if not isinstance(value, str) or len(value) not in (15, 18) or not set(value) <= _ID_CHARS:
        return False
    return len(value) == 15 or checksum_suffix(value[:15]) == value[15:]


def normalize_id(value: str) -> str | None:
    """The canonical 18-character Id for a valid 15/18 Id, or None when it is not a valid Id."""
    return to_18(value) if is_valid_id(value) else None


def key_prefix(record_id: str) -> str:
    """The three-character key prefix that names the object an Id belongs to."""
    return record_id[:3]


# every two base62 digits and their case bits: a sequence's digits and checksum by table, not per character
_PAIRS = [first + second for first in _BASE62 for second in _BASE62]
_PAIR_BITS = [_case_bits(pair) for pair in _PAIRS]
_DIGIT_BITS = [_case_bits(char) for char in _BASE62]
_FIVE_DIGITS = 62**5


def _five_digits(number: int) -> tuple[str, str]:
    """The five base62 digits of 0 <= number < 62**5 and their checksum character."""
    low, number = number % 3844, number // 3844
    middle, high = number % 3844, number // 3844
    bits = _DIGIT_BITS[high] | _PAIR_BITS[middle] << 1 | _PAIR_BITS[low] << 3
    return _BASE62[high] + _PAIRS[middle] + _PAIRS[low], _CHECKSUM_ALPHABET[bits]


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    if number:
        raise OverflowError("Id space exhausted")
    return "".join(reversed(chars))


class IdFactory:
    """Makes new, unique 18-character Ids per key prefix: prefix + pod "8a" + a 10-character sequence."""

    POD = "8a"

    def __init__(self, start: dict[str, int] | None = None) -> None:
        self._next: dict[str, int] = dict(start or {})
        self._lock = threading.Lock()

    def new_id(self, prefix: str) -> str:
        return self.new_ids(prefix, 1)[0][0]

    def new_ids(self, prefix: str, count: int) -> tuple[list[str], int]:
        """`count` new Ids of `prefix` in order, and the sequence number of the last (0 for none)."""
        with self._lock:
            first = self._next.get(prefix, 1)
            self._next[prefix] = first + count
        return self._made(prefix, first, count), first + count - 1 if count else 0

    def _made(self, prefix: str, first: int, count: int) -> list[str]:
        """The Ids of sequences first .. first + count - 1: `to_18(prefix + POD + _base62(sequence, 10))`, by table."""
        head = prefix + self.POD
        if len(head) != 5 or first + count > _FIVE_DIGITS**2:
            return [to_18(head + _base62(sequence, 10)) for sequence in range(first, first + count)]
        head_check = _CHECKSUM_ALPHABET[_case_bits(head)]
        made = []
        for sequence in range(first, first + count):
            high, high_check = _five_digits(sequence // _FIVE_DIGITS)
            low, low_check = _five_digits(sequence % _FIVE_DIGITS)
            made.append(head + high + low + head_check + high_check + low_check)
        return made

    def ensure_after(self, prefix: str, sequence: int) -> None:
        """Make the next Id of prefix use a sequence number above `sequence`; never goes back."""
        with self._lock:
            self._next[prefix] = max(self._next.get(prefix, 1), sequence + 1)

    @staticmethod
    def sequence_of(record_id: str) -> int:
        """The sequence number inside an Id made by this factory (0 for Ids of another shape)."""
        body = record_id[5:15]
        number = 0
        for char in body:
            index = _BASE62.find(char)
            if index < 0:
                return 0
            number = number * 62 + index
        return number
