"""`cdpflow airflow`, `cdpflow dags-folder` and `cdpflow secrets get`."""

from __future__ import annotations

import os
import shutil

import click

from cdpflow.cli.context import Context
from cdpflow.secrets import AIRFLOW_PASSWORD, admin_secrets, open_secrets


@click.command("dags-folder")
def dags_folder() -> None:
    """Print the folder of cdpflow's DAG files (point an existing Airflow's dags_folder at it)."""
    from cdpflow.airflow.dag_factory import DAGS_FOLDER

    click.echo(str(DAGS_FOLDER))


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
    """Read the secrets cdpflow generated (kept in CDPFLOW_HOME/secrets.json, mode 600)."""


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


COMMANDS = [dags_folder, airflow, secrets_group]
