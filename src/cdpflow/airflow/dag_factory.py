"""Builds cdpflow's Airflow DAGs: one DAG per job.

A job built by dbt (cdpflow.dbt) gets one task per model, named after it, wired by the models'
refs, so the models show step by step; each task builds its model with that model's dbt tests,
and a mart's task updates the Asset of its lake table. Any other job is one task calling its
function.

DAG files stay thin: each one calls `build_dag("<dag_id>")`. Parsing reads only local
configuration (cdpflow.yaml, the environment, Airflow Variables) and the dbt project's SQL files;
jobs, dbt and their heavy imports load when a task runs.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from cdpflow.dag_spec import DagSpec, Updates
from cdpflow.dbt.models import Model, marts, models_of
from cdpflow.errors import TerminalError
from cdpflow.jobs import job_function
from cdpflow.runs import Interval
from cdpflow.settings import SETTINGS, Settings, load_settings

log = logging.getLogger(__name__)
DAGS_FOLDER = Path(__file__).parent / "dags"


def elt_tables(settings: Settings) -> tuple[str, ...]:
    """Every ELT pipeline's lake tables (identity stitching reads those its mapping names)."""
    from cdpflow.elt.config import declared_pipelines

    return tuple(t for p in declared_pipelines(settings) for t in p.tables)


def elt_role_tables(settings: Settings) -> tuple[str, ...]:
    """The ELT tables with a role (orders, customers), which the analytics read."""
    from cdpflow.elt.config import role_tables
    from cdpflow.roles import ROLES

    return tuple(table for role in ROLES for table, _ in role_tables(settings, role))


def declared_tables(settings: Settings) -> tuple[str, ...]:
    """The lake tables the declared DAGs update (ELT pipelines' tables, activation records); a
    broken file is left out, its own DAG reports it."""
    from cdpflow.declared import FAMILIES, DeclarationError, load_function

    tables: list[str] = []
    for family in FAMILIES:
        spec = load_function(family.spec)
        for name in family.names(settings):
            try:
                tables += spec(settings, name).produces
            except DeclarationError as err:
                log.warning("%s `%s` left out: %s", family.noun, name, err)
    return tuple(tables)


SPECS: dict[str, DagSpec] = {
    "one_time_setup": DagSpec(
        "Create the lake layout, empty tables and default configuration; backfill raw data.",
        lambda s: None,
        ("core_events", "quarantine_events"),
    ),
    "events_incremental": DagSpec(
        "Flatten every closed raw hour into core_events (late files are picked up).",
        lambda s: s.events_incremental_schedule_interval,
        ("core_events", "quarantine_events"),
    ),
    "id_stitching_incremental": DagSpec(
        "Maintain the identity graph: a stable global_user_id per person.",
        Updates(
            (),
            any_of=True,
            or_cron=lambda s: s.id_stitching_incremental_schedule_interval,
            declared=elt_tables,
        ),
        ("identities",),
    ),
    "events_unified_view": DagSpec(
        "Fold new core_events into unique_events with global_user_id; sessions, page_views, "
        "conversions and customer_360.",
        Updates(("core_events", "identities"), any_of=True, declared=elt_role_tables),
    ),
    "attribution": DagSpec(
        "Credit conversions to the sessions that led to them, under six attribution models.",
        Updates(("sessions", "conversions")),
    ),
    "retention": DagSpec(
        "Activity and purchase retention cohorts by day, week and month.",
        Updates(("unique_events", "conversions")),
    ),
    "campaign": DagSpec(
        "campaign_performance per day, source, medium and campaign, with attributed revenue.",
        Updates(("attribution",)),
    ),
    "derived_views": DagSpec(
        "Re-create the SQL views users keep in CDPFLOW_HOME over the marts.",
        Updates(tuple(marts()), any_of=True),
    ),
    "entity_creation": DagSpec(
        "Materialize the segments and funnels declared in CDPFLOW_HOME/entities.",
        Updates(("customer_360", "unique_events"), any_of=True),
        ("segment_members", "segment_changes", "segment_sizes", "funnel_people", "funnel_steps"),
    ),
    "compression": DagSpec(
        "Rewrite closed partitions' small files into few sorted ones.",
        lambda s: "@daily",
    ),
    "cleanup_temp_tables": DagSpec(
        "Remove replaced files, unfinished writes and temporary tables past their retention.",
        lambda s: "@daily",
    ),
    "billing": DagSpec(
        "E-mail last month's cost: task hours x instance price, lake storage, trend.",
        lambda s: "0 6 1 * *",
    ),
    "delete_idle_db_connections": DagSpec(
        "Terminate PostgreSQL connections idle past the threshold.",
        lambda s: s.schedule_interval_delete_idle_connections,
    ),
    "activation_stats": DagSpec(
        "Per destination and day: runs, counts, members acknowledged vs. the channel's size.",
        lambda s: "30 0 * * *",
        ("activation_stats",),
    ),
    "scan_report_runs_and_send_email": DagSpec(
        "E-mail the reports of CDPFLOW_HOME/reports whose cron slot fell due, each slot once.",
        lambda s: s.user_reporting_schedule_interval,
        ("report_runs",),
    ),
}

# Every lake table Airflow knows as an Asset (the declared DAGs' too): after any one updates,
# Superset's datasets follow; their own Asset (not a lake table) then schedules the dashboards'
# sync.
SUPERSET_DATASETS = "superset_datasets"
SPECS["sync_superset_tables"] = DagSpec(
    "Keep a Superset dataset per lake table, on its current files and columns.",
    Updates(
        tuple(dict.fromkeys((*marts(), *(t for spec in SPECS.values() for t in spec.produces)))),
        any_of=True,
        or_cron=lambda s: s.user_reporting_schedule_interval,
        declared=declared_tables,
    ),
    (SUPERSET_DATASETS,),
)
SPECS["sync_superset_dashboard"] = DagSpec(
    "Import the shipped and the user's Superset dashboard bundles that are new or changed.",
    Updates(
        (SUPERSET_DATASETS,), any_of=True, or_cron=lambda s: s.user_reporting_schedule_interval
    ),
)


def airflow_settings() -> Settings:
    """Settings with Airflow Variables as the top layer (Variables named as the settings)."""
    from airflow.sdk import Variable

    variables = {s.key: Variable.get(s.key, default=None) for s in SETTINGS}
    return load_settings(airflow_variables=variables)


def build_dag(dag_id: str) -> Any:
    """The DAG of job `dag_id`, configured from the settings visible at parse time."""
    return job_dag(dag_id, SPECS[dag_id], airflow_settings())


def job_dag(dag_id: str, spec: DagSpec, settings: Settings) -> Any:
    """A DAG running job `dag_id` as `spec` schedules it (declared DAGs come here too)."""
    from airflow.sdk import DAG, Asset, task

    schedule: Any
    if isinstance(spec.schedule, Updates):
        schedule = spec.schedule.condition(settings)
    else:
        schedule = spec.schedule(settings)
    start = settings.airflow_start_date
    default_args = {
        "owner": "cdpflow",
        "retries": settings.task_retries,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "on_failure_callback": notify_failure,
    }
    with DAG(
        dag_id=dag_id,
        description=spec.description,
        schedule=schedule,
        start_date=start if start.tzinfo else start.replace(tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args=default_args,
        tags=["cdpflow"],
    ) as dag:
        models = models_of(dag_id)
        if spec.add_tasks is not None:
            spec.add_tasks(dag_id)
        elif models:
            add_model_tasks(dag_id, models)
        else:
            outlets = [Asset(name) for name in spec.produces]
            task(task_id=dag_id, outlets=outlets)(run_job_in_task)(dag_id)
    return dag


def add_model_tasks(dag_id: str, models: list[Model]) -> None:
    """One task per dbt model (`models` upstream first), downstream of the models it refs."""
    from airflow.sdk import Asset, task

    tasks: dict[str, Any] = {}
    for model in models:
        tasks[model.name] = task(
            task_id=model.name,
            outlets=[Asset(model.name)] if model.name in marts() else [],
            doc_md=model_doc(model),
        )(run_job_in_task)(dag_id, model.name)
        for ref in model.refs:
            if ref in tasks:
                tasks[ref] >> tasks[model.name]


def model_doc(model: Model) -> str:
    published = f", then publishes lake table `{model.name}`" if model.name in marts() else ""
    return (
        f"`dbt build --select {model.name}`: the {model.layer} model and its dbt tests{published}."
    )


def run_job_in_task(
    dag_id: str, model: str | None = None, options: dict[str, Any] | None = None
) -> str:
    """Run the job (only dbt model `model` when given; with extra keyword `options`) with fresh
    settings; a TerminalError, such as a failed dbt test, fails the task without retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from cdpflow.airflow.connections import job_options

    settings = airflow_settings()
    options = {**job_options(dag_id, settings), **(options or {})}
    if model is not None:
        options["models"] = [model]
    try:
        result = job_function(dag_id, settings)(settings, Interval(), **options)
    except TerminalError as err:
        raise AirflowFailException(str(err)) from err
    summary = str(result.summary())
    log.info(summary)
    return summary


def notify_failure(context: dict[str, Any]) -> None:
    """E-mail AIRFLOW_DAG_FAILED_EMAIL about a failed task; never raises into Airflow."""
    from cdpflow.notify.email import send_email

    try:
        settings = airflow_settings()
        if not settings.airflow_dag_failed_email:
            return
        ti = context.get("ti") or context.get("task_instance")
        dag_id = getattr(ti, "dag_id", "?")
        task_id = getattr(ti, "task_id", "?")
        run_id = getattr(ti, "run_id", context.get("run_id", "?"))
        error = context.get("exception")
        subject = f"[cdpflow] {dag_id}.{task_id} failed"
        text = (
            f"DAG: {dag_id}\nTask: {task_id}\nRun: {run_id}\n"
            f"Try: {getattr(ti, 'try_number', '?')}\n\nError: {error}\n"
        )
        send_email(settings, settings.airflow_dag_failed_email, subject, text)
    except Exception:
        log.exception("could not send the failure e-mail")
