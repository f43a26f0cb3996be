"""Which synced objects a section references through its field mapping: the edges of the asset graph.

A mapped field points at another object when it is a reference (`AccountId`, `OwnerId`, `Account__c`) or a
parent path (`Account.Name`, `Owner.Email`, `Account__r.Name`). The target is read from the field itself:
its `references:` key when the sections file gives one (an empty list drops the edge), else the name:
- the well-known standard fields below (`OwnerId` -> User, `WhoId` -> Contact, ...);
- `XxxId` / `Xxx.Field` -> object `Xxx`; `Xxx__c` / `Xxx__r.Field` -> object `Xxx__c`, else `Xxx`.
Only targets that are other sections of the same list count, so a reference to an object nobody syncs,
or to the section itself (Account.ParentId), is no edge. Polymorphic fields count their main parents only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from crm_sync.settings.schema import FieldMapping, FieldType, Section

USER = ("User",)
# Standard reference fields whose name does not say their object, and the objects they point at.
STANDARD_TARGETS: dict[str, tuple[str, ...]] = {
    "ownerid": USER, "owner": USER, "createdbyid": USER, "createdby": USER, "lastmodifiedbyid": USER,
    "lastmodifiedby": USER, "managerid": USER, "manager": USER,
    "whoid": ("Contact",), "who": ("Contact",),
    "whatid": ("Account",), "what": ("Account",),
}
# Objects whose ParentId is polymorphic (not a self reference): their main parents.
POLYMORPHIC_PARENT = {"note": ("Account", "Contact"), "attachment": ("Account", "Contact")}


class Reference(NamedTuple):
    """One field of `section` that points at the synced object `target`."""

    section: Section
    position: int  # index in section.fields
    field: FieldMapping
    target: Section


def _targets(section: Section, mapping: FieldMapping) -> tuple[tuple[str, ...], bool]:
    """The object names a field may point at, and whether all of them count (a known or declared list) or
    only the first that is a section (guesses from the name)."""
    if mapping.references is not None:
        return tuple(mapping.references), True
    known = _known_targets(section, mapping)
    return (known, True) if known is not None else (_guessed_targets(mapping), False)


def _name(mapping: FieldMapping) -> str | None:
    """The part of a field that names its target: the relationship of a parent path, or the reference field."""
    if mapping.is_parent_path:
        return mapping.salesforce.split(".", 1)[0]
    if mapping.type is FieldType.REFERENCE or mapping.salesforce.lower().endswith("id"):
        return mapping.salesforce
    return None


def _known_targets(section: Section, mapping: FieldMapping) -> tuple[str, ...] | None:
    name = _name(mapping)
    if name is None:
        return ()
    lowered = name.lower()
    if lowered in ("parentid", "parent"):
        return POLYMORPHIC_PARENT.get(section.object.lower(), (section.object,))
    return STANDARD_TARGETS.get(lowered)


def _guessed_targets(mapping: FieldMapping) -> tuple[str, ...]:
    name = _name(mapping)
    if name is None:
        return ()
    lowered = name.lower()
    if lowered.endswith("__c") or lowered.endswith("__r"):
        stem = name[:-3]
        return f"{stem}__c", stem
    if mapping.is_parent_path:
        return (name,)
    return (name[:-2],) if lowered.endswith("id") and len(name) > 2 else ()


def references(section: Section, sections: Sequence[Section]) -> list[Reference]:
    """The fields of `section` that point at other sections of `sections`, one Reference per target."""
    by_name = {s.object.lower(): s for s in sections}
    found = []
    for position, mapping in enumerate(section.fields):
        names, every = _targets(section, mapping)
        matched = [by_name[n.lower()] for n in names if n.lower() in by_name]
        for target in matched if every else matched[:1]:
            if target.object.lower() != section.object.lower():
                found.append(Reference(section, position, mapping, target))
    return found


def dependencies(section: Section, sections: Sequence[Section]) -> list[Section]:
    """The sections `section` depends on, in the order of `sections`: those it references and its `after`."""
    after = {a.lower() for a in section.after}
    referenced = {r.target.object.lower() for r in references(section, sections)}
    wanted = (after | referenced) - {section.object.lower()}
    return [s for s in sections if s.object.lower() in wanted]
