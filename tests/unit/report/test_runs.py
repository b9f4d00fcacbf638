"""What `report_runs` says of a report's slots: the last row of a slot wins, and a claim holds
its slot for CLAIM_LEASE only (a scan that died must not block the report forever)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cdpflow.report.runs import CLAIM_LEASE, FAILED, PENDING, SENT, SlotState, slot_states

SLOT = datetime(2026, 11, 20, 8, tzinfo=UTC)
CLAIMED = datetime(2026, 11, 20, 8, 5, tzinfo=UTC)


def row(report: str, slot: datetime, status: str, claimed_at: datetime) -> dict[str, object]:
    return {"report": report, "slot": slot, "status": status, "claimed_at": claimed_at}


def test_each_slot_takes_its_last_row_and_other_reports_are_ignored() -> None:
    later = SLOT + timedelta(days=1)
    rows = [
        row("daily", SLOT, PENDING, CLAIMED),
        row("weekly", SLOT, SENT, CLAIMED),
        row("daily", SLOT, FAILED, CLAIMED),
        row("daily", later, PENDING, CLAIMED + timedelta(days=1)),
        row("daily", SLOT, SENT, CLAIMED + timedelta(minutes=30)),
    ]
    assert slot_states(rows, "daily") == {
        SLOT: SlotState(SENT, CLAIMED + timedelta(minutes=30)),
        later: SlotState(PENDING, CLAIMED + timedelta(days=1)),
    }
    assert slot_states(rows, "monthly") == {}


@pytest.mark.parametrize(
    ("status", "age", "taken"),
    [
        (SENT, timedelta(days=400), True),
        (PENDING, timedelta(0), True),
        (PENDING, CLAIM_LEASE - timedelta(microseconds=1), True),
        (PENDING, CLAIM_LEASE, False),
        (FAILED, timedelta(0), False),
    ],
)
def test_a_slot_is_taken_when_sent_or_claimed_within_the_lease(
    status: str, age: timedelta, taken: bool
) -> None:
    assert SlotState(status, CLAIMED).taken(CLAIMED + age) is taken
