"""`python -m crm_sync.sandbox`: the same as `crm-sync sandbox`."""

from crm_sync.sandbox.cli import sandbox_command

if __name__ == "__main__":
    sandbox_command(prog_name="python -m crm_sync.sandbox")
