"""The sandbox's server dependencies come with the optional extra `crm_sync[sandbox]`, never the core install.

Only the sandbox's server (and whatever starts it) needs them; this module checks for them without importing
them, so a production install gets one clear error naming the extra instead of a bare ImportError.
"""

from __future__ import annotations

import importlib.util

import click

SANDBOX_PACKAGES = ("starlette", "uvicorn", "trustme", "lark")
INSTALL_HINT = "pip install 'crm_sync[sandbox]'"


class SandboxExtraMissing(click.ClickException):
    """The sandbox was asked to start in an install without the `sandbox` extra (a click error: every
    command that starts it, `crm-sync sandbox`, `demo`, `ui`, exits 1 with this message)."""


def missing_sandbox_packages() -> list[str]:
    """The sandbox's dependencies that cannot be imported here (empty when the extra is installed)."""
    return [name for name in SANDBOX_PACKAGES if importlib.util.find_spec(name) is None]


def require_sandbox_extra() -> None:
    """Raise SandboxExtraMissing naming the missing packages and the extra that brings them."""
    missing = missing_sandbox_packages()
    if missing:
        raise SandboxExtraMissing(
            f"the local Salesforce org needs {', '.join(missing)}, which this install lacks: "
            f"the sandbox is an optional extra ({INSTALL_HINT})")
