"""Validation of cron schedule expressions, so a typo fails at load rather than in the scheduler."""

from __future__ import annotations

import re

PRESETS = frozenset(
    {"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@quarterly", "@yearly", "@annually"}
)
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (name, low, high, names) for the five standard fields
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_ATOM = re.compile(r"^(?:(\*)|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:/([0-9]+))?$")


def cron_problem(expr: str) -> str | None:
    """Return why `expr` is not a valid 5-field cron expression or preset, or None when it is."""
    text = expr.strip().lower()
    if text in PRESETS:
        return None
    if text.startswith("@"):
        return f"`{expr.strip()}` is not a preset; use one of {', '.join(sorted(PRESETS))}"
    parts = text.split()
    if len(parts) != 5:
        return f"5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
    for part, (name, low, high, names) in zip(parts, _FIELDS, strict=True):
        for atom in part.split(","):
            problem = _atom_problem(atom, low, high, names)
            if problem:
                return f"{name} field `{part}`: {problem}"
    return None


def _atom_problem(atom: str, low: int, high: int, names: dict[str, int]) -> str | None:
    match = _ATOM.match(atom)
    if not match:
        return f"cannot read `{atom}`"
    star, first, last, step = match.groups()
    if step is not None and int(step) == 0:
        return "a step of 0"
    if star:
        return None
    values = []
    for token in (first, last):
        if token is None:
            continue
        value = names.get(token) if not token.isdigit() else int(token)
        if value is None or not low <= value <= high:
            return f"`{token}` is outside {low}-{high}"
        values.append(value)
    if len(values) == 2 and values[0] > values[1]:
        return f"range `{atom}` runs backwards"
    return None
