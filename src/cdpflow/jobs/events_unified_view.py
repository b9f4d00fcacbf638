"""events_unified_view: unique_events, sessions, page_views, conversions and customer_360.

Folds the core_events files added since the last run into unique_events (each event once, with
its global_user_id), re-sessionizes the devices those events touch, and publishes the marts to
the lake. The models and their tests are dbt (`cdpflow/dbt/project`); see cdpflow.dbt.build.
"""

from __future__ import annotations

from cdpflow.dbt.build import AnalyticsResult, Progress, build
from cdpflow.jobs import Interval
from cdpflow.settings import Settings

JOB = "events_unified_view"


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
