"""The org's run-time rules: validation rules, extra required fields and duplicate rules.

The server's admin surface configures them; the Store enforces them on every API write. Rules are
plain data (`to_dict` / `from_dict` round-trip through JSON) and every change is handed to an
`on_change` callback, which the Store uses to keep them in its SQLite file across restarts.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from crm_sync.sandbox.catalog import CATALOG, NUMBER_TYPES, Catalog, Field, SObject
from crm_sync.sandbox.errors import SalesforceError

VALIDATION = "validation"
REQUIRED = "required"
DUPLICATE = "duplicate"

# operator -> does the rule need a value
OPERATORS: dict[str, bool] = {
    "equals": True,
    "not_equals": True,
    "is_blank": False,
    "not_blank": False,
    "longer_than": True,
    "contains": True,
    "greater_than": True,
    "less_than": True,
}

_SECTION_OF_KIND = {VALIDATION: "validation_rules", REQUIRED: "required_fields", DUPLICATE: "duplicate_rules"}


@dataclass(frozen=True)
class Rule:
    """One rule; `operator`, `value` and `message` are used by validation rules only."""

    kind: str
    name: str
    object: str
    field: str
    operator: str | None = None
    value: Any = None
    message: str | None = None

    def to_dict(self) -> dict:
        entry = asdict(self)
        del entry["kind"]
        if self.kind != VALIDATION:
            for key in ("operator", "value", "message"):
                del entry[key]
        return entry


def is_blank(value: object) -> bool:
    """Salesforce's ISBLANK: null or a string of only whitespace."""
    return value is None or (isinstance(value, str) and not value.strip())


def _rule_error(message: str) -> SalesforceError:
    return SalesforceError(400, "INVALID_RULE", message)


class _ClassOrInstanceMethod:
    """A method that receives (cls, instance-or-None): `from_dict` works on the class and on an instance."""

    def __init__(self, func: Callable) -> None:
        self._func = func
        functools.update_wrapper(self, func)  # type: ignore[arg-type]

    def __get__(self, instance: object, owner: type) -> Callable:
        return functools.partial(self._func, owner, instance)


class Rules:
    """The rules of one org. Reads are lock-free (an immutable tuple); changes are serialized."""

    def __init__(
        self,
        catalog: Catalog = CATALOG,
        *,
        on_change: Callable[[dict], None] | None = None,
    ) -> None:
        self.catalog = catalog
        self._rules: tuple[Rule, ...] = ()
        # the rules by lower-case object name, for the rules tuple they were built from (see _of)
        self._index: tuple[tuple[Rule, ...], dict[str, tuple[Rule, ...]]] = ((), {})
        self._lock = threading.Lock()
        self._on_change = on_change

    # ----- configuration -------------------------------------------------------------------------

    def add_validation_rule(
        self, obj: str, name: str, field: str, *, operator: str, value: Any = None, message: str
    ) -> Rule:
        """A rule that rejects a write whose resulting record matches `field <operator> value`."""
        sobject, target = self._resolve(obj, field)
        if operator not in OPERATORS:
            raise _rule_error(f"Unknown operator {operator!r}; use one of {', '.join(OPERATORS)}")
        if not name or not message:
            raise _rule_error("A validation rule needs a name and a message")
        value = self._normalize_value(target, operator, value)
        rule = Rule(VALIDATION, name, sobject.name, target.name, operator, value, message)
        self._replace(rule)
        return rule

    def require_field(self, obj: str, field: str) -> Rule:
        """Make a field required: blank on create, or blanked by an update, is REQUIRED_FIELD_MISSING."""
        sobject, target = self._resolve(obj, field)
        rule = Rule(REQUIRED, f"required:{sobject.name}.{target.name}", sobject.name, target.name)
        self._replace(rule)
        return rule

    def add_duplicate_rule(self, obj: str, field: str) -> Rule:
        """Reject a write whose value of `field` equals (case-insensitive) another live record's."""
        sobject, target = self._resolve(obj, field)
        rule = Rule(DUPLICATE, f"duplicate:{sobject.name}.{target.name}", sobject.name, target.name)
        self._replace(rule)
        return rule

    def remove(self, name: str) -> None:
        """Remove the rule with this name (404 NOT_FOUND when there is none)."""
        with self._lock:
            kept = tuple(rule for rule in self._rules if rule.name != name)
            if len(kept) == len(self._rules):
                raise SalesforceError(404, "NOT_FOUND", f"No rule named {name!r}")
            self._rules = kept
            self._notify()

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules = ()
            self._notify()

    def load(self, data: dict, *, notify: bool = True) -> None:
        """Replace every rule by those of a `to_dict()` document (all or nothing)."""
        staged = Rules(self.catalog)
        for entry in data.get("validation_rules", []):
            staged.add_validation_rule(
                entry["object"], entry["name"], entry["field"], operator=entry["operator"],
                value=entry.get("value"), message=entry["message"],
            )
        for entry in data.get("required_fields", []):
            staged.require_field(entry["object"], entry["field"])
        for entry in data.get("duplicate_rules", []):
            staged.add_duplicate_rule(entry["object"], entry["field"])
        with self._lock:
            self._rules = staged._rules
            if notify:
                self._notify()

    def to_dict(self) -> dict:
        """Every rule as JSON-ready data, grouped by kind."""
        document: dict[str, list[dict]] = {section: [] for section in _SECTION_OF_KIND.values()}
        for rule in self._rules:
            document[_SECTION_OF_KIND[rule.kind]].append(rule.to_dict())
        return document

    @_ClassOrInstanceMethod
    def from_dict(cls, instance: Rules | None, data: dict) -> Rules:
        """On the class: a new Rules from a `to_dict()` document. On an instance: load it in place."""
        target = instance if instance is not None else cls()
        target.load(data)
        return target

    # ----- look-ups used by the Store ----------------------------------------------------------

    def all(self, obj: str | None = None) -> list[Rule]:
        """Every rule, or those of one object."""
        return list(self._rules if obj is None else self._of(obj))

    def _of(self, obj: str) -> tuple[Rule, ...]:
        """The rules of one object, in order; the index is rebuilt once per change (a change replaces the
        whole tuple), so the Store's per-record look-ups do not scan every rule."""
        rules = self._rules
        built_from, index = self._index
        if built_from is not rules:
            grouped: dict[str, list[Rule]] = {}
            for rule in rules:
                grouped.setdefault(rule.object.lower(), []).append(rule)
            index = {name: tuple(of_object) for name, of_object in grouped.items()}
            self._index = (rules, index)
        return index.get(obj.lower(), ())

    def has_validation(self, obj: str) -> bool:
        """True when the object has a validation rule (so a write needs its record in JSON form)."""
        return any(rule.kind == VALIDATION for rule in self._of(obj))

    def required_fields(self, obj: str) -> list[str]:
        return [rule.field for rule in self._of(obj) if rule.kind == REQUIRED]

    def duplicate_fields(self, obj: str) -> list[str]:
        return [rule.field for rule in self._of(obj) if rule.kind == DUPLICATE]

    def check_validation(self, obj: str, record: dict[str, Any]) -> None:
        """Raise FIELD_CUSTOM_VALIDATION_EXCEPTION for the first validation rule the record matches.

        `record` is the resulting record in JSON form (field name -> value).
        """
        for rule in self._of(obj):
            if rule.kind == VALIDATION and _matches(rule, record.get(rule.field)):
                raise SalesforceError(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message or "", [rule.field])

    # ----- internals -----------------------------------------------------------------------------

    def _resolve(self, obj: str, field: str) -> tuple[SObject, Field]:
        sobject = self.catalog.get(obj)
        if sobject is None:
            raise SalesforceError(400, "INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        target = sobject.field(field)
        if target is None:
            raise SalesforceError(
                400, "INVALID_FIELD", f"No such column '{field}' on sobject of type {sobject.name}"
            )
        return sobject, target

    @staticmethod
    def _normalize_value(field: Field, operator: str, value: Any) -> Any:
        if not OPERATORS[operator]:
            return None
        if value is None:
            raise _rule_error(f"Operator {operator!r} needs a value")
        if operator == "longer_than":
            if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
                raise _rule_error("longer_than needs a whole number")
            return int(value)
        if field.type == "boolean" and operator in ("equals", "not_equals"):
            text = str(value).lower()
            if text not in ("true", "false", "1", "0"):
                raise _rule_error(f"{field.name} is a boolean: compare it with true or false")
            return text in ("true", "1")
        if field.type in NUMBER_TYPES and operator != "contains":
            try:
                return float(value)
            except (TypeError, ValueError):
                raise _rule_error(f"{field.name} is a number: {value!r} is not") from None
        return str(value)

    def _replace(self, rule: Rule) -> None:
        with self._lock:
            self._rules = tuple(existing for existing in self._rules if existing.name != rule.name) + (rule,)
            self._notify()

    def _notify(self) -> None:
        if self._on_change is not None:
            self._on_change(self.to_dict())


def _matches(rule: Rule, actual: Any) -> bool:
    """Whether a record's value of the rule's field makes the rule fire."""
    operator, expected = rule.operator, rule.value
    if operator == "is_blank":
        return is_blank(actual)
    if operator == "not_blank":
        return not is_blank(actual)
    if operator in ("equals", "not_equals"):
        equal = _comparable(actual) == _comparable(expected)
        return equal if operator == "equals" else not equal
    if is_blank(actual):
        return False
    if operator == "longer_than":
        return len(str(actual)) > expected
    if operator == "contains":
        return str(expected).casefold() in str(actual).casefold()
    left, right = _comparable(actual), _comparable(expected)
    if isinstance(left, float) != isinstance(right, float):
        left, right = str(left), str(right)
    return left > right if operator == "greater_than" else left < right


def _comparable(value: Any) -> Any:
    """Case-insensitive text, numbers as floats, booleans as booleans, blank as None."""
    if is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return str(value).casefold()
