"""Which slot of a report a scan sends, worked by hand: a new report's latest slot only, the
slots missed while no scan ran as one late mail, a failed send retried, cron in the report's
time zone across a daylight-saving change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cdpflow.jobs import scan_report_runs_and_send_email as scan
from cdpflow.jobs.scan_report_runs_and_send_email import (
    Due,
    due_slot,
    held,
    late_notice,
    latest_slot,
    scan_gap,
    slots_between,
)
from cdpflow.report.runs import CLAIM_LEASE, FAILED, PENDING, SENT, SlotState
from cdpflow.report.schedules import ReportSpec

BERLIN = ZoneInfo("Europe/Berlin")
DAY = datetime(2026, 11, 20, tzinfo=UTC)
LATE_AFTER = timedelta(hours=1, minutes=10)  # an hourly scan plus its slack


def at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    return DAY + timedelta(days=days, hours=hour, minutes=minute)


def daily(timezone: str = "UTC") -> ReportSpec:
    return ReportSpec(
        "daily",
        str(Path("daily.yml")),
        "0 8 * * *",
        ("a@b.co",),
        timezone=timezone,
        builtin="overview",
    )


def sent(slot: datetime) -> SlotState:
    return SlotState(SENT, slot + timedelta(minutes=5))


def test_the_latest_slot_is_at_or_before_now_in_the_reports_time_zone() -> None:
    assert latest_slot("0 8 * * *", at(8), ZoneInfo("UTC")) == at(8)
    assert latest_slot("0 8 * * *", at(7, 59), ZoneInfo("UTC")) == at(8, days=-1)
    # 08:00 in Berlin is 07:00 UTC in winter, 06:00 UTC in summer
    assert latest_slot("0 8 * * *", at(7, 30), BERLIN) == at(7)
    summer = datetime(2026, 7, 1, 6, 30, tzinfo=UTC)
    assert latest_slot("0 8 * * *", summer, BERLIN) == summer.replace(minute=0)


def test_slots_between_excludes_the_start_includes_now_and_follows_daylight_saving() -> None:
    # Berlin moves to summer time on Sunday 2026-03-29
    after = datetime(2026, 3, 27, 7, tzinfo=UTC)  # the 27th's slot, already handled
    now = datetime(2026, 3, 30, 6, tzinfo=UTC)  # exactly the 30th's slot
    assert slots_between("0 8 * * *", after, now, BERLIN) == [
        datetime(2026, 3, 28, 7, tzinfo=UTC),
        datetime(2026, 3, 29, 6, tzinfo=UTC),
        datetime(2026, 3, 30, 6, tzinfo=UTC),
    ]
    assert slots_between("0 8 * * *", now, now + timedelta(hours=23), BERLIN) == []


def test_counting_stops_at_the_cap_and_keeps_the_latest_slot_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scan, "MAX_COUNTED_SLOTS", 3)
    slots = slots_between("0 * * * *", at(0), at(10, 30), ZoneInfo("UTC"))
    assert slots == [at(1), at(2), at(10)]


@pytest.mark.parametrize(
    ("cron", "gap"),
    [
        ("*/30 * * * *", timedelta(minutes=30)),
        ("0 * * * *", timedelta(hours=1)),
        ("@daily", timedelta(days=1)),
    ],
)
def test_the_scan_gap_is_the_scans_own_interval(cron: str, gap: timedelta) -> None:
    assert scan_gap(cron, at(9, 40)) == gap


def test_a_new_report_sends_its_latest_slot_not_its_history() -> None:
    assert due_slot(daily(), {}, at(8, 5, days=3), LATE_AFTER) == Due(
        at(8, days=3), False, 0, False
    )


def test_a_sent_slot_is_not_sent_again_until_the_next_one_falls_due() -> None:
    states = {at(8): sent(at(8))}
    assert due_slot(daily(), states, at(7, 59, days=1), LATE_AFTER) is None
    assert due_slot(daily(), states, at(8, 0, days=1), LATE_AFTER) == Due(
        at(8, days=1), False, 0, False
    )


def test_slots_missed_while_no_scan_ran_go_once_late_counting_the_others() -> None:
    states = {at(8): sent(at(8))}
    due = due_slot(daily(), states, at(9, 40, days=3), LATE_AFTER)
    assert due == Due(at(8, days=3), late=True, missed=2, retry=False)


def test_a_failed_send_is_retried_on_time_and_later_late() -> None:
    states = {at(8): SlotState(FAILED, at(8, 5))}
    assert due_slot(daily(), states, at(8, 35), LATE_AFTER) == Due(at(8), False, 0, True)
    assert due_slot(daily(), states, at(9, 11), LATE_AFTER) == Due(at(8), True, 0, True)
    # a newer slot fell due meanwhile: the newer one goes, standing for the failed one
    assert due_slot(daily(), states, at(8, 5, days=1), LATE_AFTER) == Due(
        at(8, days=1), False, 1, False
    )


def test_a_failure_before_the_last_sent_slot_is_not_retried() -> None:
    states = {at(8): SlotState(FAILED, at(8, 5)), at(8, days=1): sent(at(8, days=1))}
    assert due_slot(daily(), states, at(9, days=1), LATE_AFTER) is None


def test_a_slot_claimed_within_the_lease_holds_the_report() -> None:
    states = {at(8, days=-1): sent(at(8, days=-1)), at(8): SlotState(PENDING, at(8, 5))}
    assert held(states, at(8, 5) + CLAIM_LEASE - timedelta(seconds=1))
    assert not held(states, at(8, 5) + CLAIM_LEASE)
    assert not held({at(8): sent(at(8))}, at(8, 6))


def test_the_late_notice_says_when_and_why_in_the_reports_time_zone() -> None:
    spec = daily("Europe/Berlin")
    assert late_notice(spec, Due(at(7), False, 0, False), at(7, 5)) is None
    assert late_notice(spec, Due(at(7), True, 2, False), at(9, 40, days=3)) == (
        "Sent late: this report fell due at 2026-11-20 08:00 CET and goes out at "
        "2026-11-23 10:40 CET, because no scan ran in between (Airflow was down or paused). "
        "2 earlier slots fell due meanwhile; this one mail stands for them, with the data as of "
        "now."
    )
    assert late_notice(spec, Due(at(7), True, 1, True), at(9)) == (
        "Sent late: this report fell due at 2026-11-20 08:00 CET and goes out at "
        "2026-11-20 10:00 CET, because its send failed until now. 1 earlier slot fell due "
        "meanwhile; this one mail stands for them, with the data as of now."
    )
