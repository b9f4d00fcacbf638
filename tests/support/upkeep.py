"""Small days of events for the upkeep jobs (compression, cleanup): three hours of a day, and a
checksum of core_events that changes with any row."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from cdpflow.events import schema as events_schema
from cdpflow.lake.raw import Received

DAY = datetime(2026, 11, 20, tzinfo=UTC)
CHECKSUM = (
    "SELECT count(*) AS n, count(DISTINCT event_id) AS ids, "
    "sum(hash(event_id, event_time, properties, anonymous_id)) AS h FROM core_events"
)


def a_file_per_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hours of a few rows each get files of their own, as large hours do, so days have
    several files to compact."""
    monkeypatch.setattr(events_schema, "FILE_ROWS", 1)


def event(n: int, at: datetime) -> dict:
    return {
        "type": "track",
        "event": "Product Viewed",
        "messageId": f"m-{n}",
        "anonymousId": f"a-{n % 7}",
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "properties": {"n": n},
    }


def three_hours(land: Callable[[list[Received]], None]) -> None:
    """Forty events in each of hours 9, 10 and 11 of DAY."""
    items = []
    for hour in (9, 10, 11):
        for n in range(hour * 100, hour * 100 + 40):
            at = DAY + timedelta(hours=hour, minutes=n % 60)
            items.append(Received(at, "web", event(n, at)))
    land(items)
