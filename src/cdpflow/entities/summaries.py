"""The summary tables of entity_creation as SQL over the tables it keeps: segment_sizes per day
from segment_changes (so days without a run are filled in), funnel_steps from funnel_people.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from cdpflow.entities.comparisons import literal, time_literal
from cdpflow.entities.spec import Funnel
from cdpflow.entities.tables import FUNNEL_PEOPLE, SEGMENT_CHANGES, SEGMENT_SIZES
from cdpflow.lake.tables import TableStore


def sizes_sql(segments: list[str], computed: list[str], as_of: datetime, tables: TableStore) -> str:
    """Per segment and UTC day from its first day to today: size at the day's end, entered
    and exited that day, from segment_changes, so days without a run are filled in. A
    segment's first day is that of its first change, or of its first row in segment_sizes, or
    today for one this run computed: an empty segment has rows of size 0, not none."""
    if not segments:
        return "SELECT NULL AS segment, NULL AS day, 0 AS size, 0 AS entered, 0 AS exited LIMIT 0"
    names = ", ".join(literal(s) for s in segments)
    today = f"CAST(timezone('UTC', {time_literal(as_of)}) AS DATE)"
    daily = "SELECT NULL AS segment, NULL AS day, 0 AS entered, 0 AS exited LIMIT 0"
    if tables.current(SEGMENT_CHANGES) is not None:
        daily = (
            "SELECT segment, CAST(timezone('UTC', \"at\") AS DATE) AS day, "
            "count(*) FILTER (WHERE change = 'enter') AS entered, "
            "count(*) FILTER (WHERE change = 'exit') AS exited "
            f"FROM {SEGMENT_CHANGES} WHERE segment IN ({names}) GROUP BY ALL"
        )
    firsts = ["SELECT segment, day FROM daily"]
    if tables.current(SEGMENT_SIZES) is not None:
        firsts.append(f"SELECT segment, day FROM {SEGMENT_SIZES} WHERE segment IN ({names})")
    if computed:
        listed = ", ".join(f"({literal(s)})" for s in computed)
        firsts.append(f"SELECT segment, {today} AS day FROM (VALUES {listed}) AS c(segment)")
    return (
        f"WITH daily AS ({daily}), "
        f"spans AS (SELECT segment, min(day) AS first_day FROM ({' UNION ALL '.join(firsts)}) "
        "GROUP BY segment), "
        "days AS (SELECT segment, CAST(unnest(generate_series(first_day, "
        f"greatest(first_day, {today}), INTERVAL 1 DAY)) AS DATE) AS day FROM spans) "
        "SELECT segment, day, "
        "sum(coalesce(entered, 0) - coalesce(exited, 0)) OVER "
        "(PARTITION BY segment ORDER BY day) AS size, "
        "coalesce(entered, 0) AS entered, coalesce(exited, 0) AS exited "
        "FROM days LEFT JOIN daily USING (segment, day)"
    )


def steps_sql(funnels: Mapping[str, Funnel]) -> str:
    """Per funnel, day of entry into step 1 and step: people who reached it, conversion from the
    step before and from the first, median seconds from the step before; from funnel_people."""
    labels = [
        f"({literal(name)}, {k:d}, {literal(step.label)})"
        for name, funnel in sorted(funnels.items())
        for k, step in enumerate(funnel.steps, 1)
    ]
    if not labels:
        return (
            "SELECT NULL AS funnel, NULL AS entry_day, NULL AS step, NULL AS step_label, "
            "0 AS users, NULL AS conversion_from_previous, NULL AS conversion_from_first, "
            "NULL AS median_seconds_from_previous WHERE false"
        )
    return (
        f"WITH labels(funnel, step, step_label) AS (VALUES {', '.join(labels)}), "
        "entries AS (SELECT funnel, CAST(timezone('UTC', entered_at) AS DATE) AS entry_day, "
        f"step_times FROM {FUNNEL_PEOPLE}), "
        "counted AS (SELECT e.funnel, e.entry_day, l.step, l.step_label, "
        "count(*) FILTER (WHERE len(e.step_times) >= l.step) AS users, "
        "median(epoch(e.step_times[l.step]) - epoch(e.step_times[l.step - 1])) "
        "FILTER (WHERE l.step > 1 AND len(e.step_times) >= l.step) AS median_seconds_from_previous "
        "FROM entries AS e JOIN labels AS l USING (funnel) GROUP BY ALL) "
        "SELECT funnel, entry_day, step, step_label, users, "
        "users / nullif(lag(users) OVER w, 0) AS conversion_from_previous, "
        "users / nullif(first_value(users) OVER w, 0) AS conversion_from_first, "
        "median_seconds_from_previous FROM counted "
        "WINDOW w AS (PARTITION BY funnel, entry_day ORDER BY step)"
    )
