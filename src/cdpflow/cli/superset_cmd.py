"""`cdpflow superset`: a local Superset for cdpflow, in its own virtual environment."""

from __future__ import annotations

import os

import click

from cdpflow.cli.context import Context
from cdpflow.superset.runtime import (
    SUPERSET_PASSWORD_SECRET,
    install_superset,
    prepare_superset,
    server_command,
    superset_credentials,
    superset_venv,
)


@click.command("superset")
@click.option("--port", type=click.IntRange(1, 65535), default=8088, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.pass_obj
def superset(obj: Context, port: int, host: str) -> None:
    """Start Superset for cdpflow (SQLite metadata under CDPFLOW_HOME/superset); installs it
    into its own venv on first use (as `make superset` does)."""
    settings = obj.settings
    venv = superset_venv()
    if not (venv / "bin" / "gunicorn").exists():
        install_superset(venv, click.echo)
    env = prepare_superset(settings, venv, click.echo)
    creds = superset_credentials(settings)
    command = server_command(venv, host, port)
    click.echo(f"Superset UI: http://{'localhost' if host == '127.0.0.1' else host}:{port}")
    click.echo(f"User:        {creds.username}")
    if settings.superset_password:
        click.echo("Password:    SUPERSET_PASSWORD")
    else:
        click.echo(f"Password:    cdpflow secrets get {SUPERSET_PASSWORD_SECRET}")
    click.echo(f"DAGs find it with SUPERSET_BASE_URL=http://localhost:{port}")
    os.execve(command[0], command, env)


COMMANDS = [superset]
