"""How a job is scheduled and shaped, declared without Airflow: the DAG factory
(`cdpflow.airflow`) builds DAGs from these, and the declared files' families (ELT pipelines,
activation destinations) describe their DAGs with them, without importing the factory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cdpflow.settings import Settings


@dataclass(frozen=True)
class Updates:
    """A schedule on lake tables (Airflow Assets, named as the tables): a run once any one of
    them is updated (`any_of`), or once each of them has been since the last run."""

    tables: tuple[str, ...]
    any_of: bool = False
    # also on this cron (a safety net for updates made outside Airflow), when given
    or_cron: Callable[[Settings], str] | None = None
    # tables known only from declared files at parse time (the ELT pipelines' tables)
    declared: Callable[[Settings], tuple[str, ...]] | None = None

    def condition(self, settings: Settings) -> Any:
        from airflow.sdk import (
            Asset,
            AssetAll,
            AssetAny,
            AssetOrTimeSchedule,
            CronTriggerTimetable,
        )

        tables = (*self.tables, *(self.declared(settings) if self.declared else ()))
        if not tables and self.or_cron is not None:
            return self.or_cron(settings)
        assets = [Asset(name) for name in dict.fromkeys(tables)]
        condition = AssetAny(*assets) if self.any_of else AssetAll(*assets)
        if self.or_cron is None:
            return condition
        timetable = CronTriggerTimetable(self.or_cron(settings), timezone="UTC")
        return AssetOrTimeSchedule(timetable=timetable, assets=condition)


@dataclass(frozen=True)
class DagSpec:
    """How one job is scheduled: a cron from settings, a preset, None (manual), or updates of
    lake tables; and the tables its job-wide task updates (a dbt job's marts are per task)."""

    description: str
    schedule: Callable[[Settings], str | None] | Updates
    produces: tuple[str, ...] = ()
    # adds the DAG's tasks itself (inside the DAG), for a job whose shape is not one task,
    # such as an airbyte pipeline's trigger -> wait -> land; called with the DAG id
    add_tasks: Callable[[str], None] | None = None
