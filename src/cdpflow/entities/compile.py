"""Entities rendered as SQL over the lake's tables (DuckDB's dialect, as every lake reader).

A segment becomes one SELECT of the global_user_ids in it: each condition is a set of people,
`all` their INTERSECT, `any` their UNION, `not` the people of customer_360 EXCEPT them, so the
engine runs one query per segment. A funnel becomes one SELECT of the counted attempt of every
person who entered its first step (PostHog's rules, see funnel_sql). Pure: the lake's schema
(table -> column -> type) is an argument, so unknown columns and operators that do not fit a
column's type fail here with the entity's file and key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from cdpflow.entities.parse import parse_day, utc_day
from cdpflow.entities.spec import (
    NO_VALUE_OPS,
    OPERATORS,
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

Schema = Mapping[str, Mapping[str, str]]  # lake table -> column -> engine type
PEOPLE = "customer_360"
EVENTS = "unique_events"
EVENT_TYPES = ("track", "page", "screen")  # the types entities and funnels look at
PERSON = "global_user_id"

COMPARE = {"greater_than": ">", "at_least": ">=", "less_than": "<", "at_most": "<="}
EQUALITY = {"equals", "not_equals"}
TEXT_MATCH = {"contains", "starts_with", "in"}
ORDERING = {*COMPARE, "between"}
PRESENCE = set(NO_VALUE_OPS)


def _operators(names: set[str]) -> tuple[str, ...]:
    """`names` in the order spec.OPERATORS lists them (the order error messages show)."""
    return tuple(op for op in OPERATORS if op in names)


# the operators that fit each kind of column (negations are complements, see NEGATED)
FAMILY_OPS = {
    "text": _operators(EQUALITY | TEXT_MATCH | PRESENCE),
    "list": _operators(EQUALITY | TEXT_MATCH | PRESENCE),
    "number": _operators(EQUALITY | {"in"} | ORDERING | PRESENCE),
    "day": _operators(EQUALITY | ORDERING | PRESENCE | {"within_last_days"}),
    "bool": _operators(EQUALITY | PRESENCE),
    "property": _operators(set(OPERATORS) - {"within_last_days"}),  # JSON: text or number
    "other": _operators(PRESENCE),
}
NEGATED = {"not_equals": "equals", "is_not_set": "is_set"}
NUMBER_TYPES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "REAL",
    "DOUBLE",
    "DECIMAL",
    "INT",
)


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def day_literal(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def time_literal(moment: datetime) -> str:
    return f"TIMESTAMPTZ '{moment.isoformat()}'"


def family(kind: str) -> str:
    """Which operators a column of engine type `kind` takes."""
    upper = kind.upper().strip()
    if upper.endswith("[]"):
        return "list"
    base = upper.split("(")[0].strip()
    if base in ("VARCHAR", "TEXT", "STRING", "JSON", "UUID"):
        return "text"
    if base in NUMBER_TYPES:
        return "number"
    if base == "DATE" or base.startswith("TIMESTAMP"):
        return "day"
    if base in ("BOOLEAN", "BOOL"):
        return "bool"
    return "other"


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
            expr, kind = _property(name), "property"
        elif "." in name:
            raise EntityError(
                file, f.path, f"`{f.field}`", "name an event column or properties.<key>"
            )
        elif name in columns:
            expr, kind = quote(name), family(columns[name])
        else:  # not a column: a key of the event's properties
            expr, kind = _property(name), "property"
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
            return _text(expr, op, value, file, path)
        if kind == "property":
            values = value if isinstance(value, tuple) else (value,)
            if op in COMPARE or op == "between" or all(_is_number(v) for v in values):
                return _number(f"TRY_CAST({expr} AS DOUBLE)", op, value, file, path)
            return _text(expr, op, value, file, path)
        if kind == "number":
            return _number(expr, op, value, file, path)
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
        return _comparison(day, op, value, lambda v: day_literal(parse_day(v, file, path)))

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
            ctes += _unordered(n, any_step, window)
        elif funnel.order == "strict":
            ctes += _strict(n, window)
        else:
            ctes += _sequential(n, any_step, window)
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


def _property(key: str) -> str:
    return f"json_extract_string(properties, {literal('$.' + key)})"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _text(expr: str, op: str, value: Any, file: str, path: str) -> str:
    def text(v: Any) -> str:
        if isinstance(v, bool):  # YAML reads yes, no, on, off (any case) as true and false
            raise EntityError(
                file, path, f"`{op}: {v}`", "compare text with text; quote yes/no/on/off, 'NO'"
            )
        if isinstance(v, date):
            raise EntityError(file, path, f"`{op}: {v}`", "compare text with text")
        return literal(str(v).lower())

    return _comparison(f"lower({expr})", op, value, text)


def _number(expr: str, op: str, value: Any, file: str, path: str) -> str:
    def number(v: Any) -> str:
        if not _is_number(v):
            raise EntityError(file, path, f"`{op}: {v}`", "give a number")
        return repr(float(v)) if isinstance(v, float) else str(int(v))

    return _comparison(expr, op, value, number)


def _comparison(expr: str, op: str, value: Any, render: Callable[[Any], str]) -> str:
    """`expr` compared by a positive operator with `value`, each value rendered by `render`
    (which refuses one of the wrong kind); which operators fit a column is FAMILY_OPS'."""
    if op == "equals":
        return f"{expr} = {render(value)}"
    if op in ("contains", "starts_with"):
        return f"{op}({expr}, {render(value)})"
    if op == "in":
        return f"{expr} IN ({', '.join(render(v) for v in value)})"
    if op == "between":
        return f"{expr} BETWEEN {render(value[0])} AND {render(value[1])}"
    if op in COMPARE:
        return f"{expr} {COMPARE[op]} {render(value)}"
    raise AssertionError(op)


def _reached(n: int, window: str) -> str:
    """step_times of an attempt from its entry t1 and each next step's time r2..rn (null when
    never reached): the steps reached in a row, each no later than t1 + window."""
    chain = []
    ok = "true"
    for k in range(2, n + 1):
        ok = f"{ok} AND r{k} IS NOT NULL AND r{k} <= t1 + {window}"
        chain.append(f"CAST({ok} AS INTEGER)")
    times = ", ".join(["t1", *(f"r{k}" for k in range(2, n + 1))])
    return f"list_slice(list_value({times}), 1, 1 + {' + '.join(chain)})"


def _sequential(n: int, any_step: str, window: str) -> list[str]:
    """Each step after the one before, other events allowed between: from every entry, the
    earliest next event of each step in turn (taking the earliest reaches the most steps)."""
    nexts = ", ".join(
        f"min(CASE WHEN s{k} THEN ord END) OVER later AS n{k}" for k in range(2, n + 1)
    )
    ctes = [
        "steps AS (SELECT *, row_number() OVER (PARTITION BY person ORDER BY t, event_id) AS ord "
        f"FROM tagged WHERE {any_step})",
        f"nexts AS (SELECT person, ord, t, event_id, s1, {nexts} FROM steps WINDOW later AS "
        "(PARTITION BY person ORDER BY ord ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING))",
        "chain1 AS (SELECT person, event_id, t AS t1, n2 AS o2 FROM nexts WHERE s1)",
    ]
    for k in range(2, n + 1):
        following = f", r.n{k + 1} AS o{k + 1}" if k < n else ""
        ctes.append(
            f"chain{k} AS (SELECT a.*, r.t AS r{k}{following} FROM chain{k - 1} AS a "
            f"LEFT JOIN nexts AS r ON r.person = a.person AND r.ord = a.o{k})"
        )
    ctes.append(
        f"attempts AS (SELECT person, event_id, t1, {_reached(n, window)} AS step_times "
        f"FROM chain{n})"
    )
    return ctes


def _strict(n: int, window: str) -> list[str]:
    """Each step the very next event of the person (of any track, page or screen event)."""
    leads = []
    for k in range(2, n + 1):
        leads.append(f"lead(s{k}, {k - 1}) OVER w AS l{k}, lead(t, {k - 1}) OVER w AS lt{k}")
    times = []
    ok = "true"
    for k in range(2, n + 1):
        ok = f"{ok} AND coalesce(l{k}, false)"
        times.append(f"CASE WHEN {ok} THEN lt{k} END AS r{k}")
    return [
        "entrants AS (SELECT DISTINCT person FROM tagged WHERE s1)",
        f"ordered AS (SELECT tagged.*, {', '.join(leads)} FROM tagged SEMI JOIN entrants "
        "USING (person) WINDOW w AS (PARTITION BY person ORDER BY t, event_id))",
        f"chain AS (SELECT person, event_id, t AS t1, {', '.join(times)} FROM ordered WHERE s1)",
        f"attempts AS (SELECT person, event_id, t1, {_reached(n, window)} AS step_times "
        "FROM chain)",
    ]


def _unordered(n: int, any_step: str, window: str) -> list[str]:
    """The steps in any order: from every event of any step, the first time of each step
    within the window; steps reached are the distinct steps done, at the times they were."""
    firsts = ", ".join(f"min(CASE WHEN s{k} THEN t END) OVER w AS f{k}" for k in range(1, n + 1))
    listed = ", ".join(f"f{k}" for k in range(1, n + 1))
    return [
        f"anchored AS (SELECT person, event_id, t AS t1, {firsts} FROM tagged WHERE {any_step} "
        f"WINDOW w AS (PARTITION BY person ORDER BY t RANGE BETWEEN CURRENT ROW AND {window} "
        "FOLLOWING))",
        "attempts AS (SELECT person, event_id, t1, "
        f"list_sort(list_filter(list_value({listed}), lambda f: f IS NOT NULL)) AS step_times "
        "FROM anchored)",
    ]


def step_labels(funnel: Funnel) -> list[tuple[int, str]]:
    """(step number from 1, label) of each step."""
    return [(k, step.label) for k, step in enumerate(funnel.steps, 1)]
