"""Why an event is quarantined: the reason codes and the ordered rules of each payload format.

An event breaks the first rule of its format's list that it fails; that rule's code and message
are what quarantine_events shows. A message's `{placeholders}` are filled from the event:
`{value}` the field's text (cut to 64 characters), `{json}` its JSON text, `{json_type}` the
item's JSON type, `{size}` its size in bytes, `{limit}` the size limit, `{name}` which field
held the time, `{sent_at}` the sentAt used and `{corrected}` the skew-corrected time.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdpflow.events import blotout, segment
from cdpflow.events.names import FIRST_YEAR, LAST_YEAR

# reason_code -> what it means; the `reason` column adds the specifics of each row.
QUARANTINE_REASONS: dict[str, str] = {
    "invalid_json": "the line is not valid JSON",
    "unknown_format": "neither a Segment message, a batch envelope nor a Blotout payload",
    "not_an_object": "a batch item or Blotout event that is not a JSON object",
    "missing_id": "no messageId (Segment) or mid (Blotout)",
    "missing_timestamp": "no timestamp (Segment) or evt (Blotout)",
    "invalid_timestamp": (
        "a time (timestamp, originalTimestamp, sentAt, receivedAt, Blotout evt) that is not "
        "ISO-8601 (Segment) or epoch ms (Blotout), or not between 2000 and 2100"
    ),
    "missing_field": "a field the spec requires is absent",
    "wrong_type": "a field of the wrong JSON type",
    "too_large": "an event over the size limit (CDPFLOW_MAX_EVENT_BYTES)",
    "unprocessable": "a line whose content made the flatten fail; the reason quotes the error",
}
# Codes of whole lines, decided before any rule: the line is no JSON object, or no known format.
INVALID_JSON, UNKNOWN_FORMAT = "invalid_json", "unknown_format"
# The reason of such a line, by what is wrong with it, in the order they are told apart.
LINE_REASONS = {
    "landed_not_json": "the received body is not valid JSON",  # kept by the collector as `_raw`
    "json_not_object": "the line is JSON, but not an object",
    "not_json": "the line is not valid JSON",
    "events_not_array": "a Blotout payload, but `events` is not an array",
    "batch_not_array": "a batch envelope, but `batch` is not an array",
    "no_format": "not a Segment message (no type), batch envelope or Blotout {meta, events}",
}
# A line whose content made the flatten statement fail, quarantined line by line.
UNPROCESSABLE = "unprocessable"

# What a rule checks of its field.
CHECKS = {
    "not_an_object": "the item itself is not a JSON object",
    "too_large": "the event is over the size limit",
    "not_string": "the field is present but not a JSON string",
    "missing": "the field (every field of a tuple) is absent or empty",
    "not_in": "the field is not one of `choices`",
    "not_a_time": "the field is present but not a time between the years allowed",
    "corrected_out_of_range": "the time corrected for clock skew is outside the years allowed",
    "not_object": "the field is present but not a JSON object",
    "not_number": "the field is present but not a number",
}
TIME_RANGE = f"between {FIRST_YEAR} and {LAST_YEAR}"


@dataclass(frozen=True)
class Rule:
    """One validation rule: `check` of `field`, only for events of type `when_type` if set."""

    code: str
    check: str
    field: str | tuple[str, ...]
    message: str
    when_type: str | None = None
    choices: tuple[str, ...] = ()


def _not_strings(fields: tuple[str, ...]) -> list[Rule]:
    return [
        Rule("wrong_type", "not_string", f, f"{f} must be a string, not `{{json}}`") for f in fields
    ]


def _item_rules(item: str, id_field: str, string_fields: tuple[str, ...]) -> list[Rule]:
    """The rules every format starts with: the item is an object within the size limit, its id
    a string (checked first: an id of another JSON type would read as missing) and present, its
    other text fields strings."""
    return [
        Rule("not_an_object", "not_an_object", "", f"{item} is a JSON {{json_type}}"),
        Rule("too_large", "too_large", "", "event is {size} bytes; the limit is {limit}"),
        *_not_strings((id_field,)),
        Rule("missing_id", "missing", id_field, f"{id_field} is missing"),
        *_not_strings(tuple(f for f in string_fields if f != id_field)),
    ]


_RECEIVED_AT = Rule(
    "invalid_timestamp",
    "not_a_time",
    "receivedAt",
    f"receivedAt `{{value}}` is not a date-time {TIME_RANGE}",
)


# Segment's time of an event is originalTimestamp when it has one, else timestamp ("timestamp").
SEGMENT_RULES: tuple[Rule, ...] = (
    *_item_rules("batch item", "messageId", segment.STRING_FIELDS),
    Rule("missing_field", "missing", "type", "type is missing"),
    Rule(
        "wrong_type",
        "not_in",
        "type",
        f"type `{{value}}` is not one of {', '.join(segment.SEGMENT_TYPES)}",
        choices=segment.SEGMENT_TYPES,
    ),
    Rule("missing_timestamp", "missing", "timestamp", "timestamp is missing"),
    Rule(
        "invalid_timestamp",
        "not_a_time",
        "timestamp",
        f"{{name}} `{{value}}` is not an ISO-8601 date-time {TIME_RANGE}",
    ),
    Rule(
        "invalid_timestamp",
        "not_a_time",
        "sentAt",
        f"sentAt `{{value}}` is not an ISO-8601 date-time {TIME_RANGE}",
    ),
    _RECEIVED_AT,
    Rule(
        "invalid_timestamp",
        "corrected_out_of_range",
        "timestamp",
        "{name} `{value}` corrected by sentAt `{sent_at}` is {corrected}, not " + TIME_RANGE,
    ),
    Rule(
        "missing_field",
        "missing",
        ("anonymousId", "userId"),
        "anonymousId and userId are both missing",
    ),
    Rule("missing_field", "missing", "event", "track call without `event`", when_type="track"),
    Rule("missing_field", "missing", "previousId", "alias call without `previousId`", "alias"),
    Rule("wrong_type", "not_object", "properties", "properties must be an object"),
    Rule("wrong_type", "not_object", "traits", "traits must be an object"),
    # Segment's revenue is properties.revenue, else properties.total.
    Rule(
        "wrong_type",
        "not_number",
        "properties.revenue",
        "properties.revenue `{value}` is not a number",
    ),
)

# A Blotout visitor is its userid, else the _trends_user_id cookie the collector received
# ("visitor id").
BLOTOUT_RULES: tuple[Rule, ...] = (
    *_item_rules("Blotout event", "mid", blotout.STRING_FIELDS),
    Rule("missing_field", "missing", "evn", "evn (event name) is missing"),
    Rule("missing_timestamp", "missing", "evt", "evt (event time) is missing"),
    Rule(
        "invalid_timestamp",
        "not_a_time",
        "evt",
        f"evt `{{value}}` is not milliseconds since the epoch ({FIRST_YEAR}-{LAST_YEAR})",
    ),
    _RECEIVED_AT,
    Rule(
        "missing_field",
        "missing",
        "visitor id",
        "no visitor id: userid is missing and no _trends_user_id cookie was received",
    ),
    Rule("wrong_type", "not_object", "additionalData", "additionalData must be an object"),
    Rule(
        "wrong_type",
        "not_number",
        "additionalData.transaction_total",
        "transaction_total `{value}` is not a number",
    ),
)
