"""Which partitions compaction rewrites: closed days (not today's) with several files of which
some are small, within the interval when one is given."""

from __future__ import annotations

from datetime import UTC, datetime

from cdpflow.jobs import Interval
from cdpflow.jobs.compression import CompressionResult, TableCompaction, _candidates
from cdpflow.lake.tables import DataFile

TARGET = 1000  # a file under half of it is small


def part(day: str, name: str, size: int) -> DataFile:
    return DataFile(f"event_date={day}/{name}.parquet", 1, size, name, {"event_date": day})


FILES = (
    part("2026-11-18", "a", 100),
    part("2026-11-18", "b", 900),
    part("2026-11-19", "c", 600),  # two files, neither small: left as they are
    part("2026-11-19", "d", 500),
    part("2026-11-17", "e", 10),  # one file, however small: nothing to merge
    part("2026-11-20", "f", 10),  # today: still being written
    part("2026-11-20", "g", 10),
    part("2026-11-16", "h", 499),
    part("2026-11-16", "i", 499),
)


def paths(chosen: dict[str, list[DataFile]]) -> dict[str, list[str]]:
    return {day: [f.path.split("/")[1] for f in group] for day, group in chosen.items()}


def test_closed_days_with_several_files_some_small_are_chosen() -> None:
    assert paths(_candidates(FILES, "2026-11-20", TARGET, None)) == {
        "2026-11-16": ["h.parquet", "i.parquet"],
        "2026-11-18": ["a.parquet", "b.parquet"],
    }


def test_an_interval_limits_the_days_both_ends_included() -> None:
    interval = Interval(datetime(2026, 11, 17, tzinfo=UTC), datetime(2026, 11, 18, 23, tzinfo=UTC))
    assert list(_candidates(FILES, "2026-11-20", TARGET, interval)) == ["2026-11-18"]
    assert list(
        _candidates(FILES, "2026-11-20", TARGET, Interval(end=datetime(2026, 11, 17, tzinfo=UTC)))
    ) == ["2026-11-16"]


def test_the_summary_lists_each_table() -> None:
    assert CompressionResult().summary() == "compression: no tables."
    result = CompressionResult(
        [
            TableCompaction("core_events", 2, 40, 2, 4_000_000, 3_500_000, 7),
            TableCompaction("sessions"),
        ],
        warehouse_vacuum_seconds=1.34,
    )
    assert result.summary() == (
        "compression: core_events: 2 partition(s), files 40 -> 2, bytes 4,000,000 -> "
        "3,500,000 (version 7)\n"
        "compression: sessions: nothing to compact.\n"
        "compression: analytics warehouse vacuumed in 1.3s"
    )
