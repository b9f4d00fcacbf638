"""Entity files parsed into typed specs; errors name the file, the key path and what is allowed.

Pure: reads YAML text, knows nothing of the lake or of other files (cdpflow.entities.folder checks
the references between them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import yaml

from cdpflow.entities.spec import (
    ANY_NAME,
    BEHAVIOUR_KEYS,
    CONDITION_STARTS,
    COUNT_OPS,
    DEFAULT_WINDOW_DAYS,
    EVENT_KEYS,
    FIELD,
    FUNNEL_KEYS,
    GROUP_KEYS,
    KINDS,
    MATCHES,
    NAME,
    NO_VALUE_OPS,
    OPERATORS,
    ORDERS,
    SEGMENT_KEYS,
    STEP_KEYS,
    TRAIT_KEYS,
    Behaviour,
    Condition,
    Entity,
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


def _one_of(values: Iterable[str]) -> str:
    return "use one of " + ", ".join(values)


def parse_entity(text: str, file: str, name: str | None = None) -> Entity:
    """The entity in `text` (the contents of `file`); `name` is the file's stem, which the
    `name:` key, if given, must equal.

    Raises:
        EntityError: naming the file, the key path and what is allowed.
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        detail = " ".join(str(err).split())
        if "alias" in detail or "anchor" in detail:
            detail += "; quote a value that starts with * or &, e.g. event: '*'"
        raise EntityError(file, "", "the file is not valid YAML", detail) from err
    if not isinstance(raw, dict):
        raise EntityError(file, "", "the file", "write a mapping with kind: segment or funnel")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise EntityError(file, "kind", f"`kind: {_show(kind)}`", _one_of(KINDS))
    declared = raw.get("name", name)
    if not isinstance(declared, str) or not NAME.match(declared):
        raise EntityError(
            file, "name", f"`name: {_show(declared)}`", "use letters, digits and _ (a letter first)"
        )
    if name is not None and declared != name:
        raise EntityError(
            file, "name", f"`name: {declared}`", f"the name must be the file's name, {name}"
        )
    description = raw.get("description") or ""
    if not isinstance(description, str):
        raise EntityError(file, "description", "`description`", "write it as text")
    if kind == "segment":
        return _segment(raw, file, declared, description)
    return _funnel(raw, file, declared, description)


def _show(value: Any) -> str:
    if value is None:
        return "(missing)"
    return str(value)


def _keys(raw: Mapping[str, Any], allowed: Sequence[str], file: str, path: str) -> None:
    for key in raw:
        if key not in allowed:
            raise EntityError(file, path or str(key), f"unknown key `{key}`", _one_of(allowed))


def _segment(raw: Mapping[str, Any], file: str, name: str, description: str) -> Segment:
    _keys(raw, SEGMENT_KEYS, file, "")
    if "sql" in raw:
        if "conditions" in raw or "match" in raw:
            raise EntityError(
                file, "sql", "`sql` with `conditions`", "a segment is either sql or conditions"
            )
        return Segment(name, file, description, None, _sql(raw["sql"], file))
    if "conditions" not in raw:
        raise EntityError(file, "conditions", "no `conditions`", "list conditions, or give `sql`")
    root = _group(raw, file, "")
    return Segment(name, file, description, root)


def _funnel(raw: Mapping[str, Any], file: str, name: str, description: str) -> Funnel:
    _keys(raw, FUNNEL_KEYS, file, "")
    steps = raw.get("steps")
    if not isinstance(steps, list) or len(steps) < 2:
        raise EntityError(
            file, "steps", "`steps`", "list at least two steps, {event: Product Viewed}"
        )
    parsed = tuple(_step(step, file, f"steps[{i}]") for i, step in enumerate(steps))
    window = raw.get("window_days", DEFAULT_WINDOW_DAYS)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise EntityError(
            file, "window_days", f"`window_days: {_show(window)}`", "give a whole number of days"
        )
    order = raw.get("order", "sequential")
    if order not in ORDERS:
        raise EntityError(file, "order", f"`order: {_show(order)}`", _one_of(ORDERS))
    exclude = raw.get("exclude") or []
    if not isinstance(exclude, list):
        raise EntityError(file, "exclude", "`exclude`", "list events, [{event: Order Refunded}]")
    excluded = tuple(_step(step, file, f"exclude[{i}]") for i, step in enumerate(exclude))
    return Funnel(name, file, description, parsed, window, order, excluded)


def _step(raw: Any, file: str, path: str) -> EventMatch:
    if not isinstance(raw, dict):
        raise EntityError(file, path, "a step", "write a mapping, e.g. {event: Product Viewed}")
    return _events(raw, file, path, STEP_KEYS)


def _sql(value: Any, file: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EntityError(file, "sql", "`sql`", "write one SELECT returning global_user_id")
    sql = value.strip().rstrip(";").strip()
    bare = re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", "", sql, flags=re.S)
    if ";" in bare:
        raise EntityError(file, "sql", "`sql` holds several statements", "write one SELECT")
    first = bare.strip().split(None, 1)[0].lower() if bare.strip() else ""
    if first not in ("select", "with", "from"):
        raise EntityError(
            file, "sql", f"`sql` starting with `{first}`", "the escape hatch is read-only: a SELECT"
        )
    return sql


def _group(raw: Mapping[str, Any], file: str, path: str) -> Group:
    match = raw.get("match", "all")
    if match not in MATCHES:
        raise EntityError(file, _join(path, "match"), f"`match: {_show(match)}`", _one_of(MATCHES))
    items = raw.get("conditions")
    where = _join(path, "conditions")
    if not isinstance(items, list) or not items:
        raise EntityError(file, where, "`conditions`", "list at least one condition")
    return Group(
        match,
        tuple(_condition(item, file, f"{where}[{i}]") for i, item in enumerate(items)),
        path or "conditions",
    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _condition(raw: Any, file: str, path: str) -> Condition:
    if not isinstance(raw, dict):
        raise EntityError(
            file, path, "a condition", "write a mapping, e.g. {event: Order Completed}"
        )
    starts = [k for k in CONDITION_STARTS if k in raw]
    if not starts:
        keys = ", ".join(f"`{k}`" for k in raw) or "nothing"
        raise EntityError(file, path, f"a condition with {keys}", _one_of(CONDITION_STARTS))
    start = starts[0]
    if start in EVENT_KEYS:
        return _behaviour(raw, file, path)
    if start == "trait":
        return _trait(raw, file, path)
    if start == "conditions":
        _keys(raw, GROUP_KEYS, file, path)
        return _group(raw, file, path)
    if start == "not":
        _keys(raw, ("not",), file, path)
        return Not(_condition(raw["not"], file, f"{path}.not"), path)
    _keys(raw, ("in_segment",), file, path)
    segment = raw["in_segment"]
    if not isinstance(segment, str) or not NAME.match(segment):
        raise EntityError(
            file, f"{path}.in_segment", f"`in_segment: {_show(segment)}`", "name a segment"
        )
    return InSegment(segment, path)


def _events(raw: Mapping[str, Any], file: str, path: str, allowed: Sequence[str]) -> EventMatch:
    _keys(raw, allowed, file, path)
    given = [k for k in EVENT_KEYS if k in raw]
    if len(given) != 1:
        raise EntityError(file, path, "which events", "give exactly one of event, page, screen")
    key = given[0]
    name = raw[key]
    if not isinstance(name, str) or not name.strip():
        raise EntityError(
            file, f"{path}.{key}", f"`{key}: {_show(name)}`", f"name the {key}, or * for any"
        )
    name = name.strip()
    label = raw.get("name", name if key == "event" else f"{key} {name}")
    if not isinstance(label, str):
        raise EntityError(file, f"{path}.name", "`name`", "write the step's label as text")
    where = _where(raw.get("where"), file, f"{path}.where")
    return EventMatch(EVENT_KEYS[key], None if name == ANY_NAME else name, where, path, label)


def _where(raw: Any, file: str, path: str) -> tuple[Filter, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict) or not raw:
        raise EntityError(file, path, "`where`", "map event columns to tests, {currency: USD}")
    filters = []
    for column, spec in raw.items():
        here = f"{path}.{column}"
        if not isinstance(column, str) or not FIELD.match(column):
            raise EntityError(file, here, f"`{column}`", "name an event column or properties.<key>")
        if isinstance(spec, dict):
            if not spec:
                raise EntityError(file, here, "no test", _one_of(OPERATORS))
            for op, value in spec.items():
                filters.append(Filter(column, _test(op, value, file, f"{here}.{op}"), here))
        else:
            op = "in" if isinstance(spec, list) else "equals"
            filters.append(Filter(column, _test(op, spec, file, here), here))
    return tuple(filters)


def _test(op: Any, value: Any, file: str, path: str, *, bare: bool = False) -> Test:
    """A comparison; `bare` when the op stands alone (trait's `op: is_set`, no value key)."""
    if op not in OPERATORS:
        raise EntityError(file, path, f"`op: {_show(op)}`", _one_of(OPERATORS))
    if op in NO_VALUE_OPS:
        if not bare and value not in (True, None):
            raise EntityError(file, path, f"`{op}: {value}`", f"{op} takes no value (or true)")
        return Test(op)
    if op == "in":
        if not isinstance(value, list) or not value or not all(map(_scalar, value)):
            raise EntityError(file, path, "`in`", "give a list of values, [US, CA]")
        return Test(op, tuple(value))
    if op == "between":
        if not isinstance(value, list) or len(value) != 2 or not all(map(_scalar, value)):
            raise EntityError(file, path, "`between`", "give [low, high], both included")
        return Test(op, (value[0], value[1]))
    if op == "within_last_days":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise EntityError(
                file, path, f"`within_last_days: {_show(value)}`", "give a whole number of days"
            )
        return Test(op, value)
    if not _scalar(value):
        raise EntityError(file, path, f"`{op}: {_show(value)}`", "give one value to compare")
    return Test(op, value)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | date)


def _behaviour(raw: Mapping[str, Any], file: str, path: str) -> Behaviour:
    events = _events(raw, file, path, BEHAVIOUR_KEYS)
    count_op, count = _count(raw.get("count"), file, f"{path}.count")
    within = raw.get("within_days")
    between = raw.get("between")
    if within is not None and between is not None:
        raise EntityError(
            file, path, "`within_days` with `between`", "give one of within_days, between"
        )
    if within is not None and (
        isinstance(within, bool) or not isinstance(within, int) or within < 1
    ):
        raise EntityError(
            file, f"{path}.within_days", f"`within_days: {within}`", "give a whole number of days"
        )
    days = None
    if between is not None:
        days = _days(between, file, f"{path}.between")
    return Behaviour(events, count_op, count, within, days, path)


def _count(raw: Any, file: str, path: str) -> tuple[str, int]:
    if raw is None:
        return "at_least", 1
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = {"at_least": raw}
    if not isinstance(raw, dict) or len(raw) != 1:
        raise EntityError(
            file, path, "`count`", "give one of {at_least: n}, {at_most: n}, {exactly: n}"
        )
    ((op, n),) = raw.items()
    if op not in COUNT_OPS:
        raise EntityError(file, path, f"`{op}`", _one_of(COUNT_OPS))
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise EntityError(file, f"{path}.{op}", f"`{op}: {_show(n)}`", "give a whole number >= 0")
    return op, n


def _days(raw: Any, file: str, path: str) -> tuple[date, date]:
    if not isinstance(raw, list) or len(raw) != 2:
        raise EntityError(
            file, path, "`between`", "give [first day, last day], e.g. [2026-10-01, 2026-10-31]"
        )
    days = [parse_day(value, file, path) for value in raw]
    if days[0] > days[1]:
        raise EntityError(
            file, path, f"`between: [{days[0]}, {days[1]}]`", "the first day comes first"
        )
    return days[0], days[1]


def utc_day(moment: datetime) -> date:
    """The UTC day of `moment` (a naive one is taken as UTC already)."""
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(UTC).date()


def parse_day(value: Any, file: str, path: str) -> date:
    """A day as YAML gives it (a date, a date-time: its UTC day) or as text YYYY-MM-DD."""
    if isinstance(value, datetime):
        return utc_day(value)
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as err:
        raise EntityError(file, path, f"`{value}`", "write days as YYYY-MM-DD") from err


def _trait(raw: Mapping[str, Any], file: str, path: str) -> Trait:
    _keys(raw, TRAIT_KEYS, file, path)
    trait = raw["trait"]
    if not isinstance(trait, str) or not FIELD.match(trait):
        raise EntityError(
            file,
            f"{path}.trait",
            f"`trait: {_show(trait)}`",
            "name a customer_360 column or table.column",
        )
    table, _, column = trait.rpartition(".")
    if "op" not in raw:
        raise EntityError(file, f"{path}.op", "no `op`", _one_of(OPERATORS))
    op = raw["op"]
    if op not in NO_VALUE_OPS and "value" not in raw:
        raise EntityError(
            file, f"{path}.value", f"`op: {op}` without a `value`", "give the value to compare with"
        )
    test = _test(op, raw.get("value"), file, path, bare=True)
    return Trait(table or None, column, test, path)
