"""How a mart's new lake version is planned from the warehouse's counts per day: a day that only
gained rows gets a file of them, a day that lost or changed rows is rewritten, the rest is left
alone; and a job whose inputs no run has built yet says which job to run."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdpflow.jobs.analytics import UpstreamNotBuilt, _check_upstream, _plan
from cdpflow.lake.tables import DataFile, Snapshot


class Counts:
    """The warehouse's answer to `partition_counts`: day -> (rows, rows of runs after `since`)."""

    def __init__(self, counts: dict[str, tuple[int, int]]) -> None:
        self.counts = counts
        self.asked: list[tuple[str, str, int]] = []

    def partition_counts(self, model: str, column: str, since: int) -> dict[str, tuple[int, int]]:
        self.asked.append((model, column, since))
        return self.counts


def sessions_version(batch_id: int, rows_by_day: dict[str, list[int]]) -> Snapshot:
    files = tuple(
        DataFile(f"session_date={day}/{i}.parquet", rows, 100, f"batch:{i}", {"session_date": day})
        for day, sizes in rows_by_day.items()
        for i, rows in enumerate(sizes)
    )
    return Snapshot(
        "sessions", 3, "2026-11-20T10:00:00Z", "dbt:sessions", files, (), {"batch_id": batch_id}
    )


def plan(counts: dict[str, tuple[int, int]], base: Snapshot | None, tmp_path: Path) -> list[tuple]:
    warehouse = Counts(counts)
    plans = _plan(warehouse, "sessions", base, tmp_path)  # type: ignore[arg-type]
    return [(p.export.values, p.export.since_batch, p.rewrite) for p in plans]


def test_new_rows_are_appended_and_changed_days_rewritten(tmp_path: Path) -> None:
    base = sessions_version(7, {"2026-11-18": [40, 2], "2026-11-19": [30], "2026-11-17": [5]})
    counts = {
        "2026-11-17": (5, 0),  # unchanged: left alone
        "2026-11-18": (45, 3),  # 42 stored rows still there, 3 new: append
        "2026-11-19": (31, 2),  # 30 stored, only 29 kept: rewritten
        "2026-11-20": (8, 8),  # a new day: append
    }
    assert plan(counts, base, tmp_path) == [
        (["2026-11-19"], None, {"2026-11-19"}),
        (["2026-11-18", "2026-11-20"], 7, {"2026-11-19"}),
    ]


def test_a_day_gone_from_the_warehouse_is_rewritten_to_nothing(tmp_path: Path) -> None:
    base = sessions_version(7, {"2026-11-18": [4], "2026-11-19": [3]})
    assert plan({"2026-11-19": (3, 0)}, base, tmp_path) == [
        (["2026-11-18"], None, {"2026-11-18"}),
        ([], 7, {"2026-11-18"}),
    ]


def test_nothing_changed_plans_nothing_and_a_first_publish_plans_every_day(tmp_path: Path) -> None:
    base = sessions_version(7, {"2026-11-18": [4]})
    warehouse = Counts({"2026-11-18": (4, 0)})
    assert _plan(warehouse, "sessions", base, tmp_path) == []  # type: ignore[arg-type]
    assert warehouse.asked == [("sessions", "session_date", 7)]
    assert plan({"2026-11-18": (4, 4)}, None, tmp_path) == [
        ([], None, set()),
        (["2026-11-18"], -1, set()),
    ]


def test_an_unpartitioned_mart_is_published_whole(tmp_path: Path) -> None:
    warehouse = Counts({})
    (whole,) = _plan(warehouse, "customer_360", None, tmp_path)  # type: ignore[arg-type]
    assert (whole.export.partition_by, whole.rewrite) == (None, None)
    assert warehouse.asked == []


def test_a_job_reading_a_mart_no_run_built_names_the_job_to_run() -> None:
    built = {"sessions", "int_events_sessionized"}
    with pytest.raises(UpstreamNotBuilt) as failure:
        _check_upstream(
            "attribution", ["int_conversions_touchpoints", "attribution"], built.__contains__
        )
    assert failure.value.missing == ["conversions"]
    assert str(failure.value) == (
        "`attribution` reads conversions, which no run has built yet. "
        "Run `cdpflow run events_unified_view` first."
    )
    _check_upstream(
        "attribution",
        ["int_conversions_touchpoints", "attribution"],
        (built | {"conversions"}).__contains__,
    )
