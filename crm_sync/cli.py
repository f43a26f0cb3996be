"""The `crm-sync` console script: one click group; each room of the package adds its own commands."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """crm_sync: Salesforce <-> platform sync, run with Dagster."""


if __name__ == "__main__":  # pragma: no cover
    main()
