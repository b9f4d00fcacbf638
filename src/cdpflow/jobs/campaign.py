"""campaign: campaign_performance, per day x source x medium x campaign.

Sessions, people, engaged sessions, purchases and revenue, and the revenue each attribution model
credits to the campaign.
"""

from __future__ import annotations

from cdpflow.dbt.build import AnalyticsResult, Progress, build
from cdpflow.jobs import Interval
from cdpflow.settings import Settings

JOB = "campaign"


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
