"""Which month billing reports, and the settings it needs before it reads or sends anything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cdpflow.errors import TerminalError
from cdpflow.jobs import billing
from cdpflow.settings import load_settings


@pytest.mark.parametrize(
    ("moment", "start"),
    [
        (datetime(2026, 12, 1, 6, 0, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
        (datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)),
        # 00:30 on 1 December in UTC+2 is still November in UTC
        (
            datetime(2026, 12, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))),
            datetime(2026, 11, 1, tzinfo=UTC),
        ),
    ],
)
def test_a_moment_falls_in_its_utc_month(moment: datetime, start: datetime) -> None:
    assert billing._month_start(moment) == start


@pytest.mark.parametrize(
    ("months", "month"),
    [(-1, (2025, 12)), (1, (2026, 2)), (11, (2026, 12)), (12, (2027, 1)), (-13, (2024, 12))],
)
def test_months_shift_across_years(months: int, month: tuple[int, int]) -> None:
    january = datetime(2026, 1, 1, tzinfo=UTC)
    assert billing._shift(january, months) == datetime(*month, 1, tzinfo=UTC)


def test_nobody_to_email_fails_before_anything_is_read(tmp_path: Path) -> None:
    settings = load_settings(env={}, home=tmp_path / "home")
    with pytest.raises(
        TerminalError, match="set CDPFLOW_BILLING_EMAIL \\(or AIRFLOW_DAG_FAILED_EMAIL\\)"
    ):
        billing.run(settings)
    assert not (tmp_path / "home").exists()


def test_an_instance_type_without_a_price_names_the_setting_to_add(tmp_path: Path) -> None:
    env = {"AIRFLOW_DAG_FAILED_EMAIL": "ops@shop.example.com", "CDPFLOW_INSTANCE_TYPE": "c7g.large"}
    settings = load_settings(env=env, home=tmp_path / "home")
    with pytest.raises(TerminalError) as failure:
        billing.run(settings)
    assert str(failure.value) == (
        "No hourly price for instance type `c7g.large`: add `c7g.large=<USD per hour>` to "
        "CDPFLOW_INSTANCE_HOURLY_PRICES."
    )
