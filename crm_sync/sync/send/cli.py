"""`crm-sync platform ...`: edit a platform record as a user or as the system, and look at the outbox.

    crm-sync platform set company 42 Name="Acme" --as user:ana@example.com
    crm-sync platform set end_user new LastName=Doe Email=jo@example.com --as user
    crm-sync platform set company 42 health_score=81 --as system
    crm-sync platform show company 42
    crm-sync platform outbox [--dead]

Keys are platform columns or Salesforce field names; the database is $CRM_SYNC_PLATFORM_URL (or --url).
"""

from __future__ import annotations

import json

import click

from crm_sync.platform import PlatformStore
from crm_sync.settings import load_settings
from crm_sync.sync.send.capture import describe_record, edit_record, parse_actor, parse_assignments


def _store(url: str | None, sections: str | None) -> PlatformStore:
    return PlatformStore(url, load_settings(sections))


@click.group("platform")
@click.option("--url", envvar="CRM_SYNC_PLATFORM_URL", default=None, help="platform database URL")
@click.option("--sections", default=None, help="sections file (default: $CRM_SYNC_SECTIONS or the packaged one)")
@click.pass_context
def platform_group(ctx: click.Context, url: str | None, sections: str | None) -> None:
    """The platform database: edit records with an origin, inspect the outbox."""
    ctx.obj = {"url": url, "sections": sections}


@platform_group.command("set")
@click.argument("model")
@click.argument("record")
@click.argument("assignments", nargs=-1, required=True)
@click.option("--as", "actor", default="user", show_default=True,
              help="user[:<who>] (pushed within seconds) or system[:<job>] (nightly push)")
@click.pass_context
def set_command(ctx: click.Context, model: str, record: str, assignments: tuple[str, ...], actor: str) -> None:
    """Set COLUMN=VALUE on record RECORD (a platform id, or `new`) of MODEL."""
    pairs = {}
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep:
            raise click.BadParameter(f"{assignment!r} is not KEY=VALUE", param_hint="ASSIGNMENTS")
        pairs[key.strip()] = value
    try:
        who = parse_actor(actor)
        with _store(ctx.obj["url"], ctx.obj["sections"]) as store:
            values = parse_assignments(store.section(model), pairs)
            record_id = None if record.lower() == "new" else int(record)
            written = edit_record(store, model, values, actor=who, record_id=record_id)
            click.echo(f"{store.section(model).model} {written} written as {who}")
    except (KeyError, ValueError) as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc


@platform_group.command("show")
@click.argument("model")
@click.argument("record", type=int)
@click.pass_context
def show_command(ctx: click.Context, model: str, record: int) -> None:
    """Print one record (values, origin, sync status and error)."""
    try:
        with _store(ctx.obj["url"], ctx.obj["sections"]) as store:
            click.echo(describe_record(store, model, record))
    except KeyError as exc:
        raise click.ClickException(str(exc).strip("'\"")) from exc


@platform_group.command("outbox")
@click.option("--dead", is_flag=True, help="only dead letters")
@click.pass_context
def outbox_command(ctx: click.Context, dead: bool) -> None:
    """List outbox rows (changes waiting to be sent), with attempts and the last error."""
    with _store(ctx.obj["url"], ctx.obj["sections"]) as store:
        for entry in store.outbox_entries():
            if dead and not entry.dead:
                continue
            click.echo(json.dumps({"id": entry.id, "model": entry.model, "record_id": entry.record_id,
                                   "changed": entry.changed_columns, "attempts": entry.attempts,
                                   "dead": entry.dead, "next_attempt_at": entry.next_attempt_at.isoformat(),
                                   "last_error": entry.last_error}, sort_keys=True))
