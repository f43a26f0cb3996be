"""Loading the sync sections file: which file, YAML parsing, and every problem reported at once.

`load_settings()` reads, in order of preference: the path given, the file named by the
`CRM_SYNC_SECTIONS` environment variable, the default file shipped in this package.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from crm_sync.settings.schema import COLLECT_PROBLEMS, Section, Settings, SyncDefaults
from crm_sync.settings.validation import (
    SectionRef,
    SectionsError,
    cross_section_problems,
    order_problems,
    section_problems,
)

SECTIONS_ENV = "CRM_SYNC_SECTIONS"
TOP_LEVEL_KEYS = ("sections", "defaults")
# libyaml's safe loader parses the sections file ~10x faster than the pure-Python one (every run, tick and
# check reads it); the same YAML, the same errors with their marks.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def default_sections_path() -> Path:
    """The sections file shipped with the package."""
    return Path(str(resources.files("crm_sync.settings").joinpath("sections.yaml")))


def sections_path(path: str | Path | None = None) -> Path:
    """The file `load_settings(path)` reads: path, else $CRM_SYNC_SECTIONS, else the packaged default."""
    if path is not None:
        return Path(path)
    from_env = os.environ.get(SECTIONS_ENV)
    return Path(from_env) if from_env else default_sections_path()


def load_settings(path: str | Path | None = None) -> Settings:
    """Read and validate a sections file; raise SectionsError listing every problem, with the file path."""
    source = sections_path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise SectionsError(str(source), [f"cannot read the sections file: {exc.strerror or exc}"]) from exc
    return parse_settings(text, str(source))


def parse_settings(text: str, source: str = "<string>") -> Settings:
    """Validate the YAML text of a sections file; `source` names it in errors."""
    try:
        data = yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506  (a safe loader: libyaml's when present)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SectionsError(source, [f"not valid YAML{at}: {problem}"]) from exc
    return settings_from_data(data, source)


def settings_from_data(data: Any, source: str = "<data>") -> Settings:
    """Validate an already parsed sections document (a mapping with `sections` and `defaults`)."""
    if not isinstance(data, dict):
        raise SectionsError(source, ["the file must be a mapping with the keys 'sections' and 'defaults'"])
    problems = [f"key {key!r}: unknown key (allowed: {', '.join(TOP_LEVEL_KEYS)})"
                for key in data if key not in TOP_LEVEL_KEYS]

    defaults = SyncDefaults()
    if data.get("defaults") is not None:
        parsed_defaults, defaults_problems = _validate(SyncDefaults, data["defaults"], "defaults", label=None)
        problems.extend(defaults_problems)
        defaults = parsed_defaults or defaults

    raw_sections = data.get("sections")
    sections: list[Section] = []
    refs: list[SectionRef] = []
    if raw_sections is None:
        problems.append("key 'sections': missing (a list of sync sections, possibly empty)")
    elif not isinstance(raw_sections, list):
        problems.append("key 'sections': must be a list of sync sections")
    else:
        for index, raw in enumerate(raw_sections):
            label = raw.get("object") if isinstance(raw, dict) and isinstance(raw.get("object"), str) else None
            section, structural = _validate(Section, raw, f"sections[{index}]", label=label or f"#{index}")
            problems.extend(structural)
            if section is not None:
                sections.append(section)
                problems.extend(section_problems(section, index))
            ref = _ref_of(index, raw)
            if ref is not None:
                refs.append(ref)
        problems.extend(cross_section_problems(refs))
        if not problems:
            problems.extend(order_problems(sections))

    if problems:
        raise SectionsError(source, problems)
    return Settings(sections=sections, defaults=defaults)


def _ref_of(index: int, raw: Any) -> SectionRef | None:
    """The keys the checks across sections need, read from a raw section when they are plain strings."""
    if not isinstance(raw, dict) or not isinstance(raw.get("object"), str) or not isinstance(raw.get("model"), str):
        return None
    after = raw.get("after") or []
    after = [after] if isinstance(after, str) else after
    if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
        after = []
    return SectionRef(index, raw["object"], raw["model"], after)


def _validate(
    model: type[BaseModel], raw: Any, prefix: str, *, label: str | None
) -> tuple[Any, list[str]]:
    """Validate one part of the document; return it (or None) and its problems, located for a human."""
    try:
        return model.model_validate(raw, context={COLLECT_PROBLEMS: True}), []
    except ValidationError as exc:
        return None, [_describe_error(error, prefix, label) for error in exc.errors()]


def _describe_error(error: dict, prefix: str, label: str | None) -> str:
    """One pydantic error as `section 'X' (sections[i]), key 'fields[2].direction': message`."""
    key = ""
    for part in error["loc"]:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "missing":
        message = "required key is missing"
    else:
        message = error["msg"].removeprefix("Value error, ")
        if kind not in ("value_error", "assertion_error") and "input" in error:
            message += f" (got {error['input']!r})"
    if label is None:
        full_key = f"{prefix}.{key}" if key else prefix
        return f"key {full_key!r}: {message}"
    location = f"section {label!r} ({prefix})"
    return f"{location}, key {key!r}: {message}" if key else f"{location}: {message}"
