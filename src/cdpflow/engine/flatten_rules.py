"""The parts of the flatten both engines render alike: the validation rules of
`events/quarantine.py` as SQL conditions and messages, the time and URL helpers, and the names
they share. A renderer (`duckdb_sql`, `spark_sql`) supplies only its `Dialect`: how its SQL
spells a string literal, a concatenation, a timestamp and the few functions named otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cdpflow.engine.rule_columns import RuleColumns
from cdpflow.events import blotout, segment
from cdpflow.events.names import CLICK_IDS, FIRST_YEAR, LAST_YEAR, UTM_TAGS
from cdpflow.events.quarantine import INVALID_JSON, LINE_REASONS, UNKNOWN_FORMAT, Rule
from cdpflow.events.schema import LANDED_PATHS

# Receive metadata and envelope fields, read once per line.
HEAD_PATHS = {**LANDED_PATHS, **segment.ENVELOPE_PATHS, **blotout.META_PATHS}
# Arrays exploded into items (a tuple: the statement text is the same in every process).
ARRAY_FIELDS = ("events", "batch")
# Ids and names that must be JSON strings: a number, a boolean, an object or an array is told
# from its JSON text and refused; dedup and identity would otherwise merge every event whose
# id is `true` or `{}`.
STRING_FIELDS = frozenset(segment.STRING_FIELDS + blotout.STRING_FIELDS)
# Where a write key may sit in what quarantine keeps of a line or an item: a client may put
# its write key in a batch item, a Blotout event or their properties, and an older collector
# kept it there.
WRITE_KEY_PATHS = (
    ("writeKey",),
    ("meta", "writeKey"),
    ("properties", "writeKey"),
    ("traits", "writeKey"),
    ("context", "writeKey"),
    ("additionalData", "writeKey"),
)
# Columns of one item (an event, or a line that is none) shared by every branch.
ITEM_KEYS: tuple[str, ...] = ("raw_hour", "raw_file", "line_no", "item_index", "source")
ITEM_KEYS += ("received_ts", "received_text")
# The years an event's times must fall in (cdpflow.events.names); Blotout's evt is epoch ms.
MIN_MS = int(datetime(FIRST_YEAR, 1, 1, tzinfo=UTC).timestamp()) * 1000
MAX_MS = int(datetime(LAST_YEAR, 1, 1, tzinfo=UTC).timestamp()) * 1000
UTM_OF = tuple((name, utm) for utm, name in segment.CAMPAIGN_OF_UTM.items())
# A UTM tag in the query string is read only where the campaign context lacks it.
CAMPAIGN_OF_UTM = {utm: f"s_campaign_{name}" for name, utm in UTM_OF}


@dataclass(frozen=True)
class Dialect:
    """What an engine's SQL spells its own way in the shared parts of the flatten."""

    literal: Callable[[str], str]  # a string literal of the text
    concat: Callable[[Sequence[str]], str]  # string concatenation of SQL expressions
    timestamp_type: str  # what `try_cast` makes of an ISO-8601 text
    year_start: Callable[[int], str]  # the timestamp literal of a year's first instant, UTC
    first: Callable[..., str]  # the first of the values that is not NULL
    timestamp_text: Callable[[str], str]  # a timestamp as messages quote it
    member: Callable[[str, str], str]  # a member of a parsed struct, by its key
    from_epoch_ms: Callable[[str], str]  # the timestamp of milliseconds since the epoch
    null: Callable[[str], str]  # a NULL of a core_events type (events/schema.py)
    # JSON text without its top-level writeKey (where the statement removes it)
    without_write_keys: Callable[[str], str]
    starts_with: str
    url_decode: str
    # the SQL of placeholders every message may quote: the item's JSON type, its size as text
    json_type: str
    size_text: str
    # what a `RuleColumns.objects` column (else the field's JSON text) starts with for an object
    object_prefix: str


def path_tree(paths: Iterable[str], leaf_type: Callable[[str], str]) -> dict[str, object]:
    """The nested members, as a parse's struct type declares them, that hold every dotted path
    in one parse; each leaf typed by its name."""
    tree: dict[str, object] = {}
    for path in paths:
        *parents, leaf = path.split(".")
        node = tree
        for key in parents:
            node = node.setdefault(key, {})  # type: ignore[assignment]
        node[leaf] = leaf_type(leaf)
    return tree


def _years(d: Dialect) -> tuple[str, str]:
    return d.year_start(FIRST_YEAR), d.year_start(LAST_YEAR)


def contains(d: Dialect, text: str, part: str) -> str:
    return f"contains({text}, {d.literal(part)})"


def time(d: Dialect, text: str) -> str:
    """`text` as a timestamp when it is an ISO-8601 date-time in the years allowed, else NULL."""
    ts = f"try_cast({text} AS {d.timestamp_type})"
    first, last = _years(d)
    return f"CASE WHEN {ts} BETWEEN {first} AND {last} THEN {ts} END"


def not_after_receipt(event_time: str) -> str:
    """Segment's rule for future times: one later than the receive time by more than the
    tolerance is the receive time."""
    return (
        f"CASE WHEN {event_time} > received_ts + INTERVAL {segment.FUTURE_TOLERANCE_HOURS} HOUR "
        f"THEN received_ts ELSE {event_time} END"
    )


def raw_param(d: Dialect, query: str, name: str, unless: str | None = None) -> str:
    """One URL query-string parameter as it is in the URL (see `decoded`); none where `unless`
    is not NULL. The `contains` guard is a cheap scan that spares the regex on most URLs."""
    skip = f"{unless} IS NULL AND " if unless else ""
    found = f"regexp_extract({query}, {d.literal(f'(?:^|[?&#]){name}=([^&#]*)')}, 1)"
    return f"CASE WHEN {skip}{contains(d, query, name + '=')} THEN {found} END"


def decoded(d: Dialect, value: str) -> str:
    """A query-string value decoded ('+' is a space); the decoding costs as much as the regex
    that found the value, so it runs only on values with a `%`."""
    spaced = f"replace({value}, '+', ' ')"
    decoded = f"CASE WHEN {contains(d, value, '%')} THEN {d.url_decode}({spaced}) ELSE {spaced} END"
    return f"nullif({decoded}, '')"


def raw_params(d: Dialect, query: str, unless: dict[str, str]) -> list[str]:
    """`q_<name>` columns: every UTM tag and click id of `query`, not yet decoded."""
    return [
        f"{raw_param(d, query, name, unless.get(name))} AS q_{name}"
        for name in UTM_TAGS + CLICK_IDS
    ]


def url_path(d: Dialect, url: str) -> str:
    pattern = d.literal("^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*([^?#]*)")
    return f"nullif(regexp_extract({url}, {pattern}, 1), '')"


_QUERY = "\\?([^#]*)"


def query_of(d: Dialect, url: str) -> str:
    return f"nullif(regexp_extract({url}, {d.literal(_QUERY)}, 1), '')"


def _condition(
    d: Dialect, rule: Rule, columns: RuleColumns, earlier: Sequence[Rule], limit: int
) -> str:
    """The SQL condition under which a row breaks `rule` (see quarantine.CHECKS)."""
    fields = rule.field if isinstance(rule.field, tuple) else (rule.field,)
    value = columns.values[fields[0]] if fields[0] else ""
    if rule.check == "not_an_object":
        return "item_type <> 'OBJECT'"
    if rule.check == "too_large":
        return f"event_bytes > {limit}"
    if rule.check == "not_string":
        return f"{value}_json IS NOT NULL AND NOT {d.starts_with}({value}_json, '\"')"
    if rule.check == "missing":
        when = f"type_ = {d.literal(rule.when_type)} AND " if rule.when_type else ""
        return when + " AND ".join(f"{columns.values[f]} IS NULL" for f in fields)
    if rule.check == "not_in":
        choices = ", ".join(d.literal(c) for c in rule.choices)
        return f"{value} NOT IN ({choices})"
    if rule.check == "not_a_time":
        text, parsed = columns.times[rule.field]  # type: ignore[index]
        # where an earlier rule refused a missing value, the text is known to be there
        if any(r.check == "missing" and r.field == rule.field for r in earlier):
            return f"{parsed} IS NULL"
        return f"{text} IS NOT NULL AND {parsed} IS NULL"
    if rule.check == "corrected_out_of_range":
        return "NOT skewed_ts BETWEEN {} AND {}".format(*_years(d))
    if rule.check == "not_object":
        kind = columns.objects.get(fields[0], value)
        prefix = d.literal(d.object_prefix)
        return f"NOT ({kind} IS NULL OR {d.starts_with}({kind}, {prefix}))"
    if rule.check == "not_number":
        return f"{value} IS NOT NULL AND try_cast({value} AS DOUBLE) IS NULL"
    raise ValueError(f"unknown check {rule.check!r} in {rule}")


def _message(d: Dialect, rule: Rule, columns: RuleColumns, limit: int) -> str:
    """The rule's message as a SQL string expression, its placeholders filled from the row."""
    fills = {**columns.fills, "json_type": d.json_type, "size": d.size_text}
    if isinstance(rule.field, str) and rule.field:
        value = columns.values[rule.field]
        text = columns.texts.get(rule.field, value)
        fills["value"] = text if rule.check == "not_in" else f"left({text}, 64)"
        fills["json"] = f"left({value}_json, 64)"
    parts = re.split(r"\{(\w+)\}", rule.message.replace("{limit}", str(limit)))
    sql = [fills[p] if i % 2 else d.literal(p) for i, p in enumerate(parts) if p]
    return d.concat(sql) if len(sql) > 1 else sql[0]


def checks(
    d: Dialect, rules: Sequence[Rule], columns: RuleColumns, limit: int
) -> tuple[str, str, str]:
    """SQL for ordered validation rules: the number of the first rule a row breaks (NULL for
    a good row), and the code and the message of that rule as CASEs on that number, so the
    conditions run once per row and the message is built only for bad rows."""
    conds = [_condition(d, r, columns, rules[:i], limit) for i, r in enumerate(rules)]
    broken = " ".join(f"WHEN {c} THEN {i}" for i, c in enumerate(conds, 1))
    codes = " ".join(f"WHEN {i} THEN {d.literal(r.code)}" for i, r in enumerate(rules, 1))
    texts = " ".join(
        f"WHEN {i} THEN {_message(d, r, columns, limit)}" for i, r in enumerate(rules, 1)
    )
    return f"CASE {broken} END", f"CASE broken_rule {codes} END", f"CASE broken_rule {texts} END"


def line_kind(d: Dialect, has_message_id: str) -> str:
    """Which payload a line (its parse `r`) is: `segment`, `segment_batch`, `blotout`, or
    `invalid` and `unknown` (see `line_reason`); `has_message_id` is the engine's test that
    the line has a messageId that is not the empty string."""
    batch, events, type_ = (d.member("r", key) for key in ("batch", "events", "type"))
    return f"""CASE
        WHEN NOT is_json OR landed_text IS NOT NULL THEN 'invalid'
        WHEN forced_format = 'segment_message' THEN 'segment'
        WHEN forced_format = 'segment_batch'
          THEN CASE WHEN {batch} IS NOT NULL THEN 'segment_batch' ELSE 'unknown' END
        WHEN forced_format = 'blotout'
          THEN CASE WHEN {events} IS NOT NULL THEN 'blotout' ELSE 'unknown' END
        WHEN forced_format = 'segment'  -- imported: an envelope has a batch and no type
          THEN CASE WHEN {batch} IS NOT NULL AND nullif({type_}, '') IS NULL
                    THEN 'segment_batch' ELSE 'segment' END
        WHEN {events} IS NOT NULL THEN 'blotout'
        WHEN {batch} IS NOT NULL THEN 'segment_batch'
        WHEN nullif({type_}, '') IS NOT NULL
             OR {has_message_id} THEN 'segment'
        ELSE 'unknown'
      END"""


def line_reason(d: Dialect, is_json_text: str) -> tuple[str, str]:
    """The code and the reason of a line no format takes (`kind` invalid or unknown), from
    quarantine.LINE_REASONS; `is_json_text` is the engine's test that the line is JSON."""
    why = {key: d.literal(text) for key, text in LINE_REASONS.items()}
    code = f"CASE kind WHEN 'invalid' THEN {d.literal(INVALID_JSON)} "
    code += f"ELSE {d.literal(UNKNOWN_FORMAT)} END"
    reason = f"""CASE WHEN landed_text IS NOT NULL THEN {why["landed_not_json"]}
         WHEN NOT is_json AND {is_json_text} THEN {why["json_not_object"]}
         WHEN NOT is_json THEN {why["not_json"]}
         WHEN kind = 'unknown' AND forced_format = 'blotout'
              THEN {why["events_not_array"]}
         WHEN kind = 'unknown' AND forced_format = 'segment_batch'
              THEN {why["batch_not_array"]}
         ELSE {why["no_format"]}
    END"""
    return code, reason
