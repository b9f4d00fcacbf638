"""Jobs: one module per DAG id, each a plain function `run(settings, interval)`.

The CLI (`cdpflow run <dag_id>`) and the Airflow DAG files call the same functions.
"""

from __future__ import annotations

import fcntl
import importlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cdpflow.errors import TransientError
from cdpflow.settings import Settings

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


@dataclass(frozen=True)
class Interval:
    """A data interval [start, end); either end open means "as far as there is data"."""

    start: datetime | None = None
    end: datetime | None = None


class JobAlreadyRunning(TransientError):
    def __init__(self, job: str) -> None:
        self.job = job
        super().__init__(
            f"Another `{job}` run holds its lock, so this one did nothing. "
            "It will be retried; runs of one job never overlap."
        )


@contextmanager
def job_lock(settings: Settings, job: str, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the job's lock so two runs of one job never write the same tables at once; wait up
    to `wait_seconds` for it (runs that merely take turns wait, a second run of a job does not)."""
    locks = settings.work_dir / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks / f"{job}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as err:
                if time.monotonic() >= deadline:
                    raise JobAlreadyRunning(job) from err
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)
