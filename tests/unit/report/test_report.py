"""cdpflow.report (the package module): how the overview's numbers are written in its tables,
shared by `cdpflow report` and the report mails, and a section whose table is not built yet."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import plotly.graph_objects as go
import pytest

from cdpflow.report import Section, _cell, _missing, build_report, rows_html, section_html
from cdpflow.settings import load_settings


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (1234.5, "1,234.50"),
        (42.0, "42.00"),
        (1234567, "1,234,567"),
        (True, "True"),
        (date(2026, 11, 19), "2026-11-19"),
        (datetime(2026, 11, 19, 10, 4, tzinfo=UTC), "2026-11-19T10:04:00+00:00"),
        ("Paid Social", "Paid Social"),
    ],
)
def test_a_cell_is_written_for_reading(value: object, text: str) -> None:
    assert _cell(value) == text


def test_a_table_shows_its_first_rows_escaped_and_counts_the_rest() -> None:
    rows = [{"channel <all>": f"c&{i}", "sessions": i * 1000} for i in range(3)]
    assert rows_html(rows, limit=2) == (
        "<table><thead><tr><th>channel &lt;all&gt;</th><th>sessions</th></tr></thead><tbody>"
        "<tr><td>c&amp;0</td><td>0</td></tr><tr><td>c&amp;1</td><td>1,000</td></tr>"
        "</tbody></table><p class='note'>1 more rows not shown.</p>"
    )
    assert rows_html([]) == "<p class='note'>No rows in this period.</p>"


def test_a_section_without_its_table_says_which_and_shows_no_data() -> None:
    note = _missing(("sessions", "customer_360", "attribution"), {"sessions"})
    assert note == (
        "No customer_360, attribution table in the lake yet; this section appears once a job "
        "builds it."
    )
    assert _missing(("sessions",), {"sessions", "attribution"}) is None
    html = section_html(Section("attribution", "Attribution & credit", note=note))
    assert html == (
        "<section id='attribution'><h2>Attribution &amp; credit</h2>"
        f"<p class='note'>{note}</p></section>"
    )


def test_under_a_chart_the_table_folds_away_and_without_charts_it_stands_alone() -> None:
    rows = [{"channel": "Email", "sessions": 3}]
    section = Section("channels", "Sessions", rows, go.Figure(go.Bar(x=["Email"], y=[3])))
    table = rows_html(rows)
    drawn = section_html(section)
    assert drawn.endswith(f"<details><summary>data</summary>{table}</details></section>")
    assert "plotly" in drawn.lower()
    assert section_html(section, charts=False) == (
        f"<section id='channels'><h2>Sessions</h2>{table}</section>"
    )
    empty = Section("channels", "Sessions", [], go.Figure())
    assert section_html(empty) == (
        "<section id='channels'><h2>Sessions</h2>"
        "<p class='note'>No rows in this period.</p></section>"
    )


def test_a_report_covers_at_least_a_day(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="days must be at least 1, got 0"):
        build_report(load_settings(env={}, home=tmp_path / "home"), days=0)
