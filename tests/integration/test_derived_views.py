"""derived_views: SQL files in $CDPFLOW_HOME/views become views; a broken one stops no other."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from support.analytics import add_events, event

from cdpflow.jobs import derived_views
from cdpflow.jobs.derived_views import BrokenViews
from cdpflow.settings import Settings


def write_views(settings: Settings, **files: str) -> Path:
    folder = settings.home / "views"
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (folder / name.replace("__", ".")).write_text(sql)
    return folder


@pytest.fixture
def shop(settings: Settings) -> Settings:
    add_events(
        settings,
        [
            event("a", "2024-03-04 10:00:00", anonymous_id="x", path="/"),
            event("b", "2024-03-04 10:01:00", anonymous_id="x", path="/cart"),
            event("c", "2024-03-05 10:00:00", anonymous_id="y", path="/"),
        ],
    )
    return settings


def test_views_read_tables_and_each_other_and_a_broken_one_stops_none(
    shop: Settings, query: Callable[[str], list[dict[str, Any]]]
) -> None:
    write_views(
        shop,
        # defined before the view it reads: the job creates views in dependency order
        busy_days__sql="SELECT day FROM daily_devices WHERE devices > 1;",
        daily_devices__sql=(
            "SELECT event_date AS day, count(DISTINCT anonymous_id) AS devices\n"
            "FROM core_events GROUP BY 1"
        ),
        typo__sql="SELECT no_such_column FROM core_events",
        core_events__sql="SELECT 1",
    )
    with pytest.raises(BrokenViews) as failure:
        derived_views.run(shop)
    message = str(failure.value)
    assert "typo.sql" in message and "no_such_column" in message
    assert "core_events.sql" in message and "is a lake table" in message
    assert failure.value.result.created == ["busy_days", "daily_devices"]
    assert query("SELECT * FROM daily_devices ORDER BY day") == [
        {"day": date(2024, 3, 4), "devices": 1},
        {"day": date(2024, 3, 5), "devices": 1},
    ]
    assert query("SELECT count(*) AS n FROM busy_days") == [{"n": 0}]


def test_a_removed_file_drops_its_view(
    shop: Settings, query: Callable[[str], list[dict[str, Any]]]
) -> None:
    folder = write_views(shop, pages__sql="SELECT path FROM core_events")
    derived_views.run(shop)
    assert len(query("SELECT * FROM pages")) == 3
    (folder / "pages.sql").unlink()
    result = derived_views.run(shop)
    assert result.dropped == ["pages"] and result.created == []
    with pytest.raises(Exception, match="pages"):
        query("SELECT * FROM pages")
