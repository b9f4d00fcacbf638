"""The monthly cost report's figures and how the mail shows them, worked by hand: compute is
task hours x the hourly price, storage bytes / 1e9 x the GB-month price, the trend against the
stored report of the month before."""

from __future__ import annotations

import json

from cdpflow.billing.airflow_runs import DagUsage
from cdpflow.billing.report import (
    DagCost,
    MonthFigures,
    month_figures,
    render_html,
    render_text,
    subject,
)

USAGE = {
    "compression": DagUsage("compression", 2, 1800.0),
    "events_incremental": DagUsage("events_incremental", 720, 7200.0),
}


def november(storage_bytes: int | None = 2_500_000_000) -> MonthFigures:
    return month_figures("2026-11", USAGE, "m5.xlarge", 0.192, storage_bytes, 0.023, ("a note",))


def test_figures_are_ordered_by_run_time_and_add_up() -> None:
    figures = november()
    assert figures.dags == (
        DagCost("events_incremental", 720, 2.0, 0.384),
        DagCost("compression", 2, 0.5, 0.096),
    )
    assert figures.compute_hours == 2.5
    assert round(figures.compute_cost, 10) == 0.48
    assert round(figures.storage_cost or 0, 10) == 0.0575
    assert round(figures.total, 10) == 0.5375
    assert subject(figures) == "[cdpflow] Cost report 2026-11: $0.5375"


def test_storage_not_measured_counts_nothing_and_says_so() -> None:
    figures = november(storage_bytes=None)
    assert figures.storage_cost is None
    assert round(figures.total, 10) == 0.48
    assert "Storage:  n/a = not measured\n" in render_text(figures, None)
    assert "<tr><th>Storage</th><td>n/a: not measured</td></tr>" in render_html(figures, None)


def test_the_text_report_line_by_line_against_a_costlier_month() -> None:
    before = month_figures(
        "2026-10",
        {"compression": DagUsage("compression", 1, 36000.0)},
        "m5.xlarge",
        0.192,
        None,
        0.023,
    )
    assert render_text(november(), before) == (
        "cdpflow cost report for 2026-11\n"
        "\n"
        "Total:    $0.5375\n"
        "Trend:    -$1.3825 (-72.0%) against the month before\n"
        "Compute:  $0.4800 = 2.5000 task hours x $0.192/h (m5.xlarge)\n"
        "Storage:  $0.0575 = 2.5000 GB x $0.023/GB-month\n"
        "\n"
        "Per DAG (task runs, hours, cost):\n"
        "  events_incremental: 720 runs, 2.0000 h, $0.3840\n"
        "  compression: 2 runs, 0.5000 h, $0.0960\n"
        "Note: a note\n"
    )


def test_the_trend_without_a_month_before_or_against_one_that_cost_nothing() -> None:
    free = month_figures("2026-10", {}, "m5.xlarge", 0.192, 0, 0.023)
    assert "Trend:    n/a (no report for the month before) against" in render_text(november(), None)
    assert "Trend:    +$0.5375 (the month before cost nothing) against" in render_text(
        november(), free
    )
    text = render_text(free, None)
    assert "  no task ran this month\n" in text and "AWS Cost Explorer" not in text


def test_the_html_keeps_dags_that_ran_only_the_month_before_and_escapes_names() -> None:
    before = month_figures(
        "2026-10",
        {
            "compression": DagUsage("compression", 1, 3600.0),
            "elt_<shop>": DagUsage("elt_<shop>", 3, 360.0),
        },
        "m5.xlarge",
        0.192,
        None,
        0.023,
    )
    document = render_html(november(), before)
    assert (
        "<tr><td>compression</td><td>2</td><td>0.5000</td><td>$0.0960</td><td>$0.1920</td></tr>"
        in document
    )
    assert (
        "<td>events_incremental</td><td>720</td><td>2.0000</td><td>$0.3840</td><td>n/a</td>"
        in document
    )
    assert (
        "<tr><td>elt_&lt;shop&gt;</td><td>0</td><td>0.0000</td><td>$0.0000</td><td>$0.0192</td></tr>"
        in document
    )
    assert "<td>elt_<shop>" not in document


def test_the_aws_figure_shows_when_there_is_one() -> None:
    from dataclasses import replace

    figures = replace(november(), aws_cost=12.34)
    assert "AWS Cost Explorer: $12.3400\n" in render_text(figures, None)
    assert "<tr><th>AWS Cost Explorer</th><td>$12.3400</td></tr>" in render_html(figures, None)
    assert round(figures.total, 10) == 0.5375  # Cost Explorer is shown beside, not added


def test_stored_figures_read_back_equal() -> None:
    figures = november()
    assert MonthFigures.from_row(json.loads(json.dumps(figures.to_row()))) == figures
    older = {k: v for k, v in figures.to_row().items() if k not in ("aws_cost", "notes")}
    assert (
        MonthFigures.from_row(older).notes == () and MonthFigures.from_row(older).aws_cost is None
    )
