"""Checks of the sync sections that look at several keys at once, and the check against an org's describe.

Every problem is one string that names the section and the key, e.g.
``section 'Account' (sections[1]), key 'fields[7].direction': ...``, so a user can find it in the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from crm_sync.settings.schema import FieldMapping, Section, Settings

# Salesforce describe types a platform column type can hold without loss.
COMPATIBLE_TYPES: dict[str, frozenset[str]] = {
    "string": frozenset({"string", "textarea", "picklist", "multipicklist", "email", "phone", "url", "id",
                         "reference", "combobox", "encryptedstring"}),
    "text": frozenset({"string", "textarea", "picklist", "multipicklist", "email", "phone", "url", "combobox",
                       "encryptedstring"}),
    "integer": frozenset({"int", "long"}),
    "float": frozenset({"double", "currency", "percent", "int", "long"}),
    "boolean": frozenset({"boolean"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"datetime"}),
    "reference": frozenset({"reference", "id"}),
}


class SectionsError(ValueError):
    """The sections file (or a Settings built in code) has problems; `problems` lists every one."""

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        count = len(self.problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{path}: {count} problem{'s' if count != 1 else ''} in the sync sections:\n{listing}")


def where(section: Section | str, index: int | None, key: str) -> str:
    """The location prefix of a problem: section name, its position and the key."""
    name = section if isinstance(section, str) else section.object
    position = f" (sections[{index}])" if index is not None else ""
    return f"section {name!r}{position}, key {key!r}"


def section_problems(section: Section, index: int | None = None) -> list[str]:
    """Problems inside one section: duplicate columns/fields, field directions the section does not allow,
    send fields on parent paths, and rule columns that are not mapped."""
    problems: list[str] = []
    seen_columns: dict[str, int] = {}
    seen_fields: dict[str, int] = {}
    for position, mapping in enumerate(section.fields):
        key = f"fields[{position}]"
        if mapping.column in seen_columns:
            problems.append(f"{where(section, index, key + '.column')}: duplicate column {mapping.column!r} "
                            f"(also fields[{seen_columns[mapping.column]}])")
        seen_columns.setdefault(mapping.column, position)
        lowered = mapping.salesforce.lower()
        if lowered in seen_fields:
            problems.append(f"{where(section, index, key + '.salesforce')}: duplicate Salesforce field "
                            f"{mapping.salesforce!r} (also fields[{seen_fields[lowered]}])")
        seen_fields.setdefault(lowered, position)
        if lowered == "id":
            problems.append(f"{where(section, index, key + '.salesforce')}: Id is always received into "
                            "the column salesforce_id; do not map it")
        problems.extend(_direction_problems(section, index, position, mapping))
    mapped = {f.column for f in section.fields}
    if section.match_on is not None and section.match_on not in mapped:
        problems.append(f"{where(section, index, 'match_on')}: {section.match_on!r} is not a mapped column")
    for position, column in enumerate(section.required_columns):
        if column not in mapped:
            problems.append(f"{where(section, index, f'required_columns[{position}]')}: "
                            f"{column!r} is not a mapped column")
    return problems


def _direction_problems(section: Section, index: int | None, position: int, mapping: FieldMapping) -> list[str]:
    key = f"fields[{position}].direction"
    effective = section.direction_of(mapping)
    problems = []
    if mapping.direction is not None and section.direction.value != "off":
        if mapping.direction.sends and not section.direction.sends:
            problems.append(f"{where(section, index, key)}: field {mapping.salesforce!r} is "
                            f"{mapping.direction.value!r} but the section only receives")
        if mapping.direction.receives and not section.direction.receives:
            problems.append(f"{where(section, index, key)}: field {mapping.salesforce!r} is "
                            f"{mapping.direction.value!r} but the section only sends")
    if mapping.is_parent_path and effective.sends and section.direction.sends:
        problems.append(f"{where(section, index, key)}: {mapping.salesforce!r} is a parent path, which "
                        "Salesforce cannot write; set `direction: receive` on this field")
    return problems


class SectionRef(NamedTuple):
    """What the checks across sections need of one section; also built from raw YAML when a section
    failed structural validation, so duplicates and cycles are still reported."""

    index: int
    object: str
    model: str
    after: list[str]


def settings_problems(sections: Sequence[Section]) -> list[str]:
    """Every problem of a list of valid sections: each section's own and those across sections."""
    problems: list[str] = []
    for index, section in enumerate(sections):
        problems.extend(section_problems(section, index))
    refs = [SectionRef(i, s.object, s.model, list(s.after)) for i, s in enumerate(sections)]
    problems.extend(cross_section_problems(refs))
    return problems if problems else order_problems(sections)


def order_problems(sections: Sequence[Section]) -> list[str]:
    """References that the sync order breaks: an enabled section mapping a field that points at an enabled
    section synced after it (see references.py). The sync order must be an order of the asset graph."""
    from crm_sync.settings.references import references

    active = [s for s in sections if s.enabled and s.direction.value != "off"]
    position = {s.object.lower(): i for i, s in enumerate(sync_order(active))}
    index = {id(s): i for i, s in enumerate(sections)}
    problems = []
    for section in active:
        for ref in references(section, active):
            if position[ref.target.object.lower()] > position[section.object.lower()]:
                problems.append(
                    f"{where(section, index[id(section)], f'fields[{ref.position}].salesforce')}: "
                    f"{ref.field.salesforce!r} references {ref.target.object}, which syncs later "
                    f"(sections[{index[id(ref.target)]}]); move this section below {ref.target.object}, add "
                    f"`after: [{ref.target.object}]`, or set `references: []` on the field to drop the link")
    return problems


def cross_section_problems(refs: Sequence[SectionRef]) -> list[str]:
    """Duplicate objects and models, `after` naming no section or itself, and cycles in `after`."""
    problems: list[str] = []
    objects: dict[str, int] = {}
    models: dict[str, int] = {}
    for ref in refs:
        lowered = ref.object.lower()
        if lowered in objects:
            problems.append(f"{where(ref.object, ref.index, 'object')}: duplicate object {ref.object!r} "
                            f"(also sections[{objects[lowered]}])")
        objects.setdefault(lowered, ref.index)
        if ref.model in models:
            problems.append(f"{where(ref.object, ref.index, 'model')}: duplicate model {ref.model!r} "
                            f"(also sections[{models[ref.model]}])")
        models.setdefault(ref.model, ref.index)
    for ref in refs:
        for position, name in enumerate(ref.after):
            key = f"after[{position}]"
            if name.lower() not in objects:
                problems.append(f"{where(ref.object, ref.index, key)}: no section for object {name!r}")
            elif name.lower() == ref.object.lower():
                problems.append(f"{where(ref.object, ref.index, key)}: a section cannot come after itself")
    cycle = find_cycle(refs)
    if cycle:
        first = next(r for r in refs if r.object.lower() == cycle[0].lower())
        problems.append(f"{where(first.object, first.index, 'after')}: cycle in the sync order: {' -> '.join(cycle)}")
    return problems


def _after_edges(sections: Sequence[Section | SectionRef]) -> dict[str, list[str]]:
    """object (lower) -> the objects (lower) it must come after; unknown and self references left out."""
    known = {s.object.lower() for s in sections}
    return {
        s.object.lower(): [a.lower() for a in s.after if a.lower() in known and a.lower() != s.object.lower()]
        for s in sections
    }


def find_cycle(sections: Sequence[Section | SectionRef]) -> list[str] | None:
    """One cycle of `after` references as object names (first repeated at the end), or None."""
    edges = _after_edges(sections)
    names = {s.object.lower(): s.object for s in sections}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in edges.get(node, []):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                return [names[n] for n in cycle]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for section in sections:
        if section.object.lower() not in state:
            found = visit(section.object.lower())
            if found:
                return found
    return None


def sync_order(sections: Sequence[Section]) -> list[Section]:
    """Sections in sync order: a topological order of `after` that keeps file order wherever it can."""
    cycle = find_cycle(sections)
    if cycle:
        raise SectionsError("<settings>", [f"cycle in the sync order: {' -> '.join(cycle)}"])
    edges = _after_edges(sections)
    placed: set[str] = set()
    ordered: list[Section] = []
    remaining = list(sections)
    while remaining:
        ready = next(s for s in remaining if all(a in placed for a in edges[s.object.lower()]))
        ordered.append(ready)
        placed.add(ready.object.lower())
        remaining.remove(ready)
    return ordered


# -- against an org's describe -----------------------------------------------------------------------


def validate_against_describe(settings: Settings, describe: Callable[[str], dict | None]) -> list[str]:
    """Problems of the enabled sections against an org: unknown objects and fields, parent paths that do
    not resolve, columns whose type cannot hold the field, send fields Salesforce will not let us write.

    `describe(object)` returns Salesforce's describe JSON of the object or None when it does not exist;
    it is called at most once per object. An empty list means every mapping fits the org.
    """
    cache: dict[str, dict | None] = {}

    def fields_of(object_name: str) -> dict[str, dict] | None:
        key = object_name.lower()
        if key not in cache:
            cache[key] = describe(object_name)
        found = cache[key]
        if found is None:
            return None
        return {f["name"].lower(): f for f in found.get("fields", [])}

    problems: list[str] = []
    for index, section in enumerate(settings.sections):
        if not section.enabled or section.direction.value == "off":
            continue
        fields = fields_of(section.object)
        if fields is None:
            problems.append(f"{where(section, index, 'object')}: object {section.object!r} does not exist in the org")
            continue
        for position, mapping in enumerate(section.fields):
            if section.direction_of(mapping).value == "off":
                continue
            key = f"fields[{position}].salesforce"
            described, problem = _resolve(section.object, mapping.salesforce, fields, fields_of)
            if problem:
                problems.append(f"{where(section, index, key)}: {problem}")
                continue
            assert described is not None
            allowed = COMPATIBLE_TYPES[mapping.type.value]
            if described["type"] not in allowed:
                problems.append(f"{where(section, index, f'fields[{position}].type')}: {mapping.salesforce!r} is "
                                f"a {described['type']} field; column type {mapping.type.value!r} cannot hold it")
            if mapping in section.send_fields() and not (described.get("createable") or described.get("updateable")):
                problems.append(f"{where(section, index, f'fields[{position}].direction')}: {mapping.salesforce!r} "
                                "is neither createable nor updateable, so it cannot be sent; "
                                "set `direction: receive` on this field")
    return problems


def _resolve(
    object_name: str,
    path: str,
    fields: dict[str, dict],
    fields_of: Callable[[str], dict[str, dict] | None],
) -> tuple[dict | None, str | None]:
    """The describe entry at the end of `path` (Field or Rel.Rel.Field) or a problem saying where it breaks."""
    *relationships, leaf = path.split(".")
    current_object, current_fields = object_name, fields
    for step, relationship in enumerate(relationships):
        reference = next((f for f in current_fields.values()
                          if (f.get("relationshipName") or "").lower() == relationship.lower()), None)
        if reference is None:
            return None, f"{current_object} has no relationship {relationship!r} (in {path!r})"
        following = relationships[step + 1] if step + 1 < len(relationships) else None
        targets = reference.get("referenceTo") or []
        # A polymorphic relationship resolves when any of its target objects has the next step.
        for target in targets:
            target_fields = fields_of(target)
            if target_fields is not None and _has_step(target_fields, following, leaf):
                current_object, current_fields = target, target_fields
                break
        else:
            return None, (f"{relationship!r} on {current_object} leads to {', '.join(targets) or 'nothing'}, "
                          f"none of which has what {path!r} asks for")
    described = current_fields.get(leaf.lower())
    if described is None:
        return None, f"{current_object} has no field {leaf!r}"
    return described, None


def _has_step(target_fields: dict[str, dict], relationship: str | None, leaf: str) -> bool:
    """Whether an object has the next relationship of a path or, at its end, the leaf field."""
    if relationship is not None:
        return any((f.get("relationshipName") or "").lower() == relationship.lower() for f in target_fields.values())
    return leaf.lower() in target_fields
