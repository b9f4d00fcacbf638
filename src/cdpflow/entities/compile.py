"""Entities rendered as SQL over the lake's tables (DuckDB's dialect, as every lake reader).

A segment becomes one SELECT of the global_user_ids in it: each condition is a set of people,
`all` their INTERSECT, `any` their UNION, `not` the people of customer_360 EXCEPT them, so the
engine runs one query per segment. A funnel becomes one SELECT of the counted attempt of every
person who entered its first step (PostHog's rules, see funnel_sql). Pure: the lake's schema
(table -> column -> type) is an argument, so unknown columns and operators that do not fit a
column's type fail here with the entity's file and key. Which operators fit which column, and
values as literals: cdpflow.entities.comparisons; the CTEs of each funnel step order:
cdpflow.entities.funnel_orders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from cdpflow.entities.comparisons import (
    COMPARE,
    FAMILY_OPS,
    NEGATED,
    comparison,
    day_literal,
    family,
    is_number,
    literal,
    number_comparison,
    property_value,
    quote,
    text_comparison,
)
from cdpflow.entities.funnel_orders import sequential, strict, unordered
from cdpflow.entities.parse import parse_day, utc_day
from cdpflow.entities.spec import (
    Behaviour,
    Condition,
    EntityError,
    EventMatch,
    Filter,
    Funnel,
    Group,
    InSegment,
    Not,
    Segment,
    Test,
    Trait,
)

Schema = Mapping[str, Mapping[str, str]]  # lake table -> column -> lake type
PEOPLE = "customer_360"
EVENTS = "unique_events"
EVENT_TYPES = ("track", "page", "screen")  # the types entities and funnels look at
PERSON = "global_user_id"


class Compiler:
    """Renders entities against one lake schema, as of one moment (for relative days)."""

    def __init__(self, schema: Schema, as_of: datetime, segments: Mapping[str, Segment]) -> None:
        self.schema = schema
        self.as_of = as_of
        self.today = utc_day(as_of)
        self.segments = segments

    # -- segments ------------------------------------------------------------------------------

    def segment_sql(self, segment: Segment) -> str:
        """SELECT global_user_id of everyone in `segment`, once each."""
        self._needs(segment.file, "", PEOPLE)
        if segment.sql is not None:
            body = segment.sql
        else:
            assert segment.root is not None
            body = self._condition(segment, segment.root)
        return f"SELECT DISTINCT {PERSON} FROM ({body}) AS members WHERE {PERSON} IS NOT NULL"

    def _condition(self, segment: Segment, condition: Condition) -> str:
        if isinstance(condition, Group):
            parts = [self._condition(segment, c) for c in condition.conditions]
            if len(parts) == 1:
                return parts[0]
            return _sets("INTERSECT" if condition.match == "all" else "UNION", parts)
        if isinstance(condition, Not):
            return _sets(
                "EXCEPT", [self._everyone(), self._condition(segment, condition.condition)]
            )
        if isinstance(condition, InSegment):
            return self.segment_sql(self.segments[condition.segment])
        if isinstance(condition, Trait):
            return self._trait(segment, condition)
        return self._behaviour(segment, condition)

    def _everyone(self) -> str:
        return f"SELECT {PERSON} FROM {PEOPLE}"

    def _behaviour(self, segment: Segment, b: Behaviour) -> str:
        self._needs(segment.file, b.path, EVENTS)
        where = [f"{PERSON} IS NOT NULL", self._matches(segment.file, b.events)]
        if b.within_days is not None:
            where.append(self._last_days("event_date", b.within_days))
        if b.between is not None:
            lo, hi = b.between
            where.append(f"event_date BETWEEN {day_literal(lo)} AND {day_literal(hi)}")
        rows = f"FROM {EVENTS} WHERE " + " AND ".join(where)

        def counted(sign: str) -> str:
            return f"SELECT {PERSON} {rows} GROUP BY {PERSON} HAVING count(*) {sign} {b.count:d}"

        if b.count_op == "at_least":
            if b.count == 0:
                return self._everyone()
            return f"SELECT DISTINCT {PERSON} {rows}" if b.count == 1 else counted(">=")
        if b.count_op == "exactly" and b.count > 0:
            return counted("=")
        # at most n (exactly 0 is at most 0): everyone but those who did it more often
        more = f"SELECT DISTINCT {PERSON} {rows}" if b.count == 0 else counted(">")
        return _sets("EXCEPT", [self._everyone(), more])

    def _trait(self, segment: Segment, t: Trait) -> str:
        table = t.table or PEOPLE
        self._needs(segment.file, t.path, table)
        columns = self.schema[table]
        if PERSON not in columns:
            raise EntityError(
                segment.file,
                f"{t.path}.trait",
                f"`trait: {table}.{t.column}`",
                f"{table} has no {PERSON} column; name a table keyed by it",
            )
        if t.column not in columns:
            raise EntityError(
                segment.file,
                f"{t.path}.trait",
                f"`trait: {t.column if t.table is None else table + '.' + t.column}`",
                f"{table} has no such column; use one of {', '.join(columns)}",
            )
        kind = family(columns[t.column])
        predicate = self._positive(quote(t.column), kind, t.test, segment.file, t.path, t.column)
        if t.test.op not in NEGATED:
            return f"SELECT {PERSON} FROM {quote(table)} WHERE {predicate}"
        if table == PEOPLE:  # one row per person: the row's negation is the person's
            return f"SELECT {PERSON} FROM {PEOPLE} WHERE NOT coalesce({predicate}, false)"
        # people without a row in the table count as not equal / not set
        having = f"SELECT {PERSON} FROM {quote(table)} WHERE {predicate}"
        return _sets("EXCEPT", [self._everyone(), having])

    # -- events --------------------------------------------------------------------------------

    def _matches(self, file: str, events: EventMatch) -> str:
        """A predicate on unique_events rows: the events `events` describes."""
        parts = [f"event_type = {literal(events.event_type)}"]
        if events.name is not None:
            parts.append(f"lower(event_name) = {literal(events.name.lower())}")
        parts += [self._filter(file, f) for f in events.where]
        return "(" + " AND ".join(parts) + ")"

    def _filter(self, file: str, f: Filter) -> str:
        columns = self.schema.get(EVENTS, {})
        name = f.field
        if name.startswith("properties."):
            name = name.split(".", 1)[1]
            expr, kind = property_value(name), "property"
        elif "." in name:
            raise EntityError(
                file, f.path, f"`{f.field}`", "name an event column or properties.<key>"
            )
        elif name in columns:
            expr, kind = quote(name), family(columns[name])
        else:  # not a column: a key of the event's properties
            expr, kind = property_value(name), "property"
        predicate = self._positive(expr, kind, f.test, file, f.path, f.field)
        if f.test.op in NEGATED:
            return f"NOT coalesce({predicate}, false)"
        return predicate

    # -- comparisons ---------------------------------------------------------------------------

    def _positive(self, expr: str, kind: str, test: Test, file: str, path: str, column: str) -> str:
        """The predicate of `test` with a negation (not_equals, is_not_set) taken off: the
        caller takes the complement, so that missing values count as not equal / not set."""
        positive = Test(NEGATED.get(test.op, test.op), test.value)
        return self._predicate(expr, kind, positive, file, path, column)

    def _predicate(
        self, expr: str, kind: str, test: Test, file: str, path: str, column: str
    ) -> str:
        """`expr` passes the positive comparison `test`; strings compare case-insensitively."""
        op, value = test.op, test.value
        if op not in FAMILY_OPS[kind] and NEGATED.get(op, op) not in FAMILY_OPS[kind]:
            allowed = ", ".join(FAMILY_OPS[kind])
            raise EntityError(
                file, path, f"`op: {op}` on `{column}` ({kind})", f"use one of {allowed}"
            )
        if op == "is_set":
            if kind == "list":
                return f"coalesce(len({expr}), 0) > 0"
            if kind in ("text", "property"):
                return f"({expr} IS NOT NULL AND {expr} <> '')"
            return f"{expr} IS NOT NULL"
        if kind == "list":
            element = self._predicate("element", "text", test, file, path, column)
            return f"len(list_filter({expr}, lambda element: {element})) > 0"
        if kind == "text":
            return text_comparison(expr, op, value, file, path)
        if kind == "property":
            values = value if isinstance(value, tuple) else (value,)
            if op in COMPARE or op == "between" or all(is_number(v) for v in values):
                return number_comparison(f"TRY_CAST({expr} AS DOUBLE)", op, value, file, path)
            return text_comparison(expr, op, value, file, path)
        if kind == "number":
            return number_comparison(expr, op, value, file, path)
        if kind == "bool":
            if not isinstance(value, bool):
                raise EntityError(file, path, f"`{op}: {value}`", "give true or false")
            return f"{expr} = {'true' if value else 'false'}"
        if kind == "day":
            return self._day(expr, op, value, file, path)
        raise AssertionError(kind)

    def _day(self, expr: str, op: str, value: Any, file: str, path: str) -> str:
        day = f"CAST({expr} AS DATE)"
        if op == "within_last_days":
            return self._last_days(day, int(value))
        return comparison(day, op, value, lambda v: day_literal(parse_day(v, file, path)))

    def _last_days(self, day: str, n: int) -> str:
        """`day` is one of the last `n` UTC days, today included."""
        first = self.today - timedelta(days=n - 1)
        return f"{day} BETWEEN {day_literal(first)} AND {day_literal(self.today)}"

    # -- funnels -------------------------------------------------------------------------------

    def funnel_sql(self, funnel: Funnel) -> str:
        """SELECT per person who entered step 1: global_user_id, entered_at, furthest_step,
        step_times (the time each step was reached), converted.

        PostHog's rules: every entry into step 1 is an attempt; an attempt reaches the steps
        that follow in the funnel's order within window_days of its entry (inclusive); an
        attempt with an excluded event after its entry and before its furthest step does not
        count; a person's counted attempt is the one that reaches most steps, the earliest of
        those.
        """
        self._needs(funnel.file, "steps", EVENTS)
        n = len(funnel.steps)
        flags = [f"{self._matches(funnel.file, s)} AS s{k}" for k, s in enumerate(funnel.steps, 1)]
        excluded = " OR ".join(self._matches(funnel.file, x) for x in funnel.exclude) or "false"
        any_step = " OR ".join(f"s{k}" for k in range(1, n + 1))
        window = f"INTERVAL '{funnel.window_days:d} days'"
        types = ", ".join(literal(t) for t in EVENT_TYPES)
        events = (
            f"SELECT {PERSON} AS person, event_time AS t, event_id, {', '.join(flags)}, "
            f"({excluded}) AS x FROM {EVENTS} "
            f"WHERE {PERSON} IS NOT NULL AND event_type IN ({types})"
        )
        ctes = [f"tagged AS ({events})"]
        if funnel.order == "any":
            ctes += unordered(n, any_step, window)
        elif funnel.order == "strict":
            ctes += strict(n, window)
        else:
            ctes += sequential(n, any_step, window)
        if funnel.exclude:
            ctes.append(
                "kept AS (SELECT a.* FROM attempts AS a ANTI JOIN "
                "(SELECT person, t FROM tagged WHERE x) AS e "
                "ON e.person = a.person AND e.t > a.t1 AND e.t < a.step_times[len(a.step_times)])"
            )
        else:
            ctes.append("kept AS (SELECT * FROM attempts)")
        return (
            "WITH " + ",\n".join(ctes) + f"\nSELECT person AS {PERSON}, t1 AS entered_at, "
            "CAST(len(step_times) AS INTEGER) AS furthest_step, step_times, "
            f"len(step_times) = {n:d} AS converted FROM kept "
            "QUALIFY row_number() OVER (PARTITION BY person "
            "ORDER BY len(step_times) DESC, t1, event_id) = 1"
        )

    # -- helpers -------------------------------------------------------------------------------

    def _needs(self, file: str, path: str, table: str) -> None:
        if table not in self.schema:
            known = ", ".join(sorted(self.schema)) or "none yet"
            raise EntityError(
                file,
                path,
                f"table `{table}`",
                f"no such lake table (tables: {known}); run the job that builds it first",
            )


def _sets(op: str, parts: Sequence[str]) -> str:
    return f" {op} ".join(f"SELECT {PERSON} FROM ({p})" for p in parts)


def step_labels(funnel: Funnel) -> list[tuple[int, str]]:
    """(step number from 1, label) of each step."""
    return [(k, step.label) for k, step in enumerate(funnel.steps, 1)]
