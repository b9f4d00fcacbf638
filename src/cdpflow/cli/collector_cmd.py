"""`cdpflow collector` (the event collector) and `cdpflow source add|list` (its write keys)."""

from __future__ import annotations

import click

from cdpflow.secrets import open_secrets


@click.command("collector")
@click.option("--host", default=None, help="Listen address (default CDPFLOW_COLLECTOR_HOST).")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=None, help="Default CDPFLOW_COLLECTOR_PORT."
)
@click.pass_obj
def collector(obj: object, host: str | None, port: int | None) -> None:
    """Receive SDK events over HTTP and land them in the raw zone (until SIGTERM / Ctrl-C)."""
    try:
        import uvicorn
    except ImportError as err:  # pragma: no cover - a dependency of cdpflow
        raise click.ClickException("The collector needs uvicorn: pip install uvicorn") from err

    from cdpflow.collector.app import create_app
    from cdpflow.collector.auth import list_sources

    settings = obj.settings  # type: ignore[attr-defined]
    app = create_app(settings)
    names = list_sources(open_secrets(settings))
    host = host or settings.collector_host
    port = settings.collector_port if port is None else port
    click.echo(
        f"cdpflow collector on http://{host}:{port}, landing in {settings.lake_url}/raw/events; "
        f"sources: {', '.join(names) or 'none yet (cdpflow source add NAME)'}",
        err=True,
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=30,
        server_header=False,
    )


@click.group("source")
def source() -> None:
    """Sources that may send events, each with its own write key (token)."""


@source.command("add")
@click.argument("name")
@click.pass_obj
def source_add(obj: object, name: str) -> None:
    """Create source NAME and print its new random write key."""
    from cdpflow.collector.auth import add_source

    key = add_source(open_secrets(obj.settings), name)  # type: ignore[attr-defined]
    click.echo(key)
    click.echo(
        f"Source `{name}` created. Use the key above as the SDK's write key (Segment,"
        " RudderStack) or token (Blotout). It is kept in $CDPFLOW_HOME/secrets.json;"
        f" `cdpflow secrets get source:{name}` shows it again.",
        err=True,
    )


@source.command("list")
@click.pass_obj
def source_list(obj: object) -> None:
    """List source names (never their keys)."""
    from cdpflow.collector.auth import list_sources

    names = list_sources(open_secrets(obj.settings))  # type: ignore[attr-defined]
    for name in names:
        click.echo(name)
    if not names:
        click.echo("No sources yet: cdpflow source add NAME", err=True)


COMMANDS = [collector, source]
