"""A lake behind an fsspec URL runs the same code as a local one (memory:// stands in for s3://)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import fsspec
import pytest
from support.analytics import add_events, event, set_identities
from support.lake import LATER

from cdpflow.engine import open_engine
from cdpflow.jobs import events_unified_view
from cdpflow.jobs.events_incremental import run
from cdpflow.lake.raw import RawWriter, Received
from cdpflow.lake.storage import Lake
from cdpflow.lake.tables import TableStore
from cdpflow.settings import load_settings


@pytest.fixture
def memory_lake_url():
    url = "memory://cdpflow-test-lake"
    yield url
    fsspec.filesystem("memory").rm("/cdpflow-test-lake", recursive=True)


def test_events_incremental_on_an_fsspec_lake(tmp_path: Path, memory_lake_url: str) -> None:
    settings = load_settings(env={"CDPFLOW_LAKE_URL": memory_lake_url}, home=tmp_path)
    lake = Lake(settings.lake_url)
    assert not lake.is_local
    at = datetime(2026, 11, 20, 13, 5, tzinfo=UTC)
    with RawWriter(lake) as writer:
        for n in range(3):
            message = {
                "type": "page",
                "messageId": f"m{n}",
                "anonymousId": "a",
                "timestamp": "2026-11-20T13:00:00Z",
            }
            writer.write(Received(at, "web", message))
    result = run(settings, now=LATER)
    assert result.written == 3
    snapshot = TableStore(lake).get("core_events")
    assert all(lake.exists(f"core_events/{f.path}") for f in snapshot.files)
    assert not (tmp_path / "lake").exists()  # nothing went to the local default
    assert list(lake.walk_files("_staging")) == []  # every staged file was promoted
    engine = open_engine(settings, lake)
    try:
        rows = engine.query("SELECT count(*) AS n FROM core_events", TableStore(lake)).to_pylist()
    finally:
        engine.close()
    assert rows == [{"n": 3}]


def test_analytics_models_on_an_fsspec_lake(tmp_path: Path, memory_lake_url: str) -> None:
    settings = load_settings(env={"CDPFLOW_LAKE_URL": memory_lake_url}, home=tmp_path)
    set_identities(settings, {"P": [("anonymous_id", "a")]})
    add_events(
        settings,
        [
            event("e1", "2026-11-20 13:00:00", anonymous_id="a", path="/"),
            event("e2", "2026-11-20 13:10:00", anonymous_id="a", path="/cart"),
        ],
    )
    events_unified_view.run(settings)
    lake = Lake(settings.lake_url)
    engine = open_engine(settings, lake)
    try:
        rows = engine.query("SELECT * FROM sessions", TableStore(lake)).to_pylist()
    finally:
        engine.close()
    assert [(r["global_user_id"], r["event_count"], r["exit_page"]) for r in rows] == [
        ("P", 2, "/cart")
    ]
    assert not (tmp_path / "lake").exists()
