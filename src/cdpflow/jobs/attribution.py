"""attribution: credit every conversion to the sessions that led to it, under six models.

first_touch, last_touch, last_non_direct, linear, position_based (40/20/40) and time_decay (7-day
half-life) over the sessions of the converting person within COMPUTATION_WINDOW days.
"""

from __future__ import annotations

from cdpflow.dbt.build import AnalyticsResult, Progress, build
from cdpflow.jobs import Interval
from cdpflow.settings import Settings

JOB = "attribution"


def run(
    settings: Settings,
    interval: Interval | None = None,
    *,
    models: list[str] | None = None,
    full_rebuild: bool = False,
    progress: Progress | None = None,
) -> AnalyticsResult:
    """Build the job's models (or just `models`) with their dbt tests and publish the marts.

    The models read whatever their inputs hold now, so `interval` is not used.
    """
    return build(settings, JOB, models=models, full_rebuild=full_rebuild, progress=progress)
