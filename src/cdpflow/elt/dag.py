"""The DAG of a pipeline file: its schedule, its tasks, and the lake tables it updates (Asset
outlets).

Most types are one task running the pipeline's job. A type with a sync of its own (airbyte:
`start_sync` and `sync_done` in its module) is three: `trigger` starts the sync and passes the
job id through XCom, `wait` is a sensor in reschedule mode that asks every
CDPFLOW_AIRBYTE_POLL_SECONDS whether the job has ended and holds no worker slot in between, and
`land` runs the job for that sync's output.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from cdpflow.dag_spec import DagSpec
from cdpflow.elt.config import Pipeline, Source, load_pipeline
from cdpflow.elt.registry import source_type
from cdpflow.settings import Settings


def dag_spec(settings: Settings, name: str) -> DagSpec:
    """Reads and checks the file: a bad key raises DeclarationError naming the file and key."""
    pipeline = load_pipeline(settings, name)
    schedule = pipeline.schedule
    description = pipeline.description or (
        f"ELT pipeline `{name}` ({pipeline.type}): {', '.join(pipeline.tables)}."
    )
    add_tasks = None
    if hasattr(source_type(pipeline.type), "sync_done"):
        add_tasks = partial(
            add_sync_tasks,
            tables=pipeline.tables,
            poke_seconds=settings.airbyte_poll_seconds,
            timeout_seconds=settings.airbyte_timeout_seconds,
        )
    return DagSpec(description, lambda s: schedule, pipeline.tables, add_tasks)


def add_sync_tasks(
    dag_id: str, *, tables: tuple[str, ...], poke_seconds: int, timeout_seconds: int
) -> None:
    """trigger -> wait (reschedule-mode sensor) -> land, the sync's job id through XCom."""
    from airflow.sdk import Asset, task

    job_id: Any = task(task_id="trigger")(start_sync_in_task)(dag_id)  # an XComArg
    waited = task.sensor(
        task_id="wait", mode="reschedule", poke_interval=poke_seconds, timeout=timeout_seconds
    )(sync_done_in_task)(dag_id, job_id)
    landed = task(task_id="land", outlets=[Asset(t) for t in tables])(land_sync_in_task)(
        dag_id, job_id
    )
    waited >> landed


def start_sync_in_task(dag_id: str) -> int:
    job_id: int = _call_type(dag_id, lambda module, p, s: module.start_sync(p, s))
    return job_id


def sync_done_in_task(dag_id: str, job_id: int) -> bool:
    done: bool = _call_type(dag_id, lambda module, p, s: module.sync_done(p, s, int(job_id)))
    return done


def land_sync_in_task(dag_id: str, job_id: int) -> str:
    from cdpflow.airflow.dag_factory import run_job_in_task

    return run_job_in_task(dag_id, options={"sync_job": int(job_id)})


def _call_type(dag_id: str, call: Callable[[Any, Pipeline, Source], Any]) -> Any:
    """`call(type module, pipeline, source)` with fresh settings; a TerminalError (a failed
    job, refused credentials) fails the task without retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from cdpflow.airflow.dag_factory import airflow_settings
    from cdpflow.declared import family_of
    from cdpflow.errors import TerminalError
    from cdpflow.secrets import open_secrets

    settings = airflow_settings()
    _, name = family_of(dag_id)
    pipeline = load_pipeline(settings, name)
    try:
        return call(source_type(pipeline.type), pipeline, Source(settings, open_secrets(settings)))
    except TerminalError as err:
        raise AirflowFailException(str(err)) from err
