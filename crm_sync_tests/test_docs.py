"""The user documentation lives in the project: the README's links resolve inside a clone."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#]+)(?:#[^)]*)?\)")


def test_the_readme_links_only_to_files_in_the_project() -> None:
    readme = (REPO / "README.md").read_text()
    assert "../shared" not in readme
    local = [target for target in LINK.findall(readme) if "://" not in target]
    assert "docs/architecture.md" in local
    for target in local:
        resolved = (REPO / target).resolve()
        assert resolved.is_relative_to(REPO) and resolved.exists(), target


def test_the_architecture_page_names_every_check_and_the_location() -> None:
    from crm_sync.sync.health.checks import CHECK_NAMES
    from crm_sync.sync.health.pause import DEFAULT_LOCATION_NAME

    page = (REPO / "docs" / "architecture.md").read_text()
    assert all(f"`{name}`" in page or name in page for name in CHECK_NAMES)
    assert f"`{DEFAULT_LOCATION_NAME}`" in page
