"""Entry point of the `cdpflow` command."""

from __future__ import annotations

import logging
import sys

import click

from cdpflow.cli import (
    airflow_cmd,
    collector_cmd,
    config_cmd,
    destination_cmd,
    entity_cmd,
    events_cmd,
    pipeline_cmd,
    report_cmd,
    run_cmd,
    spark_cmd,
    sql_cmd,
    superset_cmd,
)
from cdpflow.cli.context import Context
from cdpflow.errors import CdpflowError, ConfigError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", help="Overrides $CDPFLOW_HOME (default ./cdpflow_home).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
@click.version_option(package_name="cdpflow")
@click.pass_context
def cli(ctx: click.Context, home: str | None, verbose: bool) -> None:
    """cdpflow: clickstream and offline data into a unified customer view, on a Parquet lake."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = Context(home)


for module in (
    config_cmd,
    events_cmd,
    run_cmd,
    sql_cmd,
    report_cmd,
    airflow_cmd,
    collector_cmd,
    destination_cmd,
    entity_cmd,
    superset_cmd,
    spark_cmd,
    pipeline_cmd,
):
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except ConfigError as err:
        click.secho(f"Configuration error: {err}", fg="red", err=True)
        sys.exit(2)
    except CdpflowError as err:
        click.secho(f"Error: {err}", fg="red", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
