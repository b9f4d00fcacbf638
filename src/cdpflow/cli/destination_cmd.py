"""`cdpflow destination add|list|remove`: the destination files and their DAGs."""

from __future__ import annotations

from typing import Any

import click

from cdpflow.activation.destination import (
    DESTINATIONS,
    MODES,
    TYPES,
    load_destination,
    write_destination,
)
from cdpflow.activation.status import destination_status
from cdpflow.airflow.declared import sync_declared_dags
from cdpflow.cli.context import Context
from cdpflow.cli.declared_files import new_file, remove_file
from cdpflow.cli.output import echo_table
from cdpflow.declared import DeclarationError


@click.group("destination")
def destination_group() -> None:
    """Activation destinations: a segment synced to Klaviyo, Meta or a webhook, one DAG each."""


@destination_group.command("add")
@click.argument("name")
@click.option("--type", "kind", type=click.Choice(TYPES), required=True)
@click.option("--segment", required=True, help="The segment of segment_members to send.")
@click.option("--mode", type=click.Choice(MODES), default="mirror", show_default=True)
@click.option("--url", help="webhook: where batches are POSTed.")
@click.option("--secret", help="webhook: the secret that keys the HMAC-SHA256 signature.")
@click.option("--list", "list", help="klaviyo: the list by name (created if missing).")
@click.option("--list-id", help="klaviyo: the list by its Klaviyo id.")
@click.option("--key-secret", help="klaviyo: the secret holding the private API key.")
@click.option("--ad-account", help="meta_custom_audience: the ad account, act_<id>.")
@click.option("--audience", help="meta_custom_audience: the audience by name (created if missing).")
@click.option("--audience-id", help="meta_custom_audience: the audience by its Meta id.")
@click.option(
    "--customer-file-source",
    help="meta_custom_audience: declared on a new audience (default USER_PROVIDED_ONLY).",
)
@click.option("--token-secret", help="meta_custom_audience: the secret holding the access token.")
@click.option("--consent-field", help="A boolean column of segment_members that must be true.")
@click.option("--schedule", help="A cron; default: after each update of segment_members.")
@click.option("--max-removal-share", type=float, help="Refuse runs removing more (default 0.2).")
@click.option("--api-base-url", help="Another endpoint for the channel (proxy, region, tests).")
@click.option("--force", is_flag=True, help="Replace an existing file of that name.")
@click.pass_obj
def add(obj: Context, name: str, kind: str, force: bool, **options: Any) -> None:
    """Write $CDPFLOW_HOME/destinations/NAME.yml and create DAG activation_NAME."""
    settings = obj.settings
    path = new_file(settings, DESTINATIONS, name, force=force)
    data: dict[str, Any] = {"type": kind}
    for option, value in options.items():
        if value is not None and not (option == "mode" and value == "mirror"):
            data[option] = value
    try:
        destination = write_destination(settings, name, data)
    except DeclarationError as err:
        flag = f"--{err.key.replace('_', '-')}" if err.key else ""
        hint = f" (option {flag})" if flag and err.key != "type" else ""
        raise click.ClickException(f"{err.problem}{hint}; nothing written.") from None
    sync_declared_dags(settings)
    click.echo(f"Wrote {path}; DAG {destination.dag_id}.")
    click.echo(
        f"It reads secret `{destination.secret}`: `cdpflow secrets set {destination.secret}`. "
        f"Try `cdpflow run {destination.dag_id} --dry-run`."
    )


@destination_group.command("list")
@click.pass_obj
def list_destinations(obj: Context) -> None:
    """Name, type, segment, mode, last sync and members acknowledged of every destination."""
    settings = obj.settings
    names = DESTINATIONS.names(settings)
    if not names:
        click.echo(f"No destinations in {DESTINATIONS.directory(settings)}.")
        return
    rows = [("NAME", "TYPE", "SEGMENT", "MODE", "LAST SYNC", "ACKNOWLEDGED")]
    for name in names:
        try:
            d = load_destination(settings, name)
        except DeclarationError as err:
            rows.append((name, "broken", err.problem[:40], "", "", ""))
            continue
        status = destination_status(settings, name)
        rows.append((name, d.type, d.segment, d.mode, status.last_sync, str(status.acknowledged)))
    echo_table(rows)


@destination_group.command("remove")
@click.argument("name")
@click.pass_obj
def remove(obj: Context, name: str) -> None:
    """Remove the file and its DAG. The channel's list or audience stays as it is."""
    path = remove_file(obj.settings, DESTINATIONS, name)
    click.echo(
        f"Removed {path} and DAG {DESTINATIONS.dag_id(name)}; the channel's list or audience "
        "was not touched."
    )


COMMANDS = [destination_group]
