"""`cdpflow run <dag_id>`: run a job without Airflow, exactly as its DAG would."""

from __future__ import annotations

import inspect
from datetime import datetime

import click

from cdpflow.cli.context import Context
from cdpflow.cli.progress import progress_bar
from cdpflow.declared import declared_dag_ids, family_of
from cdpflow.jobs import JOBS, Interval, job_function
from cdpflow.jobs.analytics import analytics_jobs, build
from cdpflow.lake.importer import parse_time
from cdpflow.settings import Settings


def _moment(name: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = parse_time(text)
    if moment is None:
        raise click.BadParameter(f"`{text}` is not an ISO date-time", param_hint=name)
    return moment


@click.command("run")
@click.argument("dag_ids", nargs=-1, required=True, metavar="DAG_ID...")
@click.option("--start", help="Interval start (ISO, UTC, inclusive).")
@click.option("--end", help="Interval end (ISO, UTC, exclusive).")
@click.option("--dry-run", is_flag=True, help="List what would change, change nothing.")
@click.option("--full-rebuild", is_flag=True, help="Rebuild the job's output from all its input.")
@click.option(
    "--allow-mass-removal",
    is_flag=True,
    help="Let this one activation run remove more than its destination's max_removal_share.",
)
@click.option(
    "--only", metavar="NAME", help="entity_creation: recompute this one entity, keep the others."
)
@click.pass_obj
def run(
    obj: Context,
    dag_ids: tuple[str, ...],
    start: str | None,
    end: str | None,
    dry_run: bool,
    full_rebuild: bool,
    allow_mass_removal: bool,
    only: str | None,
) -> None:
    """Run the jobs behind DAG_ID... in order, over an interval (default: whatever is pending).

    Analytics jobs named next to each other build as one dbt run (for example the hourly
    `cdpflow run events_unified_view attribution campaign retention`), so dbt starts once.
    Declared pipelines and destinations run by their DAG ids too (`cdpflow run elt_shop`).
    """
    settings = obj.settings
    for dag_id in dag_ids:
        _check_dag_id(dag_id, settings)
    interval = Interval(_moment("--start", start), _moment("--end", end))
    chosen = {
        "dry_run": dry_run,
        "full_rebuild": full_rebuild,
        "allow_mass_removal": allow_mass_removal,
        "only": only,
    }
    options: dict[str, object] = {name: value for name, value in chosen.items() if value}
    steps = _steps(dag_ids)
    # every step is checked before any runs: a bad option must not fail half-way through
    for step in steps:
        for option in options:
            supported = (
                {"full_rebuild"}
                if len(step) > 1
                else inspect.signature(job_function(step[0], settings)).parameters
            )
            if option not in supported:
                flag = option.replace("_", "-")
                what = f"no --{flag} option" if option == "only" else f"no {flag} mode"
                raise click.UsageError(f"{step[0]} has {what}.")
    for step in steps:
        if len(step) > 1:
            with progress_bar(" + ".join(step), unit="steps") as update:
                result = build(settings, step, full_rebuild=full_rebuild, progress=update)
        else:
            with progress_bar(step[0]) as update:
                job = job_function(step[0], settings)
                result = job(settings, interval, progress=update, **options)
        click.echo(result.summary())


def _check_dag_id(dag_id: str, settings: Settings) -> None:
    if dag_id in JOBS:
        return
    try:
        family_of(dag_id)
    except KeyError:
        known = ", ".join([*JOBS, *declared_dag_ids(settings)])
        raise click.BadParameter(
            f"`{dag_id}` is not a DAG id; use one of {known}.", param_hint="DAG_ID"
        ) from None
    job_function(dag_id, settings)  # a declared id whose file is missing says so here


def _steps(dag_ids: tuple[str, ...]) -> list[list[str]]:
    """The jobs in the order given, with neighbouring analytics jobs grouped into one step."""
    analytics = set(analytics_jobs())
    steps: list[list[str]] = []
    for dag_id in dict.fromkeys(dag_ids):
        if steps and dag_id in analytics and steps[-1][-1] in analytics:
            steps[-1].append(dag_id)
        else:
            steps.append([dag_id])
    return steps


COMMANDS = [run]
