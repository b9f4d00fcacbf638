"""Jobs: one module per DAG id, each a plain function `run(settings, interval)`.

The CLI (`cdpflow run <dag_id>`) and the Airflow DAG files call the same functions.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from cdpflow.runs import Interval, JobAlreadyRunning, job_lock
from cdpflow.settings import Settings

__all__ = ["JOBS", "Interval", "JobAlreadyRunning", "job_function", "job_lock"]

# dag id -> module under cdpflow.jobs; the jobs that exist in this release.
JOBS = (
    "events_incremental",
    "one_time_setup",
    "compression",
    "cleanup_temp_tables",
    "id_stitching_incremental",
    "delete_idle_db_connections",
    "billing",
    "events_unified_view",
    "attribution",
    "campaign",
    "retention",
    "derived_views",
    "sync_superset_tables",
    "sync_superset_dashboard",
    "activation_stats",
    "entity_creation",
    "scan_report_runs_and_send_email",
)


def job_function(dag_id: str, settings: Settings) -> Callable[..., Any]:
    """The `run(settings, interval, **options)` behind a DAG id: a job of JOBS or a declared
    file's job (an ELT pipeline, an activation destination); KeyError when there is none."""
    if dag_id in JOBS:
        run: Callable[..., Any] = importlib.import_module(f"cdpflow.jobs.{dag_id}").run
        return run
    from cdpflow.declared import declared_job

    return declared_job(dag_id, settings)
