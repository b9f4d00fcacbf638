"""The analytics jobs as a user runs them: sample traffic to marts, then derived views."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import cdpflow, sql

pytestmark = pytest.mark.e2e


def test_sample_traffic_to_marts_and_derived_views(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cdpflow(home, "generate-sample", "--days", "3", "--visitors", "150", "--seed", "7")
    for job in ("events_incremental", "id_stitching_incremental"):
        cdpflow(home, "run", job)
    built = cdpflow(home, "run", "events_unified_view").stdout
    assert "(full build)" in built and "sessions:" in built
    for job in ("attribution", "campaign", "retention"):
        assert "tests passed" in cdpflow(home, "run", job).stdout

    (core,) = sql(home, "SELECT count(DISTINCT event_id) AS n FROM core_events")
    (unique,) = sql(home, "SELECT count(*) AS n, count(global_user_id) AS known FROM unique_events")
    assert unique["n"] == core["n"] and unique["known"] > 0.9 * unique["n"]
    (orders,) = sql(home, "SELECT count(*) AS n, sum(revenue) AS revenue FROM conversions")
    assert orders["n"] > 0
    credited = sql(
        home,
        "SELECT model, count(DISTINCT order_id) AS orders, sum(revenue_credit) AS revenue "
        "FROM attribution GROUP BY 1",
    )
    assert len(credited) == 6
    for row in credited:
        assert row["orders"] == orders["n"]
        assert row["revenue"] == pytest.approx(orders["revenue"])

    views = home / "views"
    views.mkdir()
    (views / "channel_revenue.sql").write_text(
        "SELECT channel, sum(revenue) AS revenue FROM sessions GROUP BY 1"
    )
    (views / "broken.sql").write_text("SELECT * FROM no_such_mart")
    failed = cdpflow(home, "run", "derived_views", check=False)
    assert failed.returncode == 1
    assert "broken.sql" in failed.stderr and "no_such_mart" in failed.stderr
    rows = sql(home, "SELECT sum(revenue) AS revenue FROM channel_revenue")
    assert rows[0]["revenue"] == pytest.approx(orders["revenue"], rel=0.05)

    again = cdpflow(home, "run", "events_unified_view").stdout
    assert "(full build)" not in again and "0 new core_events file(s)" in again


FINGERPRINTS = {
    "sessions": "count(*), sum(hash(session_id, global_user_id, channel, event_count, revenue))",
    "attribution": "count(*), sum(hash(order_id, model, session_id)), "
    "round(sum(revenue_credit), 6)",
    "campaign_performance": "count(*), sum(hash(date, source, medium, campaign, sessions, users, "
    "new_users, conversions)), round(sum(attributed_revenue_time_decay), 6)",
    "customer_360": "count(*), sum(hash(global_user_id, sessions, orders, first_touch_channel, "
    "last_touch_channel))",
    "retention": "count(*), sum(hash(retention_type, granularity, cohort_start, period_number, "
    "cohort_size, retained_users))",
}


def test_one_command_runs_the_chain_with_one_dbt_build(tmp_path: Path) -> None:
    """`cdpflow run` with several DAG ids runs them in order; the analytics ones build together
    (one dbt run) and give the very tables the jobs give one at a time."""
    apart, together = tmp_path / "apart", tmp_path / "together"
    for home in (apart, together):
        cdpflow(home, "generate-sample", "--days", "2", "--visitors", "120", "--seed", "3")
    chain = ("events_incremental", "id_stitching_incremental", "events_unified_view")
    chain += ("attribution", "campaign", "retention")
    for job in chain:
        cdpflow(apart, "run", job)
    out = cdpflow(together, "run", *chain).stdout
    assert "events_incremental:" in out and "id_stitching_incremental" in out
    assert "events_unified_view + attribution + campaign + retention (full build)" in out
    for mart, fingerprint in FINGERPRINTS.items():
        query = f"SELECT {fingerprint} FROM {mart}"
        assert sql(together, query) == sql(apart, query), mart


def test_days_are_utc_days_whatever_the_host_time_zone(tmp_path: Path) -> None:
    """DuckDB casts a timestamp with time zone to a date in the host's zone unless told
    otherwise; 03:04 UTC on 2 January is still 1 January in New York."""
    home = tmp_path / "home"
    source = tmp_path / "export.jsonl"
    pages = [
        {
            "type": "page",
            "name": name,
            "messageId": f"p{n}",
            "anonymousId": "a1",
            "timestamp": f"2025-01-02T03:0{n}:05Z",
            "receivedAt": f"2025-01-02T03:0{n}:06Z",
            "properties": {"url": f"https://shop.example/{name.lower()}"},
        }
        for n, name in enumerate(["Home", "Shoes"], start=4)
    ]
    source.write_text("".join(json.dumps(p) + "\n" for p in pages))
    new_york = {"TZ": "America/New_York"}
    cdpflow(home, "import-events", str(source), env=new_york)
    for job in ("events_incremental", "id_stitching_incremental", "events_unified_view"):
        cdpflow(home, "run", job, env=new_york)

    def days(query: str) -> list[str]:
        out = cdpflow(home, "sql", query, "--format", "json", env=new_york).stdout
        return [row["day"] for row in json.loads(out)]

    assert days("SELECT DISTINCT event_date AS day FROM core_events") == ["2025-01-02"]
    assert days("SELECT DISTINCT event_date AS day FROM page_views") == ["2025-01-02"]
    assert days("SELECT session_date AS day FROM sessions") == ["2025-01-02"]
    assert days("SELECT CAST(TIMESTAMPTZ '2025-01-02 03:04:05+00' AS DATE) AS day") == [
        "2025-01-02"
    ]
