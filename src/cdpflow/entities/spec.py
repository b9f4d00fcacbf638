"""What an entity file may say, and the typed specs it parses into.

The vocabulary (kinds, keys, operators, the name patterns), the error every check raises, and the
frozen dataclasses of segments, funnels and their conditions. Pure: cdpflow.entities.parse turns
YAML text into these; cdpflow.entities.compile renders them as SQL, and checks there, against the
lake's schema, whether a trait's column exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from cdpflow.errors import TerminalError

KINDS = ("segment", "funnel")
MATCHES = ("all", "any")
ORDERS = ("sequential", "strict", "any")
COUNT_OPS = ("at_least", "at_most", "exactly")
OPERATORS = (
    "equals",
    "not_equals",
    "contains",
    "starts_with",
    "in",
    "greater_than",
    "at_least",
    "less_than",
    "at_most",
    "between",
    "is_set",
    "is_not_set",
    "within_last_days",
)
NO_VALUE_OPS = ("is_set", "is_not_set")
# the key of a behavioural condition or a funnel step -> the event_type it matches
EVENT_KEYS = {"event": "track", "page": "page", "screen": "screen"}
ANY_NAME = "*"
DEFAULT_WINDOW_DAYS = 14  # PostHog's default conversion window
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
ENTITY_SUFFIXES = (".yml", ".yaml")

SEGMENT_KEYS = ("kind", "name", "description", "match", "conditions", "sql")
FUNNEL_KEYS = ("kind", "name", "description", "steps", "window_days", "order", "exclude")
BEHAVIOUR_KEYS = ("event", "page", "screen", "where", "count", "within_days", "between")
STEP_KEYS = ("event", "page", "screen", "where", "name")
TRAIT_KEYS = ("trait", "op", "value")
GROUP_KEYS = ("match", "conditions")
CONDITION_STARTS = ("event", "page", "screen", "trait", "in_segment", "not", "conditions")


class EntityError(TerminalError):
    """An entity file that cannot be used: which file, which key, what is allowed instead."""

    def __init__(self, file: str, path: str, subject: str, hint: str) -> None:
        self.file = file
        self.path = path
        self.subject = subject
        self.hint = hint
        where = f"{file}, {path}" if path else file
        super().__init__(f"{subject} in {where}: {hint}")


@dataclass(frozen=True)
class Test:
    """One comparison: `op` with its value (None for is_set / is_not_set, a tuple for in and
    between)."""

    op: str
    value: Any = None


@dataclass(frozen=True)
class Filter:
    """A `where` entry: an event column (or a key of its properties) compared by `test`."""

    field: str
    test: Test
    path: str


@dataclass(frozen=True)
class EventMatch:
    """Which events count: a type, a name (None: any) and filters on their columns."""

    event_type: str
    name: str | None
    where: tuple[Filter, ...]
    path: str
    label: str


@dataclass(frozen=True)
class Behaviour:
    """People who did `events` a number of times, ever, on the last `within_days` UTC days or on
    the days of `between`."""

    events: EventMatch
    count_op: str
    count: int
    within_days: int | None
    between: tuple[date, date] | None
    path: str


@dataclass(frozen=True)
class Trait:
    """People whose column (of customer_360, or of `table` keyed by global_user_id) passes
    `test`."""

    table: str | None
    column: str
    test: Test
    path: str


@dataclass(frozen=True)
class Group:
    match: str
    conditions: tuple[Condition, ...]
    path: str


@dataclass(frozen=True)
class Not:
    condition: Condition
    path: str


@dataclass(frozen=True)
class InSegment:
    segment: str
    path: str


Condition = Behaviour | Trait | Group | Not | InSegment


@dataclass(frozen=True)
class Segment:
    name: str
    file: str
    description: str
    root: Group | None  # None when `sql` defines it
    sql: str | None = None
    kind: str = field(default="segment", init=False)


@dataclass(frozen=True)
class Funnel:
    name: str
    file: str
    description: str
    steps: tuple[EventMatch, ...]
    window_days: int
    order: str
    exclude: tuple[EventMatch, ...]
    kind: str = field(default="funnel", init=False)


Entity = Segment | Funnel
