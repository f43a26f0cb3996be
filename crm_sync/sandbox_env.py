"""`crm-sync sandbox-env`: the running sandbox org's connection settings as `export NAME=value` lines.

So a fresh shell reaches the org that `make ui` (or `make sandbox`) started: `eval "$(crm-sync sandbox-env)"`,
then `crm-sync status`. The lines include the sandbox's own generated test credentials; they are printed
only by this command, on request, and only for a sandbox (its sandbox.json), never for a real org.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import click

from crm_sync.platform.engine import DATA_DIR_ENV, PLATFORM_URL_ENV, data_dir, platform_url
from crm_sync.sandbox.process import INFO_FILE, SandboxInfo, load_sandbox_info


def running_info(sandbox_dir: Path) -> SandboxInfo:
    """The SandboxInfo of the sandbox serving from `sandbox_dir`; a clear error when none is running there."""
    path = sandbox_dir / INFO_FILE
    if not path.exists():
        raise click.ClickException(f"no sandbox is running from {sandbox_dir} (no {INFO_FILE}): start one with "
                                   "`make ui` or `make sandbox`, or pass --data")
    info = load_sandbox_info(path)
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        raise click.ClickException(f"the sandbox of {path} (pid {info.pid}) is no longer running: start it again "
                                   "with `make ui` or `make sandbox`") from None
    except PermissionError:
        pass  # alive, owned by someone else
    return info


def export_lines(info: SandboxInfo, root: Path) -> list[str]:
    """SALESFORCE_* for the sandbox, plus the data directory, platform URL and DAGSTER_HOME crm_sync reads."""
    values = dict(info.env())
    values[DATA_DIR_ENV] = str(root)
    values[PLATFORM_URL_ENV] = platform_url()
    if os.environ.get("DAGSTER_HOME"):
        values["DAGSTER_HOME"] = os.environ["DAGSTER_HOME"]
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


@click.command("sandbox-env")
@click.option("--data", "sandbox_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="the sandbox's data directory  [default: $CRM_SYNC_DATA/sandbox, else data/sandbox]")
def sandbox_env_command(sandbox_dir: Path | None) -> None:
    """Print `export SALESFORCE_...=` lines (and CRM_SYNC_DATA, CRM_SYNC_PLATFORM_URL, DAGSTER_HOME) for the
    running sandbox org, so a fresh shell can run `crm-sync status` against it:

        eval "$(crm-sync sandbox-env)"

    This prints secrets on purpose: the sandbox's own generated test credentials (password, security token,
    client secret), for the local org only. Nothing else in crm_sync prints a secret."""
    root = data_dir().resolve()
    directory = (sandbox_dir or root / "sandbox").resolve()
    info = running_info(directory)
    os.environ.setdefault(DATA_DIR_ENV, str(root))
    for line in export_lines(info, root):
        click.echo(line)
