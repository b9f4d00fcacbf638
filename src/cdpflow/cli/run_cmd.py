"""`cdpflow run <dag_id>`: run a job without Airflow, exactly as its DAG would."""

from __future__ import annotations

import importlib
import inspect
from datetime import datetime

import click

from cdpflow.cli.progress import progress_bar
from cdpflow.jobs import JOBS, Interval
from cdpflow.lake.importer import parse_time


def _moment(name: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = parse_time(text)
    if moment is None:
        raise click.BadParameter(f"`{text}` is not an ISO date-time", param_hint=name)
    return moment


@click.command("run")
@click.argument("dag_id", type=click.Choice(JOBS))
@click.option("--start", help="Interval start (ISO, UTC, inclusive).")
@click.option("--end", help="Interval end (ISO, UTC, exclusive).")
@click.option("--dry-run", is_flag=True, help="List what would change, change nothing.")
@click.option("--full-rebuild", is_flag=True, help="Rebuild the job's output from all its input.")
@click.pass_obj
def run(
    obj: object, dag_id: str, start: str | None, end: str | None, dry_run: bool, full_rebuild: bool
) -> None:
    """Run the job behind DAG_ID over an interval (default: whatever is pending)."""
    settings = obj.settings  # type: ignore[attr-defined]
    interval = Interval(_moment("--start", start), _moment("--end", end))
    job = importlib.import_module(f"cdpflow.jobs.{dag_id}")
    options = {}
    if dry_run:
        if "dry_run" not in inspect.signature(job.run).parameters:
            raise click.UsageError(f"{dag_id} has no dry-run mode.")
        options["dry_run"] = True
    if full_rebuild:
        if "full_rebuild" not in inspect.signature(job.run).parameters:
            raise click.UsageError(f"{dag_id} has no full-rebuild mode.")
        options["full_rebuild"] = True
    with progress_bar(dag_id) as update:
        result = job.run(settings, interval, progress=update, **options)
    click.echo(result.summary())


COMMANDS = [run]
