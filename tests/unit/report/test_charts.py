"""How a Superset chart's rows become the figure a report mail shows: the viz type picks the
trace, the columns' values pick the axes."""

from __future__ import annotations

from datetime import date

from cdpflow.report.charts import chart_figure

DAYS = [date(2026, 11, 18), date(2026, 11, 19)]


def traces(rows: list[dict[str, object]], viz: str) -> list[tuple[str, object, list, list]]:
    figure = chart_figure(rows, viz)
    assert figure is not None
    return [(t.type, t.name, list(t.x), list(t.y)) for t in figure.data]


def test_tables_and_rows_without_numbers_draw_nothing() -> None:
    rows = [{"channel": "Email", "sessions": 3}]
    assert chart_figure([], "echarts_timeseries_line") is None
    assert chart_figure(rows, "table") is None
    assert chart_figure(rows, "pivot_table_v2") is None
    assert chart_figure([{"channel": "Email", "day": DAYS[0]}], "bar") is None


def test_a_time_series_draws_a_line_per_metric_over_the_day_column() -> None:
    rows = [
        {"day": DAYS[0], "sessions": 10, "revenue": 120.5},
        {"day": DAYS[1], "sessions": 12, "revenue": None},
    ]
    assert traces(rows, "echarts_timeseries_line") == [
        ("scatter", "sessions", DAYS, [10, 12]),
        ("scatter", "revenue", DAYS, [120.5, None]),
    ]
    figure = chart_figure(rows, "echarts_timeseries_line")
    assert figure is not None and figure.layout.barmode == "group"
    assert figure.layout.xaxis.title.text == "day"


def test_a_text_column_beside_the_axis_splits_the_first_metric_into_stacked_series() -> None:
    rows = [
        {"day": DAYS[0], "channel": "Email", "sessions": 4, "revenue": 1.0},
        {"day": DAYS[0], "channel": "Direct", "sessions": 6, "revenue": 2.0},
        {"day": DAYS[1], "channel": "Email", "sessions": 5, "revenue": 3.0},
    ]
    assert traces(rows, "echarts_timeseries_bar") == [
        ("bar", "Direct", [DAYS[0]], [6]),
        ("bar", "Email", DAYS, [4, 5]),
    ]
    figure = chart_figure(rows, "echarts_timeseries_bar")
    assert figure is not None and figure.layout.barmode == "stack"
    assert figure.layout.yaxis.title.text == "sessions"


def test_without_a_day_column_bars_go_by_the_first_text_column() -> None:
    rows = [{"channel": "Email", "orders": 3}, {"channel": "Paid Social", "orders": 1}]
    assert traces(rows, "dist_bar") == [("bar", "orders", ["Email", "Paid Social"], [3, 1])]


def test_only_numbers_make_one_bar_per_metric() -> None:
    rows = [{"people": 120, "customers": 30}]
    assert traces(rows, "bar") == [("bar", None, ["people", "customers"], [120, 30])]


def test_a_pie_takes_labels_from_text_and_a_big_number_its_last_value() -> None:
    rows = [{"channel": "Email", "orders": 3}, {"channel": "Direct", "orders": 5}]
    pie = chart_figure(rows, "pie")
    assert pie is not None
    ((trace,),) = [pie.data]
    assert (trace.type, list(trace.labels), list(trace.values)) == (
        "pie",
        ["Email", "Direct"],
        [3, 5],
    )
    big = chart_figure([{"orders": 3}, {"orders": 8}], "big_number_total")
    assert big is not None
    (indicator,) = big.data
    assert (indicator.type, indicator.value, indicator.title.text) == ("indicator", 8, "orders")
