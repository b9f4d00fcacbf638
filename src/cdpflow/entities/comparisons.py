"""How a test in an entity becomes a SQL predicate's parts: which operators fit a column of each
lake type (FAMILY_OPS, by `family`), and values rendered as literals of the column's kind, a
value of the wrong kind refused with the entity's file and key.

Pure and engine-free: the Compiler (cdpflow.entities.compile) puts these parts together.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from cdpflow.entities.spec import NO_VALUE_OPS, OPERATORS, EntityError
from cdpflow.lake.types import UnknownTypeError, parse

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
_FAMILIES = {  # lake type -> family (decimal(P,S) is a number too)
    **dict.fromkeys(("string", "json", "uuid"), "text"),
    **dict.fromkeys(("int8", "int16", "int32", "int64", "float32", "float64"), "number"),
    **dict.fromkeys(("uint8", "uint16", "uint32", "uint64"), "number"),
    **dict.fromkeys(("date", "timestamp", "timestamp_ntz"), "day"),
    "boolean": "bool",
    "list": "list",
}


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def day_literal(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def time_literal(moment: datetime) -> str:
    return f"TIMESTAMPTZ '{moment.isoformat()}'"


def family(kind: str) -> str:
    """Which operators a column of type `kind` takes (a lake type, in any spelling
    `cdpflow.lake.types` reads)."""
    try:
        name = parse(kind).name
    except UnknownTypeError:
        return "other"
    return "number" if name.startswith("decimal(") else _FAMILIES.get(name, "other")


def property_value(key: str) -> str:
    return f"json_extract_string(properties, {literal('$.' + key)})"


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def text_comparison(expr: str, op: str, value: Any, file: str, path: str) -> str:
    def text(v: Any) -> str:
        if isinstance(v, bool):  # YAML reads yes, no, on, off (any case) as true and false
            raise EntityError(
                file, path, f"`{op}: {v}`", "compare text with text; quote yes/no/on/off, 'NO'"
            )
        if isinstance(v, date):
            raise EntityError(file, path, f"`{op}: {v}`", "compare text with text")
        return literal(str(v).lower())

    return comparison(f"lower({expr})", op, value, text)


def number_comparison(expr: str, op: str, value: Any, file: str, path: str) -> str:
    def number(v: Any) -> str:
        if not is_number(v):
            raise EntityError(file, path, f"`{op}: {v}`", "give a number")
        return repr(float(v)) if isinstance(v, float) else str(int(v))

    return comparison(expr, op, value, number)


def comparison(expr: str, op: str, value: Any, render: Callable[[Any], str]) -> str:
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
