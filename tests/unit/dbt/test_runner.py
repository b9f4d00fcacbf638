"""What the dbt runner hands dbt and says when a build fails, without running dbt."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from cdpflow.dbt.runner import DbtBuildFailed, DbtBuildResult, NodeResult, dbt_vars, write_profile
from cdpflow.settings import load_settings


def test_the_project_vars_follow_the_settings(tmp_path: Path) -> None:
    env = {
        "CDPFLOW_SESSION_TIMEOUT_MINUTES": "45",
        "CDPFLOW_SESSION_MAX_HOURS": "12",
        "CDPFLOW_SESSION_USE_TRACKER_ID": "true",
        "CDPFLOW_CONVERSION_EVENTS": "Order Completed,signup",
        "COMPUTATION_WINDOW": "30",
        "CDPFLOW_SITE_HOSTS": "Shop.Example.com,www.shop.example.com",
    }
    variables = dbt_vars(load_settings(env=env, home=tmp_path / "home"))
    columns = variables.pop("core_events_columns")
    assert variables == {
        "session_timeout_minutes": 45,
        "session_max_hours": 12,
        "honour_tracker_session_id": True,
        "conversion_events": ["Order Completed", "signup"],
        "computation_window_days": 30,
        "site_hosts": ["shop.example.com", "www.shop.example.com"],
    }
    assert columns[:3] == ["event_id", "event_type", "event_name"] and "session_id" in columns


def test_the_profile_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    work = tmp_path / "dbt"
    target = {
        "type": "duckdb",
        "path": "/tmp/warehouse.duckdb",
        "settings": {"s3_secret_access_key": "k"},
    }
    assert write_profile(work, target) == work
    path = work / "profiles.yml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text()) == {
        "cdpflow": {"target": "lake", "outputs": {"lake": target}}
    }
    write_profile(work, {"type": "duckdb", "path": ":memory:"})  # a rewrite replaces it whole
    assert yaml.safe_load(path.read_text())["cdpflow"]["outputs"]["lake"] == {
        "type": "duckdb",
        "path": ":memory:",
    }


def test_results_are_split_by_kind() -> None:
    nodes = [
        NodeResult("ga4_source_categories", "seed", "success", 0.1),
        NodeResult("sessions", "model", "success", 2.0),
        NodeResult("not_null_sessions_session_id", "test", "pass", 0.2),
        NodeResult("attribution_weights", "unit_test", "pass", 0.3),
    ]
    result = DbtBuildResult(nodes)
    assert [n.name for n in result.seeds] == ["ga4_source_categories"]
    assert [n.name for n in result.models] == ["sessions"]
    assert [n.name for n in result.tests] == ["not_null_sessions_session_id", "attribution_weights"]


def test_a_failed_build_names_each_failed_node_or_else_dbts_own_detail() -> None:
    failed = [
        NodeResult("sessions", "model", "error", 1.0, "Binder Error: no column foo"),
        NodeResult("unique_sessions_session_id", "test", "fail", 0.1, "Got 3 results"),
    ]
    error = DbtBuildFailed(failed)
    assert error.failed == failed
    assert str(error) == (
        "dbt build failed: model `sessions` error: Binder Error: no column foo; "
        "test `unique_sessions_session_id` fail: Got 3 results. Models downstream of it were not "
        "built and nothing was published to the lake; fix the cause and re-run (after an upgrade "
        "that changed a model's columns, once with --full-rebuild)."
    )
    assert str(DbtBuildFailed([], "Compilation Error in model x")).startswith(
        "dbt build failed: Compilation Error in model x. Models downstream"
    )
