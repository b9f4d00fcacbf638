"""`cdpflow collector` (the event collector) and `cdpflow source add|list|rotate|remove` (its
write keys)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import click

from cdpflow.cli.context import Context
from cdpflow.secrets import open_secrets


@click.command("collector")
@click.option("--host", default=None, help="Listen address (default CDPFLOW_COLLECTOR_HOST).")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=None, help="Default CDPFLOW_COLLECTOR_PORT."
)
@click.pass_obj
def collector(obj: Context, host: str | None, port: int | None) -> None:
    """Receive SDK events over HTTP and land them in the raw zone (until SIGTERM / Ctrl-C)."""
    try:
        import uvicorn
    except ImportError as err:  # pragma: no cover - a dependency of cdpflow
        raise click.ClickException("The collector needs uvicorn: pip install uvicorn") from err

    from cdpflow.collector.app import create_app
    from cdpflow.collector.auth import list_sources
    from cdpflow.collector.server import raise_open_file_limit, uvicorn_config

    settings = obj.settings
    app = create_app(settings)
    names = list_sources(open_secrets(settings))
    host = host or settings.collector_host
    port = settings.collector_port if port is None else port
    click.echo(
        f"cdpflow collector on http://{host}:{port}, landing in {settings.lake_url}/raw/events; "
        f"sources: {', '.join(names) or 'none yet (cdpflow source add NAME)'}",
        err=True,
    )
    raise_open_file_limit(settings.collector_max_connections)
    config = uvicorn_config(app, settings, host, port, log_level="warning", access_log=False)
    uvicorn.Server(config).run()


@click.group("source")
def source() -> None:
    """Sources that may send events, each with its own write key (token)."""


@source.command("add")
@click.argument("name")
@click.pass_obj
def source_add(obj: Context, name: str) -> None:
    """Create source NAME and print its new random write key."""
    from cdpflow.collector.auth import add_source

    key = add_source(open_secrets(obj.settings), name)
    click.echo(key)
    click.echo(
        f"Source `{name}` created. Use the key above as the SDK's write key (Segment,"
        " RudderStack) or token (Blotout). It is kept in $CDPFLOW_HOME/secrets.json;"
        f" `cdpflow secrets get source:{name}` shows it again.",
        err=True,
    )


@source.command("list")
@click.pass_obj
def source_list(obj: Context) -> None:
    """List source names (never their keys)."""
    from cdpflow.collector.auth import list_sources

    names = list_sources(open_secrets(obj.settings))
    for name in names:
        click.echo(name)
    if not names:
        click.echo("No sources yet: cdpflow source add NAME", err=True)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(ctx: click.Context, param: click.Parameter, value: str) -> float:
    match = _DURATION.match(value)
    if not match:
        raise click.BadParameter(f"`{value}` is no duration; use e.g. `24h`, `30m`, `2d` or `0`.")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@source.command("rotate")
@click.argument("name")
@click.option(
    "--grace",
    default="24h",
    show_default=True,
    callback=_seconds,
    help="How long the old key keeps working (`30m`, `24h`, `7d`; `0`: stops at once).",
)
@click.pass_obj
def source_rotate(obj: Context, name: str, grace: float) -> None:
    """Give source NAME a new write key and print it; the old key works for --grace more."""
    from cdpflow.collector.auth import rotate_source

    key = rotate_source(open_secrets(obj.settings), name, grace)
    click.echo(key)
    if grace > 0:
        until = datetime.now(UTC) + timedelta(seconds=grace)
        old = f"The old key works until {until:%Y-%m-%d %H:%M} UTC; move the SDKs to the new one."
    else:
        old = "The old key stopped working."
    click.echo(f"Source `{name}` has a new key (above), working now. {old}", err=True)


@source.command("remove")
@click.argument("name")
@click.pass_obj
def source_remove(obj: Context, name: str) -> None:
    """Delete source NAME: its key (and a rotated-out one) stops working at once."""
    from cdpflow.collector.auth import remove_source

    remove_source(open_secrets(obj.settings), name)
    click.echo(
        f"Source `{name}` removed; a running collector refuses its key from the next request.",
        err=True,
    )


COMMANDS = [collector, source]
