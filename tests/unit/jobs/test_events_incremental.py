"""Which raw hours a run processes, and how they are grouped into commits: an hour whose files
changed is redone, open hours wait, hours sharing a compacted file go together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cdpflow.errors import TerminalError
from cdpflow.jobs import Interval
from cdpflow.jobs.events_incremental import (
    EventsIncrementalResult,
    _groups,
    _partition_date,
    _units,
    select_hours,
)
from cdpflow.lake.raw import RawHour
from cdpflow.lake.tables import DataFile

T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)


def hour(offset: int, *sizes: int) -> RawHour:
    at = T0 + timedelta(hours=offset)
    folder = f"raw_events/date={at:%Y-%m-%d}/hour={at:%H}"
    return RawHour(
        at, tuple((f"{folder}/part-{i}.jsonl.gz", s) for i, s in enumerate(sizes or (100,)))
    )


def keys(hours: list[RawHour]) -> list[str]:
    return [h.key for h in hours]


def test_a_default_run_takes_closed_hours_that_are_new_or_changed() -> None:
    done, changed, new, closing, still_open = hour(0), hour(1), hour(2), hour(3), hour(4)
    processed = {done.key: done.fingerprint, changed.key: hour(1, 50).fingerprint}
    now = T0 + timedelta(hours=4, minutes=59)  # hour 3 ended a minute ago, hour 4 is open
    chosen = select_hours([done, changed, new, closing, still_open], processed, Interval(), now)
    assert keys(chosen) == ["2026-11-20T11", "2026-11-20T12", "2026-11-20T13"]


def test_an_interval_redoes_its_hours_processed_or_not_and_open_ones_too() -> None:
    hours = [hour(0), hour(1), hour(2), hour(3)]
    processed = {h.key: h.fingerprint for h in hours}
    window = Interval(T0 + timedelta(hours=1), T0 + timedelta(hours=3))
    assert keys(select_hours(hours, processed, window, T0)) == ["2026-11-20T11", "2026-11-20T12"]
    after = Interval(start=T0 + timedelta(hours=2))
    assert keys(select_hours(hours, processed, after, T0)) == ["2026-11-20T12", "2026-11-20T13"]


def test_the_fingerprint_follows_file_names_and_sizes() -> None:
    assert hour(0, 100).fingerprint == hour(0, 100).fingerprint
    assert hour(0, 100).fingerprint != hour(0, 101).fingerprint
    assert hour(0, 100).fingerprint != hour(0, 100, 1).fingerprint


def compacted(*hours: RawHour) -> DataFile:
    return DataFile("event_date=2026-11-20/c.parquet", 10, 1000, ",".join(h.key for h in hours))


def test_hours_sharing_a_compacted_file_are_one_unit_grown_to_a_closure() -> None:
    h = [hour(i) for i in range(6)]
    # redoing hour 1 means redoing hour 0, whose file it shares, and so hour 2 (the file of
    # hours 0 and 2 comes first, so it takes a second look to find it)
    files = [
        compacted(h[0], h[2]),
        compacted(h[0], h[1]),
        DataFile("event_date=2026-11-20/h4.parquet", 5, 500, h[4].key),
    ]
    units = _units([h[1], h[4]], h, files)
    assert [keys(u) for u in units] == [
        ["2026-11-20T10", "2026-11-20T11", "2026-11-20T12"],
        ["2026-11-20T14"],
    ]


def test_redoing_an_hour_whose_compacted_file_holds_a_lost_hour_changes_nothing() -> None:
    h = [hour(0), hour(1)]
    gone = hour(-30)
    with pytest.raises(TerminalError, match=r"also holds hours \['2026-11-19T04'\]"):
        _units([h[1]], h, [compacted(gone, h[1])])


def test_units_are_batched_up_to_the_byte_budget_and_never_split() -> None:
    a, b, c, d = [hour(0, 300)], [hour(1, 300), hour(2, 400)], [hour(3, 1200)], [hour(4, 600)]
    groups = _groups([a, b, c, d], max_bytes=1000)
    assert [keys(g) for g in groups] == [
        ["2026-11-20T10", "2026-11-20T11", "2026-11-20T12"],
        ["2026-11-20T13"],  # over the budget alone: still one commit
        ["2026-11-20T14"],
    ]
    assert _groups([], 1000) == []


def test_a_last_group_under_a_quarter_of_the_budget_joins_the_one_before() -> None:
    full = [[hour(i, 500)] for i in range(4)]
    assert [keys(g) for g in _groups([*full, [hour(4, 249)]], max_bytes=1000)] == [
        ["2026-11-20T10", "2026-11-20T11"],
        ["2026-11-20T12", "2026-11-20T13", "2026-11-20T14"],
    ]
    assert [keys(g) for g in _groups([*full, [hour(4, 250)]], max_bytes=1000)] == [
        ["2026-11-20T10", "2026-11-20T11"],
        ["2026-11-20T12", "2026-11-20T13"],
        ["2026-11-20T14"],
    ]
    assert [keys(g) for g in _groups([[hour(0, 10)]], max_bytes=1000)] == [["2026-11-20T10"]]


@pytest.mark.parametrize(
    ("value", "day"),
    [
        ("2026-11-20", datetime(2026, 11, 20).date()),
        ("10000-01-01", None),
        ("infinity", None),
        ("", None),
    ],
)
def test_an_odd_partition_value_is_no_date(value: str, day: object) -> None:
    assert _partition_date(value) == day


def test_the_summary_says_when_waiting_messages_are_processed() -> None:
    result = EventsIncrementalResult(
        hours=["2026-11-20T10", "2026-11-20T11"],
        read=1200,
        written=1100,
        duplicates=60,
        quarantined=40,
        seconds=2.0,
        waiting=7,
        waiting_until=datetime(2026, 11, 20, 13, tzinfo=UTC),
    )
    assert result.summary() == (
        "events_incremental: 2 raw hour(s) 2026-11-20T10 .. 2026-11-20T11: read 1,200, "
        "written 1,100, duplicates 60, quarantined 40 in 2.0s (600 events/s)\n"
        "7 message(s) wait in raw hours that are still open; the first run after "
        "2026-11-20T13:00:00Z processes them, or `--end 2026-11-20T13:00:00Z` takes them now."
    )
    assert EventsIncrementalResult().summary() == "events_incremental: no raw hours to process."
