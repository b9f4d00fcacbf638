"""retention: activity and purchase retention cohorts by day, ISO week and month.

PostHog's first-occurrence retention over global_user_id.
"""

from __future__ import annotations

from cdpflow.dbt.build import AnalyticsResult, Progress, build
from cdpflow.jobs import Interval
from cdpflow.settings import Settings

JOB = "retention"


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
