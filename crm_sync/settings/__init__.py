"""Sync sections: which Salesforce object pairs with which platform model, how fields map, and the defaults.

Public API: `load_settings()` and the models `Settings`, `Section`, `FieldMapping`, `SyncDefaults`;
`validate_against_describe()` checks the sections against an org before anything runs.
"""

from crm_sync.settings.loader import SECTIONS_ENV, default_sections_path, load_settings, parse_settings
from crm_sync.settings.schema import (
    MODSTAMP_FIELDS,
    RESERVED_COLUMNS,
    RESERVED_MODELS,
    ConflictRule,
    Direction,
    FieldMapping,
    FieldType,
    Section,
    Settings,
    SyncDefaults,
)
from crm_sync.settings.validation import SectionsError, validate_against_describe

__all__ = [
    "MODSTAMP_FIELDS",
    "RESERVED_COLUMNS",
    "RESERVED_MODELS",
    "SECTIONS_ENV",
    "ConflictRule",
    "Direction",
    "FieldMapping",
    "FieldType",
    "Section",
    "SectionsError",
    "Settings",
    "SyncDefaults",
    "default_sections_path",
    "load_settings",
    "parse_settings",
    "validate_against_describe",
]
