"""The columns of `core_events` and `quarantine_events`: the contract every engine writes to."""

from __future__ import annotations

# (column, type) in the order users see them. Types are the lake's engine-neutral names
# (cdpflow.lake.types); each engine maps them to its own.
CORE_EVENTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "string"),
    ("event_type", "string"),  # track, page, screen, identify, alias, group
    ("event_name", "string"),
    ("event_time", "timestamp"),  # client time corrected for clock skew
    ("received_at", "timestamp"),
    ("sent_at", "timestamp"),
    ("anonymous_id", "string"),
    ("user_id", "string"),
    ("previous_id", "string"),
    ("group_id", "string"),
    ("session_id", "string"),
    ("url", "string"),
    ("path", "string"),
    ("referrer", "string"),
    ("page_title", "string"),
    ("utm_source", "string"),
    ("utm_medium", "string"),
    ("utm_campaign", "string"),
    ("utm_term", "string"),
    ("utm_content", "string"),
    ("gclid", "string"),
    ("fbclid", "string"),
    ("msclkid", "string"),
    ("ttclid", "string"),
    ("email", "string"),  # trimmed, lower-cased
    ("phone", "string"),
    ("map_id", "string"),  # Blotout map_id events: this visitor is `map_id` in `map_provider`
    ("map_provider", "string"),
    ("order_id", "string"),
    ("revenue", "float64"),
    ("currency", "string"),
    ("properties", "json"),
    ("traits", "json"),
    ("user_agent", "string"),
    ("ip", "string"),
    ("source", "string"),
    ("payload_format", "string"),  # segment or blotout
    ("event_date", "date"),  # UTC date of event_time; the partition
)

QUARANTINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("reason_code", "string"),
    ("reason", "string"),
    ("raw", "string"),  # the line, or the batch item / Blotout event, as received
    ("event_id", "string"),
    ("source", "string"),
    ("received_at", "timestamp"),
    ("raw_file", "string"),
    ("line_no", "int64"),
    ("item_index", "int64"),  # position inside a batch or Blotout payload; 0 for the line
    ("quarantined_at", "timestamp"),
    ("received_date", "date"),  # the partition
)

# The layout of core_events' and quarantine_events' files, whichever engine writes them: hours
# are written together, one file per (partition value, run of raw hours), until a file holds
# about a row group. A file costs about 5 ms to write, publish and list whatever its rows, which
# a backfill of small hours (a few hundred events each) paid thousands of times. Engines read it
# at write time (tests lower it).
FILE_ROWS = 122_880

# Where the collector's receive metadata sits in a landed line (see cdpflow.collector.landing).
LANDED_PATHS = {
    "received_at": "_cdp.received_at",
    "source": "_cdp.source",
    "forced_format": "_cdp.format",
    "meta_ip": "_cdp.ip",
    "meta_user_agent": "_cdp.user_agent",
    "visitor_id": "_cdp.visitor_id",
    "size": "_cdp.size",
    "landed_text": "_raw",
}
