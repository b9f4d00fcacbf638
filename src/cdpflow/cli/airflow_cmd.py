"""`cdpflow airflow`, `cdpflow dags-folder` and `cdpflow secrets get`."""

from __future__ import annotations

import os
import re
import shutil
import sys

import click

from cdpflow.cli.context import Context
from cdpflow.secrets import AIRFLOW_PASSWORD, admin_secrets, open_secrets


@click.command("dags-folder")
@click.pass_obj
def dags_folder(obj: Context) -> None:
    """Prepare and print cdpflow's DAGs folder (point an existing Airflow's dags_folder at it):
    the package's DAG files and one DAG file per declared pipeline or destination."""
    from cdpflow.airflow.declared import prepare_dags_folder

    click.echo(str(prepare_dags_folder(obj.settings)))


@click.command("airflow")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.pass_obj
def airflow(obj: Context, port: int) -> None:
    """Start Airflow for cdpflow (standalone, SQLite under CDPFLOW_HOME) and print the URL."""
    from cdpflow.airflow.runtime import ADMIN, airflow_environment

    settings = obj.settings
    env = airflow_environment(settings, port)
    binary = shutil.which("airflow", path=env["PATH"])
    if binary is None:
        raise click.ClickException("Airflow is not installed: pip install 'cdpflow[airflow]'.")
    click.echo(f"Airflow UI: http://localhost:{port}  (user `{ADMIN}`)")
    click.echo(f"Password:   cdpflow secrets get {AIRFLOW_PASSWORD}")
    click.echo(f"DAGs:       {env['AIRFLOW__CORE__DAGS_FOLDER']}")
    os.execve(binary, [binary, "standalone"], env)


@click.group("secrets")
def secrets_group() -> None:
    """The secrets store (CDPFLOW_HOME/secrets.json, mode 600): API keys and tokens that
    pipelines and destinations name, and the secrets cdpflow generated."""


@secrets_group.command("get")
@click.argument("name")
@click.pass_obj
def secrets_get(obj: Context, name: str) -> None:
    """Print the secret NAME (e.g. airflow_password)."""
    settings = obj.settings
    store = admin_secrets(settings) if name == AIRFLOW_PASSWORD else open_secrets(settings)
    value = store.get(name)
    if value is None:
        raise click.ClickException(
            f"No secret named `{name}` yet; `cdpflow airflow` creates airflow_password."
        )
    click.echo(value)


@secrets_group.command("set")
@click.argument("name")
@click.pass_obj
def secrets_set(obj: Context, name: str) -> None:
    """Store secret NAME, read from standard input (a prompt that does not echo on a terminal),
    so the value never lands in the shell's history or a process list."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", name):
        raise click.BadParameter("use letters, digits, `_`, `.` and `-`", param_hint="NAME")
    if sys.stdin.isatty():
        value = click.prompt(f"Value of {name}", hide_input=True, confirmation_prompt=True)
    else:
        value = sys.stdin.read().rstrip("\r\n")
    if not value:
        raise click.ClickException(f"No value given for `{name}`; nothing stored.")
    open_secrets(obj.settings).put(name, value)
    click.echo(f"Stored secret `{name}` ({len(value)} characters).")


COMMANDS = [dags_folder, airflow, secrets_group]
