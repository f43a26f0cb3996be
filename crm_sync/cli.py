"""The `crm-sync` console script: one click group (click, as Dagster's own CLI); each room adds its commands."""

from __future__ import annotations

import click

from crm_sync.demo import demo_command, ui_command
from crm_sync.health_cli import COMMANDS as HEALTH_COMMANDS
from crm_sync.sandbox.cli import sandbox_command
from crm_sync.sandbox_env import sandbox_env_command
from crm_sync.sync.send.cli import platform_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """crm_sync: Salesforce <-> platform sync, run with Dagster."""


for command in (sandbox_command, sandbox_env_command, demo_command, ui_command, platform_group, *HEALTH_COMMANDS):
    main.add_command(command)

if __name__ == "__main__":  # pragma: no cover
    main()
