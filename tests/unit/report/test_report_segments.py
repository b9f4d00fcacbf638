"""The report's segment section: sizes as entity_creation last computed them."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
from support.entities import put_table

from cdpflow.report import build_report
from cdpflow.settings import Settings

SESSIONS = pa.schema(
    [("session_date", pa.date32()), ("channel", pa.string()), ("revenue", pa.float64())]
)
SIZES = pa.schema(
    [
        ("segment", pa.string()),
        ("day", pa.date32()),
        ("size", pa.int64()),
        ("entered", pa.int64()),
        ("exited", pa.int64()),
    ]
)
SESSION_COLUMNS = (("session_date", "date"), ("channel", "string"), ("revenue", "float64"))
SIZE_COLUMNS = (
    ("segment", "string"), ("day", "date"), ("size", "int64"),
    ("entered", "int64"), ("exited", "int64"),
)  # fmt: skip


def _section(settings: Settings, sizes: list[dict]) -> list[dict]:
    sessions = [
        {"session_date": date(2026, 12, d), "channel": "Direct", "revenue": 0.0} for d in (4, 5, 6)
    ]
    put_table(settings, "sessions", sessions, SESSIONS, SESSION_COLUMNS)
    put_table(settings, "segment_sizes", sizes, SIZES, SIZE_COLUMNS)
    report = build_report(settings, days=2)
    assert (report.start, report.end) == (date(2026, 12, 5), date(2026, 12, 6))
    (section,) = [s for s in report.sections if s.key == "segments"]
    return section.rows


def test_segments_computed_after_the_last_session_day_are_shown(settings: Settings) -> None:
    """Just after midnight UTC the day's first hour of traffic is not closed, so the latest
    session day is yesterday while entity_creation has computed today's sizes."""
    rows = _section(
        settings,
        [{"segment": "vip", "day": date(2026, 12, 7), "size": 4, "entered": 4, "exited": 0}],
    )
    assert rows == [{"segment": "vip", "size": 4, "entered": 4, "exited": 0}]


def test_sizes_are_the_latest_and_moves_are_counted_from_the_period_start(
    settings: Settings,
) -> None:
    day = {"segment": "vip", "exited": 0}
    rows = _section(
        settings,
        [
            {**day, "day": date(2026, 12, 3), "size": 10, "entered": 10},  # before the period
            {**day, "day": date(2026, 12, 5), "size": 12, "entered": 2},
            {"segment": "vip", "day": date(2026, 12, 7), "size": 11, "entered": 1, "exited": 2},
            {**day, "segment": "lapsed", "day": date(2026, 12, 6), "size": 30, "entered": 30},
        ],
    )
    assert rows == [
        {"segment": "lapsed", "size": 30, "entered": 30, "exited": 0},
        {"segment": "vip", "size": 11, "entered": 3, "exited": 2},
    ]
