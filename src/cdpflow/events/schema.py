"""The columns of `core_events` and `quarantine_events`: the contract every engine writes to."""

from __future__ import annotations

# (column, type) in the order users see them. Types are SQL types every engine understands.
CORE_EVENTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "VARCHAR"),
    ("event_type", "VARCHAR"),  # track, page, screen, identify, alias, group
    ("event_name", "VARCHAR"),
    ("event_time", "TIMESTAMP WITH TIME ZONE"),  # client time corrected for clock skew
    ("received_at", "TIMESTAMP WITH TIME ZONE"),
    ("sent_at", "TIMESTAMP WITH TIME ZONE"),
    ("anonymous_id", "VARCHAR"),
    ("user_id", "VARCHAR"),
    ("previous_id", "VARCHAR"),
    ("group_id", "VARCHAR"),
    ("session_id", "VARCHAR"),
    ("url", "VARCHAR"),
    ("path", "VARCHAR"),
    ("referrer", "VARCHAR"),
    ("page_title", "VARCHAR"),
    ("utm_source", "VARCHAR"),
    ("utm_medium", "VARCHAR"),
    ("utm_campaign", "VARCHAR"),
    ("utm_term", "VARCHAR"),
    ("utm_content", "VARCHAR"),
    ("gclid", "VARCHAR"),
    ("fbclid", "VARCHAR"),
    ("msclkid", "VARCHAR"),
    ("ttclid", "VARCHAR"),
    ("email", "VARCHAR"),  # trimmed, lower-cased
    ("phone", "VARCHAR"),
    ("map_id", "VARCHAR"),  # Blotout map_id events: this visitor is `map_id` in `map_provider`
    ("map_provider", "VARCHAR"),
    ("order_id", "VARCHAR"),
    ("revenue", "DOUBLE"),
    ("currency", "VARCHAR"),
    ("properties", "JSON"),
    ("traits", "JSON"),
    ("user_agent", "VARCHAR"),
    ("ip", "VARCHAR"),
    ("source", "VARCHAR"),
    ("payload_format", "VARCHAR"),  # segment or blotout
    ("event_date", "DATE"),  # UTC date of event_time; the partition
)

QUARANTINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("reason_code", "VARCHAR"),
    ("reason", "VARCHAR"),
    ("raw", "VARCHAR"),  # the line, or the batch item / Blotout event, as received
    ("event_id", "VARCHAR"),
    ("source", "VARCHAR"),
    ("received_at", "TIMESTAMP WITH TIME ZONE"),
    ("raw_file", "VARCHAR"),
    ("line_no", "BIGINT"),
    ("item_index", "BIGINT"),  # position inside a batch or Blotout payload; 0 for the line
    ("quarantined_at", "TIMESTAMP WITH TIME ZONE"),
    ("received_date", "DATE"),  # the partition
)

SEGMENT_TYPES = ("track", "page", "screen", "identify", "alias", "group")

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
