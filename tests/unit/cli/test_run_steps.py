"""`cdpflow run` with several DAG ids: the order kept, neighbouring analytics jobs built as one."""

from __future__ import annotations

from cdpflow.cli.run_cmd import _steps
from cdpflow.jobs.analytics import analytics_jobs


def test_the_analytics_jobs_are_the_dbt_ones() -> None:
    assert analytics_jobs() == ("attribution", "campaign", "events_unified_view", "retention")


def test_neighbouring_analytics_jobs_build_together_in_the_order_given() -> None:
    steps = _steps(
        (
            "events_incremental",
            "id_stitching_incremental",
            "events_unified_view",
            "attribution",
            "derived_views",
            "campaign",
            "retention",
            "attribution",  # named twice: runs once
        )
    )
    assert steps == [
        ["events_incremental"],
        ["id_stitching_incremental"],
        ["events_unified_view", "attribution"],
        ["derived_views"],
        ["campaign", "retention"],
    ]
